/**
 * Replay speed, the model side (issue 11 part 5): the reconstruction of DMA
 * calls and their replay on the kernel model, on real traces, as trace lines
 * per second of CPU time (median of N runs) and as a ratio to decompression
 * alone (gunzip + UTF-8 of the same file in this process). Goal: the whole
 * replay at 1,000,000 lines/s, 0.6 of decompression.
 *
 * The events are decoded once, untimed, and kept in memory; each stage then
 * runs over them, so the figures show the model's cost without the line
 * reader's (the reader's own stages are measured apart, in process and as a
 * whole `iovalab replay` process). Each stage runs once untimed first (JIT
 * warm-up). Every run's replay summary is checked to be the same as the
 * first run's. BENCH_ONLY=NAME runs the traces whose file name contains NAME.
 */

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { builtinMachine } from "../src/machine/index.ts";
import { Replayer, traceMachineOf } from "../src/replay/replay.ts";
import { isKernelWorkEvent, type TraceEvent } from "../src/trace/events.ts";
import { readTraceFile, traceChunks } from "../src/trace/node-source.ts";
import { Reconstructor } from "../src/trace/reconstruct.ts";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** CPU milliseconds (user + system) of one in-process run. */
async function cpuOf(f: () => unknown): Promise<number> {
  const c0 = process.cpuUsage();
  await f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** User + system CPU milliseconds of a shell command's processes (bash's `times`). */
