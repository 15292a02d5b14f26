/**
 * Flush placement from the trace's own timer and workqueue events: a lazy
 * trace that records `timer:timer_expire_entry` of `fq_flush_timeout` says
 * where each flush-queue flush ran (the line's position in the trace, its
 * CPU column), and on 6.12 and later `workqueue:workqueue_execute_start` of
 * `iova_depot_work_func` says where each depot trim ran. The replay then
 * runs the model's flush queue and depot work exactly there (the timer
 * policy "external", `dma/fq-timer-policy.ts`) instead of inferring them.
 *
 * The events come from the reader before the reconstruction has released
 * the calls around them, so they wait here until a call with a later line
 * is replayed (`runBefore`).
 *
 * Each lazy domain has its own timer and work items. The replayed domain's
 * timer is the one the trace's facts show its devices' unmaps arming
 * (`timerOwners`), else the first armed right after one of its unmaps or
 * the first to expire; never one that other domains' unmaps armed. A work
 * item names no domain: it is bound by which size class's trim is due.
 *
 * An unmap on the flushing CPU between `timer_expire_entry` and its
 * `timer_expire_exit` is an interrupt inside `fq_flush_timeout()`. That
 * callback clears `fq_timer_on`, runs `fq_flush_iotlb()` (start count up,
 * IOTLB flush, finish count up), then for each CPU in order takes that
 * CPU's queue lock with interrupts off and frees what the flush covered.
 * An interrupt can therefore land before or during `fq_flush_iotlb()` or
 * between two drains, never inside one: one that arrives during a drain
 * waits for its `spin_unlock_irqrestore()`. Its unmap's `queue_iova()` frees
 * its own CPU's queue (into the same rcache, the flushing CPU's) and queues
 * its IOVA with the new start count, so the rest of the flush leaves it.
 * Whether that queue was drained by the interrupt or by the callback's loop
 * changes nothing unless the interrupt came after `fq_flush_iotlb()` and
 * before the drain of a lower-numbered CPU, a window of a few instructions
 * (the loop's first `spin_lock_irqsave()`); before `fq_flush_iotlb()`'s
 * first increment the window is smaller still (one `atomic_set()`). So the
 * replay runs the whole flush at `timer_expire_entry` and the interrupt's
 * unmaps after it ("after-drains"); `flushAt` keeps the two other places
 * for measuring what the choice changes.
 */

import type { FlushQueue } from "../dma/flush-queue.ts";
import { external, type FqTimerPolicy } from "../dma/fq-timer-policy.ts";
import type { IovaDomain } from "../iova/domain.ts";
import { PfnMap } from "../stdx/pfnmap.ts";
import { DEPOT_WORK_FUNCTION, FQ_TIMER_FUNCTION, type KernelWorkEvent } from "../trace/events.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { nextMagazine, queuedIn } from "./follow.ts";
import { mayInterrupt } from "./irq-reorder.ts";
import type { LostAtFlush } from "./lost-unmaps.ts";

/**
 * Where an interrupt's unmaps on the flushing CPU, traced between
 * `timer_expire_entry` and `timer_expire_exit`, run relative to the flush:
 * after all of it (the replay's choice, see the header), after
 * `fq_flush_iotlb()` but before the drains, or before all of it.
 */
export type IrqInFlush = "after-drains" | "before-drains" | "before-flush";

/** What placing flushes from the timer events did. */
export interface TimerFlushStats {
  /** Flush-queue timer expiries run (`timer_expire_entry` of `fq_flush_timeout`). */
  expiries: number;
  /** Of these, on another CPU than the base the model's timer policy chose when the timer was armed. */
  otherCpu: number;
  /** Of these, with no timer armed in the model. */
  unarmed: number;
  /**
   * The trace's first expiry of the timer came before any `timer_start` of
   * it: the timer was armed before the trace began, by an unmap queued since
   * the last flush began (DMA-4.4 step 5), which a flush-queue ring still held.
   */
  armedBeforeTrace: boolean;
  /**
   * `timer_start`s of the flush-queue timer after another with no expiry
   * between, past that one's `expires=`: the kernel arms the timer only while
   * it is not armed (DMA-4.4 step 5), and its callback clears that first
   * (DMA-4.5), so the trace lost that expiry.
   */
  lostExpiries: number;
  /** Flushes a map made the replay run early (`TimerFlushes.runBefore`) that the trace then showed at their place: the model had erred. */
  earlyFlushesWrong: number;
  /** `timer_start`s of the flush-queue timer, and how many of their `cpu=` the model's policy chose too. */
  starts: number;
  startsOnPolicyCpu: number;
  /** `now=` of each expiry minus `expires=` of its `timer_start`, jiffies: expiries. */
  lateJiffies: Map<number, number>;
  /** Flushes with calls inside whose phases were tried at other places, and those where another place gave more of the trace's IOVAs. */
  phaseTrials: number;
  phaseMoved: number;
  /** Flushes with lost unmaps waiting at their entry whose freeing all or none of them was tried (`lostTrials`), and of them the ones moved. */
  lostTrials: number;
  lostMoved: number;
  /** Flushes with more runs of calls inside than the trials take: only their first runs are tried. */
  phaseSkipped: number;
  /** Unmaps traced before a flush's entry whose `queue_iova()` the trace shows ran after it began. */
  lateQueues: number;
  /** Flushes whose callback began after another CPU's unmaps inside them, as that CPU's `timer_start` shows. */
  beginsByEvidence: number;
  /** Unmaps traced before a flush's entry left open until their IOVA's reuse (`late-queue.ts`), and those replayed the other way. */
  lateWatched: number;
  lateTurned: number;
  /** Overlapping ring-full flushes whose depot order was left open until later IOVAs (`depot-order.ts`), and those turned. */
  depotWatched: number;
  depotTurned: number;
  /** Depot trim work runs of a mid-life trace that left the depot as it was, left open until later IOVAs (`depot-unseen.ts`), and those trimmed. */
  trimWatched: number;
  trimTurned: number;
  /** Unmaps in the microsecond of another CPU's ring-full unmap or the next left open until their IOVA's reuse (`count-read.ts`), and those turned. */
  countWatched: number;
  countTurned: number;
  /** Unmaps just before another CPU's ring-full unmap left open until their IOVA's reuse (`count-read.ts`), and those turned. */
  countBeforeWatched: number;
  countBeforeTurned: number;
  /** Unmaps on the flushing CPU between an expiry's entry and exit (an interrupt inside the flush). */
  irqUnmapsInFlush: number;
  /** Other CPUs' calls between an expiry's entry and exit. */
  otherCpuCallsInFlush: number;
  /** Depot trim work runs (`workqueue_execute_start` of `iova_depot_work_func`). */
  depotWorks: number;
  /** Of these, that returned a magazine to the tree. */
  depotTrims: number;
}

export function emptyTimerFlushStats(): TimerFlushStats {
  return {
    expiries: 0,
    otherCpu: 0,
    unarmed: 0,
    armedBeforeTrace: false,
    lostExpiries: 0,
    earlyFlushesWrong: 0,
    starts: 0,
    startsOnPolicyCpu: 0,
    lateJiffies: new Map(),
    phaseTrials: 0,
    phaseMoved: 0,
    lostTrials: 0,
    lostMoved: 0,
    phaseSkipped: 0,
    lateQueues: 0,
    beginsByEvidence: 0,
    lateWatched: 0,
    lateTurned: 0,
    depotWatched: 0,
    depotTurned: 0,
    trimWatched: 0,
    trimTurned: 0,
    countWatched: 0,
    countTurned: 0,
    countBeforeWatched: 0,
    countBeforeTurned: 0,
    irqUnmapsInFlush: 0,
    otherCpuCallsInFlush: 0,
    depotWorks: 0,
    depotTrims: 0,
  };
}

