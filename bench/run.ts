/**
 * `npm run bench`: iovalab's speed against the kernel's own C code.
 *
 * 1. The three ~2M-op perf vectors of ../shared/conformance/perf, whole
 *    process (`iovalab ops` reading the plain script, running it, writing the
 *    output) and execution only (pre-parsed, no formatting), median of N runs,
 *    as ratios to the C figures of ../shared/conformance/README.md, and the CPU
 *    time to the C's measured in pairs here (`C_PAIRED_CPU_S`); every run's
 *    output and walks are checked against the kernel's.
 * 2. Bytes per live IOVA with 1M IOVAs allocated one by one.
 * 3. Simulated dma_map_page + dma_unmap_page per second through the whole DMA
 *    stack (dma-iommu, rcache hit) on qemu-q35-nvme, with mitata: the kernel
 *    model alone.
 * 4. Simulated I/Os per second of the whole simulation (engine, block layer,
 *    disks, kernel model): randread 4 KiB strict and lazy, and the seed's
 *    sequential job, beside 3 so that the engine's overhead shows.
 * 5. `iovalab replay` lines per second on a real lazy trace, and its ratio to
 *    decompression alone (bench/replay.ts).
 * 6. Replay speed, the model side (bench/replay-model.ts): reconstruction and
 *    replay of real traces as lines per second against decompression.
 * 7. The explorer in chromium (bench/explore.ts): frames per second while
 *    playing a real lazy trace, and a step back.
 * 8. The strict replay's order search on a lazy head replayed as strict
 *    (bench/order-search.ts), stopping and searching to the end.
 * 9. `--search-start` on a busy lazy cut in the repository
 *    (bench/busy-search.ts), whole process.
 *
 * `--quick` runs each vector once; `--allocator` runs part 1 only, `--sim` parts 3
 * and 4. Results go to stdout; bench/RESULTS.md records them with the machine and
 * the date.
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { bench, do_not_optimize, run } from "mitata";
import { IovaDomain } from "../src/iova/domain.ts";
import { bootMachine } from "../src/machine/index.ts";
import { runOne } from "../src/scenario/run.ts";
import { seedScenario } from "../src/scenario/scenario.ts";
import { Cpu } from "../src/sim/cpu.ts";
import { Engine } from "../src/sim/engine.ts";
import { type Hook, Script, ScriptTask } from "../src/sim/script.ts";
import { benchBusySearch } from "./busy-search.ts";
import { compile, execute } from "./compile.ts";
import { benchExplore } from "./explore.ts";
import { benchOrderSearch } from "./order-search.ts";
import { benchReplay } from "./replay.ts";
import { benchReplayCpus } from "./replay-cpus.ts";
import { benchReplayModel } from "./replay-model.ts";

const ROOT = join(import.meta.dirname, "..");
const PERF = join(ROOT, "..", "shared", "conformance", "perf");
const RUNS = process.argv.includes("--quick") ? 1 : 5;
/** `--sim`: only the kernel model's map+unmap line and the simulation's table (parts 3 and 4). */
const SIM_ONLY = process.argv.includes("--sim");

/** C figures from ../shared/conformance/README.md (gcc 12 -O2, median of 5), ns per op. */
const C_NS: Record<string, { process: number; exec: number }> = {
  "hit-path": { process: 237.5, exec: 23.3 },
  "tree-path": { process: 3007.0, exec: 3260.7 },
  ageing: { process: 703.1, exec: 534.3 },
};
/**
 * The C process figures re-measured on 2026-12-04 (the same README, "Re-measured": the oracle
 * paired run by run with `iovalab ops`, medians), ns per op: the hit-path one is 1.8 times
 * faster than the first. Issue 15 asks for the process targets against these.
 */
const C_PROCESS_REMEASURED_NS: Record<string, number> = {
  "hit-path": 0.265e9 / 2000015,
  "tree-path": 6.0e9 / 2000000,
  ageing: 1.3e9 / 2000002,
};
/**
 * The C process's CPU seconds (user + sys), medians of runs paired one by one with `iovalab ops`
 * on this machine on 2026-12-05 (bench/RESULTS.md, 02:50 UTC section): the kernel's iova.c in a
 * userspace harness of our own, not shipped, reading the plain script with stdio. iovalab's CPU
 * seconds over these is the comparison that holds on a shared machine (CPU against CPU).
 */
