/**
 * The strict replay's search for the order of two CPUs' calls
 * (src/replay/cpu-order.ts) on a trace of the other mode: the repository's
 * 600-line 6.12 lazy head replayed as strict (what `--captured strict`, or a
 * head too short to show its mode, does). CPU milliseconds in process,
 * median of N runs, with the search stopping where it cannot succeed and
 * searching to the end (`cpuOrderStops: false`); both must place every IOVA
 * alike.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { builtinMachine } from "../src/machine/index.ts";
import { Replayer, traceMachineOf } from "../src/replay/replay.ts";
import { readTraceText } from "../src/trace/reader.ts";
import { Reconstructor } from "../src/trace/reconstruct.ts";

const HEAD = "test/fixtures/traces/linux-6.12-lazy-mixed-head600.txt.gz";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function benchOrderSearch(root: string, runs: number, say: (s: string) => void): void {
  const machine = builtinMachine("qemu-q35-nvme");
  if (!machine) throw new Error("bench: no qemu-q35-nvme");
  const tm = traceMachineOf(machine, "0000:00:01.0");
  const text = gunzipSync(readFileSync(join(root, HEAD))).toString("utf8");
  const { events } = readTraceText(text, { file: HEAD, strictInput: true });
  const once = (stops: boolean) => {
    const emitted: string[] = [];
    const rp = new Replayer({
      machine,
      kernel: "mainline",
      strict: true,
      cpuOrderStops: stops,
      emitIova: (t) => emitted.push(t),
    });
    const rc = new Reconstructor({ machine: tm }, (c) => rp.push(c));
    for (const e of events) rc.push(e);
    rc.end();
    return { r: rp.end(), iovas: emitted.join("\n") };
  };
  say("");
  say(`strict replay of a lazy head (${HEAD}, ${events.length} events), CPU ms in process, median of ${runs}:`);
  const first = new Map<boolean, string>();
  for (const stops of [true, false]) {
    once(stops);
    const ms: number[] = [];
    let stopped = "";
    for (let i = 0; i < runs; i++) {
      const c0 = process.cpuUsage();
      const { r, iovas } = once(stops);
      const c = process.cpuUsage(c0);
      ms.push((c.user + c.system) / 1000);
      first.set(stops, first.get(stops) ?? iovas);
      if (first.get(stops) !== iovas) throw new Error("bench: the replay's IOVAs changed between runs");
      const s = r.cpuOrderStopped;
      stopped = s === null ? "searched to the end" : `stopped at line ${s.line} (${s.reason}, ${s.searches} searches)`;
    }
    say(`  order search ${stops ? "stopping" : "to the end"}: ${median(ms).toFixed(0)} ms; ${stopped}`);
  }
  if (first.get(true) !== first.get(false)) throw new Error("bench: stopping the search changed an IOVA");
}
