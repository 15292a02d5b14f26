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
import type { KernelWorkEvent } from "../trace/events.ts";
import type { DmaCall } from "../trace/reconstruct.ts";

/** The timer callback whose expiries are flush-queue flushes. */
export const FQ_TIMER_FUNCTION = "fq_flush_timeout";
/** The work function of the depot trim (6.7+ iova.c). */
export const DEPOT_WORK_FUNCTION = "iova_depot_work_func";

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
  /** `timer_start`s of the flush-queue timer, and how many of their `cpu=` the model's policy chose too. */
  starts: number;
  startsOnPolicyCpu: number;
  /** `now=` of each expiry minus `expires=` of its `timer_start`, jiffies: expiries. */
  lateJiffies: Map<number, number>;
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
    starts: 0,
    startsOnPolicyCpu: 0,
    lateJiffies: new Map(),
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
}

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
  /** `fq_flush_iotlb()` done. */
  started: boolean;
  /** The loop's next queue to drain (queues below it are drained). */
  next: number;
}

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
  /** `expires=` of the last `timer_start`. */
  private lastExpires = -1;
  private readonly open: (OpenFlush | null)[] = [];
  /** Each work item's `work struct` pointer, bound to the size class whose trim it is. */
  private readonly workClass = new Map<string, number>();
  /** The flush-queue timer and the depot work run only where the events put them (from the first event on). */
  private timerPlaced = false;
  private depotHeld = false;
  private depotSeen = false;
  /** See `flushBefore`. */
  private clean: CleanFlush | null = null;
  /** The trace turned out to have no workqueue events: the model's clock runs the trims. */
  private depotGaveUp = false;
  /** The CPU and kind of the last replayed call per CPU, to bind the timer to the unmap that armed it. */
  private readonly lastCall: ("map" | "unmap" | null)[] = [];

  constructor(host: TimerFlushHost, irqInFlush: IrqInFlush, otherCpuInFlush: OtherCpuInFlush) {
    this.host = host;
    this.irqInFlush = irqInFlush;
    this.otherCpuInFlush = otherCpuInFlush;
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
    if (c !== null) for (const o of this.open) if (o) this.during(o, c);
    this.checkDepotEvents();
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
    if (c.kind !== "unmap") return;
    this.start(o);
    // CPU 0's queue is the loop's first: only the few instructions between fq_flush_iotlb() and
    // its lock leave room for CPU 0's unmap to drain it first. A later queue waits for the drains before it.
    if (this.otherCpuInFlush === "loop-first" || cpu === 0) this.drainThrough(o, cpu);
  }

  /** Notes the call just replayed (for binding the timer to this domain). */
  afterCall(c: DmaCall): void {
    this.clean = null;
    this.lastCall[c.cpu % this.host.cpus] = c.kind;
  }

  /**
   * The flush that ran just before call `c` on its CPU, with nothing else
   * since its entry (no call, no other flush or work), or null.
   */
  flushBefore(c: DmaCall): CleanFlush | null {
    const f = this.clean;
    return f !== null && f.closed && f.cpu === c.cpu % this.host.cpus ? f : null;
  }

  private run(e: KernelWorkEvent): void {
    const cpu = e.cpu % this.host.cpus;
    if (e.type === "timer_expire_entry" || e.type === "workqueue_execute") this.clean = null;
    const fq = this.host.fq;
    switch (e.type) {
      case "timer_start":
        if (e.function !== FQ_TIMER_FUNCTION) return;
        // The timer of this domain is the one armed right after its unmap on that CPU.
        if (this.timer === null && this.lastCall[cpu] === "unmap") this.timer = e.timer;
        if (e.timer !== this.timer) return;
        this.placeTimer();
        this.stats.starts++;
        if (fq.timerArmed && e.baseCpu >= 0 && fq.timerCpu === e.baseCpu % this.host.cpus)
          this.stats.startsOnPolicyCpu++;
        this.lastExpires = e.expires;
        return;
      case "timer_expire_entry": {
        if (e.function !== FQ_TIMER_FUNCTION) return;
        if (this.timer === null) this.timer = e.timer;
        if (e.timer !== this.timer) return;
        this.placeTimer();
        this.host.advanceTo(e.timestampNs);
        this.clean = { cpu, state: this.host.save(), closed: false };
        const s = this.stats;
        s.expiries++;
        if (!fq.timerArmed) s.unarmed++;
        else if (fq.timerCpu !== cpu) s.otherCpu++;
        if (this.lastExpires >= 0) {
          const late = e.now - this.lastExpires;
          s.lateJiffies.set(late, (s.lateJiffies.get(late) ?? 0) + 1);
        }
        const o: OpenFlush = { timer: e.timer, cpu, started: false, next: 0 };
        this.open[cpu] = o;
        if (this.irqInFlush !== "before-flush") this.start(o);
        return;
      }
      case "timer_expire_exit": {
        const o = this.open[cpu];
        if (!o || o.timer !== e.timer) return;
        this.finish(o);
        this.open[cpu] = null;
        if (this.clean?.cpu === cpu) this.clean.closed = true;
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
        iovad.runDepotWork(c);
        this.stats.depotWorks++;
        if (iovad.stats.depotTrims[c] > trims) this.stats.depotTrims++;
        return;
      }
    }
  }

  private start(o: OpenFlush): void {
    if (o.started) return;
    o.started = true;
    this.host.fq.expireStart();
  }

  /** Runs flush `o`'s loop through the drain of queue `ring`. */
  private drainThrough(o: OpenFlush, ring: number): void {
    this.start(o);
    for (; o.next <= ring; o.next++) this.host.fq.expireDrain(o.next, o.cpu);
  }

  /** Runs whatever part of flush `o` has not run yet. */
  private finish(o: OpenFlush): void {
    this.drainThrough(o, this.host.fq.cpus - 1);
  }

  /**
   * The size class whose trim work a `work struct` pointer is: bound at its
   * first run to the class whose work the model has pending and due first
   * (each rcache has its own work item), -1 when none is pending.
   */
  private classOf(work: string): number {
    const known = this.workClass.get(work);
    if (known !== undefined) return known;
    const bound = new Set(this.workClass.values());
    const iovad = this.host.iovad;
    let best = -1;
    for (let c = 0; c < iovad.rcacheOrders; c++) {
      const r = iovad.rcaches[c];
      if (bound.has(c) || !r.workPending) continue;
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

  /** Runs what is left at the end of the trace. */
  end(): void {
    this.runBefore(Number.POSITIVE_INFINITY, null);
    for (let cpu = 0; cpu < this.open.length; cpu++) {
      const o = this.open[cpu];
      if (o) this.finish(o);
      this.open[cpu] = null;
    }
  }
}