const C_PAIRED_CPU_S: Record<string, number> = {
  "hit-path": 0.198,
  "tree-path": 7.83,
  ageing: 1.219,
};
/** Issue 6's targets as ratios to C. */
const TARGET: Record<string, { process: number; exec: number }> = {
  "hit-path": { process: 1.5, exec: 2 },
  "tree-path": { process: 0.25, exec: 0.2 },
  ageing: { process: 0.6, exec: 0.5 },
};

/**
 * The CPU seconds (user + sys) of a shell's finished children, from the second
 * line of POSIX `times` ("0m0.640000s 0m0.160000s"): the figure that holds
 * on a shared machine, where a process's wall time is mostly waiting.
 */
function childCpuSeconds(timesOutput: string): number {
  const line = timesOutput.trim().split("\n")[1] ?? "";
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/.exec(line.trim());
  if (m === null) throw new Error(`bench: unexpected output of times: ${JSON.stringify(timesOutput)}`);
  return Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const lines: string[] = [];
function say(s: string): void {
  lines.push(s);
  process.stdout.write(`${s}\n`);
}

say(
  `iovalab bench: ${cpus().length} x ${cpus()[0]?.model ?? "?"}, node ${process.version}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}, ${RUNS} run(s) each`,
);

if (SIM_ONLY) {
  // Parts 1 and 2 left out.
} else if (!existsSync(PERF)) {
  say(`perf vectors: skipped (${PERF} is not beside the repository)`);
} else {
  // The decompressed vectors and their outputs (tens of MB) go when the part is done.
  const dir = mkdtempSync(join(tmpdir(), "iovalab-bench-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  say("");
  say(
    "| vector | ops | process ns/op | x C | x C re-measured | process CPU s | CPU s / C paired | target | exec ns/op | x C | target | exact |",
  );
  say("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const name of ["hit-path", "tree-path", "ageing"]) {
    const script = gunzipSync(readFileSync(join(PERF, `${name}.iovaops.gz`)));
    const expected = gunzipSync(readFileSync(join(PERF, `${name}.expected.gz`))).toString("latin1");
    const walks = gunzipSync(readFileSync(join(PERF, `${name}.walks.gz`))).toString("latin1");
    const plain = join(dir, `${name}.iovaops`);
    writeFileSync(plain, script);
    const c = compile(script.toString("latin1"));
    // Timed as the C figure was: the whole process, output to /dev/null.
    const proc: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = spawnSync("sh", [
        "-c",
        `"${process.execPath}" "${join(ROOT, "bin/iovalab.js")}" ops "${plain}" > /dev/null || exit 1; times`,
      ]);
      proc.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`iovalab ops failed: ${r.stderr}`);
      cpu.push(childCpuSeconds(r.stdout.toString()));
    }
    // Then once more, untimed, to check the output and walks byte for byte.
    const out = join(dir, `${name}.out`);
    const w = join(dir, `${name}.walks`);
    const r = spawnSync("sh", [
      "-c",
      `"${process.execPath}" "${join(ROOT, "bin/iovalab.js")}" ops "${plain}" --walks "${w}" > "${out}"`,
    ]);
    if (r.status !== 0) throw new Error(`iovalab ops failed: ${r.stderr}`);
    let exact = readFileSync(out, "latin1") === expected && readFileSync(w, "latin1") === walks;
    const exec: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      const r = execute(c);
      exec.push(performance.now() - t0);
      let s = "";
      for (let j = 0; j < r.nResults; j++) s += `${r.results[j] < 0 ? "fail" : r.results[j]}\n`;
      exact &&= s === expected;
    }
    const p = (median(proc) * 1e6) / c.count;
    const e = (median(exec) * 1e6) / c.count;
    const cp = p / C_NS[name].process;
    const cr = p / C_PROCESS_REMEASURED_NS[name];
    const cpuS = median(cpu);
    // CPU against CPU: on a shared machine a process's wall time is mostly waiting.
    const cpuRatio = cpuS / C_PAIRED_CPU_S[name];
    const ce = e / C_NS[name].exec;
    const mark = (x: number, t: number) => `${x.toFixed(2)} ${x <= t ? "(met)" : "(missed)"}`;
    say(
      `| ${name} | ${c.count} | ${p.toFixed(1)} | ${mark(cp, TARGET[name].process)} | ${mark(cr, TARGET[name].process)} | ${cpuS.toFixed(3)} | ${mark(cpuRatio, TARGET[name].process)} | <= ${TARGET[name].process} | ${e.toFixed(1)} | ${mark(ce, TARGET[name].exec)} | <= ${TARGET[name].exec} | ${exact ? "yes" : "NO"} |`,
    );
    if (!exact) process.exitCode = 1;
  }
}

