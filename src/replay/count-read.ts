/**
 * An unmap traced the microsecond after another CPU's ring-full unmap: did
 * its entry read `fq_flush_start_cnt` before that CPU's flush raised it?
 * Decided by the later calls' IOVAs.
 *
 * `queue_iova()` (drivers/iommu/dma-iommu.c, 6.1 and 6.12 alike) reads the
 * start count into the new entry after the `unmap` event; a CPU whose queue
 * is full raises the count in `fq_flush_iotlb()`, also after its event. The
 * text's timestamps have a microsecond's resolution, and the two gaps from
 * event to count are of the same few hundred nanoseconds, so an unmap traced
 * in the same microsecond reads the old count (`apply.ts`, 6.1 mid-life line
 * 129249) and one two microseconds later the new one (line 129250); one
 * traced a microsecond later may have read either (6.1 mid-life line 133960,
 * bfdf7000, a microsecond after CPU 1's flushing unmap at line 133959: CPU 0
 * frees it at its next ring free and maps it at line 134098; reading the old
 * count everywhere loses more than it gains).
 *
 * So, as for a late queue (`late-queue.ts`), the replay takes the new count,
 * logs what it does to the model from the state before the unmap, and holds
 * the calls' results; when the trace maps that IOVA again (or after
 * `WATCH_CALLS` calls, or at the end) the log is run again with the old
 * count, and the run that places more of the trace's IOVAs is kept, the
 * first on a tie.
 */

import type { DmaCall } from "../trace/reconstruct.ts";
import { type OpLog, opsSince, type ReplayOp, WATCH_CALLS } from "./late-queue.ts";

/** A held choice: the state before the unmap, the unmap, the calls since. */
export class CountReadWatch {
  readonly state: unknown;
  /** The log's head in `state`. */
  readonly base: OpLog | null;
  private readonly unmap: DmaCall;
  /** Results counted once the choice is made, in order. */
  readonly held: { c: DmaCall; o: unknown }[] = [];
  private reused = false;

  constructor(state: unknown, base: OpLog | null, unmap: DmaCall) {
    this.state = state;
    this.base = base;
    this.unmap = unmap;
  }

  hold(c: DmaCall, o: unknown): void {
    this.held.push({ c, o });
    const u = this.unmap;
    if (c.kind === "map" && c.iova < u.iova + u.sizeBytes && c.iova + c.sizeBytes > u.iova) this.reused = true;
  }

  /** Whether the choice is due (the IOVA reused, or the calls too many to hold). */
  get due(): boolean {
    return this.reused || this.held.length >= WATCH_CALLS;
  }

  /** The operations since `base`, oldest first, the unmap's reading the old count. Null when `head` does not descend from `base`. */
  turned(head: OpLog | null): ReplayOp[] | null {
    const ops = opsSince(head, this.base);
    if (ops === null) return null;
    ops.reverse();
    const first = ops[0];
    if (first?.k !== "apply" || first.c !== this.unmap) return null;
    ops[0] = { ...first, oldCount: true };
    return ops;
  }
}
