/**
 * One lane of the explorer: a replay of a list of DMA calls that can stop
 * after any call, and what the page draws of it there (`LaneView`): every
 * IOVA of the domain's tree with where it is (live, in a CPU's magazines, in
 * the depot, in the flush queue, reserved), the cached nodes, each CPU's
 * magazines and the depots. A trace's flush-queue timer and depot work
 * events are replayed among the calls where the trace read them. Going back
 * replays from the start: the model keeps no history, and a replay of 100K
 * calls takes about a second.
 *
 * `analyse` replays the whole list once for the series over time (magazine
 * fill per CPU and class, depot depth, tree allocations, walk steps) and for
 * the calls whose IOVA the model placed unlike the recorded one.
 */

import type { DmaCall, IovaDomain, Mismatch, ReplayResult } from "../index.ts";
import { hex16, Replayer } from "../index.ts";
import type { LaneSpec, Settings } from "./source.ts";

/** What an IOVA of the tree is, by the `kind` column of `LaneView.spans`. */
export const SPAN_LIVE = 0;
export const SPAN_CPU = 1;
export const SPAN_DEPOT = 2;
export const SPAN_FQ = 3;
export const SPAN_RESERVED = 4;
export const SPAN_KINDS = 5;

/** Values per span in `LaneView.spans`: pfnLo, pfnHi, kind, owner (CPU, or class for the depot). */
export const SPAN_STRIDE = 4;

export interface LaneCounts {
  live: number;
  cpu: number;
  depot: number;
  fq: number;
  reserved: number;
  /** Free gaps between IOVAs inside the aperture. */
  holes: number;
}

export interface LaneView {
  /** Calls replayed. */
  pos: number;
  timeNs: number;
  granule: number;
  startPfn: number;
  dma32Pfn: number;
  /** One past the device's DMA mask, in pfns: the aperture's top. */
  limitPfn: number;
  /** The cached nodes' pfnLo, or -1 where it is the anchor. */
  cachedPfn: number;
  cached32Pfn: number;
  spans: Float64Array;
  counts: LaneCounts;
  cpus: number;
  classes: number;
  magSize: number;
  /** Per class, per CPU: the loaded magazine's size and the previous one's. */
  mags: Float64Array;
  depots: number[];
  treeAllocs: number;
  walkSteps: number;
  rcacheHits: number;
  rcacheMisses: number;
  /**
   * When the last call searched the tree: where its walk began (the cached
   * node's pfn, or the limit for the anchor) and the pfn it placed the IOVA
   * at, with its `rb_prev` steps. Null when the last call searched nothing.
   */
  lastWalk: { fromPfn: number; toPfn: number; steps: number } | null;
}

export interface LaneSeries {
  /** Call index (calls replayed) at each sample. */
  pos: Float64Array;
  timeNs: Float64Array;
  /** Per sample, per class, CPUs then the depot: pfns cached in that CPU's two magazines; magazines in the depot. */
  heat: Float32Array;
  /** Tree allocations and walk steps since the previous sample. */
  treeAllocs: Float64Array;
  walkSteps: Float64Array;
  /** IOVAs live (mapped) at the sample. */
  live: Float64Array;
}

export interface LaneInfo {
  label: string;
  settings: Settings;
  calls: number;
  cpus: number;
  classes: number;
  magSize: number;
  series: LaneSeries;
  /** Call indices (0-based) whose IOVA the model placed unlike the recorded one. */
  mismatches: number[];
  firstMismatch: (Mismatch & { call: number }) | null;
  summary: string[];
}

function iovadOf(r: Replayer): IovaDomain {
  const cookie = r.kernel.dma.cookieOf(r.dev);
  if (!cookie) throw new Error("the replayed device lost its DMA domain");
  return cookie.iovad;
}

/**
 * A lane's replay from its first call: the calls in order, each after the
 * trace's timer and workqueue events read before it.
 */
class LaneReplay {
  readonly r: Replayer;
  private readonly spec: LaneSpec;
  private work = 0;
  pos = 0;

  constructor(spec: LaneSpec, emitIova?: (text: string) => void) {
    this.spec = spec;
    this.r = new Replayer(emitIova === undefined ? spec.replay : { ...spec.replay, emitIova });
    if (spec.keepTraceOrder) this.r.keepTraceOrder();
  }

  /** Makes the next call, after the work events that came before it. */
  next(): void {
    const w = this.spec.work;
    while (this.work < w.length && w[this.work].at <= this.pos) this.r.pushWork(w[this.work++].event);
    this.r.push(this.spec.calls[this.pos++]);
  }

  end(): ReplayResult {
    const w = this.spec.work;
    while (this.work < w.length) this.r.pushWork(w[this.work++].event);
    return this.r.end();
  }
}

export class Lane {
  readonly spec: LaneSpec;
  private replay: LaneReplay;
  private lastWalk: LaneView["lastWalk"] = null;