if (process.argv.includes("--allocator")) process.exit();

// Bytes per live IOVA: 1M IOVAs allocated one by one (alloc_iova, size 1, 48-bit limit).
if (!SIM_ONLY) {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  const N = 1_000_000;
  for (let i = 0; i < N; i++) d.allocIova(1, 2 ** 36 - 1, true);
  let magazines = 0;
  for (const r of d.rcaches) {
    for (const cr of r.everyCpu) magazines += cr.loaded.pfns.byteLength + cr.prev.pfns.byteLength;
    for (const m of r.depot) magazines += m.pfns.byteLength;
  }
  const bytes = d.tree.bytesHeld + magazines;
  say("");
  say(
    `bytes per live IOVA: ${(bytes / d.liveIovas).toFixed(2)} (target <= 40; ${d.liveIovas} live, tree arrays ${d.tree.bytesHeld} B for ${d.tree.capacity} node slots, magazines ${magazines} B)`,
  );
}

// Simulated dma_map_page + dma_unmap_page through the whole DMA stack, rcache-hit path.
/** ns per map+unmap pair of the kernel model alone, for the simulation's table below. */
let kernelPairNs = Number.NaN;
{
  const k = bootMachine("qemu-q35-nvme", { kernel: "mainline" });
  const nvme = k.device("0000:00:01.0");
  if (!nvme) throw new Error("bench: no NVMe device on qemu-q35-nvme");
  for (let i = 0; i < 1000; i++) {
    const a = k.dma.mapPhys(nvme, 0, 0x10000000 + i * 4096, 4096);
    if (a !== null) k.dma.unmapPhys(nvme, 0, a, 4096);
  }
  const strict = k.iommu.strict;
  bench(`dma map+unmap 4 KiB, qemu-q35-nvme mainline (${strict ? "strict" : "lazy"})`, () => {
    const a = k.dma.mapPhys(nvme, 0, 0x10000000, 4096);
    if (a !== null) k.dma.unmapPhys(nvme, 0, a, 4096);
    do_not_optimize(a);
  });
  const res = await run({ format: "quiet" } as never);
  const stats = (res as { benchmarks: { runs: { stats?: { avg: number } }[] }[] }).benchmarks[0]?.runs[0]?.stats;
  if (stats) {
    kernelPairNs = stats.avg;
    const perSec = 1e9 / stats.avg;
    say("");
    say(
      `map+unmap through the DMA stack: ${(perSec / 1e6).toFixed(2)} M/s (${stats.avg.toFixed(0)} ns per pair; target >= 5 M/s)`,
    );
  }
}

// The engine alone, the floor under every simulated I/O: 128 CPUs, each running a script that
// computes 100 to 399 ns and re-queues itself (one engine event per step, no model, no device),
// CPU ns per event; the table below multiplies it by its events per I/O.
let engineEventNs = Number.NaN;
{
  const perEvent: number[] = [];
  for (let i = 0; i < Math.max(RUNS, 2); i++) {
    const e = new Engine({ seed: 1 });
    const cpuList = Array.from({ length: 128 }, (_, c) => new Cpu(e, c));
    let n = 0;
    const step: Hook = {
      name: "step",
      run: (_cpu, arg, out) => {
        n++;
        out.compute(100 + ((n * 7919) % 300)).hook(step, arg);
      },
    };
    for (const c of cpuList) c.enqueue(new ScriptTask("loop", new Script().hook(step)));
    const c0 = process.cpuUsage();
    e.run(e.nowNs + 2_000_000);
    const c = process.cpuUsage(c0);
    perEvent.push(((c.user + c.system) * 1000) / e.eventsRun);
  }
  engineEventNs = median(perEvent.slice(1));
  say("");
  say(`engine alone: ${engineEventNs.toFixed(0)} CPU ns per event (128 CPUs stepping, warm median)`);
}

