/**
 * A depot trim the model did not make, in a trace that starts mid-life
 * (6.7 and later, where `iova_depot_work_func()` trims the depot).
 *
 * The trim work takes the depot's top magazine back to the tree only while
 * the depot holds more magazines than CPUs are online (IOVA-6.7). Under the
 * magazines the model saw pushed, the kernel's depot may still hold some
 * from before the trace: no allocation has popped them, so nothing in the
 * trace has shown them, yet they count. Where the model's depot holds no
 * more than the CPUs, the kernel's may have held more and trimmed. The
 * trace shows that only later: the next CPU to take a magazine from the
 * depot takes the top one if it stayed, the one below if it went. (The
 * workqueue's events cannot tell it sooner: a trim reschedules the work
 * 25 jiffies on, and the next depot push schedules it 25 jiffies after
 * the push; on the 6.12 mid-life capture the runs after an untrimmed one
 * came 103 to 166 ms apart, after a trim 108 ms.)
 *
 * So, as for two overlapping flushes' depot order (`depot-order.ts`), the
 * replay goes on untrimmed, holds the calls' results, and once the trace
 * maps an IOVA of either magazine (or after `WATCH_CALLS` calls, or at the
 * end), runs the log again from after the work with the trim
 * (`trimUnseen`): magazines of placeholders (`start-state.ts`) put under
 * the depot up to one more than the CPUs, then the trim. The run that
 * places more of the trace's IOVAs is kept, untrimmed on a tie.
 *
 * Two things prove a size class's depot holds nothing from before the
 * trace, and no later trim of that class is left open: an untrimmed run
 * that placed every held call as traced, the reuse shown, with the depot at
 * the CPUs' number; and a map the model took from its tree, its caches
 * empty, that got the trace's IOVA (the kernel's caches missed too, its
 * depot among them). On the whole 6.12 mid-life capture the second comes
 * before the first trim work (7 runs left open without it, none with it).
 *
 * The 6.12 mid-life capture cut at its lines 500,000 and 563,638: the
 * kernel trimmed at 43.1169 s (its depot three magazines, the model's
 * two), and CPU 0, its magazines empty, took the one below at 43.119691 s.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { HeldChoice } from "./held-choice.ts";
import { type OpLog, opsAfter, type ReplayOp } from "./late-queue.ts";
import { placeholderMagazine } from "./start-state.ts";

/** A held choice: the state after the untrimmed work, its size class, the calls since. */
export class DepotTrimWatch extends HeldChoice {
  readonly c: number;
  /** The depot's magazines when the work ran: at the CPUs' number, an untrimmed run kept proves nothing under them. */
  readonly depotLength: number;
  /** The DMA addresses of the top magazine (trimmed or not) and of the one below it. */
  private readonly top = new Set<number>();
  private readonly below = new Set<number>();
  private reused = false;

  constructor(state: unknown, base: OpLog | null, c: number, iovad: IovaDomain) {
    super(state, base);
    this.c = c;
    const depot = iovad.rcaches[c].depot;
    this.depotLength = depot.length;
    const g = iovad.granule;
    const add = (m: Magazine | undefined, into: Set<number>) => {
      if (m) for (let k = 0; k < m.size; k++) into.add(m.pfns[k] * g);
    };
    add(depot.at(-1), this.top);
    add(depot.at(-2), this.below);
  }

  override leavesOpen(addr: number): boolean {
    return this.top.has(addr) || this.below.has(addr);
  }

  protected saw(c: DmaCall): void {
    if (c.kind === "map" && (this.top.has(c.iova) || this.below.has(c.iova))) this.reused = true;
  }

  /** Whether an IOVA of either magazine was mapped again while the choice was open. */
  get shown(): boolean {
    return this.reused;
  }

  /** Decided once an IOVA of either magazine is mapped again: popped from the depot, or from the tree after a trim. */
  protected decided(): boolean {
    return this.reused;
  }

  /** The operations since `base`, oldest first, after the trim. Null when `head` does not descend from `base`. */
  turned(head: OpLog | null): ReplayOp[] | null {
    return opsAfter({ k: "trimUnseen", c: this.c }, head, this.base);
  }
}

/**
 * The trim the kernel made with magazines from before the trace under its
 * depot: placeholder magazines (`place` gives each placeholder's pfn, below
 * the replay's placeholder bound) put under size class `c`'s depot until it
 * holds one more magazine than the CPUs, then the trim work run.
 */
export function trimUnseen(iovad: IovaDomain, c: number, place: (pages: number) => number): void {
  const depot = iovad.rcaches[c].depot;
  while (depot.length <= iovad.cpus) depot.unshift(placeholderMagazine(iovad, c, place));
  iovad.runDepotWork(c);
}