/** What the replayer lends the timer events. */
export interface TimerFlushHost {
  /** Moves the model's clock to a trace timestamp (shifted as the calls are). */
  advanceTo(traceNs: number): void;
  readonly fq: FlushQueue;
  readonly iovad: IovaDomain;
  /** The CPUs of the model (trace CPUs wrap around). */
  readonly cpus: number;
  /** The kernel's own placement, kept as the base CPU the timer is compared with. */
  readonly innerPolicy: FqTimerPolicy;
  /** The first flush-queue timer event: the replay places flushes from the trace from now on. */
  onFirstTimerEvent(): void;
  /** A copy of the replay's state, taken before each flush (see `flushBefore`). */
  save(): unknown;
  restore(state: unknown): void;
  /**
   * Takes back a state `save` gave that this class will not restore again:
   * the host reuses its buffers for the next one unless something of its own
   * still holds it (a held late-queue choice).
   */
  recycle?(state: unknown): void;
  /** Replays one call; its result, `ok` false for an allocation placed elsewhere than the trace, is counted later by `finalize`. */
  apply(c: DmaCall): { ok: boolean; placeholder?: boolean };
  /** Whether the trace has shown the IOVA at DMA address `addr` (`CallApplier.showed`). */
  showed(addr: number): boolean;
  /** Counts a call's result once no phase choice can change it. */
  finalize(c: DmaCall, outcome: unknown): void;
  /**
   * The last IOVA queued on `cpu` was queued after the flush began (its CPU
   * traced the unmap, then stalled before `queue_iova()`): it waits for the
   * next flush. Not a kernel operation.
   */
  queuedLate(cpu: number): void;
  /** Whether a choice the host holds open (`late-queue.ts` and the like) decides where the IOVA at `iova` went. */
  leftOpen?(iova: number): boolean;
  /** Whether the replay may go back to a held flush's state now: it holds no choice of its own open (`lostBefore`). */
  mayRewind?(): boolean;
  /** Whether the model holds allocation `allocation` mapped. */
  holds?(allocation: number): boolean;
  /** Allocation `allocation`, mapped on `cpu`, lost its unmap: queued with the others waiting (`lost-unmaps.ts`). */
  addLost?(allocation: number, cpu: number): void;
  /** A flush's entry is about to be run (its state saved): the host may settle a held choice first. */
  beforeEntry?(): void;
  /** Whether lost unmaps wait to be queued (`lost-unmaps.ts`). */
  lostWaiting?(): boolean;
  /**
   * 1 for each ring that may still hold entries from before the trace, whose
   * freeing tells the host so (`pre-trace-queue.ts`); null for none.
   */
  ringsUndrained?(): Uint8Array | null;
  /** Whether the lost unmap of allocation `allocation` waits to be queued. */
  lostWaits?(allocation: number): boolean;
  /**
   * The phases of `fq_flush_timeout()` on the model's flush queue
   * (`FlushQueue.expireBegin` and the rest). `lost`: which lost unmaps still
   * waiting it frees.
   */
  expireBegin(lost: LostAtFlush): void;
  expireIotlbDone(): void;
  expireDrain(ring: number, cpu: number): void;
  /** The depot trim work of size class `c` (`IovaDomain.runDepotWork`). */
  runDepotWork(c: number): void;
  /**
   * The flush just settled, begun from `state`, left open whether `unmap`
   * (another CPU's last call before the entry) was queued after it began;
   * `late`: what it was replayed as. Later calls may tell (see `late-queue.ts`).
   */
  undecidedLateQueue(state: unknown, unmap: DmaCall, late: boolean): void;
}

/**
 * The calls traced while a flush ran, and a few after its exit, held until
 * the flush's phases are placed among them (see `TimerFlushes.settle`).
 */
interface PhaseSegment {
  cpu: number;
  /** Which lost unmaps still waiting the flush frees: those that most likely ran before it, unless `lostTrials` chose. */
  lost: LostAtFlush;
  /** Lost unmaps waited at its entry: its calls are held through `LOST_SCORE_CALLS`, and `lostTrials` may choose. */
  lostOpen: boolean;
  /** Other CPUs whose last call before the entry was an unmap: it may have queued after the flush began. */
  late: number[];
  /** Those unmaps, as `late`. */
  lateCalls: DmaCall[];
  /** No trial: a map after it was already replayed before the flush (see `Replayer.allocatedBeforeFlush`). */
  fixed: boolean;
  /** Bits of `late` the trace's `timer_start` points to (see `lateByEvidence`). */
  forced: number;
  /** The held call before which the callback began, as another CPU's `timer_start` inside it shows (see `beginByEvidence`); 0: the default. */
  beginAt: number;
  /** Where the replay ran each phase so far (before call `done[k]`), -1: not yet; as `p` of `settle`. */
  done: number[];
  /** 1 for each ring empty at the entry. */
  emptyAtEntry: Uint8Array;
  /** The host's `ringsUndrained` at the entry. */
  undrainedAtEntry: Uint8Array | null;
  /** The entry's line and timestamp. */
  line: number;
  entryNs: number;
  /** The state just before the flush's entry. */
  state: unknown;
  calls: DmaCall[];
  outcomes: unknown[];
  misses: number;
  /** Calls before the exit, or -1 while the flush runs. */
  exitAt: number;
  /** The calls are held through `PHASE_SCORE_CALLS` after this one too: the last map that placed a lost unmap. */
  holdAfter: number;
}

/**
 * Calls after a flush's exit whose IOVAs score the placement of its phases:
 * far enough for the flushed IOVAs' first reuse (6.1 mid-life: the flush at
 * line 142441 shows in the 34th call after its exit, line 142478).
 */
const PHASE_SCORE_CALLS = 48;
/**
 * Calls held after a flush with lost unmaps waiting (`lostTrials`): where
 * they went shows only when the flushing CPU's magazine is popped down to
 * them, often a hundred calls on (6.1 lazy-timers lines 72611-72758).
 */
const LOST_SCORE_CALLS = 512;
/**
 * How soon after `timer_expire_entry` another CPU's unmap may still have
 * read the start count before the callback raised it, ns: the entry event
 * comes before the callback's first statements (6.1 mid-life line 142442,
 * traced 1 us after the entry at line 142441, is freed by that flush; lines
 * 238103 and 238104, 0 and 1 us after the entry at line 238102, both are).
 * Every such leading unmap of another CPU may come before the begin.
 */
const BEGIN_NS = 2_000;
/** Flushes with more runs of calls inside than this keep the default placement (the trials grow as the cube). */
const PHASE_MAX_RUNS = 8;

/**
 * The last flush, when nothing else has happened since its entry: the
 * state before it, for a map traced right after it that may have allocated
 * before it (see `Replayer.allocatedBeforeFlush`).
 */
export interface CleanFlush {
  cpu: number;
  state: unknown;
  /** Its exit has been seen. */
  closed: boolean;
}