// The whole simulation: fio on hisi-sas-128 (6.1, default range), 128 jobs at iodepth 128, the
// engine, block layer, disks and the kernel model together. Simulated 4 KiB I/Os (each one map,
// one unmap and the device for randread) per second of CPU time and of wall time, median of RUNS.
// CPU time is this process's (one thread): on a shared machine it is the figure to compare. The
// first run of a job also pays the JIT's warm-up; "warm" is the median of the runs after it, the
// rate a long run (the main job's) goes at. Engine events per I/O show what the engine schedules.
{
  say("");
  say(
    "| simulated job | mode | simulated ms | I/Os | engine events per I/O | I/Os per CPU s | I/Os per wall s | warm I/Os per CPU s | warm CPU ns per I/O | of it, the events alone | of it, the kernel model alone |",
  );
  say("|---|---|---|---|---|---|---|---|---|---|---|");
  const jobs = [
    { name: "randread 4k", rw: "randread", mode: "strict" as const, ms: 50 },
    { name: "randread 4k", rw: "randread", mode: "lazy" as const, ms: 50 },
    { name: "seq read 4k (the seed's)", rw: "read", mode: "strict" as const, ms: 100 },
  ];
  for (const j of jobs) {
    const s = seedScenario();
    s.warmupMs = 0;
    s.durationMs = j.ms;
    s.fio = s.fio.replace("rw=read", `rw=${j.rw}`);
    const run = { name: `default-${j.mode}`, mode: j.mode, range: "default" as const, bytes: null };
    const cpuS: number[] = [];
    const wallS: number[] = [];
    let ios = 0;
    let events = 0;
    for (let i = 0; i < Math.max(RUNS, 2); i++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let engine: { eventsRun: number } | null = null;
      const r = runOne(s, run, {
        observe: (o) => {
          engine = o.engine;
        },
      });
      wallS.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpuS.push((c.user + c.system) / 1e6);
      ios = (r.iops * j.ms) / 1000;
      events = (engine as { eventsRun: number } | null)?.eventsRun ?? 0;
    }
    const warmCpuS = median(cpuS.slice(1));
    const nsPerIo = (warmCpuS * 1e9) / ios;
    // randread: one map+unmap pair per I/O; the sequential job's merged requests map several I/Os at once.
    const pairsPerIo = j.rw === "randread" ? 1 : Number.NaN;
    say(
      `| ${j.name} | ${j.mode} | ${j.ms} | ${ios} | ${(events / ios).toFixed(2)} | ${Math.round(ios / median(cpuS))} | ${Math.round(ios / median(wallS))} | ${Math.round(ios / warmCpuS)} | ${Math.round(nsPerIo)} | ${Math.round((engineEventNs * events) / ios)} | ${Number.isNaN(pairsPerIo) ? "-" : `${Math.round(kernelPairNs * pairsPerIo)} ns (hit path)`} |`,
    );
  }
}

if (!SIM_ONLY) {
  await benchReplay(ROOT, RUNS, say);
  // The same kernel run on machines of more CPUs, of which two do DMA (bench/replay-cpus.ts).
  benchReplayCpus(ROOT, Math.min(RUNS, 3), say);
  // Replay speed, the model side: reconstruction and replay against decompression (bench/replay-model.ts).
  await benchReplayModel(ROOT, RUNS, say);
  // The strict replay's order search on a lazy head replayed as strict (bench/order-search.ts).
  benchOrderSearch(ROOT, RUNS, say);
  // `--search-start` on a busy lazy cut in the repository (bench/busy-search.ts): a search of thousands of replays.
  benchBusySearch(ROOT, Math.min(RUNS, 3), say);
  // The explorer in chromium: frames per second while playing, a step back (bench/explore.ts).
  say("\n## explorer (chromium, wall clock)\n");
  for (const l of await benchExplore()) say(l);
}
