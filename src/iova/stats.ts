/**
 * Counters of one IOVA domain, kept as plain increments on the paths that
 * already run (no extra walks): what the cost model and the reports need.
 * Per-class arrays are indexed by size class (order_base_2 of the size).
 */
/** Every counter of an `IovaStats`, in its declaration order. */
export interface IovaStatsSnapshot {
  readonly treeSearches: number;
  readonly treeAllocs: number;
  readonly treeFailures: number;
  readonly treeFrees: number;
  readonly walkSteps: number;
  readonly uncacheableAllocs: number;
  readonly magazinesAllocated: number;
  readonly rcacheHits: Float64Array;
  readonly rcacheMisses: Float64Array;
  readonly depotPushes: Float64Array;
  readonly depotPops: Float64Array;
  readonly depotTrims: Float64Array;
  readonly depotOverflows: Float64Array;
  readonly cachedPfns: Float64Array;
  readonly magazinesLive: Float64Array;
}

export class IovaStats {
  /** Entries into the rbtree allocator (`__alloc_and_insert_iova_range`), fast fails included. */
  treeSearches = 0;
  /** Successful tree allocations. */
  treeAllocs = 0;
  /** Failed tree searches (max32 fast fails included). */
  treeFailures = 0;
  /** Nodes removed from the tree (frees, cache flushes, trims, overflows). */
  treeFrees = 0;
  /** `rb_prev` steps of every tree search (the `.walks` definition). */
  walkSteps = 0;
  /** `alloc_iova_fast` calls whose (rounded) size has no size class. */
  uncacheableAllocs = 0;
  /** Magazines ever allocated, the initial per-CPU pairs included. */
  magazinesAllocated = 0;
  readonly rcacheHits: Float64Array;
  readonly rcacheMisses: Float64Array;
  readonly depotPushes: Float64Array;
  readonly depotPops: Float64Array;
  readonly depotTrims: Float64Array;
  /** Full magazines freed to the tree because the fixed depot was full. */
  readonly depotOverflows: Float64Array;
  /** pfns held in magazines (per-CPU and depot), by class. */
  readonly cachedPfns: Float64Array;
  /** Magazines that exist now (per-CPU pairs and depot), by class. */
  readonly magazinesLive: Float64Array;

  constructor(classes: number) {
    this.rcacheHits = new Float64Array(classes);
    this.rcacheMisses = new Float64Array(classes);
    this.depotPushes = new Float64Array(classes);
    this.depotPops = new Float64Array(classes);
    this.depotTrims = new Float64Array(classes);
    this.depotOverflows = new Float64Array(classes);
    this.cachedPfns = new Float64Array(classes);
    this.magazinesLive = new Float64Array(classes);
  }

  /**
   * A copy of every counter, for `IovaDomain.snapshot()`: field by field,
   * since the replay takes one per checkpoint (a keyed copy stays generic).
   */
  snapshot(): IovaStatsSnapshot {
    return {
      treeSearches: this.treeSearches,
      treeAllocs: this.treeAllocs,
      treeFailures: this.treeFailures,
      treeFrees: this.treeFrees,
      walkSteps: this.walkSteps,
      uncacheableAllocs: this.uncacheableAllocs,
      magazinesAllocated: this.magazinesAllocated,
      rcacheHits: this.rcacheHits.slice(),
      rcacheMisses: this.rcacheMisses.slice(),
      depotPushes: this.depotPushes.slice(),
      depotPops: this.depotPops.slice(),
      depotTrims: this.depotTrims.slice(),
      depotOverflows: this.depotOverflows.slice(),
      cachedPfns: this.cachedPfns.slice(),
      magazinesLive: this.magazinesLive.slice(),
    };
  }

  restore(s: IovaStatsSnapshot): void {
    this.treeSearches = s.treeSearches;
    this.treeAllocs = s.treeAllocs;
    this.treeFailures = s.treeFailures;
    this.treeFrees = s.treeFrees;
    this.walkSteps = s.walkSteps;
    this.uncacheableAllocs = s.uncacheableAllocs;
    this.magazinesAllocated = s.magazinesAllocated;
    this.rcacheHits.set(s.rcacheHits);
    this.rcacheMisses.set(s.rcacheMisses);
    this.depotPushes.set(s.depotPushes);
    this.depotPops.set(s.depotPops);
    this.depotTrims.set(s.depotTrims);
    this.depotOverflows.set(s.depotOverflows);
    this.cachedPfns.set(s.cachedPfns);
    this.magazinesLive.set(s.magazinesLive);
  }

  get rcacheHitsTotal(): number {
    return sum(this.rcacheHits);
  }

  get rcacheMissesTotal(): number {
    return sum(this.rcacheMisses);
  }
}

/** Class `c`'s bit of `IovaDomain.rcacheTouched`: bit c, bit 31 for every class from 31 up. */
export function classBit(c: number): number {
  return 1 << Math.min(c, 31);
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
