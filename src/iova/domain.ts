/**
 * The IOVA domain: models `drivers/iommu/iova.c` (struct iova_domain, the
 * rbtree allocator, the per-CPU rcaches and the depot) for every kernel
 * profile in `profile.ts`. Rule numbers are those of
 * `docs/kernel-rules.md` §1 (IOVA-*) and §7 (VER-*).
 *
 * What a profile changes: the magazine size, the depot (fixed 32-entry array
 * that overflows to the tree, or mainline's unbounded list with its 100 ms
 * trim work), the order the depot drains in, whether a failed search retries
 * above the cached node, and whether flushes drain the depot at all.
 *
 * The rcache range is a parameter of the domain fixed at creation
 * (`rcacheOrders` = K size classes, docs/configurable-range.md §1): the class
 * check, the round-up threshold 2^(K-1) and every loop over classes follow it.
 *
 * This layer knows no devices and no time but the virtual clock its caller
 * moves with `advanceTo()`; delayed work runs only there.
 *
 * Numbers: pfns and sizes are exact integers below 2^53 in float64. The
 * anchor's ULONG_MAX is held as 2^64, which compares above every real pfn;
 * a search whose `high - size` would wrap below zero is represented by
 * +Infinity, which fails every check the wrapped kernel value fails.
 */

import { assert } from "../stdx/assert.ts";
import { flsLong, isPowerOfTwo, orderBase2Small } from "../stdx/bits.ts";
import { expiresNs, runsAtNs } from "../stdx/timer-wheel.ts";
import { type CpuRcache, Magazine, Rcache } from "./magazine.ts";
import { getProfile, type KernelProfile } from "./profile.ts";
import { fitThreshold, IovaTree, type IovaTreeSnapshot, NIL, POW2 } from "./rbtree.ts";
import { classBit, IovaStats, type IovaStatsSnapshot } from "./stats.ts";

/** The anchor's pfn (ULONG_MAX), stored as 2^64; see the file header. */
export const ANCHOR_PFN = 2 ** 64;

/** The kernel's default number of rcache size classes (IOVA_RANGE_CACHE_MAX_SIZE). */
export const DEFAULT_RCACHE_ORDERS = 6;
/** The largest K iovalab accepts (docs/iovaops-format.md: rcache_orders 1 to 20). */
export const MAX_RCACHE_ORDERS = 20;

/** IOVA_DEPOT_DELAY: 100 ms (msecs_to_jiffies(100) is whole jiffies at HZ 100, 250, 300, 1000). */
export const IOVA_DEPOT_DELAY_NS = 100_000_000;

const WRAPPED = Number.POSITIVE_INFINITY;
/** Fit keys below this are held exactly by float32. */
const F32_EXACT = 2 ** 24;

export interface IovaDomainOptions {
  /** IOVA granule in bytes, a power of two (`init_iova_domain`). */
  granule: number;
  /** Lowest allocatable pfn. */
  startPfn: number;
  /** Online (and possible) CPUs: the per-CPU rcaches and `num_online_cpus()`. */
  cpus: number;
  /** K, the number of rcache size classes (default 6). */
  rcacheOrders?: number;
  /** The kernel whose allocator this is (default mainline). */
  profile?: KernelProfile;
  /**
   * How the tree search finds the kernel's answer: "augmented" (default,
   * O(log n) from subtree gaps and counts) or "walk" (the kernel's own
   * backwards walk, the reference implementation). Same results, same counts.
   */
  search?: TreeSearch;
  /**
   * One jiffy in ns, where the clock is a kernel's: the depot-trim work's
   * delay is then whole jiffies counted from the current one and run at the
   * timer wheel's tick after them (see `depotWorkDue`). Without it the delay
   * is 100 ms of the clock exactly, as the conformance harness's virtual
   * millisecond clock runs it.
   */
  jiffyNs?: number;
}

export type TreeSearch = "augmented" | "walk";

/** The state `IovaDomain.snapshot()` copies out. */
export interface IovaDomainSnapshot {
  readonly tree: IovaTreeSnapshot;
  readonly cachedNode: number;
  readonly cached32Node: number;
  readonly max32AllocSize: number;
  readonly nowNs: number;
  readonly stats: IovaStatsSnapshot;
  /** Every magazine, packed (see `snapshot`). */
  readonly mags: Float64Array;
  readonly depotSizes: readonly number[];
  /** Per class: trim work pending (1/0) and its due time. */
  readonly work: readonly (readonly [number, number])[];
}

/** Extra room in a snapshot's magazine array (see `IovaDomain.snapshot`). */
const MAGS_SLACK = 64;

export class IovaDomain {
  /** The magazine array of the last recycled snapshot, for the next one (see `recycle`). */
  private spareMags: Float64Array | null = null;
  readonly profile: KernelProfile;
  readonly granule: number;
  readonly iovaShift: number;
  readonly startPfn: number;
  readonly dma32bitPfn: number;
  readonly cpus: number;
  readonly rcacheOrders: number;
  /** Sizes below this are rounded up to a power of two (2^(K-1), IOVA-5.1). */
  readonly roundUpBelow: number;
  /** `ULONG_MAX >> iova_shift`: reserve_iova refuses pfns above it (IOVA-4.1). */
  readonly maxReservablePfn: number;

  readonly tree: IovaTree;
  readonly anchor: number;
  cachedNode: number;
  cached32Node: number;
  max32AllocSize: number;

