/**
 * Counters of one IOVA domain, kept as plain increments on the paths that
 * already run (no extra walks): what the cost model and the reports need.
 * Per-class arrays are indexed by size class (order_base_2 of the size).
 */
/** Every counter of an `IovaStats`, by field name. */
export type IovaStatsSnapshot = Readonly<Record<string, number | Float64Array>>;

let keysOfStats: string[] | null = null;

/** The counters' field names, in declaration order (every instance has the same). */
function statKeys(s: IovaStats): string[] {
  keysOfStats ??= Object.keys(s);
  return keysOfStats;
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

  /** A copy of every counter, for `IovaDomain.snapshot()`. */
  snapshot(): IovaStatsSnapshot {
    const self = this as unknown as Record<string, number | Float64Array>;
    const out: Record<string, number | Float64Array> = {};
    for (const k of statKeys(this)) {
      const v = self[k];
      out[k] = v instanceof Float64Array ? v.slice() : v;
    }
    return out;
  }

  restore(s: IovaStatsSnapshot): void {
    const self = this as unknown as Record<string, number | Float64Array>;
    for (const [k, v] of Object.entries(s)) {
      const own = self[k];
      if (own instanceof Float64Array) own.set(v as Float64Array);
      else self[k] = v;
    }
  }

  get rcacheHitsTotal(): number {
    return sum(this.rcacheHits);
  }

  get rcacheMissesTotal(): number {
    return sum(this.rcacheMisses);
  }
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}