  constructor(spec: LaneSpec) {
    this.spec = spec;
    this.replay = new LaneReplay(spec);
  }

  /** Calls replayed. */
  get pos(): number {
    return this.replay.pos;
  }

  private get r(): Replayer {
    return this.replay.r;
  }

  get calls(): DmaCall[] {
    return this.spec.calls;
  }

  /** Replays up to (not including) call `n`; back means from the start. */
  seek(n: number): void {
    const target = Math.max(0, Math.min(n, this.calls.length));
    if (target < this.pos) {
      this.replay = new LaneReplay(this.spec);
      this.lastWalk = null;
    }
    if (this.pos === target) return;
    while (this.pos < target - 1) this.replay.next();
    // The last call alone, to see whether it walked the tree and from where.
    const d = iovadOf(this.r);
    const searches = d.stats.treeSearches;
    const steps = d.stats.walkSteps;
    const limit = (n: number) => (n === d.anchor ? d.dma32bitPfn : d.tree.pfnLo(n));
    const from32 = limit(d.cached32Node);
    const from = d.cachedNode === d.anchor ? Number.POSITIVE_INFINITY : d.tree.pfnLo(d.cachedNode);
    this.replay.next();
    if (d.stats.treeSearches === searches) {
      this.lastWalk = null;
      return;
    }
    // A new node becomes the cached node of its side of the 32-bit boundary.
    const to32 = d.cached32Node !== d.anchor ? d.tree.pfnLo(d.cached32Node) : -1;
    const below = to32 >= 0 && to32 !== from32;
    this.lastWalk = {
      fromPfn: below ? from32 : from,
      toPfn: below ? to32 : d.cachedNode === d.anchor ? -1 : d.tree.pfnLo(d.cachedNode),
      steps: d.stats.walkSteps - steps,
    };
  }

  view(): LaneView {
    const r = this.r;
    const cookie = r.kernel.dma.cookieOf(r.dev);
    if (!cookie) throw new Error("the replayed device lost its DMA domain");
    const d = cookie.iovad;
    // Where each cached pfn sits: kind and owner, from the magazines and the flush queue.
    const where = new Map<number, number>();
    const classes = d.rcacheOrders;
    const mags = new Float64Array(classes * d.cpus * 2);
    const depots: number[] = [];
    for (let c = 0; c < classes; c++) {
      const rc = d.rcaches[c];
      for (let cpu = 0; cpu < d.cpus; cpu++) {
        const cr = rc.everyCpu[cpu];
        mags[(c * d.cpus + cpu) * 2] = cr.loaded.size;
        mags[(c * d.cpus + cpu) * 2 + 1] = cr.prev.size;
        for (const m of [cr.loaded, cr.prev])
          for (let i = 0; i < m.size; i++) where.set(m.pfns[i], SPAN_CPU * 65536 + cpu);
      }
      depots.push(rc.depot.length);
      for (const m of rc.depot) for (let i = 0; i < m.size; i++) where.set(m.pfns[i], SPAN_DEPOT * 65536 + c);
    }
    const fq = cookie.fq;
    if (fq) {
      for (let cpu = 0; cpu < fq.cpus; cpu++)
        for (let k = 0; k < fq.queued(cpu); k++) where.set(fq.queuedPfn(cpu, k), SPAN_FQ * 65536 + cpu);
    }
    const limitPfn = 2 ** r.dev.dmaMaskBits / d.granule;
    const counts: LaneCounts = { live: 0, cpu: 0, depot: 0, fq: 0, reserved: 0, holes: 0 };
    const n = d.liveIovas;
    const spans = new Float64Array(n * SPAN_STRIDE);
    let o = 0;
    let next = d.startPfn;
    d.forEachIova((lo, hi) => {
      let kind = SPAN_RESERVED;
      let owner = 0;
      const w = where.get(lo);
      if (w !== undefined) {
        kind = Math.floor(w / 65536);
        owner = w % 65536;
      } else if (cookie.mapped.get(lo) !== undefined) {
        kind = SPAN_LIVE;
      }
      if (lo > next && next < limitPfn) counts.holes++;
      if (hi + 1 > next) next = hi + 1;
      spans[o++] = lo;
      spans[o++] = hi;
      spans[o++] = kind;
      spans[o++] = owner;
      if (kind === SPAN_LIVE) counts.live++;
      else if (kind === SPAN_CPU) counts.cpu++;
      else if (kind === SPAN_DEPOT) counts.depot++;
      else if (kind === SPAN_FQ) counts.fq++;
      else counts.reserved++;
    });
    if (next < limitPfn) counts.holes++;
    const t = d.tree;
    const st = d.stats;
    return {
      pos: this.pos,
      timeNs: r.kernel.nowNs,
      granule: d.granule,
      startPfn: d.startPfn,
      dma32Pfn: d.dma32bitPfn,
      limitPfn,
      cachedPfn: d.cachedNode === d.anchor ? -1 : t.pfnLo(d.cachedNode),
      cached32Pfn: d.cached32Node === d.anchor ? -1 : t.pfnLo(d.cached32Node),
      spans,
      counts,
      cpus: d.cpus,
      classes,
      magSize: d.profile.magazineSize,
      mags,
      depots,
      treeAllocs: st.treeAllocs,
      walkSteps: st.walkSteps,
      rcacheHits: st.rcacheHitsTotal,
      rcacheMisses: st.rcacheMissesTotal,
      lastWalk: this.lastWalk,
    };
  }
}

