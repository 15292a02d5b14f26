/**
 * `iovalab run [SCENARIO.yaml]`: the main job. Without a file it runs the
 * built-in main job (scenario/main-job.ts: hisi-sas-128, the fio job of the
 * published figures, 12 SAS SSDs, on 5.15 aged 8 s and on 6.1; default
 * range, range via sysfs, range via the driver API, each strict and lazy),
 * prints the verdict and the comparison table (or the JSON with --json), and
 * writes report.json, report.html and report.png to --out. fio runs go to
 * worker threads (run-pool.ts).
 */

import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { InputError, memparse, parseDurationMs, quote } from "../face/allocator.ts";
import { builtinMachine, type DmaCall, defaultReplayDevice, Reconstructor, traceMachineOf } from "../face/kernel.ts";
import {
  comparisonTable,
  defaultFioJob,
  hasRunSettings,
  MAIN_JOB_KERNEL_NOTES,
  machineOf,
  mainJobScenario,
  makeReport,
  overrideRuns,
  parseMode,
  parseRangeVia,
  parseScenarioYaml,
  type RunResult,
  type RunSettings,
  renderSvg,
  reportFigure,
  reportHtml,
  reportJson,
  reportSetup,
  runOne,
  type Scenario,
  seedScenario,
  writePerfetto,
} from "../face/simulation.ts";
import { readTraceFile, svgToPng } from "../node.ts";
import { checkOutput, prepareOutputSet, readText, runCommand, writeOutput, writeStdout } from "./io.ts";
import { loadMachineOption, resolveScenarioMachine } from "./machine-option.ts";
import { parseKernelOption } from "./ops.ts";
import { runPooled } from "./run-pool.ts";

interface RunOpts {
  json?: boolean;
  out: string;
  seed?: string;
  kernel?: string;
  duration?: string;
  warmup?: string;
  fastForward?: boolean;
  runs?: string;
  perfetto?: string;
  perfettoRun?: string;
  checkEvery?: string;
  workers?: string;
  progress: boolean;
  machine?: string;
  fio?: string;
  mode?: string;
  range?: string;
  rangeVia?: string;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "run a scenario (default: the main job, the seed's job on hisi-sas-128 under 5.15 aged and 6.1) and write its report",
    )
    .argument("[scenario]", "scenario YAML file (default: the built-in main job)")
    .option("--json", "print the results as JSON on stdout instead of the table")
    .option("--out <dir>", "directory for report.json, report.html, report.png", "out")
    .option("--seed <n>", "seed (overrides the scenario's)")
    .option(
      "--kernel <profile>",
      "kernel profile: mainline, 6.1, 5.15 or 5.10 (overrides the scenario's; where runs name their kernels, only those runs)",
    )
    .option("--duration <ms>", "simulated milliseconds measured per run (overrides the scenario's)")
    .option(
      "--warmup <duration>",
      "simulated warm-up per run, with a unit: 500ms, 10s, 30min, 2h (a bare number is ms; overrides the scenario's)",
    )
    .option(
      "--fast-forward",
      "age the warm-up on the kernel model alone, at allocator speed (within the noise of its seeds of a timed warm-up: see docs/cost-model.md)",
    )
    .option("--machine <name|file>", "the machine: a built-in name or a description file (overrides the scenario's)")
    .option("--fio <jobfile>", "the fio job file (overrides the scenario's); filename= picks the disks")
    .option("--mode <mode>", "strict, lazy or passthrough (sets every run's)")
    .option(
      "--range <bytes>",
      "the rcache range in bytes, 131072 or 512K (sets every run's; via the kernel command line)",
    )
    .option("--range-via <way>", "how --range is set: cmdline (iommu.max_opt_dma_size=), sysfs or driver")
    .option("--runs <names>", "only these runs, comma-separated")
    .option("--perfetto <file>", "write a Chrome trace-event timeline of one run (see --perfetto-run)")
    .option("--perfetto-run <name>", "the run to trace (default: the first)")
    .option("--check-every <n>", "check every invariant every n events (slow)", "0")
    .option(
      "--workers <n>",
      "worker threads for the runs (default: one per core; none for 100 simulated ms in all or less)",
    )
    .option("--no-progress", "no progress output on stderr")
    .action((file: string | undefined, opts: RunOpts) =>
      runCommand(async () => {
        const settings = runSettings(opts);
        const setting = hasRunSettings(settings) || opts.machine !== undefined || opts.fio !== undefined;
        // No file and no setting: the main job (scenario/main-job.ts).
        const s =
          file !== undefined
            ? resolveScenarioMachine(parseScenarioYaml(readText(file), file), file)
            : setting
              ? oneRunScenario(opts)
              : mainJobScenario();
        applySettingOverrides(s, opts, settings);
        applyCliOverrides(s, opts);
        // Directories first: a bad path fails before minutes of simulation, not after.
        const outSet = prepareOutputSet(opts.out);
        if (opts.perfetto !== undefined) checkOutput(opts.perfetto);
        const traceCalls = await readTraceCalls(s, file);
        const runs = await runScenario(s, opts, traceCalls);
        const report = makeReport(
          { ...s, ...reportSetup(s, machineOf(s)) },
          runs,
          file === undefined && !setting ? MAIN_JOB_KERNEL_NOTES : undefined,
        );
        const json = reportJson(report);
        const table = comparisonTable(report);
        const figure = reportFigure(report);
        const svg = await renderSvg(figure);
        // The three appear together: a rerun killed midway leaves the last run's set whole.
        outSet.commit([
          ["report.json", json],
          ["report.png", svgToPng(svg)],
          ["report.html", reportHtml(report, svg, table, json, "report.png")],
        ]);
        if (opts.json) await writeStdout(json);
        else
          await writeStdout(
            `${report.verdict.join("\n")}\n\n${table}\nwrote ${join(opts.out, "report.html")}, report.png and report.json there${opts.perfetto ? `, and ${opts.perfetto}` : ""}\n`,
          );
      }),
    );
}