/**
 * Where another CPU's unmap, traced while a flush runs, ran relative to the
 * flush loop's drain of its own queue: before it, so that its
 * `queue_iova()` freed its own queue into its own rcache (the flush's IOTLB
 * flush already counted), or after it (or before the IOTLB flush ended),
 * the flush having drained that queue into the flushing CPU's rcache.
 */
export type OtherCpuInFlush = "own-ring-first" | "loop-first";

/** A flush whose entry has been seen and whose exit has not. */
interface OpenFlush {
  timer: string;
  cpu: number;
  /** `fq_flush_timeout()` has begun (`expireBegin`), and its `fq_flush_iotlb()` is done. */
  begun: boolean;
  started: boolean;
  /** The loop's next queue to drain (queues below it are drained). */
  next: number;
}

/** The replayed domain's flush-queue timer where the trace shows which it is, and other domains' timers. */
export interface TimerOwners {
  own: string | null;
  others: ReadonlySet<string>;
}

/**
 * From the trace's timers by the devices whose unmaps armed them
 * (`TraceFacts.fqTimerDevices`): the one timer armed by the domain's own
 * devices only, and those armed by other devices only. A timer armed by
 * both (evidence that disagrees) is neither; several of the domain's own
 * (a domain rebuilt during the trace) leave the binding to the events.
 */
export function timerOwners(
  byTimer: ReadonlyMap<string, ReadonlySet<string>> | undefined,
  devices: readonly string[],
): TimerOwners {
  const own: string[] = [];
  const others = new Set<string>();
  for (const [timer, ds] of byTimer ?? []) {
    let mine = 0;
    for (const d of ds) if (devices.includes(d)) mine++;
    if (mine === ds.size) own.push(timer);
    else if (mine === 0) others.add(timer);
  }
  return { own: own.length === 1 ? own[0] : null, others };
}

/**
 * How much earlier than the model's due time a depot trim may run: the
 * delay is whole jiffies run at a tick, and the model's ticks need not fall
 * where the traced kernel's did (the trace's clock shows no tick), so the
 * kernel's may come up to a jiffy sooner (one jiffy is 10 ms at the lowest
 * HZ, 100).
 */
const DEPOT_WORK_EARLY_NS = 10_000_000;

/** The most unmaps kept between two expiries for `lostExpiry`'s evidence (a flush period holds a few hundred). */
const UNMAPPED_SINCE_ENTRY_MAX = 65_536;

/** How long a depot work item may be overdue in the model, with no work event seen, before the trace is taken to have none. */
const DEPOT_EVENTS_GRACE_NS = 1_000_000_000;

export class TimerFlushes {
  readonly stats = emptyTimerFlushStats();
  private readonly host: TimerFlushHost;
  private readonly irqInFlush: IrqInFlush;
  private readonly otherCpuInFlush: OtherCpuInFlush;
  /** Events not yet run, in line order. */
  private readonly pending: KernelWorkEvent[] = [];
  private head = 0;
  /** The flush-queue timer's `timer=` value, once bound to the replayed domain. */
  private timer: string | null = null;
  /** Timers the trace shows armed by other domains' unmaps: never this domain's. */
  private readonly othersTimers: ReadonlySet<string>;
  /** `expires=` of the last `timer_start`. */
  private lastExpires = -1;
  /** A `timer_start` of the timer came after its last expiry (`lostExpiries`). */
  private armedUnexpired = false;
  /** A map showed an expiry the trace lacks and the replay ran it (`runBefore`); the next `timer_start` confirms it. */
  private ranEarly = false;
  /** `cpu=` of the last `timer_start` (-1: the format has none). */
  private lastBaseCpu = -1;
  /** The earliest trace time the timer armed last may fire: its `timer_start`, plus the timeout less one jiffy. */
  private expiryFromNs = Number.POSITIVE_INFINITY;
  /**
   * The trace IOVAs of the unmaps since the last expiry (for `lostExpiry`'s first evidence), as keys: one is added
   * per unmap, and a typed table costs less than a Set of numbers past 2^31.
   */
  private readonly unmappedSinceEntry = new PfnMap();
  /** Each CPU's flush between its entry and exit, by CPU number. */
  private readonly open: (OpenFlush | null)[] = [];
  /**
   * How many of `open` are flushes: each call looks at them, and a machine of
   * hundreds of CPUs would otherwise walk them all for the one or two open.
   */
  private openCount = 0;
  /** Each work item's `work struct` pointer, bound to the size class whose trim it is. */
  private readonly workClass = new Map<string, number>();
  /** The flush-queue timer and the depot work run only where the events put them (from the first event on). */
  private timerPlaced = false;
  private depotHeld = false;
  private depotSeen = false;
  /** See `flushBefore`. */
  private clean: CleanFlush | null = null;
  /**
   * The state saved at the last flush entry: once the next entry comes its
   * flush is settled, so it is handed back to the host (one buffer set per
   * flush instead of a fresh one).
   */
  private lastSaved: unknown = null;
  /** See `settle`. */
  private seg: PhaseSegment | null = null;
  /** The trace turned out to have no workqueue events: the model's clock runs the trims. */
  private depotGaveUp = false;
  /** The CPU and kind of the last replayed call per CPU, to bind the timer to the unmap that armed it. */
  private readonly lastCall: ("map" | "unmap" | null)[] = [];
  private readonly lastCallLine: number[] = [];
  private readonly lastUnmap: (DmaCall | null)[] = [];

  /** Place a flush's phases by trial when the default leaves misses (see `settle`). */
  private readonly phaseTrials: boolean;

  constructor(
    host: TimerFlushHost,
    irqInFlush: IrqInFlush,
    otherCpuInFlush: OtherCpuInFlush,
    phaseTrials = true,
    owners: TimerOwners = { own: null, others: new Set() },
  ) {
    this.host = host;
    this.timer = owners.own;
    this.othersTimers = owners.others;
    this.phaseTrials = phaseTrials;
    this.irqInFlush = irqInFlush;
    this.otherCpuInFlush = otherCpuInFlush;
  }

  /** Timer and work events taken and not yet run. */
  get held(): number {
    return this.pending.length - this.head;
  }

  /** Whether the trace has shown a flush-queue timer event yet. */
  get active(): boolean {
    return this.timerPlaced;
  }

  private placeTimer(): void {
    if (this.timerPlaced) return;
    this.timerPlaced = true;
    this.host.onFirstTimerEvent();
    // The timer runs only where the trace shows it; its base CPU is still the policy's, for comparison.
    this.host.fq.policy = external(this.host.innerPolicy);
    this.holdDepot();
  }

  /** The depot trim runs where the workqueue events put it; a kernel without one has nothing to hold. */
  private holdDepot(): void {
    if (this.depotHeld || this.depotGaveUp || !this.host.iovad.profile.depotTrimWork) return;
    this.depotHeld = true;
    this.host.iovad.depotWorkPlacedOutside = true;
  }

  /** Takes a timer or work event in trace order. */
  push(e: KernelWorkEvent): void {
    this.pending.push(e);
  }

  /** Whether `e` is one this replay acts on. */
  static concerns(e: KernelWorkEvent): boolean {
    if (e.type === "timer_start" || e.type === "timer_expire_entry") return e.function === FQ_TIMER_FUNCTION;
    if (e.type === "workqueue_execute") return e.function === DEPOT_WORK_FUNCTION;
    return true;
  }