  readonly rcaches: Rcache[];
  readonly stats: IovaStats;
  /**
   * The classes whose rcache counters in `stats` (hits, misses, depot pushes, pops and overflows)
   * changed since the reader last cleared this, one bit each (`classBit`); a restore sets every
   * bit. The DMA seam reads the change of those counters around every call: with this it reads
   * the class or two a call touched instead of every class.
   */
  rcacheTouched = 0;
  /** The one reader that clears `rcacheTouched` (a second would miss what the first cleared), or null. */
  rcacheTouchedReader: object | null = null;
  readonly search: TreeSearch;
  /**
   * Virtual time in nanoseconds; only `advanceTo` moves it. Held in a
   * float64 cell, not a field: a number field that starts as a small integer
   * and later holds a time past 2^31 ns (2.1 s) changes the domain's shape
   * mid-run, which throws away the optimized code of every caller (the whole
   * scanner of an `.iovaops` script among them).
   */
  private readonly clock = new Float64Array(1);
  get nowNs(): number {
    return this.clock[0];
  }
  set nowNs(ns: number) {
    this.clock[0] = ns;
  }
  /**
   * The depot trim work runs only where `runDepotWork()` is called (a replay
   * that reads from the trace when the workqueue ran it), never by the clock.
   */
  depotWorkPlacedOutside = false;
  /** Size classes whose rcache has its trim work pending (`workPending`): `advanceTo` looks at none while it is 0. */
  private workPendingClasses = 0;
  /** `IovaDomainOptions.jiffyNs`, 0 without it. */
  private readonly jiffyNs: number;

  /** Models `init_iova_domain()` + `iova_domain_init_rcaches()` (IOVA-1.3, IOVA-6.1). */
  constructor(opts: IovaDomainOptions) {
    assert(isPowerOfTwo(opts.granule), "granule must be a power of two");
    assert(Number.isInteger(opts.cpus) && opts.cpus >= 1, "cpus must be at least 1");
    const k = opts.rcacheOrders ?? DEFAULT_RCACHE_ORDERS;
    assert(Number.isInteger(k) && k >= 1 && k <= MAX_RCACHE_ORDERS, "rcacheOrders out of range");
    this.profile = opts.profile ?? getProfile("mainline");
    this.granule = opts.granule;
    this.iovaShift = Math.log2(opts.granule);
    this.startPfn = opts.startPfn;
    this.dma32bitPfn = 2 ** (32 - this.iovaShift);
    this.max32AllocSize = this.dma32bitPfn;
    this.maxReservablePfn = 2 ** (64 - this.iovaShift) - 1;
    this.cpus = opts.cpus;
    this.rcacheOrders = k;
    this.roundUpBelow = 2 ** (k - 1);

    this.search = opts.search ?? "augmented";
    this.jiffyNs = opts.jiffyNs ?? 0;
    assert(Number.isSafeInteger(this.jiffyNs) && this.jiffyNs >= 0, "jiffyNs must be a whole number of ns");
    this.tree = new IovaTree();
    this.anchor = this.tree.newNode(ANCHOR_PFN, ANCHOR_PFN);
    this.tree.insert(this.anchor);
    this.cachedNode = this.anchor;
    this.cached32Node = this.anchor;

    this.stats = new IovaStats(k);
    this.rcaches = [];
    for (let c = 0; c < k; c++) {
      this.rcaches.push(new Rcache(opts.cpus, this.profile.magazineSize));
      this.stats.magazinesLive[c] = 2 * opts.cpus;
    }
    this.stats.magazinesAllocated = 2 * opts.cpus * k;
  }

  /** Bytes of one magazine (`struct iova_magazine`: a size word and the pfns). */
  get magazineBytes(): number {
    return 8 + 8 * this.profile.magazineSize;
  }

  // --- The rbtree allocator ------------------------------------------------

  /** Models `__get_cached_rbnode()` (IOVA-1.4.1); `limit` is exclusive. */
  private getCachedNode(limit: number): number {
    return limit <= this.dma32bitPfn ? this.cached32Node : this.cachedNode;
  }

  /** Models `__cached_rbnode_insert_update()` (IOVA-1.4.2). */
  insertUpdate(n: number): void {
    if (this.tree.hi(n) < this.dma32bitPfn) this.cached32Node = n;
    else this.cachedNode = n;
  }

  /** Models `__cached_rbnode_delete_update()` (IOVA-1.4.3); runs before the unlink. */
  private deleteUpdate(f: number, succ: number): void {
    const t = this.tree;
    const lo = t.pfnLo(f);
    const c32 = this.cached32Node;
    // Asymmetric on purpose: the 32-bit node also moves when a lower node at or
    // above it goes, the 64-bit node only by pfn_lo (docs/kernel-rules.md S-2).
    if (f === c32 || (t.hi(f) < this.dma32bitPfn && lo >= t.pfnLo(c32))) {
      this.cached32Node = succ;
    }
    if (lo < this.dma32bitPfn) this.max32AllocSize = this.dma32bitPfn;
    if (lo >= t.pfnLo(this.cachedNode)) this.cachedNode = succ;
  }

  /**
   * Models `iova_find_limit()` (IOVA-3.8) exactly, tree shape included: the
   * descent follows the root's right spine, so the node it returns (straddler
   * of the limit or the node above it) decides the retry's walk count.
   */
  private findLimit(limit: number): number {
    if (limit > this.dma32bitPfn) return this.anchor;
    const t = this.tree;
    let node = t.root;
    while (t.hi(node) < limit) node = t.right(node);
    for (;;) {
      let l = t.left(node);
      while (l !== NIL && t.pfnLo(l) >= limit) {
        node = l;
        l = t.left(node);
      }
      if (l === NIL) return node;
      let next = l;
      let jumped = false;
      while (t.right(next) !== NIL) {
        next = t.right(next);
        if (t.pfnLo(next) >= limit) {
          node = next;
          jumped = true;
          break;
        }
      }
      if (!jumped) return node;
    }
  }

