/**
 * Two CPUs' ring-full flushes that overlap: which ring free's depot pushes
 * came first, decided by the later calls' IOVAs.
 *
 * `queue_iova()` (drivers/iommu/dma-iommu.c, 6.1 and 6.12 alike) on a full
 * queue flushes the IOTLB and then, under that CPU's queue lock, frees the
 * entries the flush covers into that CPU's rcache; a full magazine goes to
 * the size class's depot, shared by every CPU (a stack on 6.1, newest
 * popped first). When a second CPU's queue fills while the first CPU's
 * flush still runs (`apply.ts`, `RING_FULL_FLUSH_NS`), both ring frees run
 * after their flushes, side by side, and either CPU's depot push may come
 * first. The trace shows neither: 6.1 mid-life lines 132191 and 132203
 * (flushes begun 18 us apart, both CPUs resuming 1 us apart) pushed the
 * second CPU's magazine first, lines 125993 and 126017 (the second CPU
 * resuming 27 us after the first) the first CPU's. The replay frees the
 * first CPU's ring at its unmap, so pushes first-CPU first.
 *
 * So, as for a late queue (`late-queue.ts`), the replay goes on with that
 * order, logs what it does to the model from the state after the second
 * unmap, and holds the calls' results. Once the trace has mapped again an
 * IOVA of each CPU's pushed magazines (or after `WATCH_CALLS` calls, or at
 * the end), the log is run again from that state with the pushes turned
 * (`IovaDomain.turnDepot`); the run that places more of the trace's IOVAs is
 * kept, the first on a tie. Only the model decides every IOVA; the trace's
 * IOVAs only choose between the two kernel orders.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import type { DepotTurn } from "./apply.ts";
import { HeldChoice } from "./held-choice.ts";
import { type OpLog, opsAfter, type ReplayOp } from "./late-queue.ts";

/** A held choice: the state after the second unmap, the depot pushes to turn, the calls since. */
export class DepotOrderWatch extends HeldChoice {
  readonly turns: DepotTurn[];
  /** The DMA addresses each ring free pushed: the first CPU's, the second's. */
  private readonly first = new Set<number>();
  private readonly second = new Set<number>();
  private reusedFirst = false;
  private reusedSecond = false;

  constructor(state: unknown, base: OpLog | null, turns: DepotTurn[], iovad: IovaDomain) {
    super(state, base);
    this.turns = turns;
    const g = iovad.granule;
    for (const t of turns) {
      const depot = iovad.rcaches[t.c].depot;
      for (let i = t.from; i < t.to; i++) {
        const m = depot[i];
        const into = i < t.mid ? this.first : this.second;
        for (let k = 0; k < m.size; k++) into.add(m.pfns[k] * g);
      }
    }
  }

  override leavesOpen(addr: number): boolean {
    return this.first.has(addr) || this.second.has(addr);
  }

  protected saw(c: DmaCall): void {
    if (c.kind !== "map") return;
    if (this.first.has(c.iova)) this.reusedFirst = true;
    if (this.second.has(c.iova)) this.reusedSecond = true;
  }

  /** Decided once an IOVA of each side is reused. */
  protected decided(): boolean {
    return this.reusedFirst && this.reusedSecond;
  }

  /** The operations since `base`, oldest first, after the depot turned. Null when `head` does not descend from `base`. */
  turned(head: OpLog | null): ReplayOp[] | null {
    return opsAfter({ k: "turnDepot", turns: this.turns }, head, this.base);
  }
}