  /** Runs every waiting event traced before `line`, then readies the flush around call `c` (null: the end). */
  runBefore(line: number, c: DmaCall | null): void {
    const p = this.pending;
    while (this.head < p.length && p[this.head].line < line) this.run(p[this.head++]);
    if (this.head > 1024 && this.head * 2 > p.length) {
      p.splice(0, this.head);
      this.head = 0;
    }
    if (c !== null && c.kind === "map" && this.lostExpiryDue(c)) {
      // Unmapped since the last expiry, still queued in the model, and taken now: only a flush frees it.
      const fq = this.host.fq;
      const pfn = Math.floor(c.iova / this.host.iovad.granule);
      if (this.unmappedSinceEntry.has(c.iova) && this.host.leftOpen?.(c.iova) !== true && queuedIn(fq, pfn)) {
        // Kept only where the flush puts that IOVA where the map takes it: the top of its CPU's magazine.
        const cpu = c.cpu % this.host.cpus;
        this.clean = null;
        this.settle();
        const before = this.host.save();
        this.flushLost(-1, cpu);
        const kept = topOf(this.host.iovad, cpu, Math.ceil(c.sizeBytes / this.host.iovad.granule)) === pfn;
        if (kept) this.ranEarly = true;
        else this.host.restore(before);
        this.host.recycle?.(before);
      }
    }
    if (c !== null && this.openCount > 0) {
      const open = this.open;
      for (let i = 0; i < open.length; i++) {
        const o = open[i];
        if (o) this.during(o, c);
      }
    }
    this.checkDepotEvents();
  }

  /**
   * Whether an expiry the trace lost may have run before call `c`: the timer
   * was armed again after its last expiry, `c` comes past the earliest jiffy
   * it could fire, and no lost expiry has been run for it yet.
   */
  private lostExpiryDue(c: DmaCall): boolean {
    return this.armedUnexpired && !this.ranEarly && c.timestampNs >= this.expiryFromNs;
  }

  /** Runs the part of flush `o` that ran before call `c`, traced between its entry and exit. */
  private during(o: OpenFlush, c: DmaCall): void {
    const cpu = c.cpu % this.host.cpus;
    if (cpu === o.cpu) {
      if (c.kind !== "unmap") {
        this.drainThrough(o, this.host.fq.cpus - 1);
        return;
      }
      // An interrupt inside the flush (see the header).
      this.stats.irqUnmapsInFlush++;
      if (this.irqInFlush === "after-drains") this.drainThrough(o, o.cpu);
      return;
    }
    this.stats.otherCpuCallsInFlush++;
    // Whatever ran before it on the flushing CPU (an interrupt before the flush began), the flush has begun by now.
    this.start(o);
    if (c.kind !== "unmap") return;
    // CPU 0's queue is the loop's first: only the few instructions between fq_flush_iotlb() and
    // its lock leave room for CPU 0's unmap to drain it first. A later queue waits for the drains before it.
    if (this.otherCpuInFlush === "loop-first" || cpu === 0) this.drainThrough(o, cpu);
  }

  /** Notes the call just replayed (for binding the timer to this domain). */
  afterCall(c: DmaCall): void {
    this.clean = null;
    this.lastCallLine[c.cpu % this.host.cpus] = c.line;
    this.lastCall[c.cpu % this.host.cpus] = c.kind;
    if (c.kind === "unmap") {
      this.lastUnmap[c.cpu % this.host.cpus] = c;
      // Bounded: a domain whose timer never expires in the trace stops looking.
      if (this.timer !== null && this.unmappedSinceEntry.size < UNMAPPED_SINCE_ENTRY_MAX)
        this.unmappedSinceEntry.set(c.iova, 1);
    }
  }

  /**
   * The flush that ran just before call `c` on its CPU, with nothing else
   * since its entry (no call, no other flush or work), or null.
   */
  flushBefore(c: DmaCall): CleanFlush | null {
    const f = this.clean;
    return f?.closed && f.cpu === c.cpu % this.host.cpus ? f : null;
  }

  /**
   * Whether map `c` may have allocated before the flush traced just before
   * it on its CPU (`flushBefore`, `allocatedBefore`): what that flush freed
   * into the CPU's rcache may have come after the allocation.
   */
  mayPrecedeFlush(c: DmaCall): boolean {
    if (c.kind !== "map" || c.irq) return false;
    if (this.flushBefore(c) !== null) return true;
    const g = this.seg;
    return g !== null && !g.fixed && g.cpu === c.cpu % this.host.cpus && g.exitAt >= 0;
  }

  /**
   * Map `c`, traced after the held flush's exit on the CPU that ran it, with
   * no call of that CPU since the entry but other CPUs' calls: the timer's
   * softirq ran on the way out of an interrupt that came between the map's
   * IOVA allocation and its trace line, as in `flushBefore`, while the other
   * CPU went on. `c` is replayed before the flush, then the flush and the
   * held calls as placed; kept when that places more of the trace's IOVAs
   * (`c`'s own counted, as `placedBefore` judges it), else the state is put
   * back. Returns `c`'s result, or null.
   */
  allocatedBefore(
    c: DmaCall,
    misses: number,
    first: { placeholder?: boolean; addr?: number | null },
  ): { ok: boolean } | null {
    const g = this.seg;
    const cpu = c.cpu % this.host.cpus;
    if (g === null || g.fixed || g.cpu !== cpu || c.kind !== "map" || c.irq || g.exitAt < 0) return null;
    if (g.done.some((d) => d < 0) || g.calls.some((x) => x.cpu % this.host.cpus === cpu)) return null;
    const host = this.host;
    const after = host.save();
    const state = g.state;
    host.restore(state);
    const o = host.apply(c);
    if (!placedBefore(o, first, (a) => host.showed(a))) {
      host.restore(after);
      return null;
    }
    g.state = host.save();
    const r = this.replaySegment(g, g.done, g.forced, misses + g.misses - 1, g.beginAt);
    if (r.misses >= misses + g.misses) {
      g.state = state;
      host.restore(after);
      return null;
    }
    g.outcomes = r.outs;
    g.misses = r.misses;
    return o;
  }