  /**
   * Models `__alloc_and_insert_iova_range()` (IOVA-2.2): top-down first fit
   * from the cached node, the retry above it (profile), `max32_alloc_size`.
   * `limit` is exclusive. Returns the new node or NIL; counts rb_prev steps.
   */
  private allocAndInsertRange(size: number, limit: number, sizeAligned: boolean): number {
    const stats = this.stats;
    stats.treeSearches++;
    if (limit <= this.dma32bitPfn && size >= this.max32AllocSize) {
      stats.treeFailures++;
      return NIL;
    }
    const align = sizeAligned ? POW2[flsLong(size - 1)] : 1;
    const t = this.tree;
    let start = this.getCachedNode(limit);
    const retryPfn = t.hi(start);
    let low = this.startPfn;
    let steps = 0;
    for (;;) {
      const pfn =
        this.search === "walk"
          ? this.walkPass(start, size, limit, low, align)
          : this.gapPass(start, size, limit, low, align);
      steps += this.passSteps;
      if (pfn >= 0) {
        stats.walkSteps += steps;
        // The kernel starts the insert's descent at the last node walked; the
        // slot is the same as from the root (rbtree.ts).
        const n = t.newNode(pfn, pfn + size - 1);
        if (this.search === "walk") t.insert(n);
        else t.insertBefore(n, this.passStop);
        this.insertUpdate(n);
        stats.treeAllocs++;
        return n;
      }
      if (this.profile.retryAboveCachedNode && low === this.startPfn && retryPfn < limit) {
        low = retryPfn + 1;
        start = this.findLimit(limit);
        continue;
      }
      // Set on every failure, 64-bit limits included (S-1).
      this.max32AllocSize = size;
      stats.walkSteps += steps;
      stats.treeFailures++;
      return NIL;
    }
  }

  /**
   * One pass of the kernel's backwards walk (the `retry:` loop of IOVA-2.2),
   * step by step: the reference implementation. Returns the new pfn, or -1
   * (see `passResult`).
   */
  private walkPass(curr: number, size: number, limit: number, low: number, align: number): number {
    const t = this.tree;
    const stopsAtLow = this.profile.walkStopsAtLowBound;
    let high = limit;
    let newPfn = 0;
    let steps = 0;
    let stop = NIL;
    for (;;) {
      const lo = t.pfnLo(curr);
      if (lo < high) high = lo;
      newPfn = this.candidate(high, size, align);
      stop = curr;
      curr = t.prev(curr);
      steps++;
      if (curr === NIL || newPfn > t.hi(curr)) break;
      if (stopsAtLow && newPfn < low) break;
    }
    return high >= size && newPfn >= low ? this.passResult(newPfn, steps, stop) : this.passResult(-1, steps, NIL);
  }

  /**
   * What one pass of the backwards search found besides its pfn: the rb_prev
   * steps it took, and the node it stopped at (the new node goes just below
   * it; NIL when the pass failed). Fields rather than a result object: a
   * pass's pfn is a small integer when it fails and a float64 when it finds
   * one above 2^31, and an object literal holding both changes shape, which
   * undoes every optimized caller.
   */
  private passSteps = 0;
  private passStop = NIL;

  /** Ends a search pass: `pfn` (or -1), with its steps and stop node kept for the caller. */
  private passResult(pfn: number, steps: number, stop: number): number {
    this.passSteps = steps;
    this.passStop = stop;
    return pfn;
  }

  /** The candidate pfn below a top of `high`: `(high - size) & align_mask`, or WRAPPED. */
  private candidate(high: number, size: number, align: number): number {
    if (high < size) return WRAPPED;
    const base = high - size;
    return align === 1 ? base : base - (base % align);
  }

