/**
 * IOVA space a trace that starts mid-life proves was taken before it began,
 * though the trace never shows by what (Linux 6.1 and 6.12 alike): live
 * mappings it never unmaps, IOVAs cached in magazines and the depot (a
 * cached IOVA stays allocated in the rbtree), IOVAs queued for the next
 * flush. Two things in the trace prove such space:
 *
 * - A tree allocation: `__alloc_and_insert_iova_range()` walks down from the
 *   cached node and takes the first size-aligned slot that fits. Where the
 *   kernel's IOVA lies below the slot the model's walk found from the same
 *   node, every slot in between was taken in the kernel: the free space the
 *   model has there is hidden space (`occupy`). Only the learning phase
 *   (`learning.ts`) draws this proof, for only a tree allocation proves it and
 *   the trace cannot tell one from a cache hit of an IOVA cached before it.
 * - A cache hit of an IOVA inside such space: that IOVA was cached there,
 *   its node in the tree all along. It leaves the hidden space as the
 *   mapping (`take`), the rest of the span staying hidden; the kernel's cache
 *   hit touches neither the tree nor its cached nodes.
 *
 * Hidden space is held as tree nodes of the model's domain (so the model's
 * walks skip it as the kernel's did), listed here by first pfn. The list is
 * replaced, never changed in place, so a checkpoint keeps it by reference.
 *
 * Replay-only: none of this is kernel behaviour; it works through the
 * domain's public state, as `follow.ts` does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { NIL } from "../iova/rbtree.ts";

/** Spans of hidden space: first pfn -> last pfn. */
export type HiddenSpans = ReadonlyMap<number, number>;

export class HiddenSpace {
  spans: HiddenSpans = new Map();
  /** Spans added (`occupy`) and IOVAs taken out of them (`take`), for the summary. */
  proofs = 0;
  taken = 0;

  /**
   * The kernel's tree walk passed over the model's free space in
   * `[fromPfn, toPfn]` (both inclusive): each free run there becomes a
   * hidden span. Returns the pages made hidden.
   */
  occupy(cookie: IommuDmaCookie, fromPfn: number, toPfn: number): number {
    const t = cookie.iovad.tree;
    const spans = new Map(this.spans);
    let pages = 0;
    let p = fromPfn;
    while (p <= toPfn) {
      const inside = t.findContaining(p);
      if (inside !== NIL) {
        p = t.hi(inside) + 1;
        continue;
      }
      const above = t.lowestAtOrAbove(p);
      const end = above === NIL ? toPfn : Math.min(toPfn, t.pfnLo[above] - 1);
      t.insert(t.newNode(p, end));
      spans.set(p, end);
      pages += end - p + 1;
      p = end + 1;
    }
    if (pages > 0) {
      this.spans = spans;
      this.proofs++;
    }
    return pages;
  }

  /** Whether `pages` pages at `pfn` lie inside one hidden span. */
  covers(cookie: IommuDmaCookie, pfn: number, pages: number): boolean {
    if (this.spans.size === 0) return false;
    const t = cookie.iovad.tree;
    const n = t.findContaining(pfn);
    return n !== NIL && this.spans.get(t.pfnLo[n]) === t.hi(n) && pfn + pages - 1 <= t.hi(n);
  }

  /**
   * The kernel handed out `pages` pages at `pfn` from a cache while the
   * model holds them as hidden space: they leave their span as a node of
   * their own (the kernel's cached IOVA), the span's rest stays hidden.
   * Returns their node, or NIL, with nothing changed, when they are not all
   * inside one span.
   */
  take(cookie: IommuDmaCookie, pfn: number, pages: number): number {
    if (!this.covers(cookie, pfn, pages)) return NIL;
    const t = cookie.iovad.tree;
    const n = t.findContaining(pfn);
    const lo = t.pfnLo[n];
    const hi = t.hi(n);
    const iovad = cookie.iovad;
    // The cached nodes keep their place: a node that was one of them is replaced by the piece at its first pfn.
    const was32 = iovad.cached32Node === n;
    const was64 = iovad.cachedNode === n;
    t.erase(n);
    t.freeNode(n);
    const spans = new Map(this.spans);
    spans.delete(lo);
    const add = (a: number, b: number, hidden: boolean): number => {
      const m = t.newNode(a, b);
      t.insert(m);
      if (hidden) spans.set(a, b);
      return m;
    };
    const first = pfn > lo ? add(lo, pfn - 1, true) : NIL;
    const mine = add(pfn, pfn + pages - 1, false);
    if (pfn + pages - 1 < hi) add(pfn + pages, hi, true);
    const keep = first !== NIL ? first : mine;
    if (was32) iovad.cached32Node = keep;
    if (was64) iovad.cachedNode = keep;
    this.spans = spans;
    this.taken++;
    return mine;
  }
}
