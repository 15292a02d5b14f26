/**
 * An unmap traced just before a flush whose `queue_iova()` may have run
 * after the flush began: decided by the later calls' IOVAs.
 *
 * `queue_iova()` (drivers/iommu/dma-iommu.c, 6.1 and 6.12 alike) runs after
 * the `unmap` event on the same CPU: under the CPU's queue lock it frees what
 * finished flushes cover, reads `fq_flush_start_cnt` into the new entry,
 * unlocks, and only then tests `fq_timer_on` and may arm the timer.
 * `fq_flush_timeout()` clears `fq_timer_on`, raises the start count, flushes
 * the IOTLB, raises the finish count and drains each CPU's queue under its
 * lock. A CPU that stalls after tracing its unmap (a vCPU the host did not
 * run: the captures show one CPU silent for milliseconds inside an
 * interrupt handler) can therefore queue its IOVA before the other CPU's
 * flush began, and the flush frees it into the flushing CPU's rcache, or
 * after, with the new count, and the IOVA waits for the next flush. A
 * `timer_start` after the flush from that CPU shows only that its test of
 * `fq_timer_on` came after the flush cleared it; its read of the count may
 * still have come before (6.1 mid-life trace lines 6382-6391: the IOVA is
 * reused by its own CPU at line 6391, freed by that CPU's next
 * `queue_iova()` under the old count). Neither the trace's order nor its
 * timestamps say which: the IOVA's own reuse does, often many flushes later
 * (6.1 timer trace lines 87998-88692).
 *
 * So the replay goes on with the placement the flush's trials chose and
 * keeps, from the state before the flush, a log of everything it does to
 * the model (`ReplayOp`, a persistent list whose head every checkpoint
 * carries, so a restored checkpoint takes its own history back). The calls'
 * results are held meanwhile. When the trace maps that IOVA again (or after
 * `WATCH_CALLS` calls, or at the end), the log is run again from the state
 * before the flush with the other choice; the run that places more of the
 * trace's IOVAs is kept, the first on a tie. Only the model decides every
 * IOVA; the trace's IOVAs only choose between the two kernel orders.
 */

import type { DmaCall } from "../trace/reconstruct.ts";
import type { DepotTurn } from "./apply.ts";
import { HeldChoice } from "./held-choice.ts";
import type { LostAtFlush } from "./lost-unmaps.ts";

/** One thing the replay did to the model, as a re-run repeats it. */
export type ReplayOp =
  | {
      k: "apply";
      c: DmaCall;
      atNs: number;
      describe: boolean;
      wantState: boolean;
      adopt: boolean;
      adoptUnknown: boolean;
      /** A map that may have allocated before the flush traced just before it on its CPU (`swapped-prev.ts`). */
      afterFlush?: boolean;
      ok: boolean;
      /** The unmap's entry reads the start count from before another CPU's flush (`count-read.ts`). */
      oldCount?: boolean;
      /** Its ring-full flush raised the start count before this CPU's last entry read it (`count-read.ts`). */
      newCountOf?: number;
    }
  | { k: "clock"; atNs: number }
  | { k: "begin"; lost: LostAtFlush }
  | { k: "iotlb" }
  | { k: "drain"; ring: number; cpu: number }
  | { k: "expire"; cpu: number }
  | { k: "late"; cpu: number }
  | { k: "depot"; c: number }
  | { k: "turnDepot"; turns: readonly DepotTurn[] }
  /** The depot trim a mid-life trace's magazines from before it made (`depot-unseen.ts`). */
  | { k: "trimUnseen"; c: number };

/** A persistent list of operations, newest first. */
export interface OpLog {
  readonly op: ReplayOp;
  readonly prev: OpLog | null;
}

/** The operations logged after `base` up to `head`, newest first; null when `head` does not descend from `base`. */
export function opsSince(head: OpLog | null, base: OpLog | null): ReplayOp[] | null {
  const ops: ReplayOp[] = [];
  for (let n = head; n !== base; n = n.prev) {
    if (n === null) return null;
    ops.push(n.op);
  }
  return ops;
}

/** `first`, then the operations logged after `base` up to `head`, oldest first; null when `head` does not descend from `base`. */
export function opsAfter(first: ReplayOp, head: OpLog | null, base: OpLog | null): ReplayOp[] | null {
  const ops = opsSince(head, base);
  if (ops === null) return null;
  ops.push(first);
  return ops.reverse();
}

/** A held choice: the state before the flush, the unmap in question, the calls since. */
export class LateQueueWatch extends HeldChoice {
  /** The CPU of the unmap, and whether the replay queued it late. */
  readonly cpu: number;
  readonly late: boolean;
  /** The unmapped IOVA, in the trace's addresses. */
  private readonly lo: number;
  private readonly hi: number;
  /** The trace has mapped the IOVA again. */
  private reused = false;

  constructor(state: unknown, base: OpLog | null, unmap: DmaCall, cpu: number, late: boolean) {
    super(state, base);
    this.cpu = cpu;
    this.late = late;
    this.lo = unmap.iova;
    this.hi = unmap.iova + unmap.sizeBytes;
  }

  protected saw(c: DmaCall): void {
    if (c.kind === "map" && c.iova < this.hi && c.iova + c.sizeBytes > this.lo) this.reused = true;
  }

  override leavesOpen(addr: number): boolean {
    return addr >= this.lo && addr < this.hi;
  }

  protected decided(): boolean {
    return this.reused;
  }

  /**
   * The operations since `base`, oldest first, with the choice turned: the
   * unmap queued late after the flush's first `begin`, or its `late`
   * removed. Null when `head` does not descend from `base`.
   */
  turned(head: OpLog | null): ReplayOp[] | null {
    const ops = opsSince(head, this.base);
    if (ops === null) return null;
    ops.reverse();
    const b = ops.findIndex((op) => op.k === "begin");
    if (b < 0) return null;
    if (!this.late) {
      ops.splice(b + 1, 0, { k: "late", cpu: this.cpu });
      return ops;
    }
    // The late marks follow the flush's begin before any call.
    for (let i = b + 1; i < ops.length && ops[i].k === "late"; i++) {
      const op = ops[i];
      if (op.k === "late" && op.cpu === this.cpu) {
        ops.splice(i, 1);
        return ops;
      }
    }
    return null;
  }
}

/** Allocations placed unlike the trace among `ops`. */
export function missesOf(ops: readonly ReplayOp[]): number {
  let n = 0;
  for (const op of ops) if (op.k === "apply" && !op.ok) n++;
  return n;
}
