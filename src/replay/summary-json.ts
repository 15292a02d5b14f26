/**
 * The replay's summary as one JSON object (`iovalab replay --json`), and
 * what a trace lacks for an exact replay (the capture advice the summary and
 * `--help` give). Plain data: the CLI prints it.
 */

import { hex16 } from "../stdx/hex.ts";
import { FAILED_RUN, SEARCHES } from "./cpu-order.ts";
import type { ReplayResult } from "./replay.ts";

export interface DeviceFigures {
  device: string;
  /** The IOMMU group number (sysfs `iommu_groups/N`). */
  group: number;
  /** How the device's domain replayed: the trace's mode, or its own where the trace tells it apart (a group's `type`). */
  mode: "strict" | "lazy";
  allocations: number;
  exact: number;
  learned: number;
  learningMs: number;
  /** Null when the learning phase covered every allocation: nothing after it to measure. */
  exactAfterLearning: number | null;
  /**
   * The same, of the allocations after the phase whose IOVA the trace could
   * show: those taken from a cache filled before the trace (adopted) left out,
   * as no replay can know them. Null when there are none.
   */
  exactOfKnowable: number | null;
}

export interface ReplaySummaryJson {
  trace: string;
  kernel: string;
  mode: "strict" | "lazy";
  flushes: "timer-events" | "inferred" | "model-timer" | null;
  malformedLines: number;
  unparsedLines: number;
  warnings: string[];
  devices: DeviceFigures[];
  total: TotalFigures;
  /**
   * Where the ring buffer lost events, the trace is replayed in spans, each
   * after a loss as a trace that starts there (`devices` and `total` then
   * sum them); absent for a trace replayed whole.
   */
  spans?: SpanJson[];
}

export interface TotalFigures {
  allocations: number;
  exact: number;
  learned: number;
  exactAfterLearning: number | null;
  exactOfKnowable: number | null;
}

/** One span of a trace the ring buffer lost events of. */
export interface SpanJson {
  /** The span replays the lines after this one (0: from the trace's start) ... */
  afterLine: number;
  /** ... to this one, the last event of the CPU that lost events before the loss (null: to the trace's end). */
  lastLine: number | null;
  /** The loss it ends at: its marker's line (a trace.dat's last record before it), its CPU and count (null: not given). */
  loss: { afterLine: number; cpu: number; events: number | null } | null;
  devices: DeviceFigures[];
  total: TotalFigures;
}

/** The counts of one device's replay that its figures are made of (summed over a trace's spans). */
export interface DeviceCounts {
  device: string;
  domain: string;
  mode: "strict" | "lazy";
  allocations: number;
  exact: number;
  learned: number;
  learningNs: number;
  afterLearning: number;
  exactAfterLearning: number;
  adoptedAfterLearning: number;
}

export function deviceCounts(r: ReplayResult): DeviceCounts {
  return {
    device: r.device,
    domain: r.domain,
    mode: r.strict ? "strict" : "lazy",
    allocations: r.allocations,
    exact: r.exact,
    learned: r.learning.allocations,
    learningNs: r.learning.durationNs,
    afterLearning: r.afterLearning,
    exactAfterLearning: r.exactAfterLearning,
    adoptedAfterLearning: r.adoptedAfterLearning,
  };
}

/** Adds `c`'s counts to `t`'s (its device and domain kept). */
function addCounts(t: DeviceCounts, c: DeviceCounts): void {
  t.allocations += c.allocations;
  t.exact += c.exact;
  t.learned += c.learned;
  t.learningNs += c.learningNs;
  t.afterLearning += c.afterLearning;
  t.exactAfterLearning += c.exactAfterLearning;
  t.adoptedAfterLearning += c.adoptedAfterLearning;
}

/** Each device's counts summed over spans, in the order the devices first appear. */
export function sumCounts(spans: readonly (readonly DeviceCounts[])[]): DeviceCounts[] {
  const by = new Map<string, DeviceCounts>();
  for (const span of spans)
    for (const c of span) {
      const t = by.get(c.device);
      if (t === undefined) by.set(c.device, { ...c });
      else addCounts(t, c);
    }
  return [...by.values()];
}