function cpuOfCommand(cmd: string): number {
  const r = spawnSync("bash", ["-c", `${cmd}; times`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bench: ${cmd} failed: ${r.stderr}`);
  const children = r.stdout.trim().split("\n").at(-1) ?? "";
  let cpu = 0;
  for (const m of children.matchAll(/(\d+)m([\d.]+)s/g)) cpu += (Number(m[1]) * 60 + Number(m[2])) * 1000;
  return cpu;
}

interface TraceCase {
  file: string;
  kernel: "mainline" | "6.1";
  strict: boolean;
}

const ONLY = process.env.BENCH_ONLY;
const CASES_ALL: TraceCase[] = [
  { file: "kernel-timers/trace-6.12-lazy-timers.txt.gz", kernel: "mainline", strict: false },
  { file: "kernel-timers/trace-6.1-lazy-timers.txt.gz", kernel: "6.1", strict: false },
  { file: "kernel-more/trace-6.1-strict-mixed.txt.gz", kernel: "6.1", strict: true },
];
const CASES = ONLY ? CASES_ALL.filter((c) => c.file.includes(ONLY)) : CASES_ALL;

const DEVICE = "0000:00:01.0";

export async function benchReplayModel(
  root: string,
  runs: number,
  say: (s: string) => void,
  opts: { wholeProcess?: boolean } = {},
): Promise<void> {
  const shared = process.env.IOVALAB_SHARED ?? join(root, "..", "shared");
  const machine = builtinMachine("qemu-q35-nvme");
  if (!machine) throw new Error("bench: no qemu-q35-nvme");
  const tm = traceMachineOf(machine, DEVICE);
  say("");
  say(`replay, model side (CPU time in process, median of ${runs}; M lines/s and ratio to decompression):`);
  say(
    "| trace | lines | decompress | read+decode | reconstruct | replay | read..replay | ratio | whole process | ratio |",
  );
  say("|---|---|---|---|---|---|---|---|---|---|");
  for (const tc of CASES) {
    const file = join(shared, tc.file);
    if (!existsSync(file)) {
      say(`| ${tc.file} | skipped: not beside the repository | | | | | | | | |`);
      continue;
    }
    // Lines and events, decoded once (the reader hands out one object per event).
    let lines = 0;
    for await (const chunk of traceChunks(file)) {
      for (let i = chunk.indexOf("\n"); i >= 0; i = chunk.indexOf("\n", i + 1)) lines++;
    }
    const events: TraceEvent[] = [];
    await readTraceFile(file, (e) => events.push(e));
    if (events.length > 1 && events[0] === events[1]) throw new Error("bench: the reader reuses its event records");
    const reconstructOnly = () => {
      const rc = new Reconstructor({ machine: tm, file }, () => {});
      for (let i = 0; i < events.length; i++) if (!isKernelWorkEvent(events[i])) rc.push(events[i]);
      rc.end();
    };
    let summary = "";
    const replay = () => {
      const rp = new Replayer({ machine, kernel: tc.kernel, device: DEVICE, strict: tc.strict });
      const rc = new Reconstructor({ machine: tm, file }, (c) => rp.push(c));
      for (let i = 0; i < events.length; i++) {
        const e = events[i];
        if (isKernelWorkEvent(e)) rp.pushWork(e);
        else rc.push(e);
      }
      rc.end();
      const r = rp.end();
      const s = `${r.exact}/${r.allocations} ${r.exactMapEvents}/${r.mapEvents} ${r.frees} ${r.firstMismatch?.line ?? "-"} ${[...r.mismatchCauses].join(",")}`;
      if (summary === "") summary = s;
      else if (s !== summary) throw new Error(`bench: ${tc.file}: replays differ: ${summary} then ${s}`);
    };
    const pipeline = async () => {
      const rp = new Replayer({ machine, kernel: tc.kernel, device: DEVICE, strict: tc.strict });
      const rc = new Reconstructor({ machine: tm, file }, (c) => rp.push(c));
      await readTraceFile(file, (e) => {
        if (isKernelWorkEvent(e)) rp.pushWork(e);
        else rc.push(e);
      });
      rc.end();
      rp.end();
    };
    // One untimed run first: the figures are the steady state (the whole-process column pays the warm-up).
    const stage = async (f: () => unknown): Promise<number> => {
      await f();
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) ms.push(await cpuOf(f));
      return median(ms);
    };
    const decompress = await stage(async () => {
      for await (const _ of traceChunks(file));
    });
    const read = await stage(() => readTraceFile(file, () => {}));
    const recon = await stage(reconstructOnly);
    const rep = await stage(replay);
    const all = await stage(pipeline);
    const rate = (ms: number) => (lines / ms) * 1000;
    const m = (ms: number) => `${(rate(ms) / 1e6).toFixed(2)}`;
    let whole = "-";
    let wholeRatio = "-";
    if (opts.wholeProcess !== false) {
      const cap = tc.strict ? "strict" : "lazy";
      const cmd = `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${file}" --machine qemu-q35-nvme --kernel ${tc.kernel} --captured ${cap} > /dev/null`;
      const zcat: number[] = [];
      const proc: number[] = [];
      for (let i = 0; i < runs; i++) {
        zcat.push(cpuOfCommand(`zcat "${file}" > /dev/null`));
        proc.push(cpuOfCommand(cmd));
      }
      if (process.env.BENCH_DEBUG) say(`zcat ms ${zcat.join(" ")}; replay ms ${proc.join(" ")}`);
      whole = `${m(median(proc))} (zcat ${m(median(zcat))})`;
      wholeRatio = (rate(median(proc)) / rate(median(zcat))).toFixed(2);
    }
    say(
      `| ${tc.file.split("/")[1]} | ${lines} | ${m(decompress)} | ${m(read)} | ${m(recon)} | ${m(rep)} | ${m(all)} | ${(rate(all) / rate(decompress)).toFixed(2)} | ${whole} | ${wholeRatio} |`,
    );
  }
  say(
    "reconstruct and replay run over events decoded beforehand (the model's cost alone); read..replay is the whole pipeline from the file, its ratio to decompress the goal's (>= 0.6); whole process = `iovalab replay` against `zcat`, CPU time.",
  );
}

// `node bench/replay-model.ts [--quick]` runs this part alone.
if (import.meta.main) {
  await benchReplayModel(join(import.meta.dirname, ".."), process.argv.includes("--quick") ? 1 : 5, (s) =>
    process.stdout.write(`${s}\n`),
  );
}