  /**
   * The same pass as `walkPass`, decided in O(log n) on the augmented tree
   * (issue 6, docs/decisions/0001-augmented-iova-tree.md). The walk from
   * `start` stops at the first node `x` (going down) where one of these holds:
   * its candidate fell below `low` (6.1+ stop; 5.10 walks on), it is the lowest
   * node, or its candidate clears its predecessor's pfnHi. Nodes at or above
   * the limit all share the candidate `(limit - size) & mask` and only the
   * lowest of them can clear its predecessor, so they are skipped by a rank
   * difference. Below the limit the stop is the highest node whose fit key
   * (rbtree.ts) admits the request, unless the low bound is crossed first;
   * for size-aligned requests the key is exact, so no node is looked at one
   * by one. Steps are rank differences (`span`), never walked.
   */
  private gapPass(start: number, size: number, limit: number, low: number, align: number): number {
    const t = this.tree;
    const stopsAtLow = this.profile.walkStopsAtLowBound;
    let x = start;
    if (t.pfnLo(start) >= limit) {
      const cand = this.candidate(limit, size, align);
      const u = t.lowestAtOrAbove(limit);
      if (cand === WRAPPED || (stopsAtLow && cand < low)) {
        // The first step already stops: wrapped (clears any predecessor) or
        // below the low bound.
        return this.passResult(-1, 1, NIL);
      }
      const p = t.prev(u);
      if (p === NIL || cand > t.hi(p)) {
        const steps = t.span(u, start);
        return cand >= low ? this.passResult(cand, steps, u) : this.passResult(-1, steps, NIL);
      }
      x = p;
    }
    // Below the limit: a node's candidate is below `low` (or wraps) exactly
    // when its pfnLo is below `loThreshold`.
    const alignedLow = low % align === 0 ? low : low - (low % align) + align;
    const loThreshold = stopsAtLow ? alignedLow + size : size;
    const keyThreshold = fitThreshold(size, align);
    for (let y = t.prevWithKey(x, keyThreshold, false); y !== NIL; y = t.prevWithKey(y, keyThreshold, true)) {
      const lo = t.pfnLo(y);
      // y is at or below x, so a pfnLo below the threshold means a node that
      // stops the walk by the low bound exists (at or above y): the walk
      // stops there, not at y.
      if (lo < loThreshold) break;
      const cand = this.candidate(lo, size, align);
      // The key decides an aligned request exactly while float32 holds it
      // exactly; otherwise (unaligned, or huge gaps) check against the
      // predecessor itself.
      const k = t.fitKeyBelow(y);
      if (k === Number.POSITIVE_INFINITY || (align > 1 && k < F32_EXACT) || cand > t.hi(t.prev(y))) {
        const steps = t.span(y, start);
        return cand >= low ? this.passResult(cand, steps, y) : this.passResult(-1, steps, NIL);
      }
      // A near-miss the filter let through. Keep looking below.
    }
    // No fit above z, the highest node at or below x that stops the walk by
    // the low bound: the walk stops at z (candidate below low, or wrapped).
    // Found only here, as a fit found above it needs no z.
    const z = t.highestBelow(Math.min(loThreshold, t.pfnLo(x) + 1));
    return this.passResult(-1, t.span(z, start), NIL);
  }

  /**
   * Models `alloc_iova()` (IOVA-2.1): `limitPfn` inclusive. Returns the new
   * node's pfn_lo, or -1 when the space is exhausted.
   */
  allocIova(size: number, limitPfn: number, sizeAligned: boolean): number {
    const n = this.allocAndInsertRange(size, limitPfn + 1, sizeAligned);
    return n === NIL ? -1 : this.tree.pfnLo(n);
  }

  /** Models `remove_iova()` + `free_iova_mem()`: delete update, unlink, free. */
  private removeNode(n: number): void {
    assert(n !== this.anchor, "the anchor is never freed");
    // rb_next(n), found once: the cached nodes move to it, and the erase
    // refreshes its fit key.
    const succ = this.tree.next(n);
    this.deleteUpdate(n, succ);
    this.tree.erase(n, succ);
    this.tree.freeNode(n);
    this.stats.treeFrees++;
  }

  /** Models `find_iova()` (IOVA-3.1): [pfnLo, pfnHi] of the containing node, or null. */
  findIova(pfn: number): [number, number] | null {
    const n = this.tree.findContaining(pfn);
    return n === NIL ? null : [this.tree.pfnLo(n), this.tree.hi(n)];
  }

  /** Models `free_iova()` (IOVA-3.2): nothing happens for a pfn in no node. */
  freeIova(pfn: number): void {
    const n = this.tree.findContaining(pfn);
    if (n !== NIL && n !== this.anchor) this.removeNode(n);
  }

  /**
   * Models `reserve_iova()` (IOVA-4): grows the first overlapping node down in
   * place, carries the remainder above each overlapped node, and inserts only
   * the final tail. Cached nodes are not touched. False where the kernel
   * returns NULL (pfns above `ULONG_MAX >> shift`).
   */
  reserveIova(pfnLo: number, pfnHi: number): boolean {
    if (pfnLo > this.maxReservablePfn || pfnHi > this.maxReservablePfn) return false;
    const t = this.tree;
    let lo = pfnLo;
    const hi = pfnHi;
    let overlapped = false;
    for (let n = t.first(); n !== NIL; n = t.next(n)) {
      const nHi = t.hi(n);
      if (lo <= nHi && hi >= t.pfnLo(n)) {
        if (lo < t.pfnLo(n)) t.lowerPfnLo(n, lo);
        if (hi > nHi) lo = nHi + 1;
        if (lo >= t.pfnLo(n) && hi <= nHi) return true;
        overlapped = true;
      } else if (overlapped) {
        break;
      }
    }
    const n = t.newNode(lo, hi);
    t.insert(n);
    return true;
  }

  // --- The fast path and the rcache ----------------------------------------

  /** The power-of-two round-up of cacheable sizes below 2^(K-1) (IOVA-5.1, VER-3). */
  roundUpCacheable(size: number): number {
    // roundUpBelow is at most 2^19, so the 32-bit shift is exact here.
    if (size >= this.roundUpBelow) return size;
    return 1 << orderBase2Small(size);
  }

  /**
   * The size a DMA-API allocation hands `alloc_iova_fast()`: rounded up
   * first where the profile does that in dma-iommu's `iommu_dma_alloc_iova()`
   * (5.10, 5.15), unchanged where `alloc_iova_fast()` rounds it itself (VER-3).
   * Either way the allocation gets the same rounded size; this is the one
   * place that says so, for every caller that models the DMA API.
   */
  roundUpForDmaApi(size: number): number {
    return this.profile.roundUpIn === "iommu_dma_alloc_iova" ? this.roundUpCacheable(size) : size;
  }

  /**
   * The size class of `size` (`order_base_2`), or `rcacheOrders` for sizes no
   * class holds. K is at most 20, so larger sizes need no exact order.
   */
  sizeClass(size: number): number {
    if (size > 1 << MAX_RCACHE_ORDERS) return this.rcacheOrders;
    const c = orderBase2Small(size);
    return Math.min(c, this.rcacheOrders);
  }

