/**
 * IOVA space a trace that starts mid-life proves was taken before it began,
 * though the trace never shows by what (Linux 6.1 and 6.12 alike): live
 * mappings it never unmaps, IOVAs cached in magazines and the depot (a
 * cached IOVA stays allocated in the rbtree), IOVAs queued for the next
 * flush. The model's domain starts without them, so its tree walks find
 * free space the kernel's did not. What the trace proves:
 *
 * - A tree allocation: `__alloc_and_insert_iova_range()` walks down from the
 *   cached node and takes the first size-aligned slot that fits. Where the
 *   kernel's IOVA lies below the slot the model's walk found from the same
 *   node, every such slot in between was taken in the kernel: they become
 *   hidden spans (`occupy`). Only a size no rcache holds is surely a tree
 *   allocation (a smaller IOVA may be a cache hit of one cached before the
 *   trace), and only a walk from the node of the last tree allocation the
 *   trace confirmed surely started where the kernel's did (or, in a strict
 *   domain, one that starts above it after it was freed: no lower than the
 *   kernel's); the proof is drawn during the learning phase (`learning.ts`),
 *   and in a strict domain after it too: each walk that proves is an
 *   allocation adopted, not counted exact.
 * - A cache hit inside such space: that IOVA was cached there, its node in
 *   the tree all along. It leaves the span as the mapping (`take`), the rest
 *   of the span staying hidden; a cache hit touches neither the tree nor its
 *   cached nodes.
 * - A tree allocation that lands on spans: the kernel had that space free,
 *   so the walk that proved them did not start where the model's did (a node
 *   the trace never showed moved the kernel's cached node); they are dropped
 *   (`release`).
 *
 * Hidden spans are tree nodes of the model's domain (its walks skip them as
 * the kernel's skipped what they stand for), listed here by first pfn. The
 * state is replaced, never changed in place, so a checkpoint keeps it by
 * reference (`save`, `restore`).
 *
 * Replay-only: none of this is kernel behaviour; it works through the
 * domain's public state, as `follow.ts` does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { NIL } from "../iova/rbtree.ts";
import { roundupPowOfTwo } from "../stdx/bits.ts";

/** The checkpointed state: the spans (first pfn -> last pfn) and `treeStart`. */
export interface HiddenState {
  readonly spans: ReadonlyMap<number, number>;
  /** The first pfn of the last tree allocation the trace confirmed (-1: none): a walk from it starts as the kernel's. */
  readonly treeStart: number;
}

export class HiddenSpace {
  private state: HiddenState = { spans: new Map(), treeStart: -1 };
  /** The first pfn of the node the current allocation's 32-bit walk starts from (`walkFrom`). */
  private startLo = -1;
  /** Proofs drawn (`occupy`), IOVAs taken out of spans (`take`), spans dropped (`release`). */
  proofs = 0;
  taken = 0;
  released = 0;

  save(): HiddenState {
    return this.state;
  }

  restore(s: HiddenState): void {
    this.state = s;
  }

  get spans(): ReadonlyMap<number, number> {
    return this.state.spans;
  }

  /** Before an allocation: notes the node its walk starts from. */
  walkFrom(cookie: IommuDmaCookie): void {
    this.startLo = cookie.iovad.tree.pfnLo(cookie.iovad.cached32Node);
  }

  /** The model's tree allocation at `pfn` was the kernel's: the kernel's cached node is that node. */
  confirmed(pfn: number): void {
    if (this.state.treeStart !== pfn) this.state = { ...this.state, treeStart: pfn };
  }

  /** Whether an allocation of `sizeBytes` is beyond every rcache class: surely a tree allocation. */
  private treeOnly(cookie: IommuDmaCookie, sizeBytes: number): number {
    const iovad = cookie.iovad;
    const pages = iovad.roundUpCacheable(Math.ceil(sizeBytes / iovad.granule));
    return iovad.sizeClass(pages) >= iovad.rcacheOrders ? pages : 0;
  }

  /**
   * The model's tree allocation landed elsewhere than the kernel's IOVA
   * `iova` of `sizeBytes`, before the replay follows the trace: spans a tree
   * allocation there overlaps were free (`release`).
   */
  beforeFollow(cookie: IommuDmaCookie, iova: number, sizeBytes: number): void {
    const pages = this.treeOnly(cookie, sizeBytes);
    if (pages > 0) this.release(cookie, iova / cookie.iovad.granule, pages);
  }

