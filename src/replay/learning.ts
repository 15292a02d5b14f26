/**
 * The learning phase of a replay of a trace that starts mid-life (Linux
 * 6.1 and 6.12 alike): the kernel's allocator was already in use when
 * tracing began, so each CPU's rcache magazines and the depot hold IOVAs the
 * trace never shows being freed. Nothing in the trace proves what they held;
 * the first allocations show it. While the phase lasts, an allocation the
 * model places elsewhere than the trace adopts the trace's IOVA (the
 * replay-only operations of `follow.ts`, as `resync.ts` does), and every
 * allocation of the phase is counted as learned, not as matched.
 *
 * A trace starts mid-life when its domain's first allocation is not where
 * a fresh domain puts its first one while that IOVA is free in the model
 * (only an allocator used before the trace explains it), or when it unmaps
 * mappings it never made (a cut whose first allocation lands where a fresh
 * domain's would). The phase ends by a
 * rule that never looks at whether the model agrees with the trace: once
 * every CPU has made `TURNOVER` times as many allocations as its loaded and
 * previous magazines hold (2 x IOVA_MAG_SIZE): by then what its own pair held
 * at the start has turned over; and after a tenth of the trace's
 * allocations in any case (`LEARNING_SHARE`).
 * The fill levels the start state gives (`start-state.ts`) are found by
 * replaying the same phase (`start-search.ts`), and `agreed` is what that
 * search scores.
 */

/** How many times its two magazines' capacity every CPU allocates before the phase ends. */
export const TURNOVER = 1;
/** The largest share of the trace's allocations the phase covers. */
export const LEARNING_SHARE = 0.1;

/** The phase's cap for a trace of `allocations` allocations of the replayed domain. */
export function learningCap(allocations: number): number {
  return Math.floor(allocations * LEARNING_SHARE);
}

/**
 * Whether a phase replayed before the trace's length was known (no cap)
 * gave what the cap of a trace of `traceAllocations` allocations gives: it
 * ended by its own rule having counted `learned` allocations, at most the
 * cap, or it ran on with no more than that. The phase counts one allocation
 * between two of its `next` tests, so the cap ends it no earlier. A trace of
 * no allocations has no cap (`ReplayOptions.traceAllocations`).
 */
export function capAgrees(traceAllocations: number, learned: number): boolean {
  return traceAllocations === 0 || learningCap(traceAllocations) >= learned;
}

export interface LearningStats {
  /** The trace started mid-life (its first allocation proves an allocator used before it). */
  midLife: boolean;
  /** Allocations of the phase (adopted from the trace, not counted as matched). */
  allocations: number;
  /** Of those, the ones the model placed elsewhere and that took the trace's IOVA. */
  adopted: number;
  /**
   * Of those, the ones the model placed as the trace did, or where the kernel
   * handed out an IOVA cached before the trace while the model's cache was
   * not empty (a placeholder) or missed for it alike (the start-state search's score).
   */
  agreed: number;
  /** Trace time from the first allocation to the first one after the phase, ns (0: no phase). */
  durationNs: number;
  /** The line of the first allocation after the phase (0: none). */
  endLine: number;
}

export class LearningPhase {
  readonly stats: LearningStats = { midLife: false, allocations: 0, adopted: 0, agreed: 0, durationNs: 0, endLine: 0 };
  /** Allocations made on each CPU during the phase. */
  private readonly perCpu: Int32Array;
  private readonly perCpuTarget: number;
  /** The phase's largest number of allocations (`learningCap`). */
  private readonly cap: number;
  private firstNs = -1;
  /** 0: before the first allocation; 1: learning; 2: over (or never started). */
  private phase = 0;

  /**
   * `cpus` of the machine; `magazineSize` IOVA_MAG_SIZE of the kernel
   * profile; `cap` the most allocations the phase may cover (`learningCap`
   * of the trace's allocations; unbounded when the trace's length is unknown).
   */
  constructor(cpus: number, magazineSize: number, cap = Number.POSITIVE_INFINITY) {
    this.perCpu = new Int32Array(cpus);
    this.perCpuTarget = TURNOVER * 2 * magazineSize;
    this.cap = cap;
  }

  /** Whether the next allocation is to adopt the trace's IOVA (the first one tentatively). */
  get adopting(): boolean {
    return this.phase < 2;
  }

  /** Before the first allocation: whether the trace starts mid-life is still open. */
  get undecided(): boolean {
    return this.phase === 0;
  }

  /** Whether allocations now count as learned. */
  get learning(): boolean {
    return this.phase === 1;
  }

  /**
   * The first allocation's outcome: `matched` the model's fresh domain gave
   * the trace's IOVA; `freeInModel` the trace's IOVA was free in the model;
   * `proven` the trace shows mappings live before it began
   * (`live-at-start.ts`), whatever its first allocation looks like. Returns
   * whether it belongs to the phase.
   */
  first(matched: boolean, freeInModel: boolean, timestampNs: number, proven = false): boolean {
    if (this.phase !== 0) return this.phase === 1;
    this.phase = proven || (!matched && freeInModel) ? 1 : 2;
    this.stats.midLife = this.phase === 1;
    this.firstNs = timestampNs;
    return this.phase === 1;
  }

  /** Counts an allocation of the phase on `cpu`; `adopted` it took the trace's IOVA; `agreed` see `LearningStats`. */
  count(cpu: number, adopted: boolean, agreed: boolean): void {
    this.stats.allocations++;
    if (adopted) this.stats.adopted++;
    if (agreed) this.stats.agreed++;
    this.perCpu[cpu % this.perCpu.length]++;
  }

  /**
   * Whether the phase's rule, read from the allocations counted so far, ends it before the next allocation:
   * the replay applies that allocation as one after the phase, as `next` will count it.
   */
  get ending(): boolean {
    if (this.phase !== 1) return false;
    if (this.stats.allocations >= this.cap) return true;
    if (this.stats.allocations === 0) return false;
    // The CPUs that have allocated so far: a CPU of the machine the trace never uses holds nothing up.
    for (let c = 0; c < this.perCpu.length; c++)
      if (this.perCpu[c] > 0 && this.perCpu[c] < this.perCpuTarget) return false;
    return true;
  }

  /** Called before each allocation after the first is counted: ends the phase when its rule says so. */
  next(line: number, timestampNs: number): void {
    if (!this.ending) return;
    this.phase = 2;
    this.stats.endLine = line;
    this.stats.durationNs = timestampNs - this.firstNs;
  }

  /** At the end of the trace: a phase still running covers the whole trace. */
  end(lastNs: number): void {
    if (this.phase === 1) this.stats.durationNs = lastNs - this.firstNs;
    if (this.phase === 0) this.phase = 2;
  }
}