/** A figure summed over the devices replayed. */
export function sumOver(results: readonly ReplayResult[], f: (r: ReplayResult) => number): number {
  let n = 0;
  for (const r of results) n += f(r);
  return n;
}

/** The fraction `n / d`; null when there is nothing to count. */
function fraction(n: number, d: number): number | null {
  return d === 0 ? null : n / d;
}

/** The group number of a replayed domain named `groupN`. */
function groupNumber(domain: string): number {
  const m = /^group([0-9]+)$/.exec(domain);
  return m ? Number(m[1]) : -1;
}

export function deviceFigures(r: ReplayResult): DeviceFigures {
  return countsFigures(deviceCounts(r));
}

function countsFigures(c: DeviceCounts): DeviceFigures {
  return {
    device: c.device,
    group: groupNumber(c.domain),
    mode: c.mode,
    allocations: c.allocations,
    exact: c.exact,
    learned: c.learned,
    learningMs: c.learningNs / 1e6,
    exactAfterLearning: fraction(c.exactAfterLearning, c.afterLearning),
    exactOfKnowable: fraction(c.exactAfterLearning, c.afterLearning - c.adoptedAfterLearning),
  };
}

/** The figures of every device together. */
export function totalFigures(cs: readonly DeviceCounts[]): TotalFigures {
  const t: DeviceCounts = {
    device: "",
    domain: "",
    mode: "lazy",
    allocations: 0,
    exact: 0,
    learned: 0,
    learningNs: 0,
    afterLearning: 0,
    exactAfterLearning: 0,
    adoptedAfterLearning: 0,
  };
  for (const c of cs) addCounts(t, c);
  return {
    allocations: t.allocations,
    exact: t.exact,
    learned: t.learned,
    exactAfterLearning: fraction(t.exactAfterLearning, t.afterLearning),
    exactOfKnowable: fraction(t.exactAfterLearning, t.afterLearning - t.adoptedAfterLearning),
  };
}

export function summaryJson(
  trace: string,
  results: readonly ReplayResult[],
  lines: { malformed: number; unparsed: number },
  warnings: string[],
): ReplaySummaryJson {
  const first = results[0];
  return {
    trace,
    kernel: first.kernel,
    mode: first.strict ? "strict" : "lazy",
    flushes: first.flushSource,
    malformedLines: lines.malformed,
    unparsedLines: lines.unparsed,
    warnings,
    devices: results.map(deviceFigures),
    total: totalFigures(results.map(deviceCounts)),
  };
}

/** One span's summary (`summaryJson` of its replay) and its devices' counts. */
export interface SpanSummary {
  afterLine: number;
  lastLine: number | null;
  loss: SpanJson["loss"];
  json: ReplaySummaryJson;
  counts: DeviceCounts[];
}

/**
 * The summary of a trace replayed in spans: the first span's kernel, mode
 * and flushes, the last one's line counts (every span's reading reads the
 * lines before it), every span's warnings once, each device's figures
 * summed over the spans, and each span's own.
 */
export function spansJson(spans: readonly SpanSummary[]): ReplaySummaryJson {
  const first = spans[0].json;
  const last = spans[spans.length - 1].json;
  const warnings: string[] = [];
  for (const s of spans) for (const w of s.json.warnings) if (!warnings.includes(w)) warnings.push(w);
  const counts = sumCounts(spans.map((s) => s.counts));
  return {
    ...first,
    malformedLines: last.malformedLines,
    unparsedLines: last.unparsedLines,
    warnings,
    devices: counts.map(countsFigures),
    total: totalFigures(counts),
    spans: spans.map((s) => ({
      afterLine: s.afterLine,
      lastLine: s.lastLine,
      loss: s.loss,
      devices: s.json.devices,
      total: s.json.total,
    })),
  };
}

/** Allocations after the learning phase below which a mid-life replay's rate says too little to warn about. */
const BUSY_CUT_MIN = 1000;

/**
 * A replay of a trace begun mid-life that placed less than half (`share`)
 * of what the trace could show after the learning phase, with at least
 * BUSY_CUT_MIN allocations to judge by: the caches' fill at its start,
 * which the learning phase did not recover, decides the magazine swaps
 * after it.
 */
