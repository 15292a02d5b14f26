/**
 * `iovalab replay TRACE [--machine M]`: reads a kernel trace (ftrace text,
 * trace-cmd report with or without -l, perf script, plain, gzip or zstd, streamed;
 * or trace-cmd's trace.dat), rebuilds its DMA allocations, replays them on
 * the booted machine and prints a summary, or with --emit-iovas one line per
 * map event of the replayed domain. Kernel, capture mode and, without
 * --machine, the machine itself default to what the trace shows
 * (`replay/defaults.ts`).
 */

import type { Command } from "commander";
import { assert, HexLines, hex16, InputError, memparse, NR_CPUS_MAX } from "../face/allocator.ts";
import {
  builtinMachine,
  CAPTURE_HELP,
  capAgrees,
  DEPOT_WORK_FUNCTION,
  describeStartState,
  deviceCounts,
  devicesTable,
  dmaDevices,
  domainOfDevice,
  emptyStartState,
  exactOfKnowable,
  FQ_TIMER_FUNCTION,
  isKernelWorkEvent,
  kallsymsNames,
  LearningWindow,
  type LiveMapping,
  lostText,
  type MachineDesc,
  machineForDevice,
  midLifeMissed,
  orderSearchStops,
  Reconstructor,
  type ReplayDefaults,
  Replayer,
  type ReplayResult,
  type ReplaySummaryJson,
  replayDefaults,
  type SpanSummary,
  type StartState,
  sameKindDevices,
  spansJson,
  sumCounts,
  summaryJson,
  sumOver,
  type TraceEvent,
  type TraceFacts,
  TraceReader,
  type TraceReaderOptions,
  type TrialPool,
  totalFigures,
  traceLacks,
  traceMachineOf,
} from "../face/kernel.ts";
import { isRereadable } from "../node-input.ts";
import { readText, runCommand, writeStdout } from "./io.ts";
import { type LossScan, scanLosses } from "./loss-scan.ts";
import { parseKernelOption } from "./ops.ts";
import { PipeCopy } from "./pipe-copy.ts";
import {
  ResumePoints,
  readTraceWithFacts,
  type SpanLoss,
  spillAfter,
  type TraceSpan,
  WHOLE_TRACE,
} from "./replay-defaults.ts";
import { defaultSearchThreads, TrialWorkers } from "./trial-workers.ts";

export interface ReplayCliOptions {
  machine?: string;
  kernel?: string;
  cpus?: string;
  emitIovas?: boolean;
  json?: boolean;
  device?: string;
  strictInput?: boolean;
  range?: string;
  strict?: boolean;
  lazy?: boolean;
  /** `--mode strict|lazy`: the run flags' spelling of --strict / --lazy. */
  mode?: string;
  captured?: string;
  capturedKernel?: string;
  inferFlushes?: boolean;
  flushHistories?: string;
  unseenFlushes?: boolean;
  resync?: boolean;
  searchStart?: boolean;
  /** `--search-threads <n>`: threads that run the start search's trials beside the main thread. */
  searchThreads?: string;
  /** `--fq-timer-function <address>`: what the trace prints for fq_flush_timeout without the kernel's symbols. */
  fqTimerFunction?: string;
  /** `--kallsyms <file>`: the traced boot's symbol table, which names the functions a trace prints as addresses. */
  kallsyms?: string;
}

/**
 * `--machine`: a built-in as it is; a file through `machine-option.ts`,
 * loaded only then, with the YAML reader and the validator (a tenth of a
 * second of start-up that a replay on a built-in machine does without).
 */
async function loadMachine(name: string): Promise<MachineDesc> {
  return builtinMachine(name) ?? (await import("./machine-option.ts")).loadMachineOption(name);
}

/** A machine file's text validated; the validator loaded on demand, as in `loadMachine`. */
async function parseMachine(text: string, file: string): Promise<MachineDesc> {
  return (await import("../face/machine-file.ts")).parseMachine(text, file);
}

function positiveInt(flag: string, v: string | undefined, max = 4096): number | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > max)
    throw new InputError(`${flag}: expected an integer from 1 to ${max}, found ${JSON.stringify(v)}`);
  return Number(v);
}

/** Bytes as the kernel's `memparse()` reads them: decimal, 0x hex or 0 octal, then K/M/G/T/P/E. */
function bytes(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const parsed = memparse(v);
  if (parsed === null)
    throw new InputError(`${flag}: expected bytes such as 131072, 128K or 0x20000, found ${JSON.stringify(v)}`);
  const n = parsed < 2n ** 53n ? Number(parsed) : Number.POSITIVE_INFINITY;
  // Byte counts are exact integers in the model: 2^53 (8 PiB) is far past any aperture.
  if (!Number.isSafeInteger(n)) throw new InputError(`${flag}: expected bytes below 2^53, found ${JSON.stringify(v)}`);
  return n;
}

/**
 * Events the first reading holds to replay without reading the trace again: a trace from boot's, or a mid-life
 * one's up to the end of its window (beyond, it is read twice).
 */
const HELD_EVENTS = 65536;
/** The largest symbol table `--kallsyms` reads: a distribution kernel's with its modules is some tens of MB. */
const MAX_KALLSYMS_BYTES = 256 << 20;
/** IOVA lines a replay in a mid-life trace's first reading holds until they are sure (beyond, it is read again). */
const HELD_LINES = 1 << 18;

function pct(n: number, d: number): string {
  return d === 0 ? "-" : `${((100 * n) / d).toFixed(2)}%`;
}

/** The timer and workqueue events the reader decodes for the replay's flush placement. */
const WORK_EVENTS = new Set([
  "timer_start",
  "timer_expire_entry",
  "timer_expire_exit",
  "workqueue_execute_start",
  "workqueue_execute_end",
]);