  /**
   * Models `alloc_iova_fast()` (IOVA-5) on `cpu`: round-up (where the profile
   * has it here), rcache get, size-aligned tree fallback, and with `flush` the
   * flush-everything-and-retry-once. Returns the pfn, or 0 for failure.
   */
  allocIovaFast(cpu: number, size: number, limitPfn: number, flush: boolean): number {
    const io = this.fastIo;
    io[0] = limitPfn;
    this.allocIovaFastIo(cpu, size, flush, io);
    return io[0];
  }

  /** The cell `allocIovaFast` hands its limit and result through. */
  private readonly fastIo = new Float64Array(1);

  /**
   * `allocIovaFast` with the limit pfn read from `io[0]` and the pfn (or 0)
   * written back there. A limit or pfn above 2^31 is a float64, and one
   * handed through a call the compiler does not inline is a heap
   * allocation: through the cell none is, inlined or not (the `.iovaops`
   * runner calls this from a loop too large to take it in).
   */
  allocIovaFastIo(cpu: number, size: number, flush: boolean, io: Float64Array): void {
    if (this.profile.roundUpIn === "alloc_iova_fast") size = this.roundUpCacheable(size);
    // The magazine is chosen in a call of its own and popped here: a pfn
    // above 2^31 is a float64, and one handed back through a call the
    // compiler does not inline is a heap allocation per operation.
    const c = this.sizeClass(size);
    const mag = this.rcacheGetMagazine(cpu, c);
    if (mag !== null) {
      const pfn = mag.pop(io[0] + 1 - size);
      if (pfn !== 0) {
        this.stats.rcacheHits[c]++;
        this.rcacheTouched |= classBit(c);
        this.stats.cachedPfns[c]--;
        io[0] = pfn;
        return;
      }
    }
    io[0] = this.allocIovaFastMiss(size, c, io[0], flush);
  }

  /**
   * `alloc_iova_fast()` after an rcache miss (or for a size no class holds):
   * the tree, and with `flush` the flush-everything-and-retry-once. Apart
   * from the hit path, so that the hit path is small enough for the compiler
   * to take into its callers whole.
   */
  private allocIovaFastMiss(size: number, c: number, limitPfn: number, flush: boolean): number {
    if (c < this.rcacheOrders) {
      this.stats.rcacheMisses[c]++;
      this.rcacheTouched |= classBit(c);
    }
    for (;;) {
      const n = this.allocAndInsertRange(size, limitPfn + 1, true);
      if (n !== NIL) return this.tree.pfnLo(n);
      if (!flush) return 0;
      flush = false;
      for (let c = 0; c < this.cpus; c++) this.freeCpuCachedIovas(c);
      if (this.profile.flushDrainsDepot) this.freeGlobalCachedIovas();
    }
  }

  /** Models `free_iova_fast()` (IOVA-5.6): the rcache, else the tree. */
  freeIovaFast(cpu: number, pfn: number, size: number): void {
    // As in allocIovaFast: the pfn goes into the magazine here, not through a call.
    const c = this.sizeClass(size);
    if (c >= this.rcacheOrders) {
      this.freeIova(pfn);
      return;
    }
    this.rcacheInsertMagazine(cpu, c).push(pfn);
    this.stats.cachedPfns[c]++;
    if (this.overflowMagazine !== null) this.freeOverflowMagazine(c);
  }

  /**
   * 6.1 and older: the full magazine the depot had no room for goes back to
   * the tree once the pfn is in the new one (VER-1).
   */
  private freeOverflowMagazine(c: number): void {
    const overflow = this.overflowMagazine;
    assert(overflow !== null, "no overflow magazine to free");
    this.overflowMagazine = null;
    this.magazineFreePfns(overflow, c);
    this.stats.magazinesLive[c]--;
  }

  /**
   * Models `iova_rcache_get()` / `__iova_rcache_get()` (IOVA-6.5) up to the
   * pop: the loaded magazine of `cpu` in size class `c` once the swaps and
   * the depot have had their say, or null when it stays empty (or no class
   * holds the size: counted here). The caller pops it with its limit.
   */
  private rcacheGetMagazine(cpu: number, c: number): Magazine | null {
    if (c >= this.rcacheOrders) {
      this.stats.uncacheableAllocs++;
      return null;
    }
    const rcache = this.rcaches[c];
    // A look until the depot's magazine comes: a pair that holds pfns is a used one already (`Rcache.used`).
    const cpuRcache = rcache.everyCpu[cpu];
    if (!cpuRcache.loaded.isEmpty()) return cpuRcache.loaded;
    if (!cpuRcache.prev.isEmpty()) {
      cpuRcache.swap();
      return cpuRcache.loaded;
    }
    if (rcache.depot.length > 0) {
      // The empty loaded magazine is freed and the depot's top replaces it,
      // even if no pfn in it fits the limit (conformance README, note 6).
      rcache.cpu(cpu).loaded = this.depotPop(rcache);
      this.stats.magazinesLive[c]--;
      this.stats.depotPops[c]++;
      this.rcacheTouched |= classBit(c);
      return cpuRcache.loaded;
    }
    return null;
  }

  /** Magazines in each size class's depot, oldest push first. */
  depotLengths(): number[] {
    return this.rcaches.map((r) => r.depot.length);
  }

  /** Depot pops and overflows so far, all size classes: a depot only pushed to since has kept its order. */
  get depotTurnover(): number {
    let n = 0;
    for (let c = 0; c < this.rcaches.length; c++) n += this.stats.depotPops[c] + this.stats.depotOverflows[c];
    return n;
  }

