/**
 * Magazines and per-size-class rcaches: models `struct iova_magazine`,
 * `struct iova_cpu_rcache` and `struct iova_rcache` (drivers/iommu/iova.c).
 * The capacity is the profile's `IOVA_MAG_SIZE` (127 from 6.0, 128 before: VER-2).
 * The decisions that use them live in `domain.ts`; this file holds the data
 * and the magazine's own push/pop rules (IOVA-6.2 to 6.4).
 */

import { refArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";

/** The slots of a magazine that never held a pfn. */
const NO_SLOTS = new Float64Array(0);

export class Magazine {
  size = 0;
  readonly capacity: number;
  /**
   * The slots, `capacity` of them from the first push on. The kernel
   * allocates every CPU's pair at domain init; here a magazine's storage
   * waits for its first pfn, since most CPUs' magazines of a many-CPU
   * machine never hold one, and a domain of 192 CPUs has thousands.
   */
  pfns: Float64Array = NO_SLOTS;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  /** `iova_magazine_full()` (IOVA-6.2). */
  isFull(): boolean {
    return this.size === this.capacity;
  }

  /** `iova_magazine_empty()` (IOVA-6.2). */
  isEmpty(): boolean {
    return this.size === 0;
  }

  /** `iova_magazine_push()` (IOVA-6.3). */
  push(pfn: number): void {
    assert(this.size < this.capacity, "magazine push into a full magazine");
    if (this.pfns.length === 0) this.pfns = new Float64Array(this.capacity);
    this.pfns[this.size++] = pfn;
  }

  /**
   * Makes the magazine hold `n` pfns of `src` from index `at`, in that slot
   * order (a snapshot's restore reads its packed array in place, no view per magazine).
   */
  refillFrom(src: Float64Array, at: number, n: number): void {
    assert(n <= this.capacity, "magazine refill beyond its capacity");
    if (n > 0 && this.pfns.length === 0) this.pfns = new Float64Array(this.capacity);
    const pfns = this.pfns;
    for (let i = 0; i < n; i++) pfns[i] = src[at + i];
    this.size = n;
  }

  /** Writes the size then the held pfns into `dst` from index `at`; returns the index after them. */
  packInto(dst: Float64Array, at: number): number {
    const n = this.size;
    dst[at++] = n;
    const pfns = this.pfns;
    for (let i = 0; i < n; i++) dst[at + i] = pfns[i];
    return at + n;
  }

  /** The slot holding `pfn`, or -1 (reports and replay resyncs only). */
  indexOf(pfn: number): number {
    const pfns = this.pfns;
    const n = this.size;
    for (let i = 0; i < n; i++) if (pfns[i] === pfn) return i;
    return -1;
  }

  /** Removes slot `i` the way a pop does: the last entry fills the hole. */
  removeAt(i: number): number {
    const pfn = this.pfns[i];
    this.pfns[i] = this.pfns[--this.size];
    return pfn;
  }

  /**
   * Removes slot `i`, the entries above it moving down one (replay resyncs
   * only): the others stay in the order they were freed, as in a kernel
   * magazine that never held it there.
   */
  removeKeepingOrder(i: number): number {
    const pfn = this.pfns[i];
    this.pfns.copyWithin(i, i + 1, this.size);
    this.size--;
    return pfn;
  }

  /**
   * Models `iova_magazine_pop()` (IOVA-6.4, S-4): the highest slot whose pfn
   * is at most `limitPfn`; the last entry fills the hole, so the order is not
   * LIFO once a limit skips the top. Returns 0 (the kernel's miss) when no
   * entry fits, leaving the magazine unchanged.
   */
  pop(limitPfn: number): number {
    const pfns = this.pfns;
    let i = this.size - 1;
    while (i >= 0 && pfns[i] > limitPfn) i--;
    return i < 0 ? 0 : this.removeAt(i);
  }
}

/** One CPU's pair of magazines for one size class (`struct iova_cpu_rcache`). */
export class CpuRcache {
  loaded: Magazine;
  prev: Magazine;

  constructor(capacity: number) {
    this.loaded = new Magazine(capacity);
    this.prev = new Magazine(capacity);
  }

  swap(): void {
    const t = this.loaded;
    this.loaded = this.prev;
    this.prev = t;
  }
}

/** One size class: the depot and every CPU's pair (`struct iova_rcache`). */
export class Rcache {
  /** Full magazines; the top (most recently pushed) is the last element. */
  readonly depot: Magazine[] = refArray();
  /**
   * Every CPU's pair, by CPU number, to look at; a pair to change is asked
   * for with `cpu()`, which notes the CPU as `used`.
   */
  readonly everyCpu: readonly CpuRcache[];
  /**
   * The CPUs whose pair `cpu()` has handed out, in that order: no other can
   * hold a pfn. A copy of the caches (`IovaDomain.snapshot`) walks these
   * only: a server has hundreds of CPUs, of which a few do DMA.
   */
  readonly used: number[] = [];
  private readonly handedOut: Uint8Array;
  /** The delayed trim work is queued (mainline). */
  workPending = false;
  /** When the queued trim work is due, in virtual nanoseconds. */
  workDueNs = 0;

  constructor(cpus: number, capacity: number) {
    const pairs: CpuRcache[] = [];
    for (let c = 0; c < cpus; c++) pairs.push(new CpuRcache(capacity));
    this.everyCpu = pairs;
    this.handedOut = new Uint8Array(cpus);
  }

  /** `cpu`'s pair, to use or change. */
  cpu(cpu: number): CpuRcache {
    if (this.handedOut[cpu] === 0) {
      this.handedOut[cpu] = 1;
      this.used.push(cpu);
    }
    return this.everyCpu[cpu];
  }

  /** Whether `cpu()` has handed out `cpu`'s pair. */
  isUsed(cpu: number): boolean {
    return this.handedOut[cpu] === 1;
  }
}