function summary(
  file: string,
  reader: TraceReader,
  rc: Reconstructor,
  results: readonly ReplayResult[],
  machine: string,
  spanned = false,
): string {
  const r = results[0];
  // Several devices' domains: the headline counts them all; the lines after it are the first device's.
  const several = results.length > 1;
  const sum = (f: (x: ReplayResult) => number) => sumOver(results, f);
  const s = reader.stats;
  const out: string[] = [];
  const dma = [...s.events].filter(([k]) => !WORK_EVENTS.has(k));
  const work = [...s.events].filter(([k]) => WORK_EVENTS.has(k));
  const list = (xs: [string, number][]) => xs.map(([k, v]) => `${k} ${v}`).join(", ");
  const count = (xs: [string, number][]) => xs.reduce((a, [, v]) => a + v, 0);
  const workText = work.length > 0 ? `, ${count(work)} timer and workqueue events (${list(work)})` : "";
  out.push(
    `trace: ${file}: ${s.lines} lines, ${count(dma)} DMA events (${list(dma)})${workText}; ${s.skippedTotal} other events skipped, ${s.malformed} malformed lines`,
  );
  if (s.losses > 0) {
    out.push(
      `  warning: the ring buffer ${lostText(s)} up to here` +
        (spanned
          ? " (each loss after the trace's first events ends a span)"
          : "; the replay cannot be exact past them (a pipe with no copy in the temporary directory is replayed in one span; a file or a copied pipe in spans, one after each loss)"),
    );
  }
  for (const d of reader.diagnostics.slice(0, 5)) out.push(`  ${d}`);
  out.push(
    `machine: ${machine}, kernel ${r.kernel}, ${r.strict ? "strict" : "lazy (flush queue)"}, ` +
      `${several ? "devices" : "device"} ${results.map((x) => `${x.device} (${x.domain}${x.strict === r.strict ? "" : x.strict ? ", strict" : ", lazy"})`).join(", ")}` +
      (r.clockOffsetNs > 0 ? `, trace clock shifted by ${r.clockOffsetNs} ns past the model's boot` : ""),
  );
  const allocations = sum((x) => x.allocations);
  const mapEvents = sum((x) => x.mapEvents);
  const exact = sum((x) => x.exact);
  const exactMapEvents = sum((x) => x.exactMapEvents);
  out.push(
    `replayed${several ? ", all devices" : ""}: ${allocations} allocations (${mapEvents} map events), ${sum((x) => x.frees)} frees; ` +
      `${rc.stats.directEvents} direct-mapping events and ${rc.stats.untranslated} untranslated dma calls left out`,
  );
  out.push(
    `exact IOVA matches${several ? ", all devices" : ""}: ${exact}/${allocations} allocations (${pct(exact, allocations)}), ` +
      `${exactMapEvents}/${mapEvents} map events (${pct(exactMapEvents, mapEvents)})`,
  );
  if (several)
    out.push(`the lines below, to the table of devices, are of ${r.device} (${r.domain}), the first one replayed`);
  out.push(learningLine(r));
  if (r.resyncs + r.resyncFailures > 0) {
    out.push(
      `  resynchronised: after ${r.resyncs} of the mismatches the replay went on from the trace's IOVA; ` +
        `${r.resyncFailures} could not be (the model held that IOVA live, in a depot or inside another)`,
    );
  }
  const m = r.firstMismatch;
  if (m === null) {
    out.push("first mismatch: none");
  } else {
    out.push(
      `first mismatch: ${file}:${m.line}: allocation ${m.allocation} of ${m.sizeBytes} bytes on CPU ${m.cpu} at ${m.timestampNs} ns: ` +
        `trace ${hex16(m.traceIova)}, model ${m.modelIova === null ? "failed" : hex16(m.modelIova)}`,
    );
    out.push(`  the model held the trace's IOVA: ${m.cause}; ${m.state}`);
  }
  const byCause = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
  if (r.mismatchCauses.size > 0)
    out.push(`mismatches by where the model held the trace's IOVA: ${byCause(r.mismatchCauses)}`);
  // Counted apart: an allocation adopted after the phase is no mismatch (the first mismatch line leaves them out too).
  if (r.adoptedCauses.size > 0)
    out.push(`adopted after the learning phase, by where the model held the trace's IOVA: ${byCause(r.adoptedCauses)}`);
  out.push(
    `reordered maps (allocated before an interrupt's unmaps): ${r.reordered}; calls replayed across another CPU's where the IOVAs show that order: ${r.cpuOrderMoves}; flush-queue timers moved off an idle CPU: ${r.timerMoves}`,
  );
  if (r.flushSource !== null) out.push(`flushes: ${r.flushSource} (${flushSourceNote(r)})`);
  const tf = r.timerFlushes;
  if (tf && r.flushSource === "timer-events") {
    const late = [...tf.lateJiffies].sort((x, y) => x[0] - y[0]).map(([k, v]) => `${k}: ${v}`);
    out.push(
      `  ${tf.expiries} flush-queue timer expiries run where the trace shows them, ${tf.otherCpu} on another CPU than the timer's base ` +
        `in the model, ${tf.unarmed} with no timer armed in the model; ${tf.startsOnPolicyCpu}/${tf.starts} timer_start cpu= as the ` +
        `kernel profile's timer policy chose; ${tf.irqUnmapsInFlush} unmaps inside a flush on its CPU (run after it), ` +
        `${tf.otherCpuCallsInFlush} other CPUs' calls during one`,
    );
    out.push(
      `  phases of flushes with calls inside placed by trial: ${tf.phaseTrials} tried, ${tf.phaseMoved} moved from the default, ` +
        `${tf.phaseSkipped} with too many runs of calls inside, tried at their first runs only; ${tf.lateQueues} unmaps traced before a flush whose queue_iova() ` +
        `the next timer_start shows ran after it began; ${tf.beginsByEvidence} flushes whose callback began after another CPU's unmaps inside them, as that CPU's timer_start shows; ${tf.lateWatched} unmaps before a flush left open until their ` +
        `IOVA's reuse, ${tf.lateTurned} of them then replayed queued the other way; ${r.flushReorders} maps traced after a flush that allocated before it; ` +
        `${r.swapped} pairs of two CPUs' tree allocations replayed in the other order; ${tf.depotWatched} overlapping ring-full ` +
        `flushes whose depot pushes were left open until their IOVAs' reuse, ${tf.depotTurned} of them then replayed second CPU first; ` +
        `${tf.countWatched} unmaps in the microsecond of another CPU's ring-full unmap or the next left open until their IOVA's reuse, ` +
        `${tf.countTurned} of them then replayed reading the other start count than their timing gives; ` +
        `${tf.countBeforeWatched} unmaps just before another CPU's ring-full unmap left open until their IOVA's reuse, ` +
        `${tf.countBeforeTurned} of them then replayed reading the start count that flush raised`,
    );
    if (tf.lostTrials > 0)
      out.push(
        `  flushes with lost unmaps waiting at their entry, where the calls after them place allocations unlike the trace: ` +
          `${tf.lostTrials} replayed freeing all and none of them, ${tf.lostMoved} kept so`,
      );
    out.push(`  expiry minus expires=, jiffies: ${late.length > 0 ? late.join(", ") : "none"}`);
    if (tf.depotWorks > 0)
      out.push(
        `  depot trim work: ${tf.depotWorks} runs where the trace shows them, ${tf.depotTrims} returned a magazine` +
          // Only a trace that starts mid-life leaves one open (`depot-unseen.ts`).
          (tf.trimWatched > 0
            ? `; ${tf.trimWatched} that did not left open until later IOVAs showed whether magazines from before the trace made it trim, ${tf.trimTurned} of them then trimmed`
            : ""),
      );
  }
  const fi = r.flushInference;
  if (fi && r.flushSource === "inferred") {
    const offs = [...fi.offsetJiffies].sort((x, y) => x[0] - y[0]).map(([k, v]) => `${k > 0 ? "+" : ""}${k}: ${v}`);
    out.push(
      `flushes placed from the trace: ${fi.flushes} (the fewest that free every reused IOVA in time), ${fi.decided} at a place ` +
        `the allocations after it single out, ${fi.otherCpu} on another CPU than the model's timer, ${fi.unarmed} with nothing queued; ` +
        `${fi.swapped} pairs of two CPUs' maps replayed in the other order; ${fi.trialCalls} trial calls`,
    );
    out.push(
      `  flush time minus the model timer's nominal expiry, jiffies: ${offs.length > 0 ? offs.join(", ") : "none"}`,
    );
  }
  const st = r.iovad.stats;
  const classes: string[] = [];
  for (let c = 0; c < st.rcacheHits.length; c++) {
    const h = st.rcacheHits[c];
    const total = h + st.rcacheMisses[c];
    if (total > 0) classes.push(`${2 ** c}p ${pct(h, total)}`);
  }
  out.push(
    `model: ${st.treeAllocs} tree allocations, ${st.walkSteps} walk steps, ${r.failures} failed allocations, ` +
      `${r.refusedUnmaps} refused unmaps, ${st.cachedPfns.reduce((a, b) => a + b, 0)} pfns held in caches`,
  );
  out.push(`rcache hit rate per class: ${classes.length > 0 ? classes.join(", ") : "no cached allocations"}`);
  const counts = [...rc.findingCounts].map(([k, v]) => `${k} ${v}`).join(", ");
  const before = rc.stats.beforeTraceUnmaps;
  out.push(
    `findings (DMA-API debug): ${counts === "" ? "none" : counts}` +
      (before === 0
        ? ""
        : `; not counted: ${before} unmap${before === 1 ? "" : "s"} of mappings made before the trace began`),
  );
  for (const f of rc.findings.slice(0, 20)) out.push(`  ${f.message}`);
  if (rc.findings.length > 20) out.push(`  ... ${rc.findings.length - 20} more`);
  return `${out.join("\n")}\n`;
}

/** The allocations after the learning phase but those whose IOVA was cached before the trace began. */
function knowable(r: ReplayResult): number {
  return r.afterLearning - r.adoptedAfterLearning;
}