  /**
   * Map `c` takes the range of allocation `c.reuses`, whose unmap the trace
   * lost (`DmaCall.reuses`), and the model still holds it: its unmap waits
   * (`lost-unmaps.ts`) for a flush the trace lost as well, or the trace
   * mapped the range again beyond the reconstruction's look-ahead, so
   * nothing marked it before.
   * On a lazy domain that unmap went onto a CPU's flush queue, and a flush
   * freed it into the rcache of the CPU that ran it, where `c` popped it.
   * That flush is the one held (`settle`), or the one run just before `c`
   * with nothing since, or, when neither, one the trace lost as well (its
   * timer armed and due, as `runBefore` takes it, on `c`'s CPU): the
   * interrupt that made the lost unmaps often runs the timer's softirq on
   * its way out, in the context the trace lost (6.1 mid-life lines
   * 15168-15200: 32 unmaps, then the expiry, while cat-237 ran). The unmap
   * is queued before that flush, in map order with the others waiting, and
   * the flush and the calls held since are replayed.
   *
   * Kept only where `c` then takes the trace's IOVA (the trace's IOVA
   * chooses the place, the model decides it, and `c` is not counted
   * exact); else the state is put back and null returned: `c` is replayed
   * as any map.
   */
  lostBefore(c: DmaCall): { ok: boolean } | null {
    const host = this.host;
    if (!this.timerPlaced || c.kind !== "map" || c.reuses <= 0 || host.addLost === undefined) return null;
    if (host.mayRewind?.() !== true || host.holds?.(c.reuses) !== true) return null;
    const cpus = host.cpus;
    let g = this.seg;
    let made: "clean" | "lost" | null = null;
    if (g === null) {
      const f = this.clean;
      if (f?.closed) {
        g = this.ranSegment(f.cpu, f.state, c);
        made = "clean";
      } else if (this.timer !== null && this.lostExpiryDue(c) && host.lostWaits?.(c.reuses) === true) {
        // Only an unmap known lost before its reveal, still waiting for a flush, shows a flush lost with it: one
        // the look-ahead never showed lost ran long ago, and a flush the trace has was as likely to free it.
        g = this.ranSegment(c.cpu % cpus, host.save(), c);
        made = "lost";
      } else return null;
    }
    const after = host.save();
    const state = g.state;
    host.restore(state);
    host.addLost(c.reuses, (c.reusesCpu >= 0 ? c.reusesCpu : c.cpu) % cpus);
    g.state = host.save();
    const r = this.replaySegment(g, g.done, g.forced, Number.POSITIVE_INFINITY, g.beginAt);
    const o = host.apply(c);
    if (o.ok) {
      g.outcomes = r.outs;
      g.misses = r.misses;
      g.holdAfter = g.calls.length + 1;
      if (made !== null) {
        this.seg = g;
        this.clean = null;
      }
      if (made === "lost") this.ranEarly = true;
      host.recycle?.(after);
      return o;
    }
    g.state = state;
    host.restore(after);
    host.recycle?.(after);
    return null;
  }

  /**
   * A held segment for a flush run whole before map `c` from `state` (a
   * flush just run with nothing since, or one the trace lost), for
   * `lostBefore`: its phases all before the first call, no call inside.
   */
  private ranSegment(cpu: number, state: unknown, c: DmaCall): PhaseSegment {
    return {
      cpu,
      lost: "likely",
      lostOpen: false,
      late: [],
      lateCalls: [],
      fixed: false,
      forced: 0,
      beginAt: 0,
      done: new Array<number>(this.host.fq.cpus + 1).fill(0),
      // Not the state now: no ring is taken for still (`stillRings`).
      emptyAtEntry: new Uint8Array(this.host.fq.cpus),
      undrainedAtEntry: null,
      line: c.line,
      entryNs: c.timestampNs,
      state,
      calls: [],
      outcomes: [],
      misses: 0,
      exitAt: 0,
      holdAfter: 0,
    };
  }

  /** Timer and work events run so far. */
  eventsRun = 0;

  /** Whether calls are held for a flush's phases, or a flush is between its entry and exit. */
  get holding(): boolean {
    if (this.seg !== null) return true;
    return this.openCount > 0;
  }

  private run(e: KernelWorkEvent): void {
    this.eventsRun++;
    const cpu = e.cpu % this.host.cpus;
    if (e.type === "timer_expire_entry" || e.type === "workqueue_execute") {
      this.clean = null;
      this.settle();
    }
    const fq = this.host.fq;
    switch (e.type) {
      case "timer_start":
        if (e.function !== FQ_TIMER_FUNCTION) return;
        // The timer of this domain is the one armed right after its unmap on that CPU.
        if (this.timer === null && this.lastCall[cpu] === "unmap" && !this.othersTimers.has(e.timer))
          this.timer = e.timer;
        if (e.timer !== this.timer) return;
        this.placeTimer();
        if (this.armedUnexpired && e.expires - e.timeout > this.lastExpires) {
          // An expiry the trace lost came between: this start says nothing of the flush held so far, which is
          // settled first. A map already showed where the lost one ran (`runBefore`); else the unmap before this
          // start on `cpu` armed the timer after it began, and it ran on the base the last start named (`cpu=`).
          this.stats.lostExpiries++;
          if (!this.ranEarly) {
            this.clean = null;
            this.settle();
            const at = this.lastBaseCpu >= 0 ? this.lastBaseCpu % this.host.cpus : fq.timerArmed ? fq.timerCpu : cpu;
            this.flushLost(this.lastCall[cpu] === "unmap" ? cpu : -1, at);
          }
        } else {
          this.lateByEvidence(cpu);
          this.beginByEvidence(cpu);
        }
        this.armedUnexpired = true;
        this.ranEarly = false;
        this.unmappedSinceEntry.clear();
        this.lastBaseCpu = e.baseCpu;
        // The jiffy of `now` began before this line: the callback runs no earlier than timeout - 1 jiffies on.
        this.expiryFromNs = e.timestampNs + (e.timeout - 1) * fq.tickNs;
        this.stats.starts++;
        if (fq.timerArmed && e.baseCpu >= 0 && fq.timerCpu === e.baseCpu % this.host.cpus)
          this.stats.startsOnPolicyCpu++;
        this.lastExpires = e.expires;
        return;
      case "timer_expire_entry": {
        if (e.function !== FQ_TIMER_FUNCTION) return;
        if (this.timer === null && !this.othersTimers.has(e.timer)) this.timer = e.timer;
        if (e.timer !== this.timer) return;
        this.placeTimer();
        // A flush a map had run early (`runBefore`) was not the trace's: this one is, and runs as well.
        if (this.ranEarly) this.stats.earlyFlushesWrong++;
        this.armedUnexpired = false;
        this.ranEarly = false;
        this.unmappedSinceEntry.clear();
        this.host.beforeEntry?.();
        this.host.advanceTo(e.timestampNs);
        if (this.lastSaved !== null) this.host.recycle?.(this.lastSaved);
        this.lastSaved = this.host.save();
        this.clean = { cpu, state: this.lastSaved, closed: false };
        const late: number[] = [];
        const lateCalls: DmaCall[] = [];
        for (let k = 0; k < this.host.cpus; k++) {
          if (k === cpu || this.lastCall[k] !== "unmap") continue;
          late.push(k);
          lateCalls.push(this.lastUnmap[k] as DmaCall);
        }
        this.seg = {
          cpu,
          lost: "likely",
          lostOpen: this.host.lostWaiting?.() === true,
          late,
          lateCalls,
          fixed: false,
          forced: 0,
          beginAt: 0,
          done: new Array<number>(this.host.fq.cpus + 1).fill(-1),
          emptyAtEntry: Uint8Array.from({ length: fq.cpus }, (_, r) => (fq.queued(r) === 0 ? 1 : 0)),
          undrainedAtEntry: this.host.ringsUndrained?.() ?? null,
          line: e.line,
          entryNs: e.timestampNs,
          state: this.clean.state,
          calls: [],
          outcomes: [],
          misses: 0,
          exitAt: -1,
          holdAfter: 0,
        };
        const s = this.stats;
        if (s.expiries === 0 && s.starts === 0) s.armedBeforeTrace = true;
        s.expiries++;
        if (!fq.timerArmed) s.unarmed++;
        else if (fq.timerCpu !== cpu) s.otherCpu++;
        if (this.lastExpires >= 0) {
          const late = e.now - this.lastExpires;
          s.lateJiffies.set(late, (s.lateJiffies.get(late) ?? 0) + 1);
        }
        const o: OpenFlush = { timer: e.timer, cpu, begun: false, started: false, next: 0 };
        this.setOpen(cpu, o);
        if (this.irqInFlush !== "before-flush") this.start(o);
        return;
      }
      case "timer_expire_exit": {
        const o = this.open[cpu];
        if (!o || o.timer !== e.timer) return;
        this.finish(o);
        this.setOpen(cpu, null);
        if (this.clean?.cpu === cpu) this.clean.closed = true;
        if (this.seg?.cpu === cpu) {
          this.seg.exitAt = this.seg.calls.length;
          if (this.seg.exitAt === 0 && this.seg.late.length === 0 && !this.seg.lostOpen) this.settle();
        }
        return;
      }
      case "workqueue_execute": {
        if (e.function !== DEPOT_WORK_FUNCTION || e.phase !== "start") return;
        this.holdDepot();
        if (!this.depotHeld) return;
        this.depotSeen = true;
        this.host.advanceTo(e.timestampNs);
        const c = this.classOf(e.work);
        if (c < 0) return;
        const iovad = this.host.iovad;
        const trims = iovad.stats.depotTrims[c];
        this.host.runDepotWork(c);
        this.stats.depotWorks++;
        if (iovad.stats.depotTrims[c] > trims) this.stats.depotTrims++;
        return;
      }
    }
  }