  /**
   * Size class `c`'s depot as if the pushes `[mid, to)` had come before
   * `[from, mid)`: two CPUs' frees that ran side by side, replayed the other
   * way round (the replay's open choice; nothing popped in between).
   */
  turnDepot(c: number, from: number, mid: number, to: number): void {
    const d = this.rcaches[c].depot;
    assert(from <= mid && mid <= to && to <= d.length, "depot turn outside the depot");
    const turned = [...d.slice(mid, to), ...d.slice(from, mid)];
    for (let i = 0; i < turned.length; i++) d[from + i] = turned[i];
  }

  private depotPop(rcache: Rcache): Magazine {
    const mag = rcache.depot.pop();
    assert(mag !== undefined, "depot pop from an empty depot");
    return mag;
  }

  /**
   * Set by `rcacheInsertMagazine` on 6.1 and older when the depot was full:
   * the full magazine to free to the tree once the pfn is pushed (VER-1).
   */
  private overflowMagazine: Magazine | null = null;

  /**
   * Models `iova_rcache_insert()` / `__iova_rcache_insert()` (IOVA-6.6,
   * VER-1) up to the push, for a cacheable size class `c`: the magazine of
   * `cpu` with room for the pfn, after the swap or the depot push that makes
   * room. The caller pushes the pfn.
   */
  private rcacheInsertMagazine(cpu: number, c: number): Magazine {
    const rcache = this.rcaches[c];
    const cpuRcache = rcache.cpu(cpu);
    if (!cpuRcache.loaded.isFull()) return cpuRcache.loaded;
    if (!cpuRcache.prev.isFull()) {
      cpuRcache.swap();
      return cpuRcache.loaded;
    }
    const stats = this.stats;
    const fresh = new Magazine(this.profile.magazineSize);
    stats.magazinesAllocated++;
    stats.magazinesLive[c]++;
    if (this.profile.depotOverflowFreesToTree && rcache.depot.length >= this.profile.depotMax) {
      this.overflowMagazine = cpuRcache.loaded;
      stats.depotOverflows[c]++;
      this.rcacheTouched |= classBit(c);
    } else {
      rcache.depot.push(cpuRcache.loaded);
      stats.depotPushes[c]++;
      this.rcacheTouched |= classBit(c);
      if (this.profile.depotTrimWork) this.scheduleDepotWork(rcache);
    }
    cpuRcache.loaded = fresh;
    return fresh;
  }

  /** `schedule_delayed_work()`: a pending item keeps its due time. */
  private scheduleDepotWork(rcache: Rcache): void {
    if (rcache.workPending) return;
    rcache.workPending = true;
    this.workPendingClasses++;
    rcache.workDueNs = this.depotWorkDue();
  }

  /**
   * When work scheduled now with `IOVA_DEPOT_DELAY` runs. On a kernel's
   * clock (`jiffyNs`): `schedule_delayed_work()` arms a timer for
   * `jiffies + msecs_to_jiffies(100)`, which the timer wheel runs at the tick
   * after that jiffy (`timer-wheel.ts`): 26 jiffies after the current one at
   * HZ=250, 100 to 104 ms. The 6.12 traces show the same class's trims
   * 103 ms apart at the least, never 100.
   */
  private depotWorkDue(): number {
    const j = this.jiffyNs;
    if (j === 0) return this.nowNs + IOVA_DEPOT_DELAY_NS;
    return runsAtNs(expiresNs(this.nowNs, Math.ceil(IOVA_DEPOT_DELAY_NS / j), j), j);
  }

  /**
   * Models `iova_magazine_free_pfns()` (IOVA-6.8): every pfn back to the tree
   * in array order (the order moves the cached nodes), then the magazine is
   * empty. A pfn with no node is skipped, as the kernel WARNs and goes on.
   */
  private magazineFreePfns(mag: Magazine, c: number): void {
    const t = this.tree;
    for (let i = 0; i < mag.size; i++) {
      const n = t.findContaining(mag.pfns[i]);
      if (n === NIL || n === this.anchor) continue;
      this.removeNode(n);
    }
    this.stats.cachedPfns[c] -= mag.size;
    mag.size = 0;
  }

  /** Models `free_cpu_cached_iovas()` (IOVA-6.9), also the CPU-dead callback (IOVA-6.11). */
  freeCpuCachedIovas(cpu: number): void {
    for (let c = 0; c < this.rcacheOrders; c++) {
      // A look, not a use: emptying a CPU's pair leaves it unused if it was (`Rcache.used`).
      const cpuRcache: CpuRcache = this.rcaches[c].everyCpu[cpu];
      this.magazineFreePfns(cpuRcache.loaded, c);
      this.magazineFreePfns(cpuRcache.prev, c);
    }
  }

  /**
   * Models `free_global_cached_iovas()` (IOVA-6.10): every depot magazine back
   * to the tree, newest first on mainline's list, `depot[0]` first on the
   * fixed array of older kernels.
   */
  freeGlobalCachedIovas(): void {
    for (let c = 0; c < this.rcacheOrders; c++) {
      const depot = this.rcaches[c].depot;
      if (this.profile.depotDrainOrder === "newest-first") {
        while (depot.length > 0) {
          const mag = this.depotPop(this.rcaches[c]);
          this.magazineFreePfns(mag, c);
          this.stats.magazinesLive[c]--;
        }
      } else {
        for (const mag of depot) {
          this.magazineFreePfns(mag, c);
          this.stats.magazinesLive[c]--;
        }
        depot.length = 0;
      }
    }
  }