export function midLifeMissed(r: ReplayResult, share = 0.5): boolean {
  const knowable = r.afterLearning - r.adoptedAfterLearning;
  return r.learning.midLife && knowable >= BUSY_CUT_MIN && r.exactAfterLearning < knowable * share;
}

/**
 * `midLifeMissed` of a trace begun while the disk was busy: the flush-queue
 * timer armed before the trace (its first `fq_flush_timeout` event an
 * expiry), so the rings held unmaps from before it too.
 */
export function busyCutMissed(r: ReplayResult): boolean {
  return midLifeMissed(r) && r.timerFlushes?.armedBeforeTrace === true;
}

/** The share of what the trace could show after the learning phase that the replay placed (0 with none). */
export function exactOfKnowable(r: ReplayResult): number {
  return fraction(r.exactAfterLearning, r.afterLearning - r.adoptedAfterLearning) ?? 0;
}

/**
 * What the trace lacks for an exact replay, and what that costs: lazy
 * traces without the flush-queue timer events, a lazy trace begun while
 * the flush-queue rings held unmaps from before it (the timer armed) and
 * replayed mostly unlike the kernel after its learning phase, traces
 * without the flags column (interrupt context unknown).
 */
export function traceLacks(r: ReplayResult, eventsWithoutFlags: number, events: number, searched = false): string[] {
  const out: string[] = [];
  if (!r.strict && r.flushSource !== "timer-events") {
    out.push(
      "the trace has no flush-queue timer events (timer:timer_start and timer:timer_expire_entry of fq_flush_timeout): " +
        "where each flush ran is inferred or taken from the model's timer, and lazy IOVAs diverge from the first flush placed " +
        "unlike the kernel's (capture them as `iovalab replay --help` shows)",
    );
  }
  const lacked = r.cpusLacked;
  if (lacked.calls > 0) {
    const n = r.iovad.cpus;
    out.push(
      `${lacked.calls} calls ran on CPUs the machine lacks (up to CPU ${lacked.highest}; it has ${n}): each was replayed ` +
        `on its CPU number modulo ${n}, sharing that CPU's caches, so their IOVAs need not be the kernel's ` +
        `(give --cpus ${lacked.highest + 1}, or a machine with as many CPUs)`,
    );
  }
  const inReserved = r.inReserved;
  if (inReserved.first !== null) {
    const f = inReserved.first;
    out.push(
      `${inReserved.maps} map${inReserved.maps === 1 ? "" : "s"} of ${r.device} took IOVAs inside ` +
        `${hex16(f.start)}-${hex16(f.end)} (the first at line ${f.line}: ${hex16(f.iova)}), which the machine's domain ` +
        `reserves (${f.what}) and where the kernel never allocates: the trace was taken on a machine whose reserved regions ` +
        "are not these (an Arm SMMU's MSI window, for one, is not where an x86 IOMMU's is), so the model's IOVAs part " +
        "from the kernel's where allocations reach the region; describe the traced machine with `iovalab collect` " +
        "and `iovalab machine import`, and give it with --machine",
    );
  }
  const knowable = r.afterLearning - r.adoptedAfterLearning;
  if (busyCutMissed(r)) {
    out.push(
      `the trace starts mid-life with the flush-queue timer armed (its first fq_flush_timeout event is an expiry): ` +
        "the rings held unmaps from before the trace, which it cannot count, and they and the magazines' fill decide " +
        `every magazine swap after the first flush; ${r.exactAfterLearning} of the ${knowable} allocations after the ` +
        'learning phase that the trace could show are exact (README, "Where it still fails"); ' +
        (searched
          ? "the search of the rings' and magazines' fill found no state that replays it"
          : "--search-start searches the rings' and magazines' fill (slower)") +
        ", and a capture begun before the workload, or after the disk was idle for the timer's 10 ms, starts with " +
        "the rings empty",
    );
  } else if (midLifeMissed(r)) {
    out.push(
      "the trace starts mid-life and its learning phase did not recover how full the magazines were at its start, " +
        `which decides every magazine swap after it; ${r.exactAfterLearning} of the ${knowable} allocations after the ` +
        "learning phase that the trace could show are exact; " +
        (searched
          ? "the search of the magazines' fill found no state that replays it"
          : "--search-start searches the magazines' fill (slower)"),
    );
  }
  const lostExpiries = r.timerFlushes?.lostExpiries ?? 0;
  if (r.lostUnmaps > 0 || lostExpiries > 0) {
    const parts: string[] = [];
    if (r.lostUnmaps > 0)
      parts.push(
        `${r.lostUnmaps} map${r.lostUnmaps === 1 ? "" : "s"} took IOVA ranges it still held mapped (their unmaps are missing. ` +
          "On a lazy domain each lost unmap is queued on the CPU that mapped it, in map order, before that CPU's " +
          "next traced unmap of a later map or after the time its request most likely completed, or before the " +
          "first flush after that time (all or none of them where the calls after the flush show it), and a map that finds its range " +
          "lower in the magazine it pops, or another lost range there, takes it from there, adopted, not exact " +
          `(${r.lostLifted}: requests completed out of order). On a ` +
          "strict one the range passes to the new map as it was, adopted, and several lost at once shift the " +
          "magazines' fill)",
      );
    if (lostExpiries > 0)
      parts.push(
        `${lostExpiries} flush-queue expir${lostExpiries === 1 ? "y" : "ies"} missing, shown by a timer_start with the timer ` +
          "still armed (each run before the first map that took an IOVA only it could have freed, else at that timer_start)",
      );
    out.push(
      `the trace lost events: ${parts.join("; ")}. trace-cmd record drops the events of interrupts that stop its own ` +
        "threads unless given --no-filter (the capture command: iovalab replay --help)",
    );
  }
  if (events > 0 && eventsWithoutFlags === events) {
    out.push(
      "the trace has no flags column (irq-info): which unmaps ran in an interrupt is read from the IOVAs instead " +
        "(any unmap may have been an interrupt's; a map of its task and size class that took none of the IOVAs it " +
        "freed allocated before it), and maps allocated in an interrupt are taken as a task's " +
        "(trace-cmd report -l or the kernel's own trace file have the column)",
    );
  }
  return out;
}