  /**
   * The replay followed the kernel's IOVA `iova` of `sizeBytes` from the
   * tree, where the model's walk had found `addr`: with `prove`, the slots
   * the kernel's walk passed are hidden spans, where the model's walk began
   * as the kernel's (at the node of the last tree allocation the trace
   * confirmed) or no lower (`startsAfterFree`).
   */
  followed(cookie: IommuDmaCookie, iova: number, sizeBytes: number, addr: number, prove: boolean): void {
    const pages = this.treeOnly(cookie, sizeBytes);
    if (pages === 0) return;
    const g = cookie.iovad.granule;
    if (prove && iova < addr && (this.startLo === this.state.treeStart || this.startsAfterFree(cookie)))
      this.occupy(cookie, iova / g + pages, addr / g + pages - 1, pages, roundupPowOfTwo(pages));
    this.confirmed(iova / g);
  }

  /**
   * Whether the current walk starts above the last tree allocation the
   * trace confirmed, that allocation since freed, in a strict domain. The
   * free moved both cached nodes up past it (`__cached_rbnode_delete_update`
   * takes the node after a freed one at or above the cached node), the
   * kernel's onto its next node, which lies no higher than the model's
   * where the kernel's tree holds what the model's does and, besides, the
   * space hidden from it. So the kernel's walk began at or below the
   * model's, and where it went lower than the model's slot, something the
   * trace never showed holds the space between. A lazy domain frees through
   * its flush queue, later and in batches: not read there.
   */
  private startsAfterFree(cookie: IommuDmaCookie): boolean {
    const start = this.state.treeStart;
    return cookie.fq === null && start >= 0 && this.startLo > start && cookie.iovad.findIova(start) === null;
  }

  /**
   * The kernel's walk passed over the model's free space in
   * `[fromPfn, toPfn]` (both inclusive) without finding a slot of `size`
   * pages aligned to `align`: in each free run there that holds such a slot,
   * the run from its lowest slot's start to its highest slot's end becomes a
   * hidden span (what is left of the run beside them holds no slot, so the
   * walk proves nothing of it). Returns the pages made hidden.
   */
  occupy(cookie: IommuDmaCookie, fromPfn: number, toPfn: number, size: number, align: number): number {
    const t = cookie.iovad.tree;
    const spans = new Map(this.state.spans);
    let pages = 0;
    let p = fromPfn;
    while (p <= toPfn) {
      const inside = t.findContaining(p);
      if (inside !== NIL) {
        p = t.hi(inside) + 1;
        continue;
      }
      const above = t.lowestAtOrAbove(p);
      const end = above === NIL ? toPfn : Math.min(toPfn, t.pfnLo(above) - 1);
      const lo = Math.ceil(p / align) * align;
      const hi = Math.floor((end + 1 - size) / align) * align;
      if (hi >= lo) {
        t.insert(t.newNode(lo, hi + size - 1));
        spans.set(lo, hi + size - 1);
        pages += hi + size - lo;
      }
      p = end + 1;
    }
    if (pages > 0) {
      this.state = { ...this.state, spans };
      this.proofs++;
    }
    return pages;
  }

  /**
   * A tree allocation of `pages` pages at `pfn` overlaps spans and nothing
   * else: they are dropped whole. Returns whether any was.
   */
  release(cookie: IommuDmaCookie, pfn: number, pages: number): boolean {
    if (this.state.spans.size === 0) return false;
    const t = cookie.iovad.tree;
    const hit: number[] = [];
    let n = t.findContaining(pfn);
    if (n === NIL) n = t.lowestAtOrAbove(pfn);
    for (; n !== NIL && t.pfnLo(n) <= pfn + pages - 1; n = t.next(n)) {
      if (this.state.spans.get(t.pfnLo(n)) !== t.hi(n)) return false;
      hit.push(n);
    }
    if (hit.length === 0) return false;
    const iovad = cookie.iovad;
    const spans = new Map(this.state.spans);
    // A cached node on a span moves past them, as a free of it would move it (the anchor is never a span).
    const after = t.next(hit[hit.length - 1]);
    for (const h of hit) {
      if (iovad.cached32Node === h) iovad.cached32Node = after;
      if (iovad.cachedNode === h) iovad.cachedNode = after;
      spans.delete(t.pfnLo(h));
      t.erase(h);
      t.freeNode(h);
    }
    this.state = { ...this.state, spans };
    this.released += hit.length;
    return true;
  }