  /**
   * Moves the virtual clock to `nowNs`, running every due depot-trim work item
   * in due-time order (ties: lower size class first). While an item runs the
   * clock reads its due time; one that frees a magazine is due again 100 ms
   * after the time it was due (IOVA-6.7).
   */
  advanceTo(nowNs: number): void {
    assert(nowNs >= this.nowNs, "virtual time never goes back");
    // Most domains, most of the time, have no trim work pending (6.1 never has any): nothing to look for.
    for (; this.workPendingClasses > 0 && !this.depotWorkPlacedOutside; ) {
      let next = -1;
      for (let c = 0; c < this.rcacheOrders; c++) {
        const r = this.rcaches[c];
        if (r.workPending && r.workDueNs <= nowNs && (next < 0 || r.workDueNs < this.rcaches[next].workDueNs)) {
          next = c;
        }
      }
      if (next < 0) break;
      const rcache = this.rcaches[next];
      this.nowNs = rcache.workDueNs;
      this.depotWork(rcache, next);
    }
    this.nowNs = nowNs;
  }

  /**
   * One run of size class `c`'s `iova_depot_work_func()` now, where the
   * caller knows the workqueue ran it (see `depotWorkPlacedOutside`): one
   * magazine back to the tree while the depot holds more than one per CPU,
   * and then due again `IOVA_DEPOT_DELAY` later (`depotWorkDue`).
   */
  runDepotWork(c: number): void {
    const rcache = this.rcaches[c];
    rcache.workDueNs = this.nowNs;
    this.depotWork(rcache, c);
  }

  /** Models `iova_depot_work_func()` (IOVA-6.7). */
  private depotWork(rcache: Rcache, c: number): void {
    if (rcache.depot.length > this.cpus) {
      const mag = this.depotPop(rcache);
      this.magazineFreePfns(mag, c);
      this.stats.magazinesLive[c]--;
      this.stats.depotTrims[c]++;
      rcache.workDueNs = this.depotWorkDue();
    } else if (rcache.workPending) {
      rcache.workPending = false;
      this.workPendingClasses--;
    }
  }

  // --- Checkpoints -----------------------------------------------------------

  /**
   * A copy of everything that decides future allocations and counts: the
   * tree (shape included), the cached nodes, every magazine and depot, the
   * pending trim work, the counters and the clock. The replay's timer
   * inference tries several histories from one point and keeps one.
   */
  snapshot(): IovaDomainSnapshot {
    // Every magazine packed into one array: per class, the number of CPUs
    // holding any pfn, then each of those as its number, its loaded then its
    // prev magazine; then the depot. A magazine is its size and its pfns.
    // Only the CPUs holding pfns are written: a server's trace has hundreds
    // of CPUs, of which a few do DMA, and a replay takes a snapshot at every
    // flush.
    let n = 0;
    for (const r of this.rcaches) {
      n++;
      for (const cpu of r.used) {
        const cr = r.everyCpu[cpu];
        const held = cr.loaded.size + cr.prev.size;
        if (held > 0) n += 3 + held;
      }
      for (const m of r.depot) n += 1 + m.size;
    }
    let mags = this.spareMags;
    this.spareMags = null;
    // With room to spare, so a recycled array still fits when the caches hold a few more pfns.
    if (mags === null || mags.length < n) mags = new Float64Array(n + (n >> 3) + MAGS_SLACK);
    let o = 0;
    for (const r of this.rcaches) {
      const countAt = o++;
      let holding = 0;
      for (const cpu of r.used) {
        const cr = r.everyCpu[cpu];
        if (cr.loaded.size + cr.prev.size === 0) continue;
        holding++;
        mags[o++] = cpu;
        o = cr.loaded.packInto(mags, o);
        o = cr.prev.packInto(mags, o);
      }
      mags[countAt] = holding;
      for (const m of r.depot) o = m.packInto(mags, o);
    }
    return {
      tree: this.tree.snapshot(),
      cachedNode: this.cachedNode,
      cached32Node: this.cached32Node,
      max32AllocSize: this.max32AllocSize,
      nowNs: this.nowNs,
      stats: this.stats.snapshot(),
      mags,
      depotSizes: this.rcaches.map((r) => r.depot.length),
      work: this.rcaches.map((r) => [r.workPending ? 1 : 0, r.workDueNs]),
    };
  }

  /** Whether moving the clock would run nothing: no size class has depot-trim work pending. */
  get idle(): boolean {
    return this.workPendingClasses === 0;
  }

  /**
   * Sets the clock back on an idle domain, for a checkpoint that did not copy
   * it: with no work pending, `advanceTo` since the checkpoint moved nothing else.
   */
  rewindIdle(nowNs: number): void {
    assert(this.idle, "clock rewound over pending depot work");
    this.nowNs = nowNs;
  }

  /** Takes back a snapshot that will never be restored (see `IovaTree.recycle`). */
  recycle(s: IovaDomainSnapshot): void {
    this.tree.recycle(s.tree);
    this.spareMags = s.mags;
  }