/** The learning phase of a trace that starts mid-life, and the match rate after it. */
function learningLine(r: ReplayResult): string {
  const l = r.learning;
  if (!l.midLife)
    return "learning phase: none (the trace starts with a fresh domain: its first allocation is where a fresh one puts it)";
  return (
    `learning phase: the trace starts mid-life; its first ${l.allocations} allocations (${(l.durationNs / 1e6).toFixed(3)} ms` +
    `${l.endLine > 0 ? `, up to line ${l.endLine}` : ", the whole trace"}) learned the caches, ${l.adopted} of them adopting the trace's IOVA; ` +
    `exact after it: ${r.exactAfterLearning}/${r.afterLearning} (${pct(r.exactAfterLearning, r.afterLearning)}); ` +
    (r.cutsAfterLearning === 0
      ? `${r.adoptedAfterLearning} after it taken from a cache filled before the trace (adopted, not exact)`
      : `${r.adoptedAfterLearning - r.cutsAfterLearning} after it taken from a cache filled before the trace and ` +
        `${r.cutsAfterLearning} showing where the kernel's magazines were cut (adopted, not exact)`) +
    // Those IOVAs were cached before the trace began: no replay can know them, so the rest is what it could get right.
    `; of the ${knowable(r)} the trace could show, ${r.exactAfterLearning} exact (${pct(r.exactAfterLearning, knowable(r))})`
  );
}

/** Why the flushes' source limits the match rate, for the summary. */
function flushSourceNote(r: ReplayResult): string {
  switch (r.flushSource) {
    case "timer-events":
      return "each flush at its timer_expire_entry, on that line's CPU";
    case "inferred":
      return "the trace has no timer events: flushes placed where reused IOVAs prove one ran; where nothing reused shows it, the place is a guess";
    case "model-timer":
      return "the trace has no timer events: the model's timer runs at the timer wheel's first tick after its expiry, where the kernel's ran about seven times in ten (the others a jiffy or more later), and on either CPU, so IOVAs diverge from the first flush placed unlike the kernel's (--infer-flushes places them from the trace; with --resync too, each mismatch's IOVA is put back and the replay goes on from the trace's)";
    default:
      return "";
  }
}

/** The model's figures of one replay, for the what-if table; `classes` rows of per-class hit rates. */
function figures(r: ReplayResult, classes: number): [string, string][] {
  const st = r.iovad.stats;
  const g = r.iovad.granule;
  let cachedBytes = 0;
  for (let c = 0; c < st.cachedPfns.length; c++) cachedBytes += st.cachedPfns[c] * 2 ** c * g;
  const mags = st.magazinesLive.reduce((a, b) => a + b, 0);
  // A magazine is `unsigned long size` plus IOVA_MAG_SIZE pfns.
  const magBytes = mags * (r.iovad.profile.magazineSize + 1) * 8;
  const rows: [string, string][] = [
    ["settings", `${r.kernel}, ${r.strict ? "strict" : "lazy"}, ${r.iovad.rcacheOrders} rcache classes`],
    ["IOVAs as in the trace", `${r.exact}/${r.allocations} (${pct(r.exact, r.allocations)})`],
    ["failed allocations", String(r.failures)],
    ["tree allocations", String(st.treeAllocs)],
    ["tree walk steps", String(st.walkSteps)],
    ["rcache hits", `${st.rcacheHitsTotal}/${st.rcacheHitsTotal + st.rcacheMissesTotal}`],
  ];
  for (let c = 0; c < classes; c++) {
    const total = c < st.rcacheHits.length ? st.rcacheHits[c] + st.rcacheMisses[c] : 0;
    rows.push([`  hit rate ${(2 ** c * g) / 1024} KiB`, total > 0 ? pct(st.rcacheHits[c], total) : "-"]);
  }
  rows.push(["uncacheable allocations", String(st.uncacheableAllocs)]);
  rows.push(["IOVA space held by caches", `${cachedBytes} bytes`]);
  rows.push(["magazines (memory)", `${mags} (${magBytes} bytes)`]);
  return rows;
}

/** Baseline and what-if figures side by side. */
function comparison(base: ReplayResult, whatIf: ReplayResult): string {
  const classes = Math.max(base.iovad.rcacheOrders, whatIf.iovad.rcacheOrders);
  const a = figures(base, classes);
  const b = figures(whatIf, classes);
  const w0 = Math.max(...a.map(([k]) => k.length));
  const w1 = Math.max(8, ...a.map(([, v]) => v.length));
  const out = [`${"what if".padEnd(w0)}  ${"baseline".padEnd(w1)}  what-if`];
  for (let i = 0; i < a.length; i++) out.push(`${a[i][0].padEnd(w0)}  ${a[i][1].padEnd(w1)}  ${b[i][1]}`);
  return `${out.join("\n")}\n`;
}

export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("replay a kernel DMA trace on a machine and compare every IOVA with the kernel's")
    .argument(
      "<traces...>",
      "the traces, each replayed on its own: /sys/kernel/tracing/trace text, trace-cmd report (-l or not) or perf script, plain, .gz or .zst, or a trace.dat; - for stdin",
    )
    .option(
      "--machine <machine>",
      "a built-in machine name or a machine description file (default: one built from the devices the trace shows)",
    )
    .option("--kernel <profile>", "kernel profile (default: what the trace shows, else the machine's)")
    .option("--cpus <n>", "CPUs of the machine (trace CPUs beyond it wrap around)")
    .option("--device <bdf>", "the device whose domain to replay (default: the first with a DMA driver)")
    .option("--emit-iovas", "print only the model's IOVA (or fail) of each map event of the replayed domain")
    .option("--json", "print the summary as one JSON object")
    .addHelpText("after", CAPTURE_HELP)
    .option("--strict-input", "stop at the first malformed trace line")
    .option(
      "--kallsyms <file>",
      "lazy: the symbol table of the traced boot (a copy of /proc/kallsyms made as root, or System.map), which names the timer and work functions a trace written without the kernel's symbols prints as addresses",
    )
    .option(
      "--fq-timer-function <address>",
      "lazy: the address the trace prints as the timer function for fq_flush_timeout, where its writer could not read the kernel's symbols (function=0xffffffff...; a warning names the likely one)",
    )
    .option("--range <bytes>", "what if: the rcache range (iommu.max_opt_dma_size=); compared with the baseline")
    .option("--strict", "what if: strict mode (iommu.strict=1); compared with the baseline")
    .option("--lazy", "what if: the flush queue (iommu.strict=0); compared with the baseline")
    .option("--mode <mode>", "what if: strict or lazy, as `iovalab run --mode` (the same as --strict or --lazy)")
    .option(
      "--captured <mode>",
      "strict or lazy: how the trace was captured (default: what the trace shows, else the machine's command line)",
    )
    .option(
      "--captured-kernel <profile>",
      "the kernel the trace was captured on; with another --kernel, a what-if across kernels compared with it",
    )
    .option(
      "--infer-flushes",
      "lazy: run each flush-queue flush where the trace's reused IOVAs show one ran, on the CPU its allocations show",
    )
    .option(
      "--flush-histories <n>",
      "with --infer-flushes: placements kept side by side (default 16); more find more, slower",
    )
    .option(
      "--resync",
      "after each IOVA placed unlike the trace, continue from the trace's placement: each match is then a decision made from the kernel's state",
    )
    .option(
      "--search-start",
      "a trace that starts mid-life: find how full each CPU's magazines and the depot were when it began by " +
        "replaying its learning phase under each fill level (slower; a short phase can mislead it); a lazy trace " +
        "from a file that the replay from the empty start places less than half of (most often one begun while the " +
        "disk was busy) is searched without it",
    )
    .option(
      "--no-search-start",
      "never search the start state, not even of a lazy trace the replay from the empty start places poorly",
    )
    .option(
      "--search-threads <n>",
      "threads that run the start search's trials beside the main thread (default: one fewer than the processors, " +
        "at most 3; 0: none); the state found is the same with any number",
    )
    .option(
      "--unseen-flushes",
      "with --infer-flushes: also try a flush the trace cannot show (nothing it freed reused in time) before each one it does",
    )
    .option(
      "--queue <redis://host:port>",
      "replay the traces on `iovalab worker` processes through this Redis; traces are named by path, so workers " +
        "must see the same files at the same paths (shared storage)",
    )
    .option("--retries <n>", "with --queue: run a failed trace again up to n times (default 0)")
    .action((traces: string[], opts: ReplayCliOptions & { queue?: string; retries?: string }) =>
      runCommand(async () => {
        const { queue, retries, ...options } = opts;
        checkReplayOptions(options);
        if (traces.length > 1 && options.emitIovas) {
          throw new InputError(`--emit-iovas: expected one trace, found ${traces.length}`);
        }
        if (queue !== undefined) {
          const { replayBatchOnQueue } = await import("./queue.ts");
          await replayBatchOnQueue(queue, traces, options, nonNegativeInt("--retries", retries ?? "0"));
          return;
        }
        if (retries !== undefined) throw new InputError("--retries: expected with --queue, found it alone");
        const machine = options.machine === undefined ? undefined : await loadMachine(options.machine);
        for (const trace of traces)
          await writeStdout(await replayTrace(trace, trace === "-" ? "<stdin>" : trace, machine, options));
      }),
    );
}