  /** Whether `pages` pages at `pfn` lie inside one span. */
  covers(cookie: IommuDmaCookie, pfn: number, pages: number): boolean {
    if (this.state.spans.size === 0) return false;
    const t = cookie.iovad.tree;
    const n = t.findContaining(pfn);
    return n !== NIL && this.state.spans.get(t.pfnLo(n)) === t.hi(n) && pfn + pages - 1 <= t.hi(n);
  }

  /**
   * The kernel handed out `pages` pages at `pfn` that overlap spans, the rest
   * of them free in the model: a span is the slot the walk that proved it
   * could not use, and what the kernel held there may reach past it into
   * pfns no such slot contains (a 63-page slot aligned to 64 pages never
   * tests the 64th page, where a 32-page IOVA cached before the trace may
   * end). The spans grow into one that holds the IOVA. False, with nothing
   * changed, when no span overlaps it or anything else of the model does.
   */
  widen(cookie: IommuDmaCookie, pfn: number, pages: number): boolean {
    if (this.state.spans.size === 0) return false;
    const iovad = cookie.iovad;
    const t = iovad.tree;
    const last = pfn + pages - 1;
    const hit: number[] = [];
    let n = t.findContaining(pfn);
    if (n === NIL) n = t.lowestAtOrAbove(pfn);
    for (; n !== NIL && t.pfnLo(n) <= last; n = t.next(n)) {
      if (this.state.spans.get(t.pfnLo(n)) !== t.hi(n)) return false;
      hit.push(n);
    }
    if (hit.length === 0) return false;
    const lo = Math.min(pfn, t.pfnLo(hit[0]));
    const hi = Math.max(last, t.hi(hit[hit.length - 1]));
    const spans = new Map(this.state.spans);
    let cached32 = false;
    let cached = false;
    for (const h of hit) {
      cached32 ||= iovad.cached32Node === h;
      cached ||= iovad.cachedNode === h;
      spans.delete(t.pfnLo(h));
      t.erase(h);
      t.freeNode(h);
    }
    const m = t.newNode(lo, hi);
    t.insert(m);
    if (cached32) iovad.cached32Node = m;
    if (cached) iovad.cachedNode = m;
    spans.set(lo, hi);
    this.state = { ...this.state, spans };
    return true;
  }

  /**
   * The kernel handed out `pages` pages at `pfn` while the model holds them
   * as hidden space: they leave their span as a node of their own, the
   * span's rest stays hidden, and a cached node on the span stays on its
   * first pfn. Returns their node, or NIL, with nothing changed, when they
   * are not all inside one span.
   */
  take(cookie: IommuDmaCookie, pfn: number, pages: number): number {
    if (!this.covers(cookie, pfn, pages)) return NIL;
    const iovad = cookie.iovad;
    const t = iovad.tree;
    const n = t.findContaining(pfn);
    const lo = t.pfnLo(n);
    const hi = t.hi(n);
    const was32 = iovad.cached32Node === n;
    const was64 = iovad.cachedNode === n;
    t.erase(n);
    t.freeNode(n);
    const spans = new Map(this.state.spans);
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
    this.state = { ...this.state, spans };
    this.taken++;
    return mine;
  }

  /**
   * The kernel's IOVA `iova` of `sizeBytes` lies in a span where the model
   * allocated `addr` (from the tree or `cpu`'s rcache): the model's
   * allocation goes back where it came from and the kernel's IOVA leaves the
   * span as the mapping. A tree-only size came from the tree (the span was
   * partly free): the cached node moves to it. False, with nothing changed,
   * when the IOVA is not inside one span.
   */
  follow(
    cookie: IommuDmaCookie,
    iova: number,
    sizeBytes: number,
    cpu: number,
    addr: number,
    fromTree: boolean,
  ): boolean {
    const iovad = cookie.iovad;
    const g = iovad.granule;
    const node = iovad.findIova(addr / g);
    if (!node) return false;
    const pages = node[1] - node[0] + 1;
    if (!this.covers(cookie, iova / g, pages) && !this.widen(cookie, iova / g, pages)) return false;
    cookie.mapped.delete(addr / g);
    if (fromTree) iovad.freeIova(addr / g);
    else iovad.freeIovaFast(cpu, addr / g, pages);
    const mine = this.take(cookie, iova / g, pages);
    if (this.treeOnly(cookie, sizeBytes) > 0) {
      iovad.insertUpdate(mine);
      this.confirmed(iova / g);
    }
    cookie.mapped.set(iova / g, Math.ceil(sizeBytes / g));
    return true;
  }
}