  /**
   * The phases of an expiry the trace lost (`lostExpiries`) on the model: on
   * CPU `at`, with the last entry of CPU `late` (-1: none) queued after it
   * began. Two things show one. A map, past the earliest jiffy the timer
   * could fire, takes an IOVA unmapped since the last expiry that the model
   * still holds queued: only a flush frees such an entry (the model runs the
   * ring-full ones itself), into the rcache of the CPU that ran it, so it ran
   * before the map, on the map's CPU (`runBefore`), and left that IOVA on top
   * of the map's magazine (where it does not, the model erred elsewhere, and
   * the flush is taken back). An unmap after it would have armed the timer
   * again, so every entry queued came before it. The next `timer_start`
   * confirms it; an expiry the trace shows first says the model had erred
   * (`earlyFlushesWrong`). Or a `timer_start` comes with the timer armed:
   * the unmap before it armed the timer, so the callback began before that
   * unmap's `queue_iova()` and after every earlier unmap of the domain, none
   * of which armed it; it ran on the timer base the `timer_start` before it
   * named (`cpu=`; without that field, the CPU the model's timer policy gave
   * the timer), and maps between were replayed before it.
   */
  private flushLost(late: number, at: number): void {
    const fq = this.host.fq;
    this.host.expireBegin("likely");
    if (late >= 0 && fq.queued(late) > 0) this.host.queuedLate(late);
    this.host.expireIotlbDone();
    for (let r = 0; r < fq.cpus; r++) this.host.expireDrain(r, at);
  }

  /** `fq_flush_iotlb()` has finished (its start was at the entry). */
  private start(o: OpenFlush): void {
    if (!o.begun) {
      o.begun = true;
      this.host.expireBegin("likely");
    }
    if (o.started) return;
    o.started = true;
    this.host.expireIotlbDone();
    if (this.seg?.cpu === o.cpu) this.seg.done[0] = this.seg.calls.length;
  }

  /** Runs flush `o`'s loop through the drain of queue `ring`. */
  private drainThrough(o: OpenFlush, ring: number): void {
    this.start(o);
    for (; o.next <= ring; o.next++) {
      this.host.expireDrain(o.next, o.cpu);
      if (this.seg?.cpu === o.cpu) this.seg.done[1 + o.next] = this.seg.calls.length;
    }
  }

  /** Runs whatever part of flush `o` has not run yet. */
  private finish(o: OpenFlush): void {
    this.drainThrough(o, this.host.fq.cpus - 1);
  }

  /**
   * The size class whose trim work a `work struct` pointer is: bound at its
   * first run to the class whose work the model has pending and due first
   * (each rcache has its own work item), -1 when none is pending. Where
   * other lazy domains run their own trims (`TimerOwners.others`), a work
   * item that runs before a class's work is due is another domain's: a
   * delayed work never runs before its timer, which is at most a jiffy short
   * of the delay (`DEPOT_WORK_EARLY_NS`).
   */
  private classOf(work: string): number {
    const known = this.workClass.get(work);
    if (known !== undefined) return known;
    const bound = new Set(this.workClass.values());
    const iovad = this.host.iovad;
    const dueBy = this.othersTimers.size > 0 ? iovad.nowNs + DEPOT_WORK_EARLY_NS : Number.POSITIVE_INFINITY;
    let best = -1;
    for (let c = 0; c < iovad.rcacheOrders; c++) {
      const r = iovad.rcaches[c];
      if (bound.has(c) || !r.workPending || r.workDueNs > dueBy) continue;
      if (best < 0 || r.workDueNs < iovad.rcaches[best].workDueNs) best = c;
    }
    if (best >= 0) this.workClass.set(work, best);
    return best;
  }

  /**
   * A trace with timer events but no workqueue events (recorded without
   * them) says nothing about the depot trim: once a model work item is
   * overdue by `DEPOT_EVENTS_GRACE_NS` with no work event seen, the model's
   * clock runs it again.
   */
  private checkDepotEvents(): void {
    if (!this.depotHeld || this.depotSeen) return;
    const iovad = this.host.iovad;
    for (const r of iovad.rcaches) {
      if (r.workPending && iovad.nowNs - r.workDueNs > DEPOT_EVENTS_GRACE_NS) {
        this.depotHeld = false;
        this.depotGaveUp = true;
        iovad.depotWorkPlacedOutside = false;
        return;
      }
    }
  }

  /**
   * Replays the held flush from the state before its entry with its phases
   * before calls `p` (-1: not run yet) and the `late` CPUs of `lateMask`
   * queued after its start, through the held calls, stopping past `limit`
   * misses.
   */
  private replaySegment(
    g: PhaseSegment,
    p: number[],
    lateMask: number,
    limit: number,
    beginAt = 0,
  ): { misses: number; outs: unknown[] } {
    const host = this.host;
    host.restore(g.state);
    const begin = () => {
      host.expireBegin(g.lost);
      for (let i = 0; i < g.late.length; i++) if (lateMask & (1 << i)) host.queuedLate(g.late[i]);
    };
    if (beginAt === 0) begin();
    const outs: unknown[] = [];
    let misses = 0;
    for (let i = 0; i <= g.calls.length && misses <= limit; i++) {
      if (i === beginAt && i > 0) begin();
      for (let k = 0; k < p.length; k++) {
        if (p[k] !== i) continue;
        if (k === 0) host.expireIotlbDone();
        else host.expireDrain(k - 1, g.cpu);
      }
      if (i === g.calls.length) break;
      const o = host.apply(g.calls[i]);
      if (!o.ok) misses++;
      outs.push(o);
    }
    return { misses, outs };
  }

