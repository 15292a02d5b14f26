/**
 * Replay-only operations on the kernel model's state: what a replay does to
 * follow the trace where the trace shows the kernel did something the model
 * cannot decide by itself (`--resync` after a mismatch, an unmap whose
 * `queue_iova()` the trace shows ran late). None of this is kernel
 * behaviour; the kernel model's files (src/iova, src/dma) keep only kernel
 * operations, and these work through their public state and snapshots.
 */

import { type FlushQueue, IOVA_DEFAULT_FQ_SIZE } from "../dma/flush-queue.ts";
import type { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { NIL } from "../iova/rbtree.ts";

/**
 * Makes `pages` pages at `pfn` allocated as if `iovad` had handed them out,
 * for a replay that follows a trace's own IOVA after the model chose
 * another. A cached IOVA of that size starting at `pfn` leaves its CPU
 * magazine (not a depot's: depot magazines stay full); free space becomes a
 * node, the cached node moving as after an allocation. False, with nothing
 * changed, for anything else.
 */
export function claimIova(iovad: IovaDomain, pfn: number, pages: number): boolean {
  const t = iovad.tree;
  const n = t.findContaining(pfn);
  if (n !== NIL) {
    if (t.pfnLo(n) !== pfn || t.hi(n) !== pfn + pages - 1) return false;
    const c = iovad.sizeClass(pages);
    if (c >= iovad.rcacheOrders) return false;
    for (const cr of iovad.rcaches[c].everyCpu) {
      if (takeFrom(cr.loaded, pfn) || takeFrom(cr.prev, pfn)) {
        iovad.stats.cachedPfns[c]--;
        return true;
      }
    }
    return false;
  }
  const above = t.lowestAtOrAbove(pfn);
  if (above !== NIL && t.pfnLo(above) <= pfn + pages - 1) return false;
  const m = t.newNode(pfn, pfn + pages - 1);
  t.insert(m);
  iovad.insertUpdate(m);
  return true;
}

/** Takes `pfn` out of magazine `m` if it holds it. */
function takeFrom(m: Magazine, pfn: number): boolean {
  const i = m.indexOf(pfn);
  if (i < 0) return false;
  // The kernel's magazine holds the others in the order they were freed: where the model held this IOVA
  // is not where the kernel did, and the cuts of `magazine-cut.ts` read that order.
  m.removeKeepingOrder(i);
  return true;
}

/** One ring's triples, for `editRing`: a ring holds fewer than IOVA_DEFAULT_FQ_SIZE entries. */
const ringScratch = new Float64Array(3 * IOVA_DEFAULT_FQ_SIZE);

/**
 * Rewrites the entries queued in `cpu`'s ring: `edit` gets its `n`
 * (pfn, pages, counter) triples, oldest first, in a scratch array, and
 * returns how many it kept there. Only that ring is copied: a take on a
 * machine's full rings copied every CPU's (a quarter of an inferred
 * replay's time on a mid-life trace).
 */
function editRing(fq: FlushQueue, cpu: number, edit: (entries: Float64Array, n: number) => number): void {
  const n = fq.queued(cpu);
  const e = ringScratch;
  for (let k = 0; k < n; k++) {
    e[3 * k] = fq.queuedPfn(cpu, k);
    e[3 * k + 1] = fq.queuedPages(cpu, k);
    e[3 * k + 2] = fq.queuedCounter(cpu, k);
  }
  fq.restoreRing(cpu, e, edit(e, n));
}

/**
 * Takes the queued entry of the IOVA at `pfn` out of its ring, the others
 * keeping their order, for a replay that follows a trace's own IOVA (the
 * kernel had already freed it). False if none.
 */
export function takeQueued(fq: FlushQueue, pfn: number): boolean {
  for (let c = 0; c < fq.cpus; c++) {
    const k = fq.queuedIndexOf(c, pfn);
    if (k < 0) continue;
    // Entries taken out shorten the ring at its tail: the later ones move up by one.
    editRing(fq, c, (e, n) => {
      e.copyWithin(3 * k, 3 * k + 3, 3 * n);
      return n - 1;
    });
    return true;
  }
  return false;
}

/** Whether any entry waiting in a CPU's flush queue, as (first pfn, pages), passes `hit`. */
function someQueued(fq: FlushQueue, hit: (pfn: number, pages: number) => boolean): boolean {
  for (let c = 0; c < fq.cpus; c++)
    for (let k = fq.queued(c) - 1; k >= 0; k--) if (hit(fq.queuedPfn(c, k), fq.queuedPages(c, k))) return true;
  return false;
}

/** Whether `pfn` lies in an IOVA waiting in any CPU's flush queue (for the mismatch report). */
export function queuedIn(fq: FlushQueue, pfn: number): boolean {
  return someQueued(fq, (lo, pages) => lo <= pfn && pfn < lo + pages);
}

/**
 * The last IOVA queued in `cpu`'s flush queue is made to wait for the next
 * flush, as if `queue_iova()` had run after the current flush raised its
 * start count: its counter becomes the current start count.
 */
export function queuedLate(fq: FlushQueue, cpu: number): void {
  editRing(fq, cpu, (e, n) => {
    if (n > 0) e[3 * n - 1] = fq.flushStartCnt;
    return n;
  });
}

/**
 * Moves `pfn`, cached for `pages` pages in the magazine CPU `cpu` pops
 * next, to its top, the others keeping their order; false, with nothing
 * changed, where it is not there or already on top. For a map that takes
 * the range of an unmap the trace lost (`lost-unmaps.ts`): the model queued
 * that unmap by its map's order, and the kernel's own order, which a
 * workload of mixed sizes completes otherwise, shows only as the trace's
 * maps take those ranges back one by one, each from the top.
 */
export function liftToTop(iovad: IovaDomain, cpu: number, pfn: number, pages: number): boolean {
  const m = nextMagazine(iovad, cpu, pages);
  const i = m === null ? -1 : m.indexOf(pfn);
  if (m === null || i < 0 || i === m.size - 1) return false;
  m.removeKeepingOrder(i);
  m.push(pfn);
  return true;
}

/**
 * Swaps `pfn`, cached for `pages` pages anywhere in its size class (any
 * CPU's magazines, the depot), with the top of the magazine CPU `cpu`
 * pops next, where both are ranges of unmaps the trace lost (`isLost`);
 * false, with nothing changed, otherwise. A flush frees a burst of lost
 * unmaps in the order their interrupt made them, which the model guessed:
 * where the magazines filled and spilled within the burst, the kernel's
 * order put other ranges of it in each magazine and in the depot. Both
 * places held one of the burst, so the swap keeps every magazine's fill.
 */
export function swapToTop(
  iovad: IovaDomain,
  cpu: number,
  pfn: number,
  pages: number,
  isLost: (pfn: number) => boolean,
): boolean {
  const m = nextMagazine(iovad, cpu, pages);
  if (m === null || m.size === 0) return false;
  const top = m.pfns[m.size - 1];
  if (top === pfn || !isLost(top) || !isLost(pfn)) return false;
  const rc = iovad.rcaches[iovad.sizeClass(pages)];
  const swapIn = (o: Magazine): boolean => {
    const i = o.indexOf(pfn);
    if (i < 0) return false;
    o.pfns[i] = top;
    m.pfns[m.size - 1] = pfn;
    return true;
  };
  for (const cr of rc.everyCpu) if (swapIn(cr.loaded) || swapIn(cr.prev)) return true;
  for (const o of rc.depot) if (swapIn(o)) return true;
  return false;
}

/**
 * The magazine the next allocation of `pages` on `cpu` pops: the loaded
 * one, else the previous one (swapped in when full); null for a size no
 * rcache class holds.
 */
export function nextMagazine(iovad: IovaDomain, cpu: number, pages: number): Magazine | null {
  const c = iovad.sizeClass(pages);
  if (c >= iovad.rcacheOrders) return null;
  const cr = iovad.rcaches[c].cpu(cpu);
  return cr.loaded.size > 0 ? cr.loaded : cr.prev;
}
