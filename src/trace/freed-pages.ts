/**
 * The recently unmapped first pages of one trace domain, with the line of
 * their unmap: what tells the DMA-API debugging's "double unmap" from
 * "never mapped" (kernel/dma/debug.c keeps no such memory; the trace
 * reconstruction needs it because it sees no allocator state). Bounded:
 * past `limit` entries the oldest insertion goes first, as a JS Map's
 * insertion order would, and a page unmapped again keeps its place.
 *
 * Typed-array tables instead of a `Map<number, number>`: an entry is set
 * for every unmap and deleted for every map of a trace, and a Map's
 * deleted entries make it rehash and allocate.
 */

import { PfnMap } from "../stdx/pfnmap.ts";

export class FreedPages {
  private readonly limit: number;
  /** Page -> the line of its unmap. */
  private readonly lines = new PfnMap(64);
  /** Page -> the serial of its insertion, which its entry in `order` carries too. */
  private readonly serials = new PfnMap(64);
  /** Insertions oldest first, from `head`: pages and their serials; an entry whose serial is stale was deleted. */
  private orderPages = new Float64Array(64);
  private orderSerials = new Float64Array(64);
  private head = 0;
  private tail = 0;
  private serial = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  get size(): number {
    return this.lines.size;
  }

  get(page: number): number | undefined {
    return this.lines.size === 0 ? undefined : this.lines.get(page);
  }

  set(page: number, line: number): void {
    if (this.lines.get(page) === undefined) {
      const s = ++this.serial;
      this.serials.set(page, s);
      this.push(page, s);
    }
    this.lines.set(page, line);
    if (this.lines.size > this.limit) this.dropOldest();
  }

  delete(page: number): void {
    if (this.lines.size > 0 && this.lines.delete(page)) this.serials.delete(page);
  }

  private dropOldest(): void {
    for (;;) {
      const p = this.orderPages[this.head];
      const s = this.orderSerials[this.head];
      this.head++;
      if (this.serials.get(p) === s) {
        this.lines.delete(p);
        this.serials.delete(p);
        return;
      }
    }
  }

  private push(page: number, s: number): void {
    if (this.tail === this.orderPages.length) {
      // Compact: keep the entries still current, in order; grow when most are.
      let n = 0;
      const pages = this.orderPages;
      const ss = this.orderSerials;
      for (let i = this.head; i < this.tail; i++) {
        if (this.serials.get(pages[i]) === ss[i]) {
          pages[n] = pages[i];
          ss[n] = ss[i];
          n++;
        }
      }
      this.head = 0;
      this.tail = n;
      if (n * 2 > pages.length) {
        this.orderPages = new Float64Array(pages.length * 2);
        this.orderPages.set(pages.subarray(0, n));
        this.orderSerials = new Float64Array(pages.length * 2);
        this.orderSerials.set(ss.subarray(0, n));
      }
    }
    this.orderPages[this.tail] = page;
    this.orderSerials[this.tail] = s;
    this.tail++;
  }
}