function nonNegativeInt(flag: string, v: string): number {
  if (!/^[0-9]+$/.test(v)) throw new InputError(`${flag}: expected a whole number, found ${JSON.stringify(v)}`);
  return Number(v);
}

function checkReplayOptions(opts: ReplayCliOptions): void {
  const fq = opts.fqTimerFunction;
  if (fq !== undefined && !/^0x[0-9a-f]+$/i.test(fq)) {
    throw new InputError(
      `--fq-timer-function: expected the address the trace prints, such as 0xffffffff81a2b3c0, found ${JSON.stringify(fq)}`,
    );
  }
  if (opts.mode !== undefined) {
    if (opts.mode !== "strict" && opts.mode !== "lazy") {
      // A replay follows a trace of a translated domain: passthrough has no IOVAs to replay.
      throw new InputError(`--mode: expected strict or lazy, found ${JSON.stringify(opts.mode)}`);
    }
    if (opts.strict || opts.lazy) throw new InputError("--mode and --strict/--lazy: expected one, found both");
    if (opts.mode === "strict") opts.strict = true;
    else opts.lazy = true;
    opts.mode = undefined;
  }
  if (opts.strict && opts.lazy) throw new InputError("--strict and --lazy: expected at most one, found both");
  if (opts.captured !== undefined && opts.captured !== "strict" && opts.captured !== "lazy") {
    throw new InputError(`--captured: expected strict or lazy, found ${JSON.stringify(opts.captured)}`);
  }
  // The values too, so a batch on a queue stops here rather than on every worker.
  parseKernelOption(opts.kernel);
  parseKernelOption(opts.capturedKernel);
  positiveInt("--cpus", opts.cpus, NR_CPUS_MAX);
  positiveInt("--flush-histories", opts.flushHistories);
  searchThreads(opts);
  bytes("--range", opts.range);
}

/** `--search-threads`, 0 to 256 (default `defaultSearchThreads`). */
function searchThreads(opts: ReplayCliOptions): number {
  const v = opts.searchThreads;
  if (v === undefined) return defaultSearchThreads();
  if (!/^[0-9]+$/.test(v) || Number(v) > 256)
    throw new InputError(`--search-threads: expected an integer from 0 to 256, found ${JSON.stringify(v)}`);
  return Number(v);
}

/**
 * One trace of a batch as a queue job carries it: the path workers read, the
 * name the summary prints (as given), the machine by name or by its text (a
 * description file is read once, by the submitter), and the options.
 */
export interface ReplayJob {
  path: string;
  file: string;
  /** Absent without --machine: each worker builds the machine from its trace. */
  machine?: string;
  machineText?: string;
  options: ReplayCliOptions;
}

/** The summary of one trace of a batch, as `iovalab replay` prints it for that trace. */
export async function replayJobText(job: ReplayJob): Promise<string> {
  checkReplayOptions(job.options);
  if (job.machine === undefined) return asText(await replayTrace(job.path, job.file, undefined, job.options));
  const machine =
    job.machineText === undefined ? builtinMachine(job.machine) : await parseMachine(job.machineText, job.machine);
  if (machine === null)
    throw new InputError(`--machine: expected a built-in machine or a file, found ${JSON.stringify(job.machine)}`);
  return asText(await replayTrace(job.path, job.file, machine, job.options));
}

/** A replay's output as text (the IOVA lines of --emit-iovas come as ASCII bytes). */
function asText(out: string | Uint8Array): string {
  return typeof out === "string" ? out : Buffer.from(out).toString("latin1");
}

/**
 * The machine of a batch as a job carries it: a built-in's name, or a
 * description file's text; nothing without --machine (built from each trace).
 */
export async function replayJobMachine(name: string | undefined): Promise<{ machine?: string; machineText?: string }> {
  if (name === undefined) return {};
  if (builtinMachine(name)) return { machine: name };
  const text = readText(name);
  await parseMachine(text, name);
  return { machine: name, machineText: text };
}

/**
 * Replays the lines `wanted` covers of a trace (read from `trace`, named
 * `file` in what it prints), as a trace of their own, and returns its
 * summary (`replayTrace`): what the span covered, its results, and its text,
 * JSON or IOVA lines not yet written. Only the trace's first replay says on
 * stderr what it chose (`sayNotes`).
 */
