/**
 * A deliberately naive IOVA allocator, the oracle of the property tests: the
 * same kernel rules as src/iova/domain.ts written the plainest way (a sorted
 * array of intervals, linear scans, magazines as JS arrays), sharing no code
 * with it. Where the kernel's answer depends on the rbtree's shape (only the
 * walk count of a retry, IOVA-3.8/3.9) it uses the outcome-equivalent start,
 * so the property tests compare placements and contents, not retry walks.
 */

import type { KernelProfile } from "../../src/iova/profile.ts";

interface Node {
  lo: number;
  hi: number;
}

const ANCHOR = 2 ** 64;

function ceilLog2(n: number): number {
  let k = 0;
  while (2 ** k < n) k++;
  return k;
}

export class NaiveIova {
  nodes: Node[] = [];
  readonly anchor: Node = { lo: ANCHOR, hi: ANCHOR };
  cached: Node;
  cached32: Node;
  max32: number;
  readonly dma32: number;
  // rcache[class][cpu] = { loaded, prev }, depot[class] = magazines (top last)
  loaded: number[][][] = [];
  prev: number[][][] = [];
  depot: number[][][] = [];
  due: (number | null)[] = [];
  now = 0;

  readonly granule: number;
  readonly startPfn: number;
  readonly cpus: number;
  readonly k: number;
  readonly profile: KernelProfile;

  constructor(granule: number, startPfn: number, cpus: number, k: number, profile: KernelProfile) {
    this.granule = granule;
    this.startPfn = startPfn;
    this.cpus = cpus;
    this.k = k;
    this.profile = profile;
    this.nodes.push(this.anchor);
    this.cached = this.anchor;
    this.cached32 = this.anchor;
    this.dma32 = 2 ** (32 - Math.log2(granule));
    this.max32 = this.dma32;
    for (let c = 0; c < k; c++) {
      this.loaded.push(Array.from({ length: cpus }, () => []));
      this.prev.push(Array.from({ length: cpus }, () => []));
      this.depot.push([]);
      this.due.push(null);
    }
  }

  private index(n: Node): number {
    return this.nodes.indexOf(n);
  }

  private insertNode(n: Node): void {
    let i = 0;
    while (this.nodes[i].lo < n.lo) i++;
    this.nodes.splice(i, 0, n);
  }

  private remove(n: Node): void {
    const i = this.index(n);
    const next = this.nodes[i + 1];
    if (n === this.cached32 || (n.hi < this.dma32 && n.lo >= this.cached32.lo)) this.cached32 = next;
    if (n.lo < this.dma32) this.max32 = this.dma32;
    if (n.lo >= this.cached.lo) this.cached = next;
    this.nodes.splice(i, 1);
  }

  find(pfn: number): Node | undefined {
    return this.nodes.find((n) => n.lo <= pfn && pfn <= n.hi);
  }

  alloc(size: number, limitPfn: number, aligned: boolean): number {
    const limit = limitPfn + 1;
    if (limit <= this.dma32 && size >= this.max32) return -1;
    const align = aligned ? 2 ** ceilLog2(size) : 1;
    let i = this.index(limit <= this.dma32 ? this.cached32 : this.cached);
    const retryPfn = this.nodes[i].hi;
    let high = limit;
    let low = this.startPfn;
    for (;;) {
      let cand = Number.POSITIVE_INFINITY;
      for (;;) {
        high = Math.min(high, this.nodes[i].lo);
        cand = high < size ? Number.POSITIVE_INFINITY : Math.floor((high - size) / align) * align;
        i--;
        if (i < 0 || cand > this.nodes[i].hi) break;
        if (this.profile.walkStopsAtLowBound && cand < low) break;
      }
      if (high >= size && cand >= low) {
        const n = { lo: cand, hi: cand + size - 1 };
        this.insertNode(n);
        if (n.hi < this.dma32) this.cached32 = n;
        else this.cached = n;
        return cand;
      }
      if (this.profile.retryAboveCachedNode && low === this.startPfn && retryPfn < limit) {
        high = limit;
        low = retryPfn + 1;
        i = limit > this.dma32 ? this.nodes.length - 1 : this.nodes.findIndex((n) => n.hi >= limit);
        continue;
      }
      this.max32 = size;
      return -1;
    }
  }

