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
 * there of any later mapping (allocation numbers count maps in trace
 * order, so "later" is a larger number), or of any mapping traced after
 * the time the unmap most likely ran (`DmaCall.lostAtNs`: its CPU's median
 * request time after its map, within what that order allows). A flush
 * frees it if it began after that time; else it waits for the next flush
 * or such a traced unmap (6.12 mid-life line 353182: a flush 0.66 ms after
 * the map of 0xbe211000, whose interrupt came after it). In a CPU's map
 * order, one done by then means every earlier one was; and a reuse right
 * after a flush the trace lost as well shows it freed that one
 * (`shownBefore`).
 *
 * The ranges they free are noted until a map takes them: their order among
 * themselves is the model's guess, which a map that takes one shows
 * (`swapToTop`).
 *
 * Model state (the replay's checkpoints carry it), so a replayed segment
 * queues the same unmaps at the same places.
 */

/** A lost unmap still to be queued: the allocation, the CPU that mapped it, and the trace time it most likely ran (-1: none known). */
export interface LostUnmap {
  allocation: number;
  cpu: number;
  atNs: number;
}

export interface LostUnmapsState {
  waiting: readonly LostUnmap[];
  placed: readonly number[];
}

/**
 * Which lost unmaps still waiting a flush frees: those that most likely ran
 * before it began (`beforeFlush`), or all or none of them, where the calls
 * after the flush show it (`TimerFlushes.lostTrials`).
 */
export type LostAtFlush = "likely" | "all" | "none";

export class LostUnmaps {
  /** Waiting, ascending in allocation number. */
  private waiting: LostUnmap[] = [];
  /** `beforeFlush`'s scratch: per CPU, the last allocation whose unmap most likely ran by then. */
  private readonly due: number[] = [];
  /**
   * The first pfns of the ranges lost unmaps freed that no map has taken
   * since: where the model guessed their order, a map may show another
   * (`swapToTop`).
   */
  private placedPfns = new Set<number>();
  /** Queues one lost unmap on the model; false when the model does not hold that allocation. */
  private readonly unmap: (allocation: number, cpu: number) => boolean;

  constructor(unmap: (allocation: number, cpu: number) => boolean) {
    this.unmap = unmap;
  }

  get size(): number {
    return this.waiting.length;
  }

  /**
   * Allocation `allocation`, mapped on `cpu`, lost its unmap before the
   * flush about to run, as its reuse right after shows (`lostBefore`):
   * so did every earlier one of that CPU's waiting, whatever their likely
   * times (6.1 mid-life lines 15168-15204: 32 unmaps, the flush the trace
   * lost with them, then their ranges taken back last freed first).
   */
  shownBefore(allocation: number, cpu: number): void {
    this.add(allocation, cpu);
    // New records: a checkpoint's copy of the list shares the old ones.
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) {
      const u = w[i];
      if (u.cpu === cpu && u.allocation <= allocation && u.atNs >= 0)
        w[i] = { allocation: u.allocation, cpu, atNs: -1 };
    }
  }

  /** Whether allocation `allocation`'s lost unmap waits to be queued. */
  waits(allocation: number): boolean {
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) if (w[i].allocation === allocation) return true;
    return false;
  }

  /** Allocation `allocation`, mapped on `cpu`, will be unmapped without a trace line, most likely at trace time `atNs`. */
  add(allocation: number, cpu: number, atNs = -1): void {
    const w = this.waiting;
    for (let k = 0; k < w.length; k++) if (w[k].allocation === allocation) return;
    let i = w.length;
    while (i > 0 && w[i - 1].allocation > allocation) i--;
    w.splice(i, 0, { allocation, cpu, atNs });
  }

  /**
   * Before the traced unmap of allocation `allocation` on `cpu` at trace
   * time `atNs`: that CPU's lost unmaps of earlier maps, and those that
   * most likely ran before it (a request mapped earlier may complete after
   * one mapped later: 6.12 lazy-timers lines 154622-154668, two 64 KiB reads,
   * the second's unmap lost before the first's traced one).
   */
  before(cpu: number, allocation: number, atNs = -1): void {
    const w = this.waiting;
    let kept = 0;
    for (let i = 0; i < w.length; i++) {
      const u = w[i];
      if (u.cpu === cpu && (u.allocation < allocation || (u.atNs >= 0 && u.atNs <= atNs)))
        this.unmap(u.allocation, u.cpu);
      else w[kept++] = u;
    }
    w.length = kept;
  }

  /** Before a flush begins at trace time `atNs`: the lost unmaps still waiting that `which` says it frees. */
  beforeFlush(atNs: number, which: LostAtFlush): void {
    const w = this.waiting;
    if (w.length === 0 || which === "none") return;
    if (which === "all") atNs = Number.POSITIVE_INFINITY;
    // In a CPU's map order: the unmap of a later map done by then means every earlier one's was.
    const last = this.due;
    last.length = 0;
    for (let i = 0; i < w.length; i++) if (w[i].atNs <= atNs) last[w[i].cpu] = w[i].allocation;
    if (last.length === 0) return;
    let kept = 0;
    for (let i = 0; i < w.length; i++) {
      const u = w[i];
      const through = last[u.cpu];
      if (through !== undefined && u.allocation <= through) this.unmap(u.allocation, u.cpu);
      else w[kept++] = u;
    }
    w.length = kept;
  }

  /** A lost unmap freed the range at `pfn`. */
  placed(pfn: number): void {
    this.placedPfns.add(pfn);
  }

  /** Whether the range at `pfn` is one a lost unmap freed, untaken since. */
  isPlaced(pfn: number): boolean {
    return this.placedPfns.has(pfn);
  }

  /** A map took the range at `pfn`. */
  taken(pfn: number): void {
    if (this.placedPfns.size > 0) this.placedPfns.delete(pfn);
  }

  save(): LostUnmapsState {
    if (this.waiting.length === 0 && this.placedPfns.size === 0) return NONE;
    return { waiting: this.waiting.slice(), placed: [...this.placedPfns] };
  }

  restore(s: LostUnmapsState): void {
    this.waiting = s.waiting.length === 0 ? [] : s.waiting.slice();
    this.placedPfns = new Set(s.placed);
  }
}

const NONE: LostUnmapsState = { waiting: [], placed: [] };
