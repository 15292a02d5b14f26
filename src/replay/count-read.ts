/**
 * An unmap traced next to another CPU's ring-full unmap: did its entry read
 * `fq_flush_start_cnt` before that CPU's flush raised it, or after? Decided
 * by the later calls' IOVAs.
 *
 * `queue_iova()` (drivers/iommu/dma-iommu.c, 6.1 and 6.12 alike) reads the
 * start count into the new entry after the `unmap` event; a CPU whose queue
 * is full raises the count in `fq_flush_iotlb()`, also after its event. The
 * text's timestamps have a microsecond's resolution, and the two gaps from
 * event to count are of the same few hundred nanoseconds, so an unmap traced
 * in the same microsecond reads the old count by default (`apply.ts`, 6.1
 * mid-life line 129249) but may have read the new one (line 227306,
 * b93d4000, the same microsecond as CPU 0's flushing unmap at line 227305:
 * CPU 1's next ring free stops at it), and one two microseconds later reads
 * the new one (line 129250); one traced a microsecond later may have read
 * either (6.1 mid-life line 133960,
 * bfdf7000, a microsecond after CPU 1's flushing unmap at line 133959: CPU 0
 * frees it at its next ring free and maps it at line 134098; reading the old
 * count everywhere loses more than it gains).
 *
 * The other side too: an unmap traced before the flushing one, by a CPU whose
 * next call the trace shows after it, may have stalled between its event and
 * its count read, and read the count the flush raised (6.1 mid-life line
 * 177697, baff3000, 3 us before CPU 1's flushing unmap at line 177700, its
 * CPU's next call 9 us later where its unmaps are 3 us apart: CPU 0's ring
 * free frees its queue up to the entry before it, and the next timer flush
 * frees baff3000). That choice is left open at every ring-full unmap whose
 * other CPU's last call was an unmap still queued (64 in that trace), and
 * gives way (as the same microsecond's does) to the choices the kernel's
 * own overlapping flushes leave: the
 * depot order (`depot-order.ts`), a count read after the flush, and a timer
 * flush's phases, before which it is made with the calls seen so far.
 *
 * So, as for a late queue (`late-queue.ts`), the replay takes the count its
 * timing gives, logs what it does to the model from the
 * state before the unmap (the flushing one, for the before side), and holds
 * the calls' results; when the trace maps that IOVA again, or the model does
 * (for the before side: its ring free freed the entry, which tells as much),
 * or after `WATCH_CALLS` calls, or at the end, the log is run again with the
 * other reading, and the run that places more of the trace's IOVAs is kept,
 * the first on a tie.
 */

import type { DmaCall } from "../trace/reconstruct.ts";
import { HeldChoice } from "./held-choice.ts";
import { type OpLog, opsSince, type ReplayOp } from "./late-queue.ts";

/** A held choice: the state before the unmap, the unmap, the calls since. */
export class CountReadWatch extends HeldChoice {
  /** The unmap whose replay the choice turns (the first operation since `base`). */
  private readonly turn: DmaCall;
  /** The unmap whose entry's count is in question: `turn` itself, or (`newCountOf` >= 0) the other CPU's before it. */
  private readonly unmap: DmaCall;
  /** -1: `turn` reads the old count when turned; else the CPU whose last entry reads the flush's new count. */
  readonly newCountOf: number;
  private reused = false;

  /** The flushing unmap's trace timestamp, ns. */
  private readonly flushNs: number;

  constructor(
    state: unknown,
    base: OpLog | null,
    turn: DmaCall,
    flushNs: number,
    unmap: DmaCall = turn,
    newCountOf = -1,
  ) {
    super(state, base);
    this.flushNs = flushNs;
    this.turn = turn;
    this.unmap = unmap;
    this.newCountOf = newCountOf;
  }

  /**
   * Whether this choice gives way to the ones the kernel's overlapping
   * flushes leave (made early, with the calls seen so far, when one comes):
   * the before side and the same microsecond, both added after the others.
   */
  get yields(): boolean {
    return this.newCountOf >= 0 || this.turn.timestampNs - this.flushNs < 1_000;
  }

  protected saw(c: DmaCall, o: unknown): void {
    const u = this.unmap;
    if (c.kind !== "map") return;
    if (c.iova < u.iova + u.sizeBytes && c.iova + c.sizeBytes > u.iova) this.reused = true;
    // The entry read the old count as replayed: the model hands it out once a ring free of its CPU has freed it,
    // which tells as much as the trace's reuse.
    else if (this.newCountOf >= 0 && (o as { addr?: number | null }).addr === u.iova) this.reused = true;
  }

  protected decided(): boolean {
    return this.reused;
  }

  override leavesOpen(addr: number): boolean {
    return addr >= this.unmap.iova && addr < this.unmap.iova + this.unmap.sizeBytes;
  }

  /** The operations since `base`, oldest first, the count read the other way. Null when `head` does not descend from `base`. */
  turned(head: OpLog | null): ReplayOp[] | null {
    const ops = opsSince(head, this.base);
    if (ops === null) return null;
    ops.reverse();
    const first = ops[0];
    if (first?.k !== "apply" || first.c !== this.turn) return null;
    // Turned: the before side reads the count the flush raised; after it, the same microsecond (read as the old
    // count by the rule) the new one, a later microsecond the old one.
    ops[0] =
      this.newCountOf >= 0
        ? { ...first, newCountOf: this.newCountOf }
        : { ...first, oldCount: this.turn.timestampNs - this.flushNs >= 1_000 };
    return ops;
  }
}
