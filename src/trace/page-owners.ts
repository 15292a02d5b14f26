/**
 * Which live allocation holds each IOVA page of one trace domain, for the
 * DMA-API debugging's overlap and inside-a-mapping checks (kernel/dma/debug.c
 * keeps a hash of live entries; the trace reconstruction needs it page by
 * page, as it sees only map and unmap events). Allocations are named by a
 * small integer id.
 *
 * A two-level table: 4096 pages to a leaf of `Int32Array` (id + 1, 0 for
 * none), leaves by their first page. Every map and unmap of a trace sets or
 * clears all of its pages, a hundred and more for a large buffer: a leaf's
 * pages are one array indexed in a tight loop, where a hash table would hash
 * each one. A leaf no page uses any more is dropped (a few are kept, all
 * zeros, for the next ones: one buffer mapped and unmapped over and over
 * would otherwise make and drop a leaf each time), so memory follows the
 * IOVA space in use, not the trace's length.
 */

const LEAF_PAGES = 4096;
/** Empty leaves kept for reuse. */
const SPARE_LEAVES = 8;

class Leaf {
  /** Per page: the owner's id + 1, or 0. */
  readonly ids = new Int32Array(LEAF_PAGES);
  /** Pages with an owner. */
  used = 0;
}

export class PageOwners {
  private readonly leaves = new Map<number, Leaf>();
  private readonly spare: Leaf[] = [];
  /** The leaf last looked up, and its key: a mapping's pages are nearly always in one leaf. */
  private lastKey = -1;
  private last: Leaf | null = null;

  private leaf(key: number, create: boolean): Leaf | null {
    if (key === this.lastKey) return this.last;
    let l = this.leaves.get(key) ?? null;
    if (l === null && create) {
      l = this.spare.pop() ?? new Leaf();
      this.leaves.set(key, l);
    }
    if (l !== null) {
      this.lastKey = key;
      this.last = l;
    }
    return l;
  }

  /** The id of the allocation holding page `p`, or -1. */
  get(p: number): number {
    const key = Math.floor(p / LEAF_PAGES);
    const l = this.leaf(key, false);
    return l === null ? -1 : l.ids[p - key * LEAF_PAGES] - 1;
  }

  /**
   * Gives pages `[from, to)` to allocation `id`; returns the id that held
   * the lowest of them held before, or -1.
   */
  claim(from: number, to: number, id: number): number {
    let first = -1;
    let p = from;
    while (p < to) {
      const key = Math.floor(p / LEAF_PAGES);
      const base = key * LEAF_PAGES;
      const l = this.leaf(key, true) as Leaf;
      const ids = l.ids;
      const end = Math.min(to, base + LEAF_PAGES) - base;
      let used = l.used;
      for (let i = p - base; i < end; i++) {
        const was = ids[i];
        if (was === 0) used++;
        else if (first < 0) first = was - 1;
        ids[i] = id + 1;
      }
      l.used = used;
      p = base + end;
    }
    return first;
  }

  /** Takes back from allocation `id` the pages of `[from, to)` it still holds. */
  release(from: number, to: number, id: number): void {
    let p = from;
    while (p < to) {
      const key = Math.floor(p / LEAF_PAGES);
      const base = key * LEAF_PAGES;
      const end = Math.min(to, base + LEAF_PAGES) - base;
      const l = this.leaf(key, false);
      if (l !== null) {
        const ids = l.ids;
        let used = l.used;
        for (let i = p - base; i < end; i++) {
          if (ids[i] === id + 1) {
            ids[i] = 0;
            used--;
          }
        }
        l.used = used;
        if (used === 0) {
          this.leaves.delete(key);
          if (this.spare.length < SPARE_LEAVES) this.spare.push(l);
          if (this.lastKey === key) {
            this.lastKey = -1;
            this.last = null;
          }
        }
      }
      p = base + end;
    }
  }
}