  free(pfn: number): void {
    const n = this.find(pfn);
    if (n && n !== this.anchor) this.remove(n);
  }

  reserve(lo: number, hi: number): boolean {
    let overlapped = false;
    for (const n of [...this.nodes]) {
      if (lo <= n.hi && hi >= n.lo) {
        if (lo < n.lo) n.lo = lo;
        if (hi > n.hi) lo = n.hi + 1;
        if (lo >= n.lo && hi <= n.hi) return true;
        overlapped = true;
      } else if (overlapped) break;
    }
    this.insertNode({ lo, hi });
    return true;
  }

  private freeMag(mag: number[]): void {
    for (const pfn of mag) {
      const n = this.find(pfn);
      if (n && n !== this.anchor) this.remove(n);
    }
    mag.length = 0;
  }

  allocFast(cpu: number, size: number, limitPfn: number, flush: boolean): number {
    if (size < 2 ** (this.k - 1)) size = 2 ** ceilLog2(size);
    const c = ceilLog2(size);
    if (c < this.k) {
      const L = this.loaded[c];
      const P = this.prev[c];
      let ok = true;
      if (L[cpu].length === 0) {
        if (P[cpu].length > 0) [L[cpu], P[cpu]] = [P[cpu], L[cpu]];
        else if (this.depot[c].length > 0) L[cpu] = this.depot[c].pop()!;
        else ok = false;
      }
      if (ok) {
        const mag = L[cpu];
        const lim = limitPfn + 1 - size;
        for (let j = mag.length - 1; j >= 0; j--) {
          if (mag[j] <= lim) {
            const pfn = mag[j];
            mag[j] = mag[mag.length - 1];
            mag.pop();
            return pfn;
          }
        }
      }
    }
    for (;;) {
      const pfn = this.alloc(size, limitPfn, true);
      if (pfn >= 0) return pfn;
      if (!flush) return 0;
      flush = false;
      for (let cpuN = 0; cpuN < this.cpus; cpuN++) this.cpuDead(cpuN);
      if (this.profile.flushDrainsDepot) this.freeGlobal();
    }
  }

  freeFast(cpu: number, pfn: number, size: number): void {
    const c = ceilLog2(size);
    if (c >= this.k) {
      this.free(pfn);
      return;
    }
    const max = this.profile.magazineSize;
    const L = this.loaded[c];
    const P = this.prev[c];
    let toFree: number[] | null = null;
    if (L[cpu].length === max) {
      if (P[cpu].length < max) [L[cpu], P[cpu]] = [P[cpu], L[cpu]];
      else {
        if (this.profile.depotOverflowFreesToTree && this.depot[c].length >= this.profile.depotMax) toFree = L[cpu];
        else {
          this.depot[c].push(L[cpu]);
          if (this.profile.depotTrimWork && this.due[c] === null) this.due[c] = this.now + 100;
        }
        L[cpu] = [];
      }
    }
    L[cpu].push(pfn);
    if (toFree) this.freeMag(toFree);
  }

  cpuDead(cpu: number): void {
    for (let c = 0; c < this.k; c++) {
      this.freeMag(this.loaded[c][cpu]);
      this.freeMag(this.prev[c][cpu]);
    }
  }

  freeGlobal(): void {
    for (let c = 0; c < this.k; c++) {
      const d = this.depot[c];
      if (this.profile.depotDrainOrder === "newest-first") while (d.length > 0) this.freeMag(d.pop()!);
      else {
        for (const m of d) this.freeMag(m);
        d.length = 0;
      }
    }
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let best = -1;
      for (let c = 0; c < this.k; c++) {
        const t = this.due[c];
        if (t !== null && t <= target && (best < 0 || t < (this.due[best] as number))) best = c;
      }
      if (best < 0) break;
      const t = this.due[best] as number;
      this.now = t;
      if (this.depot[best].length > this.cpus) {
        this.freeMag(this.depot[best].pop()!);
        this.due[best] = t + 100;
      } else this.due[best] = null;
    }
    this.now = target;
  }

  dump(): string[] {
    return this.nodes.filter((n) => n !== this.anchor).map((n) => `${n.lo} ${n.hi}`);
  }
}