async function replaySpan(
  trace: string,
  file: string,
  machine: MachineDesc | undefined,
  opts: ReplayCliOptions,
  wanted: TraceSpan,
  sayNotes: boolean,
  points: ResumePoints,
  pool: TrialPool | undefined,
): Promise<SpanReplay> {
  const readerOptions = traceReaderOptions(file, opts);
  const flags = {
    machine,
    device: opts.device,
    kernel: parseKernelOption(opts.kernel),
    captured: opts.captured === undefined ? undefined : opts.captured === "strict",
    cpus: positiveInt("--cpus", opts.cpus, NR_CPUS_MAX),
    functionNames: readerOptions.functionNames,
  };
  const capturedKernel = parseKernelOption(opts.capturedKernel);
  const lines = new HexLines();
  const notes: string[] = [];
  let iommuEvents = 0;
  let events = 0;
  let flagless = 0;
  // A trace that starts mid-life is read twice (`start-search.ts`): first for the mappings live at its start, how
  // many allocations it has (the learning phase covers at most a tenth) and, with --search-start, the caches'
  // fill levels at its start; then it is replayed from that state (a lazy one the replay from the empty start
  // places less than half of is searched after that replay and read once more: `midLifeMissed`). A trace from boot
  // has nothing to learn: the first reading holds its events until its first allocation shows that, and goes on as
  // the replay.
  // Without --search-start, a mid-life trace's replay starts in the first reading too, from the held events, once
  // its window is over; its phase is not capped then, and the trace is read again (as above) only where the count
  // at its end says the cap was due (`capAgrees`). Its IOVA lines are held until the phase is over and a tenth of
  // the allocations so far covers it (then the cap cannot be due). With --strict-input the trace is read twice as
  // before: the first reading stops at a bad line before the replay has said or written anything. A pipe (stdin)
  // is read as a file is: its first reading writes its content to a copy (`PipeCopy`) that every later reading
  // reads. Where no copy can be made it cannot be read again: its first reading holds its events as a file's does,
  // so the replay starts from what the window proved, the same as a file's; where a file would be read again,
  // stdin's replay starts from the held events (all of the trace, or the first HELD_EVENTS, the window's proofs so
  // far), and where a file's replay would be replaced by a second reading, stdin's is replaced by a replay of its
  // kept events (while they are all kept).
  // A regular file, or a pipe whose content is copied as its first reading reads it (`PipeCopy`): a pipe named as a
  // file gives its lines once, as stdin does.
  const rereadable = points.rereadable;
  // The lines this replay covers (`replayTrace`); stdin cannot be read again, so its replay goes on past a loss.
  const span: TraceSpan = { ...wanted, endAtLoss: wanted.endAtLoss && rereadable };
  let loss: SpanLoss | null = null;
  // A mid-life start the replay from the empty start cannot place is searched unasked (`midLifeMissed`; most often
  // a busy one, `LearningWindow.busyStart`);
  // whether that may happen (a lazy trace with the timer's events, from a file), the first reading's window, and
  // whether the search ran.
  let busyAuto = false;
  let firstWindow: LearningWindow | null = null;
  let searched = false;
  /** A pipe with no copy: every event so far, while they are at most HELD_EVENTS (null beyond: never replayed again). */
  let kept: TraceEvent[] | null = rereadable ? null : [];
  /** The replay's defaults as they were when the first reading's replay began. */
  let later: ReplayDefaults | null = null;
  // `allocations`: the trace's allocations per domain (each replayed device's phase covers at most a tenth of its own).
  // `others`: the start states found for the other devices' domains (below), by device.
  let learned: {
    start: StartState;
    allocations: ReadonlyMap<string, number> | undefined;
    live: LiveMapping[];
    others?: ReadonlyMap<string, StartState>;
  } | null = null;
  // The replay runs in the first reading of a mid-life trace (see above).
  let oneReading = false;
  // The notes of the replay's defaults were printed by a replay that the second reading replaces.
  const from = wanted.from;
  // Only the trace's first replay says what it chose (every span's replay chooses the same).
  let notesPrinted = !sayNotes;
  // In one reading: the IOVA lines are sure (written as they come), or were dropped (the trace is read again).
  let linesSure = false;
  let reread = false;
  /** Whether the IOVA lines so far may be written (see `oneReading`); drops them beyond HELD_LINES. */
  const linesMayGo = (r: Replayer, rec: Reconstructor): boolean => {
    if (!oneReading || linesSure || (!rereadable && kept === null)) return true;
    if (reread) {
      // Dropped once: the second reading writes them all.
      lines.clear();
      return false;
    }
    if (!r.learningRunning && capAgrees(rec.stats.allocations.get(r.domain) ?? 0, r.learnedAllocations)) {
      linesSure = true;
      return true;
    }
    if (lines.count >= HELD_LINES) {
      lines.clear();
      reread = true;
    }
    return false;
  };
  let reader = new TraceReader(readerOptions);
  let replayer: Replayer | null = null;
  let others: Replayer[] = [];
  let sameKind: string[] = [];
  let baseline: Replayer | null = null;
  let rc: Reconstructor | null = null;
  let machineName = "";
  const begin = (d: ReplayDefaults): ((e: TraceEvent) => void) => {
    // Before the notes on what the replay takes from the trace: a file without one event has none to give.
    refuseNonTrace(file, reader);
    if (!notesPrinted) for (const n of d.notes) process.stderr.write(`iovalab replay: ${n}\n`);
    notes.length = 0;
    notes.push(...d.notes);
    machineName = d.machine.name;
    // What every replay of this trace shares; each differs in device, mode, range or kernel.
    const common = {
      machine: d.machine,
      kernel: d.kernel,
      cpus: positiveInt("--cpus", opts.cpus, NR_CPUS_MAX),
      strict: opts.strict ? true : opts.lazy ? false : d.captured,
      rangeBytes: bytes("--range", opts.range),
      inferFlushes: opts.inferFlushes,
      flushHistories: positiveInt("--flush-histories", opts.flushHistories),
      unseenFlushes: opts.unseenFlushes,
      resync: opts.resync,
      timerEvents: d.timerEvents,
      fqTimers: d.fqTimers,
    };
    const r = new Replayer({
      ...common,
      device: d.device,
      emitLines: opts.emitIovas ? lines : undefined,
      start: learned?.start,
      ...(learned?.start.pinned === true ? { learningAdopts: false } : {}),
      traceAllocations: learned?.allocations?.get(domainOfDevice(d.machine, d.device)),
      live: learned?.live,
    });
    replayer = r;
    sameKind = sameKindDevices(d.machine, d.device);
    // Without --device, every other device a DMA driver binds is replayed too, each in its own domain (from the
    // mappings live at the start that its own unmaps prove, as the first device's).
    others =
      opts.device === undefined && !opts.emitIovas
        ? dmaDevices(d.machine)
            .filter((x) => x !== d.device)
            .map(
              (x) =>
                new Replayer({
                  ...common,
                  machine: machineForDevice(d.machine, x),
                  device: x,
                  strict: opts.strict ? true : opts.lazy ? false : d.capturedOf(x),
                  start: learned?.others?.get(x),
                  ...(learned?.others?.get(x)?.pinned === true ? { learningAdopts: false } : {}),
                  traceAllocations: learned?.allocations?.get(domainOfDevice(d.machine, x)),
                  live: learned?.live,
                }),
            )
        : [];
    // A what-if (another range, mode or kernel) also replays the baseline,
    // the trace as captured, on the same calls.
    let base: Replayer | null = null;
    if (!opts.emitIovas && (opts.range !== undefined || opts.strict || opts.lazy || capturedKernel !== undefined)) {
      // The trace as captured: its kernel and mode, the default range.
      base = new Replayer({
        ...common,
        device: d.device,
        kernel: capturedKernel ?? d.kernel,
        strict: d.captured,
        rangeBytes: undefined,
      });
      if (
        opts.range === undefined &&
        base.kernel.iommu.config.strict === r.kernel.iommu.config.strict &&
        base.kernel.profile.name === r.kernel.profile.name
      ) {
        base = null;
      }
    }
    // A what-if's IOVAs are not the trace's to fit the CPUs' order to: it
    // keeps the trace's order of the calls.
    if (base) {
      r.keepTraceOrder();
      for (const o of others) o.keepTraceOrder();
    }
    baseline = base;
    // Indexed loops over a constant: these run per call and per event (an iterator each was 15 MB of garbage on a 400,000-line trace).
    const rest = others;
    // Unmaps the window proved free mappings made before the trace: no DMA-API finding.
    const madeBeforeTrace = learned === null ? undefined : new Set(learned.live.map((m) => m.line));
    const rec = new Reconstructor({ machine: traceMachineOf(d.machine, d.device), file, madeBeforeTrace }, (c) => {
      r.push(c);
      base?.push(c);
      for (let i = 0; i < rest.length; i++) rest[i].push(c);
    });
    rc = rec;
    const f = (e: TraceEvent) => {
      if (e.type === "iommu_map" || e.type === "iommu_unmap") {
        iommuEvents++;
        if (e.flags === "") flagless++;
      }
      // Timer and workqueue events go to the replays (lazy: flushes and depot
      // trims where the trace shows them), the DMA events to the reconstruction.
      if (isKernelWorkEvent(e)) {
        r.pushWork(e);
        base?.pushWork(e);
        for (let i = 0; i < rest.length; i++) rest[i].pushWork(e);
      } else rec.push(e);
      // The other devices' replays may have no calls at all: they run their timer events as the trace goes.
      if (rest.length > 0 && ++events % 4096 === 0) {
        const h = rec.horizonLine();
        for (let i = 0; i < rest.length; i++) rest[i].advanceTo(h);
      }
      if (lines.count >= 65536 && linesMayGo(r, rec)) void writeStdout(lines.take());
    };
    return f;
  };
  const start = (facts: TraceFacts): ((e: TraceEvent) => void) => begin(replayDefaults(facts, reader.stats, flags));
  let replayed = false;
  {
    const first = reader;
    let window: LearningWindow | null = null;
    // The events read while the window decides, and the replay's defaults as they were when it began (the second
    // reading's would be taken at the same line); null once too many are held: the trace is then read again.
    let held: TraceEvent[] | null = [];
    let feed: ((e: TraceEvent) => void) | null = null;
    const stop = new Error("the first reading has what it needs");
    const firstEnd = await readTraceWithFacts(
      trace,
      first,
      (facts) => {
        const d = replayDefaults(facts, first.stats, flags);
        later = replayDefaults(facts, first.stats, flags);
        busyAuto =
          opts.searchStart === undefined &&
          (rereadable || kept !== null) &&
          !opts.emitIovas &&
          d.captured === false &&
          d.timerEvents;
        const w = new LearningWindow(
          {
            machine: d.machine,
            kernel: d.kernel,
            cpus: positiveInt("--cpus", opts.cpus, NR_CPUS_MAX),
            device: d.device,
            strict: d.captured,
            timerEvents: d.timerEvents,
            fqTimers: d.fqTimers,
          },
          { machine: traceMachineOf(d.machine, d.device), file },
          opts.searchStart === true || busyAuto,
        );
        w.pool = pool;
        window = w;
        firstWindow = w;
        return (e) => {
          if (kept !== null) {
            kept.push(e);
            if (kept.length > HELD_EVENTS) kept = null;
          }
          if (feed !== null) {
            feed(e);
            // The events a search of the start would replay, as a reading for --search-start keeps them.
            if (busyAuto && w.wantsEvents) w.push(e);
            return;
          }
          w.push(e);
          if (held !== null) {
            held.push(e);
            if (held.length > HELD_EVENTS) {
              if (rereadable) held = null;
              else {
                // Stdin, the window still open: the replay starts here, from what the window has proved so far.
                if (w.midLife) learned = { start: emptyStartState(0, 0), allocations: undefined, live: w.live };
                oneReading = learned !== null;
                feed = begin(later as ReplayDefaults);
                for (const x of held) feed(x);
                held = null;
                return;
              }
            }
          }
          if (w.done) {
            if (held === null) throw stop;
          } else if (!(w.closedMidLife && held !== null && !opts.searchStart && !opts.strictInput)) return;
          else {
            learned = { start: emptyStartState(0, 0), allocations: undefined, live: w.live };
            oneReading = true;
          }
          feed = begin(later as ReplayDefaults);
          for (const x of held) feed(x);
          held = null;
        };
      },
      span,
      points,
    ).catch((err: unknown) => {
      if (err !== stop) throw err;
    });
    if (firstEnd !== undefined) loss = firstEnd;
    // A pipe: what the first reading left of it copied too, for the readings after it.
    await points.pipe?.complete();
    const w = window as LearningWindow | null;
    if (feed !== null) {
      replayed = true;
    } else if (w) {
      const allocations = w.end();
      if (w.midLife) {
        const start = opts.searchStart ? w.search(allocations, true) : emptyStartState(0, 0);
        if (opts.searchStart)
          process.stderr.write(`iovalab replay: --search-start: at the trace's start: ${describeStartState(start)}\n`);
        learned = { start, allocations: w.allocationsByDomain, live: w.live };
        if (!rereadable) {
          // Stdin, all of it held (a longer one started at HELD_EVENTS): replayed from the held events.
          const f = begin(later as unknown as ReplayDefaults);
          for (const x of held as unknown as TraceEvent[]) f(x);
          replayed = true;
        }
      } else if (held !== null) {
        // The trace ended before the window could decide, all of it held: from boot, replayed from what was read.
        const f = begin(later as unknown as ReplayDefaults);
        for (const x of held as TraceEvent[]) f(x);
        replayed = true;
      }
    }
    if (!replayed) reader = new TraceReader(readerOptions);
  }
  if (!replayed) loss = await readTraceWithFacts(trace, reader, start, span, points);
  assert(replayer !== null && rc !== null, "the replay started");
  let rp = replayer as Replayer;
  let rcn = rc as Reconstructor;
  rcn.end();
  let result = rp.end();
  let otherResults = others.map((o) => o.end());
  // The trace once more, into the replay `start` begins: a file read again; stdin's events, all kept, replayed from
  // the defaults its first replay began with (its reader read them all).
  const readAgain = async (): Promise<void> => {
    if (rereadable) {
      reader = new TraceReader(readerOptions);
      loss = await readTraceWithFacts(trace, reader, start, span, points);
      return;
    }
    const f = begin(later as unknown as ReplayDefaults);
    for (const x of kept as unknown as TraceEvent[]) f(x);
  };
  // Each device's phase, the replayed one's and every other's, ends by the same rule, its cap its own domain's.
  const capsAgree = (rec: Reconstructor, rs: ReplayResult[]): boolean =>
    rs.every((x) => capAgrees(rec.stats.allocations.get(x.domain) ?? 0, x.learning.allocations));
  // The trace read once more, from the start states `from` gives (a search's state tried), and the replayed
  // device's result; what a reading leaves, kept (`reading`) to be put back (`putBack`) where the one after it
  // places less.
  const readFrom = async (from: NonNullable<typeof learned>): Promise<ReplayResult> => {
    learned = from;
    oneReading = false;
    notesPrinted = true;
    iommuEvents = 0;
    events = 0;
    flagless = 0;
    await readAgain();
    rp = replayer as Replayer;
    rcn = rc as Reconstructor;
    rcn.end();
    return rp.end();
  };
  const reading = () => ({
    reader,
    replayer,
    rc,
    others,
    baseline,
    result,
    otherResults,
    iommuEvents,
    events,
    flagless,
  });
  const putBack = (was: ReturnType<typeof reading>): void => {
    ({ reader, replayer, rc, others, baseline, result, otherResults, iommuEvents, events, flagless } = was);
    rp = replayer as Replayer;
    rcn = rc as Reconstructor;
  };
  if (
    (rereadable || kept !== null) &&
    oneReading &&
    learned !== null &&
    (reread || !capsAgree(rcn, [result, ...otherResults]))
  ) {
    // The phase ran past the tenth of the trace's allocations it may cover (or the IOVA lines held while that was
    // open were too many): the trace is read again, as a mid-life trace's first reading would have had it, and
    // that replay's results are the ones given.
    lines.clear();
    result = await readFrom({ ...learned, allocations: new Map(rcn.stats.allocations) });
    otherResults = others.map((o) => o.end());
  }
  const fw = firstWindow as LearningWindow | null;
  // A window of several size classes is searched class by class (`LearningWindow.searchClasses`), each with its
  // restarts, and below nine tenths: an unknown class's fill misplaces that class's allocations only, so a start
  // the empty state misses still places more than half (the 6.1 lazy-timers trace cut at its line 83,175: 62.04%,
  // 100.00% from the state found).
  const classes = fw?.searchesClasses === true;
  // The replayed device's start state the replay kept (the other devices' searches below replay from it too).
  let mainStart = learned?.start;
  // Stdin is searched too while all of it is kept: its replays from the states found replay the kept events.
  if (
    busyAuto &&
    (rereadable || kept !== null) &&
    fw?.midLife === true &&
    midLifeMissed(result, classes ? CLASSES_SEARCH_BELOW : undefined)
  ) {
    // Begun mid-life (often while the disk was busy: the rings then held unmaps from before the trace), and the
    // replay from the empty start placed less than half of what the trace could show: the start state is searched
    // (`busy-start.ts`), the trace read again from the state found, and the
    // replay that places more of what the trace could show is given. The search judges its window only: over a
    // whole trace the state it finds can do worse than the empty start. Where the best of them still misses
    // anything the trace could show (one class searched), the search climbs again (across CPUs, then from random
    // starts; `LearningWindow.searchAgain`), and a state that explains its whole window is replayed too; where
    // that still misses, the same climbs breaking the first stage's ties, then the plain ones over a window twice
    // as long.
    const allocations = new Map(rcn.stats.allocations);
    const traceAllocations = rcn.stats.allocations.get(result.domain) ?? 0;
    const said: string[] = [];
    let given = "the first";
    // Each replay that places more than the one kept so far is kept; otherwise the kept one's state is put back.
    const keepBetter = async (found: StartState, what: string, givenAs: string): Promise<void> => {
      const was = reading();
      const again = await readFrom({ start: found, allocations, live: fw.live });
      said.push(`${what}, ${describeStartState(found)}: ${(exactOfKnowable(again) * 100).toFixed(2)}%`);
      if (exactOfKnowable(again) > exactOfKnowable(result)) {
        given = givenAs;
        mainStart = found;
        result = again;
        otherResults = others.map((o) => o.end());
      } else putBack(was);
    };
    const placedFirst = exactOfKnowable(result);
    await keepBetter(fw.search(traceAllocations, classes), "searched", "that replay");
    if (!classes) await searchAgainWhileMissed(fw, () => midLifeMissed(result, 1), keepBetter, said);
    process.stderr.write(searchSaid("", fw, placedFirst, said, given));
    searched = true;
  }
  // Every other device begun mid-life whose replay still misses (a machine of several devices: each domain has its
  // own allocator, caches and flush queue, all of them as unknown at the start) is searched alike, over its own
  // window of the same first events (`LearningWindow.forDevice`), and the trace read again with the state found
  // for its domain; a device's replay is kept where it places more, and the replays of the others do not move
  // (each domain's is its own).
  if (busyAuto && (rereadable || kept !== null) && fw?.midLife === true && mainStart !== undefined) {
    const allocations = new Map(rcn.stats.allocations);
    const chosen = new Map<string, StartState>();
    for (const first of [...otherResults]) {
      const dev = first.device;
      if (first.allocations === 0 || !midLifeMissed(first, CLASSES_SEARCH_BELOW)) continue;
      // The search of a busy start is of a lazy domain's rings: a device whose domain was captured strict has none.
      if ((later as ReplayDefaults | null)?.capturedOf(dev) === true) continue;
      const wx = fw.forDevice(dev);
      // Below half, or below nine tenths for a window of several size classes, as the replayed device's.
      if (wx === null || !wx.midLife || !midLifeMissed(first, wx.searchesClasses ? CLASSES_SEARCH_BELOW : undefined))
        continue;
      const mine = (rs: ReplayResult[]): ReplayResult => rs.find((x) => x.device === dev) as ReplayResult;
      const said: string[] = [];
      let given = "the first";
      const keepBetter = async (found: StartState, what: string, givenAs: string): Promise<void> => {
        const was = reading();
        const starts = new Map([...chosen, [dev, found]]);
        const again = await readFrom({ start: mainStart as StartState, allocations, live: fw.live, others: starts });
        const againOthers = others.map((o) => o.end());
        said.push(`${what}, ${describeStartState(found)}: ${(exactOfKnowable(mine(againOthers)) * 100).toFixed(2)}%`);
        if (exactOfKnowable(mine(againOthers)) > exactOfKnowable(mine(otherResults))) {
          given = givenAs;
          chosen.set(dev, found);
          result = again;
          otherResults = againOthers;
        } else putBack(was);
      };
      const byClass = wx.searchesClasses;
      const placedFirst = exactOfKnowable(first);
      await keepBetter(wx.search(allocations.get(first.domain) ?? 0, byClass), "searched", "that replay");
      // Then, while the replay kept still misses, the same steps as the replayed device's.
      if (!byClass) await searchAgainWhileMissed(wx, () => midLifeMissed(mine(otherResults), 1), keepBetter, said);
      process.stderr.write(searchSaid(`${dev}: `, wx, placedFirst, said, given));
    }
  }
  const bl = baseline as Replayer | null;
  if (opts.emitIovas) {
    // stdout carries only IOVAs; what the summary would say of skipped lines goes to stderr.
    const bad = reader.stats.malformed;
    // Every span's reading reads the lines before it too: the last one tells of them all.
    if (bad > 0 && loss === null) {
      process.stderr.write(
        `iovalab: warning: ${file}: ${bad} malformed trace line${bad === 1 ? "" : "s"} skipped (--strict-input stops at the first):\n` +
          reader.diagnostics
            .slice(0, 5)
            .map((d) => `  ${d}\n`)
            .join(""),
      );
    }
    for (const w of orderSearchStops(file, [result])) process.stderr.write(`iovalab: warning: ${w}\n`);
    return { from, loss, results: [result], output: lines.take() };
  }
  const results = [result, ...otherResults.filter((x) => x.allocations > 0)];
  const lacks = traceLacks(result, flagless, iommuEvents, searched);
  if (sameKind.length > 0 && !reader.stats.events.has("dma_map_page") && !reader.stats.events.has("dma_map_sg"))
    lacks.push(
      `the trace has no dma:* events: its map and unmap events name no device, so ${[result.device, ...sameKind].join(" and ")} cannot be told apart and are replayed as one (${result.device}'s domain)`,
    );
  lacks.push(...orderSearchStops(file, results));
  if (opts.json) {
    const st = reader.stats;
    const warnings = [...notes.filter((n) => n.startsWith("warning: ")), ...lacks];
    const json = summaryJson(file, results, { malformed: st.malformed, unparsed: st.unparsedLines }, warnings);
    return { from, loss, results, output: json };
  }
  let text = summary(
    file,
    reader,
    rcn,
    results,
    machineName,
    loss !== null || wanted.lossesAfter > 0 || Number.isFinite(wanted.until),
  );
  if (results.length > 1) text += devicesTable(results);
  for (const l of lacks) text += `warning: ${l}\n`;
  if (bl) text += comparison(bl.end(), result);
  return { from, loss, results, output: text };
}