  /**
   * A `timer_start` on `cpu` whose last call was an unmap traced before the
   * held flush's entry: that unmap's `queue_iova()` armed the timer again,
   * so its test of `fq_timer_on` came after the flush cleared it (the CPU
   * traced the unmap, then stalled). Most likely its read of the start
   * count, a few instructions earlier, did too, and its IOVA waits for the
   * next flush: the held calls are replayed so. It is not proof (the read
   * comes first, under the queue lock; see `late-queue.ts`): the trials may
   * go against it, after the placements that agree with it.
   */
  private lateByEvidence(cpu: number): void {
    const g = this.seg;
    if (g === null) return;
    const i = g.late.indexOf(cpu);
    if (i < 0 || g.forced & (1 << i) || this.lastCall[cpu] !== "unmap" || this.lastCallLine[cpu] > g.line) return;
    g.forced |= 1 << i;
    const r = this.replaySegment(g, g.done, g.forced, Number.POSITIVE_INFINITY, g.beginAt);
    g.outcomes = r.outs;
    g.misses = r.misses;
    this.stats.lateQueues++;
  }

  /**
   * A `timer_start` on `cpu`, another CPU than the flush's, whose last call
   * is an unmap traced inside the held flush: that unmap's `queue_iova()`
   * found `fq_timer_on` cleared, so the callback had begun; each unmap of
   * that CPU inside the flush before it found the timer still on, so its
   * read of the start count, which comes before that test, came before the
   * callback cleared `fq_timer_on` and then raised the count: those entries
   * hold the old count, and the flush frees them (6.1 mid-life line 197855:
   * CPU 0's unmaps at lines 197851-197853, 0 to 3 us after the entry, were
   * drained with CPU 0's queue into CPU 1's rcache). The arming unmap itself
   * read the count before or after (the callback's two statements fall
   * between its read and its test either way): at line 197854 the new one,
   * as `lateByEvidence` takes it, at line 216938 the old one (CPU 0 pops it
   * first after the flush at line 216934). The callback's begin, and so its
   * IOTLB flush and drains, are placed right before the arming unmap, and
   * the trials try it right after it too.
   */
  private beginByEvidence(cpu: number): void {
    const g = this.seg;
    if (g === null || cpu === g.cpu || g.fixed || this.lastCall[cpu] !== "unmap") return;
    if (this.lastCallLine[cpu] <= g.line) return;
    const k = g.calls.indexOf(this.lastUnmap[cpu] as DmaCall);
    if (k <= g.beginAt || (g.exitAt >= 0 && k >= g.exitAt)) return;
    g.beginAt = k;
    const p = g.done.map((x) => (x < 0 ? x : Math.max(x, k)));
    const r = this.replaySegment(g, p, g.forced, Number.POSITIVE_INFINITY, k);
    g.done = p;
    g.outcomes = r.outs;
    g.misses = r.misses;
    this.stats.beginsByEvidence++;
  }

  /** A map of the held flush was replayed before it: its phases stay where they are. */
  fix(): void {
    if (this.seg) this.seg.fixed = true;
  }

  /**
   * Holds call `c`, just replayed with result `outcome`, while a flush's
   * phases are still to be placed; false: count it now.
   */
  hold(c: DmaCall, ok: boolean, outcome: unknown): boolean {
    const g = this.seg;
    if (g === null) return false;
    g.calls.push(c);
    g.outcomes.push(outcome);
    if (!ok) g.misses++;
    const score = g.lostOpen ? LOST_SCORE_CALLS : PHASE_SCORE_CALLS;
    if (g.exitAt >= 0 && g.calls.length - Math.max(g.exitAt, g.holdAfter) >= score) this.settle();
    return true;
  }

  /**
   * Places the phases of the held flush and counts its calls. The trace
   * shows where a flush began and ended but not where, in between, its
   * IOTLB flush finished and where its loop drained each CPU's queue,
   * relative to the other CPUs' calls and the interrupts traced meanwhile
   * (see the header). The default placement (`during`) follows the kernel's
   * code; when it leaves allocations placed unlike the trace, every order of
   * the phases among the held calls (the IOTLB flush's end, then the drains
   * in CPU order, each between two runs of calls up to the exit) is
   * replayed, and one that gives more of the trace's IOVAs over the calls
   * through `PHASE_SCORE_CALLS` after the exit is kept (ties: the default,
   * then the earliest places). The trace's IOVAs only score the places;
   * every IOVA is still the model's.
   */
  private settle(): void {
    const g = this.seg;
    if (g === null) return;
    this.seg = null;
    const host = this.host;
    let outcomes = g.outcomes;
    // Which of the `late` CPUs' last unmaps the replay has queued after the flush began.
    let chosenMask = g.forced;
    // A phase falls between two runs of calls (one CPU's calls in a row, one interrupt's unmaps), or at the exit.
    // Another CPU runs beside the flush, so a drain may also end between two of its calls in a row (the 6.1
    // mid-life trace's line 80238: CPU 1 takes a magazine the drain pushed to the depot right after its previous
    // map went to the tree); those places are tried too while the trials stay within their bound.
    const cpus = this.host.cpus;
    const placesOf = (fine: boolean): number[] => {
      const out: number[] = [];
      for (let i = 0; i < g.exitAt; i++) {
        const a = g.calls[i - 1];
        const b = g.calls[i];
        if (i === 0 || a.cpu !== b.cpu || a.kind !== b.kind || a.irq !== b.irq || (fine && b.cpu % cpus !== g.cpu))
          out.push(i);
      }
      return out;
    };
    let places = placesOf(true);
    if (places.length + 1 > PHASE_MAX_RUNS + 1) places = placesOf(false);
    // A begin the trace's timer_start shows (`beginByEvidence`): the phases fall from there on, the begin before
    // the arming unmap or right after it.
    const k = g.beginAt;
    if (k > 0) places = [k, ...(k + 1 < g.exitAt ? [k + 1] : []), ...places.filter((x) => x > k + 1)];
    // Too many runs (two CPUs' interrupts alternating inside the flush): only the first are tried. The IOTLB flush
    // and the drains come first in the callback, so they fall early among the calls (6.1 mid-life line 133048: both
    // drains ran before the first interrupt's unmap, 141 us after the entry, among 65 alternating runs).
    const truncated = places.length > PHASE_MAX_RUNS;
    if (truncated) places = places.slice(0, PHASE_MAX_RUNS);
    places.push(g.exitAt);
    if (this.phaseTrials && g.misses > 0 && !g.fixed && (g.exitAt > 0 || g.late.length > 0)) {
      if (truncated) this.stats.phaseSkipped++;
      this.stats.phaseTrials++;
      const fq = host.fq;
      let best = g.misses;
      let bestState: unknown = null;
      const rings = fq.cpus;
      // p[0]: where the IOTLB flush finished; p[1 + r]: where queue r was drained; each before call p[k] (p[k] = exitAt: at the exit).
      const p = new Array<number>(rings + 1).fill(0);
      // Which of the `late` CPUs' last unmaps queued after the flush began (bit i: late[i]).
      let lateMask = 0;
      // Where the callback's first statements ran: before every call inside, or, when the flushing CPU's
      // interrupt unmaps come first, after them (the interrupt came between the timer_expire_entry line
      // and fq_flush_iotlb()'s start count: its IOVAs are freed by this flush; the 6.12 mid-life trace's
      // line 610362).
      let beginAt = 0;
      const tryPlaces = () => {
        const r = this.replaySegment(g, p, lateMask, best - 1, beginAt);
        if (r.misses < best) {
          best = r.misses;
          bestState = host.save();
          outcomes = r.outs;
          chosenMask = lateMask;
        }
      };
      const still = this.stillRings(g);
      const place = (k: number, from: number) => {
        if (k > rings) {
          tryPlaces();
          return;
        }
        if (k > 0 && still[k - 1] === 1) {
          // Its drain frees nothing and tells nothing wherever it falls: at the earliest place, as the first
          // placement of each order of the others had it.
          p[k] = places[from];
          place(k + 1, from);
          return;
        }
        for (let at = from; at < places.length; at++) {
          p[k] = places[at];
          place(k + 1, at);
        }
      };
      const defaultState = host.save();
      // The masks the trace's timer_start agrees with first (see `lateByEvidence`), then the others.
      const first = g.calls[0];
      // Another CPU's unmaps traced within BEGIN_NS of the entry may all have read the start count first (6.1
      // mid-life line 238102: CPU 1's two unmaps 0 and 1 us after the entry are freed by that flush).
      let early = 0;
      while (
        early < g.exitAt &&
        g.calls[early].kind === "unmap" &&
        g.calls[early].cpu % cpus !== g.cpu &&
        g.calls[early].timestampNs - g.entryNs < BEGIN_NS
      )
        early++;
      const begins =
        g.beginAt > 0
          ? [0, 1]
          : places.length > 1 && first !== undefined && first.cpu % cpus === g.cpu && mayInterrupt(first)
            ? [0, 1]
            : places.flatMap((x, b) => (x <= early ? [b] : []));
      for (const b of begins) {
        beginAt = places[b];
        for (const agrees of [true, false])
          for (lateMask = 0; lateMask < 1 << g.late.length; lateMask++)
            if (((lateMask & g.forced) === g.forced) === agrees) place(0, b);
      }
      if (bestState !== null) {
        this.stats.phaseMoved++;
        host.restore(bestState);
      } else {
        host.restore(defaultState);
        chosenMask = g.forced;
      }
    }
    if (g.lostOpen && !g.fixed && outcomes === g.outcomes) outcomes = this.lostTrials(g, outcomes);
    // What the calls so far cannot tell is left to later ones (one CPU's at a time: the first).
    if (!g.fixed && g.late.length > 0) host.undecidedLateQueue(g.state, g.lateCalls[0], (chosenMask & 1) !== 0);
    for (let i = 0; i < g.calls.length; i++) host.finalize(g.calls[i], outcomes[i]);
  }

