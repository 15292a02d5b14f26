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
 * IOVA space in use, not the trace's length. A leaf whose pages one claim
 * took all of keeps that owner alone until a claim or release of some of
 * them, so a mapping of gigabytes costs a leaf per 16 MiB.
 */

const LEAF_PAGES = 4096;
/** Empty page arrays kept for reuse. */
const SPARE_LEAVES = 8;

class Leaf {
  /**
   * Per page: the owner's id + 1, or 0; null while one owner holds every
   * page of the leaf (`whole`), as a mapping of many megabytes does: a
   * trace's largest maps (a passed-through VM's memory, or a corrupt size)
   * then cost a leaf per 16 MiB, not four bytes a page.
   */
  ids: Int32Array | null;
  /** With `ids` null: the id + 1 of the owner of every page. */
  whole = 0;
  /** Pages with an owner. */
  used = 0;

  constructor(ids: Int32Array | null) {
    this.ids = ids;
  }
}

export class PageOwners {
  private readonly leaves = new Map<number, Leaf>();
  private readonly spare: Int32Array[] = [];
  /** The leaf last looked up, and its key: a mapping's pages are nearly always in one leaf. */
  private lastKey = -1;
  private last: Leaf | null = null;

  private leaf(key: number, create: boolean): Leaf | null {
    if (key === this.lastKey) return this.last;
    let l = this.leaves.get(key) ?? null;
    if (l === null && create) {
      l = new Leaf(this.spare.pop() ?? new Int32Array(LEAF_PAGES));
      this.leaves.set(key, l);
    }
    if (l !== null) {
      this.lastKey = key;
      this.last = l;
    }
    return l;
  }

  /** The leaf's pages one by one, made from its one owner where it has one. */
  private pagesOf(l: Leaf): Int32Array {
    if (l.ids !== null) return l.ids;
    const ids = this.spare.pop() ?? new Int32Array(LEAF_PAGES);
    ids.fill(l.whole);
    l.ids = ids;
    return ids;
  }

  private drop(key: number, l: Leaf): void {
    this.leaves.delete(key);
    // An array comes back all zeros when its last page was released one by one.
    if (l.ids !== null && l.used === 0 && this.spare.length < SPARE_LEAVES) this.spare.push(l.ids);
    if (this.lastKey === key) {
      this.lastKey = -1;
      this.last = null;
    }
  }

  /** The id of the allocation holding page `p`, or -1. */
  get(p: number): number {
    const key = Math.floor(p / LEAF_PAGES);
    const l = this.leaf(key, false);
    if (l === null) return -1;
    return (l.ids === null ? l.whole : l.ids[p - key * LEAF_PAGES]) - 1;
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
      const end = Math.min(to, base + LEAF_PAGES) - base;
      if (p === base && end === LEAF_PAGES) {
        // The whole leaf: one owner, whatever its pages held.
        let l = this.leaf(key, false);
        if (l === null) {
          l = new Leaf(null);
          this.leaves.set(key, l);
          this.lastKey = key;
          this.last = l;
        } else if (first < 0) {
          // A held leaf has an owned page: leaves are dropped at their last.
          first = firstOwner(l);
        }
        l.ids = null;
        l.whole = id + 1;
        l.used = LEAF_PAGES;
        p = base + end;
        continue;
      }
      const l = this.leaf(key, true) as Leaf;
      const ids = this.pagesOf(l);
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
      if (l !== null && (l.ids !== null || l.whole === id + 1)) {
        if (l.ids === null && p === base && end === LEAF_PAGES) {
          l.used = 0;
          this.drop(key, l);
        } else {
          const ids = this.pagesOf(l);
          let used = l.used;
          for (let i = p - base; i < end; i++) {
            if (ids[i] === id + 1) {
              ids[i] = 0;
              used--;
            }
          }
          l.used = used;
          if (used === 0) this.drop(key, l);
        }
      }
      p = base + end;
    }
  }
}

/** The owner of the lowest owned page of a leaf with any. */
function firstOwner(l: Leaf): number {
  if (l.ids === null) return l.whole - 1;
  for (let i = 0; i < LEAF_PAGES; i++) if (l.ids[i] !== 0) return l.ids[i] - 1;
  return -1;
}