/** The line that says what a start's searches found (`said`) and which replay was `given`, after `prefix`. */
function searchSaid(prefix: string, w: LearningWindow, placedFirst: number, said: string[], given: string): string {
  const begun = w.busyStart
    ? "begun while the disk was busy (mid-life, its first fq_flush_timeout event an expiry)"
    : "begun mid-life (the flush-queue timer not armed before it)";
  return (
    `iovalab replay: ${prefix}${begun} and ${(placedFirst * 100).toFixed(2)}% of what the trace could show placed ` +
    `from the empty start: ${said.join("; ")}; ${given} given (--no-search-start skips the search)\n`
  );
}

/**
 * The searches of a busy start after its first (`LearningWindow.searchAgain`), in order, each only while the replay
 * kept still misses (`missed`): the restarts; the same climbs breaking the first stage's ties; the plain ones over
 * a window twice as long. Not the tie-broken ones over it too: on the 48 busy cuts measured they found nothing, and
 * took the 6.1 capture cut at its line 30,000 (which no search serves) from 144 s to 483 s with the others. Each
 * state found goes to `keepBetter`; what each step found is said in `said`.
 */
/**
 * A file of which no line is a trace event and some line is malformed is no
 * trace (a log, a clock that counts instead of seconds, the wrong file): an
 * input error naming its first bad line, not an empty replay.
 */
