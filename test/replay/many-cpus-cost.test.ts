/**
 * A replay of a server's trace costs what its DMA costs, not what its CPU
 * count does. The first 8,000 lines of the 6.1 lazy-timers trace, with CPU
 * 1's events on CPU 1,023 of a 1,024-CPU machine, took 12 times the time of
 * the trace as taken: at every call the timer placement walked an array of
 * every CPU's open flush, and at every flush the domain's copy of its caches
 * packed every CPU's pair of every class. Timings belong to the bench
 * (`bench/replay-cpus.ts`); this pins what those costs came from:
 *
 * - the IOVAs are those of the trace as taken;
 * - only the CPUs that did DMA have their pairs used (`Rcache.used`, what a
 *   copy walks), whatever the machine's CPU count;
 * - restoring a copy uses no other CPU.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { builtinMachine } from "../../src/machine/index.ts";
import { Replayer, type ReplayResult, traceMachineOf } from "../../src/replay/replay.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";
import { cpu1Moved } from "../helpers/cpu-moved.ts";
import { feedEvents } from "../helpers/feed-events.ts";

const TEXT = gunzipSync(
  readFileSync(new URL("../fixtures/traces/linux-6.1-lazy-timers-head8000.txt.gz", import.meta.url)),
).toString("utf8");

function replayOn(cpus: number, text: string): { result: ReplayResult; rp: Replayer } {
  const base = builtinMachine("qemu-q35-nvme");
  assert.ok(base);
  const machine = { ...base, cpus };
  const rp = new Replayer({ machine, kernel: "6.1", strict: false });
  const rc = new Reconstructor({ machine: traceMachineOf(machine, "0000:00:01.0") }, (c) => rp.push(c));
  const events = readTraceText(text, { file: "t", strictInput: true }).events;
  return { result: feedEvents(events, rp, rc), rp };
}

/** The replayed device's IOVA domain. */
function iovadOf(rp: Replayer) {
  const dev = rp.kernel.device("0000:00:01.0");
  assert.ok(dev);
  return rp.kernel.dma.cookieOf(dev)?.iovad;
}

test("a trace's CPU 1 as CPU 1,023 of 1,024: the same IOVAs, and only the two CPUs that did DMA used", () => {
  const moved = cpu1Moved(TEXT, 1023);
  assert.notEqual(moved, TEXT);
  const two = replayOn(2, TEXT);
  const many = replayOn(1024, moved);
  assert.ok(two.result.allocations > 2000);
  assert.equal(two.result.exact, two.result.allocations);
  assert.deepEqual([many.result.allocations, many.result.exact], [two.result.allocations, two.result.exact]);
  const iovad = iovadOf(many.rp);
  assert.ok(iovad);
  assert.equal(iovad.cpus, 1024);
  const used = new Set(iovad.rcaches.flatMap((r) => r.used));
  assert.deepEqual(
    [...used].sort((a, b) => a - b),
    [0, 1023],
  );
  iovad.verifyInvariants();
  // Restoring a copy keeps it so: a copy names the used CPUs that hold pfns, no other.
  const copy = iovad.snapshot();
  iovad.restore(copy);
  assert.deepEqual(
    [...new Set(iovad.rcaches.flatMap((r) => r.used))].sort((a, b) => a - b),
    [0, 1023],
  );
  iovad.verifyInvariants();
});