function nonNegative(name: string, v: string, integer: boolean): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0 || (integer && !Number.isSafeInteger(n))) {
    throw new InputError(`${name}: expected a non-negative ${integer ? "integer" : "number"}, found ${quote(v)}`);
  }
  return n;
}

function runSettings(o: RunOpts): RunSettings {
  const out: RunSettings = {};
  if (o.mode !== undefined) out.mode = parseMode("--mode", o.mode);
  if (o.range !== undefined) {
    const n = memparse(o.range.trim());
    if (n === null || n <= 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InputError(`--range: expected bytes such as 131072 or 512K, found ${quote(o.range)}`);
    }
    out.range = Number(n);
  }
  if (o.rangeVia !== undefined) out.rangeVia = parseRangeVia("--range-via", o.rangeVia);
  return out;
}

/** `iovalab run` with setting flags and no scenario: one run of those settings on the seed's set-up. */
function oneRunScenario(o: RunOpts): Scenario {
  const s = seedScenario();
  s.name = "run";
  s.runs = [{ name: "default-strict", mode: "strict", range: "default", bytes: null }];
  if (o.machine !== undefined) {
    setMachine(s, o.machine);
    const m = machineOf(s);
    // The machine's own kernel (--kernel overrides it); the seed's job names the seed's 128 CPUs,
    // so another machine gets it on its own CPUs.
    s.kernel = m.kernel as Scenario["kernel"];
    if (s.machine !== "hisi-sas-128") s.fio = defaultFioJob(m.cpus);
  }
  return s;
}

function setMachine(s: Scenario, name: string): void {
  const desc = loadMachineOption(name);
  s.machine = builtinMachine(name) === null ? name : desc.name;
  s.machineDesc = builtinMachine(name) === null ? desc : null;
}

/** The flags that set the machine, the job and the runs' settings, over any scenario. */
function applySettingOverrides(s: Scenario, o: RunOpts, settings: RunSettings): void {
  if (o.machine !== undefined) setMachine(s, o.machine);
  if (o.fio !== undefined) s.fio = readText(o.fio);
  if (hasRunSettings(settings)) s.runs = overrideRuns(s.runs, settings);
}

