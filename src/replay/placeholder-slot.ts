/**
 * The slot of a placeholder, shown by a hit of an IOVA cached before the
 * trace (Linux 6.1 and 6.12 alike, lazy mode: `iova.c`'s
 * `iova_magazine_push()` and dma-iommu's `fq_ring_free()`), in a trace that
 * starts mid-life. A magazine cut (`magazine-cut.ts`) pads the kernel's
 * magazine to full with placeholders below the model's own IOVAs: it knows
 * how many IOVAs from before the trace the magazine held, not where they
 * lay. They need not all lie below: a flush frees each CPU's ring in turn
 * into the flushing CPU's magazine, each ring's entries queued before the
 * trace first, so entries a ring still held when the trace began lie above
 * the trace's own IOVAs that an earlier ring (or that ring before them)
 * freed in the same flush.
 *
 * So when the kernel hands out an IOVA the trace never showed while the
 * model pops its own IOVA off its loaded magazine as it was, freed while a
 * ring could still hold entries from before the trace (`pre-trace-queue.ts`),
 * and that magazine holds placeholders below it, the kernel's IOVA is one
 * of the ones the placeholders stand for, in fact above the model's. The
 * hit is taken back as any such hit is (`pre-trace-hit.ts`), and the
 * magazine's top placeholder goes: the magazine keeps the kernel's count,
 * so it runs empty, swaps and goes to the depot where the kernel's does.
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { dropNode } from "./placeholder-drop.ts";

/**
 * Takes the highest placeholder (a pfn below `placeholderTop`) out of `m`, a
 * magazine of size class `c`, the others keeping their order, and its tree
 * node with it. False, with nothing changed, when `m` holds none.
 */
export function takeSlot(iovad: IovaDomain, c: number, m: Magazine, placeholderTop: number): boolean {
  let i = m.size - 1;
  while (i >= 0 && m.pfns[i] >= placeholderTop) i--;
  if (i < 0) return false;
  dropNode(iovad, m.removeKeepingOrder(i));
  iovad.stats.cachedPfns[c]--;
  return true;
}
