/**
 * Flush-queue entries queued before a mid-life trace began, as part of its
 * start state (Linux 6.1 and 6.12 alike, DMA-4.4/4.5). In lazy mode an
 * unmap queues its IOVA on its CPU's ring, and the IOVA reaches an rcache
 * only at the first `fq_ring_free()` of that ring after a flush finished:
 * on a busy machine each ring holds up to a flush period's unmaps. A trace
 * cut there begins with those entries queued, and the trace never shows
 * them: the first ring free after the first flush puts them in that CPU's
 * loaded magazine, below the trace's own frees of the ring, and from then
 * on every magazine of that CPU fills, swaps and goes to the depot that
 * many frees earlier than the model's. `pre-trace-queue.ts` only marks
 * which frees such entries may have covered; this gives them slots.
 *
 * Like the magazines' fill levels (`start-state.ts`), how many entries a
 * ring held is not in the trace, and the start-state search finds it the
 * same way (`start-search.ts`): each entry is a placeholder IOVA, and the
 * model hands one out where the kernel handed out an IOVA from before the
 * trace. On the 6.1 mid-life capture cut at 45%, the kernel's rings held 25
 * and 35 such entries.
 *
 * Replay-only: it works through the flush queue's and the domain's public
 * state.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { type Placer, placingEach, type StartState } from "./start-state.ts";

/**
 * Queues `s`'s ring entries on `cookie`'s flush queue as placeholders at or
 * above `from` (`placePlaceholder`), and returns the pfn below which every
 * placeholder lies. A domain with no flush queue (strict) takes none.
 */
export function seedQueued(
  cookie: IommuDmaCookie,
  s: StartState,
  from: number,
  placer: Placer = placingEach(cookie.iovad),
): number {
  const fq = cookie.fq;
  const iovad = cookie.iovad;
  let next = from;
  if (fq === null) return next;
  for (let c = 0; c < Math.min(s.classes.length, iovad.rcacheOrders); c++) {
    const q = s.classes[c].queued ?? [];
    const pages = 2 ** c;
    for (let cpu = 0; cpu < Math.min(q.length, fq.cpus); cpu++) {
      for (let i = 0; i < q[cpu]; i++) {
        const pfn = placer.place(pages, next);
        next = pfn + pages;
        fq.seedQueued(cpu, pfn, pages);
      }
    }
  }
  return next;
}