/**
 * Where a strict replay stopped searching for the order of two CPUs' calls
 * (`cpu-order.ts`), and why: each replayed domain's, at `file`'s line.
 */
export function orderSearchStops(file: string, results: readonly ReplayResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    const s = r.cpuOrderStopped;
    if (s === null) continue;
    const why =
      s.reason === "failed-run"
        ? `${FAILED_RUN} searches in a row found no order that gives the kernel's IOVA`
        : s.reason === "failed-searches"
          ? `${SEARCHES} searches found no order that gives the kernel's IOVA`
          : `its trials had replayed ${s.trialCalls} calls for the ${s.calls} taken, the bound`;
    out.push(
      `${results.length > 1 ? `${r.device}: ` : ""}the replay stopped searching for the order of two CPUs' calls at ` +
        `${file}:${s.line}, after ${s.searches} searches (${s.failed} found none): ${why}; ` +
        "the model and the trace differ there in more than that order (a trace captured in another mode, see --captured, " +
        "or on another kernel, or one that starts mid-life), and the maps after it are replayed in the trace's order",
    );
  }
  return out;
}

/** The per-device and total exactness of a replay of several devices' domains, for the text summary. */
export function devicesTable(results: readonly ReplayResult[]): string {
  const pct = (n: number, d: number) => (d === 0 ? "-" : `${((100 * n) / d).toFixed(2)}%`);
  const out = ["devices replayed, each in its own domain:"];
  for (const r of results) {
    out.push(
      `  ${r.device} (${r.domain}): ${r.exact}/${r.allocations} allocations exact (${pct(r.exact, r.allocations)})`,
    );
  }
  const a = sumOver(results, (r) => r.allocations);
  const x = sumOver(results, (r) => r.exact);
  out.push(`  total: ${x}/${a} allocations exact (${pct(x, a)})`);
  return `${out.join("\n")}\n`;
}
