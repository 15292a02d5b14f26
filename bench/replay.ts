/**
 * Replay streaming speed (issue 11 part 5): `iovalab replay` on a real lazy
 * trace, whole process (start Node, stream and decompress the gzip file, read
 * every line, rebuild the DMA calls, replay them on the kernel model, print
 * the summary), against decompression alone (`zcat FILE > /dev/null`), as
 * lines per second, median of N runs, and the rate it streams at past
 * start-up and warm-up (the trace's second half against its first).
 * Goal: at least 1,000,000 lines/s and at least 0.6 of decompression's rate.
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { builtinMachine } from "../src/machine/index.ts";
import { Replayer, traceMachineOf } from "../src/replay/replay.ts";
import { isKernelWorkEvent } from "../src/trace/events.ts";
import { readTraceFile, traceByteChunks, traceChunks } from "../src/trace/node-source.ts";
import { Reconstructor } from "../src/trace/reconstruct.ts";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Wall and CPU (user + system of the command's processes, from bash's `times`) milliseconds of one run, and what
 * the command wrote to stdout.
 */
export function timed(cmd: string): { wall: number; cpu: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync("bash", ["-c", `${cmd}; times`], { encoding: "utf8", maxBuffer: 1 << 26 });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`bench: ${cmd} failed: ${r.stderr}`);
  // `times` prints two lines, the shell's then the children's user and system time: "0m1.234s 0m0.056s".
  const lines = r.stdout.trimEnd().split("\n");
  const children = lines.at(-1) ?? "";
  let cpu = 0;
  for (const m of children.matchAll(/(\d+)m([\d.]+)s/g)) cpu += (Number(m[1]) * 60 + Number(m[2])) * 1000;
  return { wall, cpu, stdout: lines.slice(0, -2).join("\n") };
}