function refuseNonTrace(file: string, reader: TraceReader): void {
  const s = reader.stats;
  if (s.eventsTotal > 0 || s.skippedTotal > 0 || s.malformed === 0) return;
  throw new InputError(
    `${reader.diagnostics[0]} (no line of ${file} is a trace event: ${s.malformed} of its ${s.lines} lines malformed)`,
  );
}

async function searchAgainWhileMissed(
  w: LearningWindow,
  missed: () => boolean,
  keepBetter: (found: StartState, what: string, givenAs: string) => Promise<void>,
  said: string[],
): Promise<void> {
  for (const [longer, tieBreak, what, givenAs] of [
    [false, false, "searched again", "that second replay"],
    [false, true, "searched again, ties broken", "that search's replay"],
    [true, false, "searched over 60,000 events", "that search's replay"],
  ] as const) {
    if (!missed()) break;
    const found = w.searchAgain(longer, tieBreak);
    if (found !== null) await keepBetter(found, what, givenAs);
    else
      said.push(`${what}: no state found that explains more of ${longer || tieBreak ? "its" : "the search's"} window`);
  }
}

/** The share of what a trace could show below which a mid-life lazy window of several size classes is searched. */
const CLASSES_SEARCH_BELOW = 0.9;

/** One span's replay (`replaySpan`): what it covered and what `iovalab replay` prints of it alone. */
interface SpanReplay {
  /** It replayed the lines after this one, ... */
  from: number;
  /** ... up to the last event before this loss of the CPU that lost events (null: to the trace's end). */
  loss: SpanLoss | null;
  /** The devices replayed, the first the one the summary details. */
  results: ReplayResult[];
  /** The summary's text, its JSON (--json), or the IOVA lines not yet written (--emit-iovas). */
  output: string | Uint8Array | ReplaySummaryJson;
}

/** The symbol table `--kallsyms` named last, read once for every trace and span it names functions for. */
let kallsymsRead: { path: string; names: ReadonlyMap<string, string> } | null = null;

/**
 * How every reading of a trace reads its lines: the same malformed-line
 * rule, and the functions it prints as addresses named the same way.
 */
function traceReaderOptions(file: string, opts: ReplayCliOptions): TraceReaderOptions {
  const path = opts.kallsyms;
  if (path !== undefined && kallsymsRead?.path !== path) {
    const names = kallsymsNames(readText(path, MAX_KALLSYMS_BYTES), path === "-" ? "<stdin>" : path, [
      FQ_TIMER_FUNCTION,
      DEPOT_WORK_FUNCTION,
    ]);
    kallsymsRead = { path, names };
  }
  return {
    file,
    strictInput: opts.strictInput,
    fqTimerFunction: opts.fqTimerFunction,
    functionNames: path === undefined ? undefined : kallsymsRead?.names,
  };
}

