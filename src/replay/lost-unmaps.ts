/**
 * Unmaps the trace lost, queued where the kernel most likely made them.
 *
 * `trace-cmd record` without `--no-filter` drops every event of its own
 * threads, and so of the interrupts that stop them: an NVMe completion
 * interrupt's unmaps, often dozens at once (6.1 mid-life lines 16338-16369:
 * 32 unmaps on CPU 0 while a reader ran there), and the flush-queue
 * softirq on the way out of it. The reconstruction knows which mappings
 * lost their unmaps when the trace maps their ranges again within its
 * look-ahead (`DmaCall.unmapLost`); where each unmap ran it cannot know.
 *
 * The device completes a queue's requests about in the order they were
 * submitted, and the interrupt runs on the CPU that submitted them (that
 * burst unmaps CPU 0's maps of lines 16274-16337, in their order). So a
 * lost unmap is made on the CPU that mapped it, before the traced unmap
 * there of any later mapping, and before the next flush at the latest
 * (most I/Os complete well within a flush period). Allocation numbers
 * count maps in trace order, so "later" is a larger number.
 *
 * Model state (the replay's checkpoints carry it), so a replayed segment
 * queues the same unmaps at the same places.
 */

/** A lost unmap still to be queued: the allocation and the CPU that mapped it. */
export interface LostUnmap {
  allocation: number;
  cpu: number;
}

export type LostUnmapsState = readonly LostUnmap[];

export class LostUnmaps {
  /** Waiting, ascending in allocation number. */
  private waiting: LostUnmap[] = [];
  /** Queues one lost unmap on the model; false when the model does not hold that allocation. */
  private readonly unmap: (allocation: number, cpu: number) => boolean;

  constructor(unmap: (allocation: number, cpu: number) => boolean) {
    this.unmap = unmap;
  }

  get size(): number {
    return this.waiting.length;
  }

  /** Allocation `allocation`, mapped on `cpu`, will be unmapped without a trace line. */
  add(allocation: number, cpu: number): void {
    const w = this.waiting;
    for (let k = 0; k < w.length; k++) if (w[k].allocation === allocation) return;
    let i = w.length;
    while (i > 0 && w[i - 1].allocation > allocation) i--;
    w.splice(i, 0, { allocation, cpu });
  }

  /** Before the traced unmap of allocation `allocation` on `cpu`: that CPU's lost unmaps of earlier maps. */
  before(cpu: number, allocation: number): void {
    const w = this.waiting;
    let kept = 0;
    for (let i = 0; i < w.length; i++) {
      const u = w[i];
      if (u.cpu === cpu && u.allocation < allocation) this.unmap(u.allocation, u.cpu);
      else w[kept++] = u;
    }
    w.length = kept;
  }

  /** Before a flush begins: every lost unmap still waiting. */
  all(): void {
    const w = this.waiting;
    if (w.length === 0) return;
    this.waiting = [];
    for (const u of w) this.unmap(u.allocation, u.cpu);
  }

  save(): LostUnmapsState {
    return this.waiting.length === 0 ? NONE : this.waiting.slice();
  }

  restore(s: LostUnmapsState): void {
    this.waiting = s.length === 0 ? [] : s.slice();
  }
}

const NONE: LostUnmapsState = [];