function applyCliOverrides(s: Scenario, o: RunOpts): void {
  if (o.seed !== undefined) s.seed = nonNegative("--seed", o.seed, true);
  const kernel = parseKernelOption(o.kernel);
  if (kernel !== undefined) {
    // Runs that name their kernel (the main job's): --kernel picks theirs.
    const named = [...new Set(s.runs.flatMap((r) => (r.kernel === undefined ? [] : [r.kernel])))];
    if (named.length > 0) {
      if (!named.includes(kernel))
        throw new InputError(`--kernel: expected one of the runs' kernels ${named.join(", ")}, found ${quote(kernel)}`);
      s.runs = s.runs.filter((r) => r.kernel === kernel);
    }
    s.kernel = kernel;
  }
  if (o.duration !== undefined) {
    s.durationMs = parseDurationMs("--duration", o.duration, true);
    for (const r of s.runs) delete r.durationMs;
  }
  if (o.warmup !== undefined) {
    s.warmupMs = parseDurationMs("--warmup", o.warmup);
    for (const r of s.runs) delete r.warmupMs;
  }
  if (o.fastForward) s.fastForward = true;
  if (o.runs !== undefined) {
    const want = o.runs.split(",").map((x) => x.trim());
    for (const w of want) {
      if (!s.runs.some((r) => r.name === w)) {
        throw new InputError(`--runs: expected names among ${s.runs.map((r) => r.name).join(", ")}, found ${quote(w)}`);
      }
    }
    s.runs = s.runs.filter((r) => want.includes(r.name));
  }
  if (o.perfettoRun !== undefined && !s.runs.some((r) => r.name === o.perfettoRun)) {
    throw new InputError(
      `--perfetto-run: expected one of ${s.runs.map((r) => r.name).join(", ")}, found ${quote(o.perfettoRun)}`,
    );
  }
}

/** Runs every run of the scenario in order, with a progress bar (TTY) or a line per run (otherwise). */
/**
 * A trace workload's calls: the file (relative to the scenario file) read
 * and reconstructed here, so the model reads no files; only the replayed
 * device's domain is kept.
 */
export async function readTraceCalls(s: Scenario, scenarioFile: string | undefined): Promise<DmaCall[] | undefined> {
  const w = s.workload;
  if (w.kind !== "trace") return undefined;
  const machine = machineOf(s);
  const device = w.device ?? defaultReplayDevice(machine);
  const path = scenarioFile === undefined ? w.file : resolve(dirname(scenarioFile), w.file);
  const tm = traceMachineOf(machine, device);
  const calls: DmaCall[] = [];
  const rc = new Reconstructor({ machine: tm, file: path }, (c) => {
    if (c.domain === tm.defaultDomain) calls.push(c);
  });
  await readTraceFile(path, (e) => rc.push(e));
  rc.end();
  return calls;
}

async function runScenario(s: Scenario, o: RunOpts, traceCalls?: DmaCall[]): Promise<RunResult[]> {
  const checkEveryEvents = nonNegative("--check-every", o.checkEvery ?? "0", true);
  const workers = o.workers === undefined ? undefined : nonNegative("--workers", o.workers, true);
  if (workers === 0) throw new InputError("--workers: expected a positive integer, found 0");
  // fio runs go to worker threads; a timeline or invariant checks watch a run in this thread.
  if (s.workload.kind === "fio" && o.perfetto === undefined && checkEveryEvents === 0 && s.runs.length > 1)
    return runPooled(s, { workers, progress: o.progress });
  const tty = process.stderr.isTTY === true;
  // The bar's module is loaded only when a bar is drawn, the pool's only when a pool runs.
  const cliProgress = o.progress && tty ? (await import("cli-progress")).default : null;
  const bar =
    cliProgress !== null
      ? new cliProgress.SingleBar(
          { format: "{bar} {percentage}% | {run} | {duration_formatted}", stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : null;
  const total = s.runs.length * 100;
  bar?.start(total, 0, { run: s.runs[0]?.name ?? "" });
  const traceRun = o.perfetto === undefined ? null : (o.perfettoRun ?? s.runs[0].name);
  const out: RunResult[] = [];
  const t0 = performance.now();
  for (let i = 0; i < s.runs.length; i++) {
    const run = s.runs[i];
    const tRun = performance.now();
    let trace: ReturnType<typeof writePerfetto> | null = null;
    const res = runOne(s, run, {
      checkEveryEvents,
      traceCalls,
      onProgress: (f) => bar?.update(Math.round(i * 100 + f * 100), { run: run.name }),
      observe: run.name === traceRun ? (ctx) => (trace = writePerfetto(ctx)) : undefined,
    });
    out.push(res);
    if (trace !== null && o.perfetto !== undefined)
      await writeOutput(o.perfetto, (trace as ReturnType<typeof writePerfetto>).finish());
    if (bar === null && o.progress) {
      process.stderr.write(
        `run ${i + 1}/${s.runs.length} ${run.name}: ${run.durationMs ?? s.durationMs} ms simulated after ${run.warmupMs ?? s.warmupMs} ms warm-up, ` +
          `${((performance.now() - tRun) / 1000).toFixed(1)} s\n`,
      );
    }
  }
  bar?.update(total);
  bar?.stop();
  if (o.progress) process.stderr.write(`${s.runs.length} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return out;
}
