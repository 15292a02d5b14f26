/**
 * The flush-queue entries queued before a mid-life trace began (Linux 6.1
 * and 6.12 alike, DMA-4.4/4.5): IOVAs unmapped before the trace wait in
 * each CPU's ring and reach an rcache at the first `fq_ring_free()` of
 * that ring after a flush finished (an unmap of that CPU or the timer's
 * drain of every ring), unseen by the trace. Until every ring has had one,
 * an IOVA the trace frees may get such IOVAs on top of it in a magazine
 * (the timer drains the rings in CPU order into one CPU's rcache), so no
 * rule may take it for the last IOVA its CPU freed. This records which
 * rings may still hold them and the IOVAs freed meanwhile.
 *
 * Replay-only: it watches the model's flush queue, as `apply.ts` drives it.
 */

import { CheckpointPfns } from "./checkpoint-pfns.ts";

export interface PreTraceQueueState {
  drained: Uint8Array;
  all: boolean;
  early: Set<number>;
}

export class PreTraceQueue {
  /** Per CPU: its ring has been freed since a flush finished. */
  private drained = new Uint8Array(0);
  private all = false;
  /** pfns freed while some ring was not drained, and not freed again since. */
  private readonly early = new CheckpointPfns();

  /** An unmap on `cpu` frees `pfn` (a queue with `finish` finished flushes, `cpus` rings; null: no queue). */
  unmap(cpus: number, cpu: number, pfn: number, finish: number | null): void {
    if (finish === null) return;
    // `queue_iova()` frees its ring's flushed entries first.
    this.ring(cpus, cpu, finish);
    if (this.all) this.early.delete(pfn);
    else this.early.add(pfn);
  }

  /** `cpu`'s ring has been freed, with `finish` finished flushes. */
  ring(cpus: number, cpu: number, finish: number): void {
    if (this.all || finish < 1) return;
    if (this.drained.length !== cpus) this.drained = new Uint8Array(cpus);
    this.drained[cpu] = 1;
    this.all = this.drained.every((d) => d === 1);
  }

  /**
   * 1 for each of `cpus` rings not freed since a flush finished (that may
   * still hold entries from before the trace); null once every ring has been.
   */
  undrained(cpus: number): Uint8Array | null {
    if (this.all) return null;
    const out = new Uint8Array(cpus).fill(1);
    if (this.drained.length === cpus) for (let r = 0; r < cpus; r++) out[r] = 1 - this.drained[r];
    return out;
  }

  /** Whether `pfn` was freed once no ring held entries queued before the trace (or with no queue at all). */
  freedSince(pfn: number): boolean {
    return !this.early.has(pfn);
  }

  save(): PreTraceQueueState {
    return { drained: this.drained.slice(), all: this.all, early: this.early.save() };
  }

  restore(s: PreTraceQueueState): void {
    this.drained = s.drained.slice();
    this.all = s.all;
    this.early.restore(s.early);
  }
}