/** CPU milliseconds (user + system) of one in-process run. */
async function cpuOf(f: () => Promise<unknown>): Promise<number> {
  const c0 = process.cpuUsage();
  await f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

export async function benchReplay(root: string, runs: number, say: (s: string) => void): Promise<void> {
  // ../shared beside the repository (IOVALAB_SHARED names a copy elsewhere).
  const shared = process.env.IOVALAB_SHARED ?? join(root, "..", "shared");
  const file = join(shared, "kernel-timers", "trace-6.12-lazy-timers.txt.gz");
  say("");
  if (!existsSync(file)) {
    say(`replay speed: skipped (${file} is not beside the repository)`);
    return;
  }
  let lines = 0;
  const text = gunzipSync(readFileSync(file));
  for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) lines++;
  // In process, CPU time: each stage of the replay's pipeline on its own.
  const machine = builtinMachine("qemu-q35-nvme");
  if (!machine) throw new Error("bench: no qemu-q35-nvme");
  const stages: [string, () => Promise<unknown>][] = [
    [
      // What the reader reads: the decompressed bytes, cut at line ends.
      "decompress (gunzip, bytes)",
      async () => {
        for await (const _ of traceByteChunks(file));
      },
    ],
    [
      "decompress (gunzip + UTF-8 text)",
      async () => {
        for await (const _ of traceChunks(file));
      },
    ],
    ["read (+ line scan and event decoding, from bytes)", () => readTraceFile(file, () => {})],
    [
      "reconstruct (+ DMA calls rebuilt)",
      async () => {
        const rc = new Reconstructor({ machine: traceMachineOf(machine, "0000:00:01.0"), file }, () => {});
        await readTraceFile(file, (e) => rc.push(e));
        rc.end();
      },
    ],
    [
      "replay (+ kernel model, mainline, lazy)",
      async () => {
        const rp = new Replayer({ machine, kernel: "mainline", device: "0000:00:01.0", strict: false });
        const rc = new Reconstructor({ machine: traceMachineOf(machine, "0000:00:01.0"), file }, (c) => rp.push(c));
        await readTraceFile(file, (e) => rc.push(e));
        rc.end();
        rp.end();
      },
    ],
    [
      // As `iovalab replay` runs it: the flushes where the trace's timer events put them.
      "replay, flushes from the timer events",
      async () => {
        const rp = new Replayer({ machine, kernel: "mainline", device: "0000:00:01.0", strict: false });
        const rc = new Reconstructor({ machine: traceMachineOf(machine, "0000:00:01.0"), file }, (c) => rp.push(c));
        await readTraceFile(file, (e) => {
          if (isKernelWorkEvent(e)) rp.pushWork(e);
          else rc.push(e);
        });
        rc.end();
        rp.end();
      },
    ],
  ];
  say(`replay pipeline in process, trace-6.12-lazy-timers.txt.gz (${lines} lines), CPU time, median of ${runs}:`);
  let base = 0;
  for (const [name, f] of stages) {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push(await cpuOf(f));
    const rate = (lines / median(ms)) * 1000;
    if (base === 0) base = rate;
    say(
      `  ${name.padEnd(50)} ${(rate / 1e6).toFixed(2)} M lines/s (${median(ms).toFixed(0)} ms)  ratio ${(rate / base).toFixed(2)}`,
    );
  }
  // Whole process, as the issue measures it: `iovalab replay FILE` with every default taken from the trace.
  const cli = (f: string) => `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${f}" > /dev/null 2>&1`;
  // The rate a long trace streams at, past start-up and the JIT's warm-up: the same command on the trace's
  // first half (a trace from boot too, gzip as the whole), and the second half's lines over the time the
  // whole took more. The first 100,000 lines or so run slower while the compiler catches up (2026-12-05
  // section of bench/RESULTS.md), so a short head's time (as a 2,000-line one) leaves that out.
  const dir = mkdtempSync(join(tmpdir(), "iovalab-bench-replay-"));
  const head = join(dir, "first-half.txt.gz");
  let cut = 0;
  const headLines = Math.floor(lines / 2);
  for (let k = 0; k < headLines && cut >= 0; k++) cut = text.indexOf(10, cut + 1);
  writeFileSync(head, gzipSync(text.subarray(0, cut + 1)));
  const zcat: { wall: number; cpu: number }[] = [];
  const zcatHead: { wall: number; cpu: number }[] = [];
  const replay: { wall: number; cpu: number }[] = [];
  const replayHead: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < runs; i++) {
    zcat.push(timed(`zcat "${file}" > /dev/null`));
    zcatHead.push(timed(`zcat "${head}" > /dev/null`));
    replay.push(timed(cli(file)));
    replayHead.push(timed(cli(head)));
  }
  rmSync(dir, { recursive: true, force: true });
  const ms = (xs: { wall: number; cpu: number }[], k: "wall" | "cpu") => median(xs.map((x) => x[k]));
  const rate = (n: number, t: number) => (n / Math.max(1, t)) * 1000;
  say(
    `replay speed, \`iovalab replay trace-6.12-lazy-timers.txt.gz\` (${lines} lines, whole process, median of ${runs}; M lines/s by wall / CPU time; load ${loadavg()[0].toFixed(2)}):`,
  );
  for (const k of ["wall", "cpu"] as const) {
    const z = rate(lines, ms(zcat, k));
    const r = rate(lines, ms(replay, k));
    const zs = rate(lines - headLines, ms(zcat, k) - ms(zcatHead, k));
    const rs = rate(lines - headLines, ms(replay, k) - ms(replayHead, k));
    say(
      `  ${k.padEnd(4)}: zcat alone ${(z / 1e6).toFixed(2)}, iovalab replay ${(r / 1e6).toFixed(2)}; ratio ${(r / z).toFixed(2)} (goals: >= 1 M lines/s, ratio >= 0.6); ` +
        `streaming (its second half's lines over what they add to the first half's ${ms(replayHead, k).toFixed(0)} ms): ` +
        `zcat ${(zs / 1e6).toFixed(2)}, iovalab replay ${(rs / 1e6).toFixed(2)}, ratio ${(rs / zs).toFixed(2)}`,
    );
  }
}