function pct(n: number, d: number): string {
  return d === 0 ? "-" : `${((100 * n) / d).toFixed(2)}%`;
}

/** Replays the whole lane once: the series over time, the mismatches and a summary. */
export function analyse(spec: LaneSpec, maxSamples: number, onProgress?: (f: number) => void): LaneInfo {
  const emitted: string[] = [];
  const lr = new LaneReplay(spec, (t) => emitted.push(t));
  const r = lr.r;
  const d0 = iovadOf(r);
  const cpus = d0.cpus;
  const classes = d0.rcacheOrders;
  const calls = spec.calls;
  const samples = Math.max(1, Math.min(maxSamples, calls.length));
  const per = classes * (cpus + 1);
  const series: LaneSeries = {
    pos: new Float64Array(samples),
    timeNs: new Float64Array(samples),
    heat: new Float32Array(samples * per),
    treeAllocs: new Float64Array(samples),
    walkSteps: new Float64Array(samples),
    live: new Float64Array(samples),
  };
  let prevAllocs = d0.stats.treeAllocs;
  let prevSteps = d0.stats.walkSteps;
  let pos = 0;
  for (let k = 0; k < samples; k++) {
    const end = Math.round(((k + 1) * calls.length) / samples);
    for (; pos < end; pos++) lr.next();
    const d = iovadOf(r);
    series.pos[k] = pos;
    series.timeNs[k] = r.kernel.nowNs;
    for (let c = 0; c < classes; c++) {
      const rc = d.rcaches[c];
      const base = k * per + c * (cpus + 1);
      for (let cpu = 0; cpu < cpus; cpu++) {
        const cr = rc.everyCpu[cpu];
        series.heat[base + cpu] = cr.loaded.size + cr.prev.size;
      }
      series.heat[base + cpus] = rc.depot.length;
    }
    series.treeAllocs[k] = d.stats.treeAllocs - prevAllocs;
    series.walkSteps[k] = d.stats.walkSteps - prevSteps;
    prevAllocs = d.stats.treeAllocs;
    prevSteps = d.stats.walkSteps;
    series.live[k] = r.kernel.dma.cookieOf(r.dev)?.mapped.size ?? 0;
    if (onProgress && k % 16 === 0) onProgress(k / samples);
  }
  const res: ReplayResult = lr.end();
  // The emitted IOVAs come one per map event of the domain, in line order: match them with the calls'.
  const events: { line: number; call: number; iova: number }[] = [];
  calls.forEach((c, i) => {
    if (c.kind !== "map") return;
    const mapLines = c.mapLines;
    for (let j = 0; j < mapLines.length; j++)
      events.push({ line: mapLines[j], call: i, iova: c.iova + c.mapOffsets[j] });
  });
  events.sort((a, b) => a.line - b.line);
  const bad = new Set<number>();
  for (let i = 0; i < events.length && i < emitted.length; i++) {
    if (emitted[i] !== hex16(events[i].iova)) bad.add(events[i].call);
  }
  const mismatches = [...bad].sort((a, b) => a - b);
  const fm = res.firstMismatch;
  const firstCall = fm === null ? -1 : calls.findIndex((c) => c.kind === "map" && c.allocation === fm.allocation);
  const st = res.iovad.stats;
  const summary = [
    `${res.kernel}, ${res.strict ? "strict" : "lazy (flush queue)"}, ${res.iovad.rcacheOrders} rcache classes, device ${res.device} (${res.domain})`,
    `IOVAs as recorded: ${res.exact}/${res.allocations} allocations (${pct(res.exact, res.allocations)})`,
    `tree allocations ${st.treeAllocs}, walk steps ${st.walkSteps}, rcache hits ${st.rcacheHitsTotal}/${st.rcacheHitsTotal + st.rcacheMissesTotal}, failed ${res.failures}`,
  ];
  if (fm) summary.push(`first mismatch at line ${fm.line}: the model held the recorded IOVA ${fm.cause}`);
  return {
    label: spec.label,
    settings: spec.settings,
    calls: calls.length,
    cpus,
    classes,
    magSize: d0.profile.magazineSize,
    series,
    mismatches,
    firstMismatch: fm === null ? null : { ...fm, call: firstCall },
    summary,
  };
}
