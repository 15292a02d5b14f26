/**
 * The tail of a mapping live at the start (Linux 6.1 and 6.12 alike): a
 * trace can start in the middle of a call. `iommu_dma_map_sg()` allocates
 * one IOVA range for the whole list, then maps its segments in order, one
 * `iommu:map` event each, so a trace that begins after the first of them
 * shows only the last segments, at an IOVA inside the range. The call's
 * unmap frees the whole range from its start, pages no map of the trace
 * mapped, so `live-at-start.ts` already makes that range live from the
 * start. The map events seen are then no allocation of the trace: the
 * kernel allocated their IOVA before it began, and that range holds them.
 * Replayed as an allocation, the model would place them somewhere else
 * (they are not even size-aligned, so nothing can adopt them) and keep
 * that space mapped for good, since the unmap went to the live range:
 * the 6.12 lazy cut at 43% (`test/replay/live-tail.test.ts`) kept six
 * pages at 0xffff8000 that the kernel hands out one by one.
 *
 * Replay-only: it reads the mappings the replay seeded, as `follow.ts` does.
 */

import type { DmaCall } from "../trace/reconstruct.ts";
import type { LiveMapping } from "./live-at-start.ts";

/** The ranges of the mappings seeded live at the start, until their unmaps. */
export class LiveTails {
  private readonly lo: number[] = [];
  private readonly end: number[] = [];
  private readonly unmapLine: number[] = [];
  /** The last of those unmaps' lines: no map after it is a tail (most of a trace's maps). */
  private lastUnmapLine = 0;

  /** Notes live mapping `m`, seeded in the model (`seedLive`). */
  add(m: LiveMapping): void {
    this.lo.push(m.iova);
    this.end.push(m.iova + m.sizeBytes);
    this.unmapLine.push(m.line);
    this.lastUnmapLine = Math.max(this.lastUnmapLine, m.line);
  }

  /**
   * Whether map `c` lies wholly inside a mapping live at the start, past
   * its first page and before its unmap: the last segments of a call the
   * trace began inside of.
   */
  covers(c: DmaCall): boolean {
    if (c.kind !== "map" || c.line >= this.lastUnmapLine) return false;
    for (let i = 0; i < this.lo.length; i++) {
      if (c.line < this.unmapLine[i] && this.lo[i] < c.iova && c.iova + c.sizeBytes <= this.end[i]) return true;
    }
    return false;
  }
}