/**
 * Replays one trace (read from `trace`, named `file` in what it prints) and
 * returns its summary; with --emit-iovas, the IOVA lines (most of them
 * already written as they came). Without `machine`, the machine is built
 * from the trace; kernel and capture mode default to what the trace shows
 * (`replay/defaults.ts`), each such choice said on stderr.
 *
 * Where the ring buffer lost events (an overrun), what the kernel's caches
 * held after it is as unknown as at the start of a trace begun mid-life: the
 * trace is replayed in spans, each from the line after a loss as a trace
 * that starts there (its own learning phase, `learning.ts`), and the summary
 * gives each span and all of them. Stdin is too, from the copy its first
 * reading writes (`PipeCopy`); where no copy can be made, in one span.
 */
async function replayTrace(
  trace: string,
  file: string,
  machine: MachineDesc | undefined,
  opts: ReplayCliOptions,
): Promise<string | Uint8Array> {
  const spans: SpanReplay[] = [];
  let span: TraceSpan = { ...WHOLE_TRACE, endAtLoss: true };
  // Each span's readings begin after the loss it follows, where an earlier reading passed it.
  const points = new ResumePoints();
  const readerOptions = traceReaderOptions(file, opts);
  // A trace piped in is copied as its first reading reads it; the spans' readings after the first read the copy.
  const regular = isRereadable(trace);
  points.pipe = regular ? null : PipeCopy.open(trace);
  points.rereadable = regular || points.pipe !== null;
  // Once a span has ended at a loss, the rest of the trace is read for its losses alone (no replay) and, gzip, its
  // content after the loss decompressed once (`scanLosses`, `spillAfter`).
  let scan: LossScan | null = null;
  // Threads for the start search's trials, started at a search's first trial (none for a replay that searches none).
  const threads = searchThreads(opts);
  const pool = threads > 0 ? new TrialWorkers(threads) : undefined;
  try {
    for (;;) {
      // The events lost came after that CPU's last event before the marker. The other CPUs' calls since then met
      // caches the lost events had changed (a flush freed the lost unmaps, say), and the replay has no way to know
      // how: the span ends at that event, and the next one begins after the marker, where the CPU's events go on
      // (begun at that event instead, its learning phase could end before that CPU's first allocation). The lines
      // between are replayed by neither. The IOVA lines of --emit-iovas went out as the replay went: every map
      // event has one, those between from the span's replay up to the marker.
      const gapOf = (l: SpanLoss): number | null => {
        const gap = Math.max(l.gapAfter, span.from);
        return gap < l.afterLine - 1 && !opts.emitIovas ? gap : null;
      };
      // The loss the scan knows this span ends at: the span is replayed once, up to where that loss says it ends.
      const known = scan?.endOf(span.from);
      let loss: SpanLoss | null = known != null && gapOf(known) !== null ? known : null;
      let s: SpanReplay | null = null;
      if (loss === null) {
        // Else it is read up to its loss's marker, where that loss shows, and replayed again up to the gap.
        s = await replaySpan(
          trace,
          file,
          machine,
          opts,
          span,
          spans.length === 0 && span.lossesAfter === 0,
          points,
          pool,
        );
        loss = s.loss;
        if (loss === null) {
          spans.push(s);
          break;
        }
        // A pipe: the rest of the trace is read from its copy.
        if (points.pipe !== null) trace = points.pipe.whole();
        if (scan === null) {
          await spillAfter(trace, points);
          // --emit-iovas replays each span once anyway (up to its marker): nothing to read ahead for.
          if (!opts.emitIovas) scan = await scanLosses(trace, new TraceReader(readerOptions), loss.afterLine, points);
          // A first loss before the trace's facts were complete has no resume point, but the scan left one at each
          // later marker: a gzip trace's content is decompressed once from the first of them.
          await spillAfter(trace, points);
        }
        if (gapOf(loss) !== null) s = null;
      }
      if (s === null) {
        const until = gapOf(loss) as number;
        s = await replaySpan(trace, file, machine, opts, { ...span, until, endAtLoss: false }, false, points, pool);
        s.loss = loss;
      }
      // Each span's IOVA lines go out before the next span's.
      if (opts.emitIovas) void writeStdout(s.output as string | Uint8Array);
      spans.push(s);
      span = { from: loss.afterLine, until: Number.POSITIVE_INFINITY, lossesAfter: loss.afterLine, endAtLoss: true };
    }
  } finally {
    // A gzip trace's spilt content (`spillAfter`) goes with the replay.
    points.dispose();
    pool?.close();
  }
  const last = spans[spans.length - 1];
  if (opts.emitIovas) return last.output as string | Uint8Array;
  if (spans.length === 1) {
    const out = last.output;
    return typeof out === "string" || out instanceof Uint8Array ? out : `${JSON.stringify(out)}\n`;
  }
  if (opts.json) {
    const json = spansJson(spans.map(spanSummary));
    json.warnings.unshift(spansWarning(spans));
    return `${JSON.stringify(json)}\n`;
  }
  return spansText(file, spans);
}

function spanSummary(s: SpanReplay): SpanSummary {
  const loss = s.loss === null ? null : { afterLine: s.loss.afterLine, cpu: s.loss.cpu, events: s.loss.events };
  return {
    afterLine: s.from,
    lastLine: s.loss === null ? null : spanEnd(s),
    loss,
    json: s.output as ReplaySummaryJson,
    counts: s.results.map(deviceCounts),
  };
}

/** The last line of a span that ends at a loss: its CPU's last event before the loss. */
function spanEnd(s: SpanReplay): number {
  return Math.max((s.loss as SpanLoss).gapAfter, s.from);
}

/** The loss a span ends at, as its heading says it. */
function lossText(s: SpanReplay): string {
  const loss = s.loss as SpanLoss;
  return (
    `CPU ${loss.cpu} lost ${loss.events ?? "some"} events between lines ${spanEnd(s)} and ${loss.afterLine + 1}; ` +
    "the other CPUs' calls between them are in no span"
  );
}

function spansWarning(spans: readonly SpanReplay[]): string {
  const k = spans.length - 1;
  return (
    `the ring buffer lost events in ${k} place${k === 1 ? "" : "s"} (an overrun: the capture's buffer was too small for ` +
    "its rate, or its reader too slow); what the kernel's caches held after a loss is unknown, so the trace is replayed in " +
    `${spans.length} spans, each after a loss as a trace that starts there (mid-life, with a learning phase of its own)`
  );
}

/** Each span's summary under a heading, then the figures of all of them. */
function spansText(file: string, spans: readonly SpanReplay[]): string {
  const n = spans.length;
  let text = `${file}: warning: ${spansWarning(spans)}\n`;
  for (let i = 0; i < n; i++) {
    const s = spans[i];
    const end = s.loss === null ? "to the trace's end" : `to line ${spanEnd(s)} (${lossText(s)})`;
    const start = i === 0 ? "from the trace's start" : `after line ${s.from}, as a trace that starts there`;
    text += `\nspan ${i + 1} of ${n}, ${start}, ${end}:\n${s.output as string}`;
  }
  const t = totalFigures(sumCounts(spans.map((s) => s.results.map(deviceCounts))));
  const knowable = t.exactOfKnowable === null ? "" : `; of what the trace could show, ${pct1(t.exactOfKnowable)} exact`;
  text +=
    `\nall ${n} spans${spans[0].results.length > 1 ? ", all devices" : ""}: exact IOVA matches ${t.exact}/${t.allocations} ` +
    `allocations (${pct(t.exact, t.allocations)}); ${t.learned} in the spans' learning phases` +
    (t.exactAfterLearning === null ? "" : `; exact after them ${pct1(t.exactAfterLearning)}`) +
    `${knowable}\n`;
  return text;
}

function pct1(f: number): string {
  return `${(f * 100).toFixed(2)}%`;
}