  /** Puts back a snapshot of this domain (magazines are refilled in place); its clock may go back. */
  restore(s: IovaDomainSnapshot): void {
    this.tree.restore(s.tree);
    this.cachedNode = s.cachedNode;
    this.cached32Node = s.cached32Node;
    this.max32AllocSize = s.max32AllocSize;
    this.nowNs = s.nowNs;
    this.stats.restore(s.stats);
    this.rcacheTouched = -1;
    const mags = s.mags;
    let o = 0;
    const take = (m: Magazine) => {
      const size = mags[o++];
      m.refillFrom(mags, o, size);
      o += size;
    };
    const cap = this.profile.magazineSize;
    for (let c = 0; c < this.rcacheOrders; c++) {
      const r = this.rcaches[c];
      // The CPUs the snapshot names hold pfns; every other one held none (only a used one can hold any now).
      for (const cpu of r.used) {
        const cr = r.everyCpu[cpu];
        cr.loaded.refillFrom(mags, 0, 0);
        cr.prev.refillFrom(mags, 0, 0);
      }
      const holding = mags[o++];
      for (let k = 0; k < holding; k++) {
        const cr = r.cpu(mags[o++]);
        take(cr.loaded);
        take(cr.prev);
      }
      const d = s.depotSizes[c];
      while (r.depot.length > d) r.depot.pop();
      while (r.depot.length < d) r.depot.push(new Magazine(cap));
      for (const m of r.depot) take(m);
      r.workPending = s.work[c][0] === 1;
      r.workDueNs = s.work[c][1];
    }
    this.workPendingClasses = 0;
    for (let c = 0; c < this.rcacheOrders; c++) if (this.rcaches[c].workPending) this.workPendingClasses++;
  }

  // --- Observation ----------------------------------------------------------

  /**
   * Where a cached IOVA starting at `pfn` sits: the CPU whose magazines hold
   * it, `cpus` for the depot, -1 when no rcache holds it. A linear scan, for
   * reports only.
   */
  cachedOn(pfn: number): number {
    for (const r of this.rcaches) {
      // Only a used CPU holds pfns; the lowest that holds this one, as a walk of every CPU finds it.
      let on = -1;
      for (const cpu of r.used) if ((on < 0 || cpu < on) && this.cpuMagazineOf(r.everyCpu[cpu], pfn)) on = cpu;
      if (on >= 0) return on;
      if (r.depot.some((m) => m.indexOf(pfn) >= 0)) return this.cpus;
    }
    return -1;
  }

  /** The magazine of a CPU's pair that holds `pfn`, or null. */
  private cpuMagazineOf(cr: CpuRcache, pfn: number): Magazine | null {
    if (cr.loaded.indexOf(pfn) >= 0) return cr.loaded;
    return cr.prev.indexOf(pfn) >= 0 ? cr.prev : null;
  }

  /** Live IOVAs in the tree, the anchor excluded. */
  get liveIovas(): number {
    return this.tree.count - 1;
  }

  /** Calls `fn(pfnLo, pfnHi)` for every node in ascending order, anchor excluded. */
  forEachIova(fn: (pfnLo: number, pfnHi: number) => void): void {
    const t = this.tree;
    for (let n = t.first(); n !== NIL; n = t.next(n)) {
      if (n !== this.anchor) fn(t.pfnLo(n), t.hi(n));
    }
  }

  /** IOVA space held in the caches of class `c`, in bytes. */
  cachedIovaBytes(c: number): number {
    return this.stats.cachedPfns[c] * 2 ** c * this.granule;
  }

  /** Memory held by the magazines of class `c`, in bytes. */
  magazineMemoryBytes(c: number): number {
    return this.stats.magazinesLive[c] * this.magazineBytes;
  }

  /**
   * Full-walk check (house style): the tree's own invariants, the anchor last,
   * both cached nodes live tree nodes, every cached pfn inside an allocated
   * node, magazine and depot bounds, and the incremental counters.
   */
  verifyInvariants(): void {
    const t = this.tree;
    t.verifyInvariants();
    assert(t.last() === this.anchor, "the anchor is not the greatest node");
    for (const cached of [this.cachedNode, this.cached32Node]) {
      assert(cached !== NIL, "a cached node is NIL");
      assert(t.findContaining(t.pfnLo(cached)) === cached, "a cached node is not in the tree");
    }
    for (let c = 0; c < this.rcacheOrders; c++) {
      const rcache = this.rcaches[c];
      let pfns = 0;
      let mags = 0;
      const check = (mag: Magazine) => {
        assert(mag.size >= 0 && mag.size <= mag.capacity, "magazine size out of bounds");
        for (let i = 0; i < mag.size; i++) {
          const n = t.findContaining(mag.pfns[i]);
          assert(n !== NIL && n !== this.anchor, `cached pfn ${mag.pfns[i]} is not allocated in the tree`);
          assert(t.hi(n) - mag.pfns[i] + 1 >= 2 ** c, "cached pfn's node smaller than its class");
        }
        pfns += mag.size;
        mags++;
      };
      for (let cpu = 0; cpu < this.cpus; cpu++) {
        const cr = rcache.everyCpu[cpu];
        check(cr.loaded);
        check(cr.prev);
        // A copy of the caches walks the used CPUs only (`Rcache.used`): a pair changed without `cpu()` is lost there.
        assert(rcache.isUsed(cpu) || cr.loaded.size + cr.prev.size === 0, `CPU ${cpu}'s pair holds pfns unused`);
      }
      assert(rcache.depot.length <= this.profile.depotMax, "depot above its capacity");
      for (const mag of rcache.depot) {
        assert(mag.isFull(), "a depot magazine is not full");
        check(mag);
      }
      assert(pfns === this.stats.cachedPfns[c], "cached pfn counter out of step");
      assert(mags === this.stats.magazinesLive[c], "magazine counter out of step");
      if (!this.profile.depotTrimWork) assert(!rcache.workPending, "trim work on a profile without it");
    }
  }
}