  /**
   * 1 for each ring of the held flush whose drain changes nothing wherever
   * the trials place it, so that they place it at the earliest place only:
   * empty at the entry, none of the held calls an unmap of its CPU, its CPU
   * none of the `late` ones, no lost unmaps waiting (which the entry may
   * queue), and its drain not the one that can tell the host that no ring
   * holds entries from before the trace any more (`ringsUndrained`): a ring
   * already drained since a flush finished, or one of those still not drained
   * but the highest (the rings drain in CPU order, so only the last of them
   * may be the last to drain). On a machine of many CPUs of which a few do
   * DMA, the idle CPUs' rings are such, and the placements tried grew as the
   * rings' count's power: on 64 CPUs the start search's bound on calls
   * replayed again was spent on the first flushes.
   */
  private stillRings(g: PhaseSegment): Uint8Array {
    const rings = g.emptyAtEntry.length;
    const cpus = this.host.cpus;
    const still = g.lostOpen ? new Uint8Array(rings) : g.emptyAtEntry.slice();
    for (const c of g.calls) if (c.kind === "unmap") still[c.cpu % cpus] = 0;
    for (const cpu of g.late) still[cpu] = 0;
    const undrained = g.undrainedAtEntry;
    if (undrained !== null) {
      for (let r = rings - 1; r >= 0; r--) {
        if (still[r] === 1 && undrained[r] === 1) {
          still[r] = 0;
          break;
        }
      }
    }
    return still;
  }

  /**
   * A flush with lost unmaps waiting at its entry (`PhaseSegment.lostOpen`),
   * whose timing only bounds where they ran: where the calls held since place
   * allocations unlike the trace, the flush is replayed freeing all of them
   * and none of them, with the phases as the model places them, and the
   * choice that gives the most of the trace's IOVAs over those calls is
   * kept (ties: the likely ones). A magazine the flush filled shows where
   * they went (6.1 lazy-timers line 36280: CPU 1 maps 0xbef3e000 after the
   * flush of line 36246, not 0xbf09c000, whose interrupt came after it).
   * Returns the calls' outcomes as kept.
   */
  private lostTrials(g: PhaseSegment, outcomes: unknown[]): unknown[] {
    const host = this.host;
    let best = g.misses;
    if (best === 0) return outcomes;
    const kept = host.save();
    let bestState: unknown = null;
    const likely = g.lost;
    let chosen = likely;
    for (const lost of ["all", "none"] as const) {
      g.lost = lost;
      const r = this.replaySegment(g, g.done, g.forced, best - 1, g.beginAt);
      if (r.misses < best) {
        best = r.misses;
        if (bestState !== null) host.recycle?.(bestState);
        bestState = host.save();
        outcomes = r.outs;
        chosen = lost;
      }
    }
    this.stats.lostTrials++;
    if (bestState !== null) {
      this.stats.lostMoved++;
      host.restore(bestState);
      host.recycle?.(bestState);
    } else host.restore(kept);
    host.recycle?.(kept);
    g.lost = bestState !== null ? chosen : likely;
    return outcomes;
  }

  /** Runs what is left at the end of the trace. */
  end(): void {
    this.runBefore(Number.POSITIVE_INFINITY, null);
    this.settle();
    for (let cpu = 0; cpu < this.open.length; cpu++) {
      const o = this.open[cpu];
      if (o) this.finish(o);
      this.setOpen(cpu, null);
    }
  }

  private setOpen(cpu: number, o: OpenFlush | null): void {
    if (this.open[cpu]) this.openCount--;
    this.open[cpu] = o;
    if (o) this.openCount++;
  }
}

/** The pfn the next allocation of `pages` on `cpu` takes from its rcache (the loaded magazine, or a full previous one), or -1. */
function topOf(iovad: IovaDomain, cpu: number, pages: number): number {
  const m = nextMagazine(iovad, cpu, pages);
  return m === null || m.size === 0 ? -1 : m.pfns[m.size - 1];
}

/**
 * Whether map `o`, replayed before the flush traced just before it on its
 * CPU, agrees with the trace where `first`, replayed after it, did not: it
 * gave the trace's IOVA, or an IOVA from before the trace (a start state's
 * placeholder, `Outcome.placeholder`) where `first` gave an IOVA the trace
 * had shown (`showed`), as the flush's frees, the trace's own unmaps, put
 * on top. The trace's IOVA, one it never showed, came from a cache filled
 * before it. On the 6.1 mid-life capture cut at its line 160,000, the map
 * traced right after the first flush on CPU 1 took an IOVA cached before
 * the trace, and the flush's last free came next: replayed after the flush,
 * the model followed that IOVA without taking a placeholder, and every
 * later magazine boundary of that CPU came one allocation late. Where
 * `first` went to the tree instead, nothing says which order it was, and a
 * placeholder is not taken for it.
 */
export function placedBefore(
  o: { ok: boolean; placeholder?: boolean },
  first: { placeholder?: boolean; addr?: number | null },
  showed: (addr: number) => boolean,
): boolean {
  if (o.ok) return true;
  return o.placeholder === true && first.placeholder !== true && typeof first.addr === "number" && showed(first.addr);
}
