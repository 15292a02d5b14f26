/**
 * Finding the start state (`start-state.ts`) of a trace that starts
 * mid-life, for Linux 6.1 and 6.12 alike: how full each CPU's loaded and
 * previous magazine was, per size class, and how many magazines the depot
 * held. The trace cannot show them; its first allocations can. Each
 * hypothesis is replayed over the learning phase (`learning.ts`), and the
 * one under which the model most often hands out what the kernel did wins:
 * the trace's own IOVA, or an IOVA cached before the trace where the model
 * pops a placeholder (or misses alike). A wrong fill level shows there: a
 * CPU that runs out of cached IOVAs, swaps magazines or pushes one to the
 * depot at another allocation than the kernel's hands out other IOVAs.
 *
 * The trace is read twice. The first reading (`LearningWindow`) keeps the
 * events up to the end of the learning phase (a bounded number: the phase
 * ends once every CPU has turned its caches over) and counts the domain's
 * allocations; the search replays those events only; the second reading is
 * the replay, from the state found. Without the search (and without
 * `--strict-input`), the replay starts as soon as the window is over, in
 * the same reading, with the phase not capped, and only where the cap turns
 * out to have been due (`capAgrees`) is the trace read again.
 *
 * In lazy mode the flush-queue rings' entries from before the trace join the
 * numbers, and the phase's agreement no longer tells them apart: there the
 * search is `busy-start.ts`'s, over a longer window.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { TraceEvent } from "../trace/events.ts";
import { isKernelWorkEvent } from "../trace/events.ts";
import { type ReconstructOptions, Reconstructor } from "../trace/reconstruct.ts";
import { type BusyBudget, type BusySearch, BusyStartSearch, type TrialPool } from "./busy-start.ts";
import { LiveAtStart, type LiveMapping } from "./live-at-start.ts";
import { Replayer, type ReplayOptions, traceMachineOf } from "./replay.ts";
import { copyStartState, emptyStartState, type StartState } from "./start-state.ts";
import { TimerFlushes } from "./timer-flushes.ts";

/** Events kept after the probe's learning phase ended, so every hypothesis's phase ends inside the window. */
const TAIL_EVENTS = 4096;
/** The most entries a flush-queue ring holds before `queue_iova()` flushes it (IOVA_DEFAULT_FQ_SIZE - 1). */
const RING_ENTRIES = 255;
/** Hypotheses replayed at most: the search's time bound (each replays the whole phase). */
const MAX_TRIALS = 240;
/**
 * Events after a first allocation that looks like a fresh domain's in which an
 * unmap of a mapping the trace never made still proves a mid-life start.
 */
const LIVE_EVENTS = 16384;
/** Events kept at most, whatever the phase does (the first reading's memory bound). */
const MAX_WINDOW_EVENTS = 200_000;
/**
 * Events from the trace's start a lazy trace's search replays at least (`busy-start.ts`): about 15,000 maps of a
 * busy disk. A wrong ring count or fill shows at the first magazine boundaries after the first flushes, but a
 * wrong state can explain a shorter window whole: with 10,000 events, the 6.1 mid-life capture cut at its lines
 * 11,930 and 322,126 were searched to states that placed 28.79% and 32.81% of what they could show, where the
 * kernel's own fill levels place 100.00%, and so do the states found in 30,000 (in 23 and 25 s). A class of large
 * IOVAs in a mixed-size window allocates a few hundred in 10,000, too few for its magazine boundaries to tell its
 * fill levels (the 6.1 lazy-timers trace cut at its line 83,175: its 16p class's state explained its whole window
 * of 10,000 events and placed 93.8% of the trace; 30,000 pin it).
 */
const BUSY_EVENTS = 30_000;
/**
 * Events from the trace's start the last search (`searchAgain(true)`) replays: twice the first's. A window
 * explained whole by a wrong state is explained whole by several (the 6.12 mid-life capture cut at its line
 * 740,000: the first climb's state and the restarts' both explain its first 30,000 events and place 98.37% and
 * 98.40% of what the trace could show; over its whole 37,277 lines neither explains the window, the kernel's own
 * fill levels miss only a tree allocation below space taken before the cut, and the restarts find a state that
 * places 100.00%). Only that search pays for it: a cut the first window's restarts serve keeps its time (the
 * 6.12 capture cut at its line 127,273: 42 s, and 157 s with its restarts over 60,000 events).
 */
const AGAIN_EVENTS = 2 * BUSY_EVENTS;

/**
 * The first reading: takes every event of the trace (`push`), finds the
 * mappings live at its start among the learning phase's events, keeps those
 * events for `search` (with `keepEvents`), and counts the replayed domain's
 * allocations.
 */
export class LearningWindow {
  readonly events: TraceEvent[] = [];
  /** How many of `events` the window itself holds; a lazy trace's search keeps more (`BUSY_EVENTS`, `AGAIN_EVENTS`). */
  private windowEvents = 0;
  private readonly opts: ReplayOptions;
  private keepEvents: boolean;
  /** Keep the events only while the trace may have started busy (`keepEvents` "busy"). */
  private readonly keepIfBusy: boolean;
  /** The first flush-queue timer event's type (`fq_flush_timeout`), null before it. */
  private firstFqTimer: "timer_start" | "timer_expire_entry" | null = null;
  private readonly rec: Reconstructor;
  private readonly rcOpts: ReconstructOptions;
  /** Replays the window from an empty start, to see where the learning phase ends. */
  private probe: Replayer | null;
  private readonly domain: string;
  /** Events of the window so far. */
  private seen = 0;
  /** `seen` when the probe's phase ended (-1: not yet). */
  private tail = -1;
  /** Null until the probe's first allocation says whether the trace starts mid-life. */
  private mid: boolean | null = null;
  /** Allocations of the domain inside the window, by size class. */
  readonly classes = new Map<number, number>();
  /** Allocations of the domain in the trace's first BUSY_EVENTS events (a lazy search's window), by size class. */
  private readonly busyClasses = new Map<number, number>();
  /** Events taken so far (`push`). */
  private read = 0;
  private readonly sizeClass: (bytes: number) => number;
  /** Unmaps of mappings live at the start, among the window's events. */
  private readonly liveFinder: LiveAtStart;
  /** A lazy trace's search (`busy-start.ts`), kept for `searchAgain`. */
  private busy: BusyStartSearch | null = null;
  /** The search over `AGAIN_EVENTS` (`searchAgain` with `longer`), made at its first call. */
  private longerBusy: BusyStartSearch | null = null;
  /** Threads that run a lazy search's trials ahead of it (`BusySearch.pool`): the same states found, sooner. */
  pool: TrialPool | undefined;

  /**
   * `keepEvents`: keep the window's events for `search`; "busy": only while
   * the trace may have started busy (until its first flush-queue timer
   * event, if that is a `timer_start`, shows it did not: `busyStart`).
   */
  constructor(opts: ReplayOptions, rcOpts: ReconstructOptions, keepEvents: boolean | "busy" = true) {
    this.opts = {
      ...opts,
      emitIova: undefined,
      emitAddress: undefined,
      emitLines: undefined,
      start: undefined,
      traceAllocations: undefined,
      live: undefined,
    };
    this.keepEvents = keepEvents !== false;
    this.keepIfBusy = keepEvents === "busy";
    this.rcOpts = rcOpts;
    const probe = new Replayer(this.opts);
    this.probe = probe;
    this.domain = probe.domain;
    const iovad = probe.kernel.dma.cookieOf(probe.dev)?.iovad;
    this.sizeClass = (bytes) => (iovad ? iovad.sizeClass(Math.ceil(bytes / iovad.granule)) : 0);
    this.liveFinder = new LiveAtStart(iovad?.granule ?? 4096);
    this.rec = new Reconstructor(rcOpts, (c) => {
      const p = this.probe;
      const mine = c.kind === "map" && c.domain === this.domain;
      if (mine && this.read <= BUSY_EVENTS) {
        const k = this.sizeClass(c.sizeBytes);
        this.busyClasses.set(k, (this.busyClasses.get(k) ?? 0) + 1);
      }
      if (p === null) return;
      if (mine) {
        const k = this.sizeClass(c.sizeBytes);
        this.classes.set(k, (this.classes.get(k) ?? 0) + 1);
      }
      p.push(c);
    });
  }

  /**
   * Whether the window is over and the trace starts mid-life: the mappings
   * live at its start are known (`live`); only the count of its allocations
   * still needs the rest of the trace.
   */
  get closedMidLife(): boolean {
    return this.probe === null && this.mid === true;
  }

  /** Whether the rest of the trace is of no use (a trace from boot: nothing to learn, no count needed). */
  get done(): boolean {
    return this.mid === false;
  }

  /**
   * Whether the trace starts mid-life with the flush-queue timer armed: its
   * first `fq_flush_timeout` event is an expiry, so the timer was armed
   * before the trace and the rings held unmaps from before it (a capture
   * begun while the disk was busy, `busy-start.ts`).
   */
  get busyStart(): boolean {
    return this.mid === true && this.firstFqTimer === "timer_expire_entry";
  }

  /**
   * Whether, the window over and the replay going on in the same reading,
   * the search (`search`) still wants the next events: a busy start's first
   * AGAIN_EVENTS, as a reading for `--search-start` would have kept them.
   */
  get wantsEvents(): boolean {
    return this.mid === true && this.keepEvents && this.events.length < AGAIN_EVENTS;
  }

  /**
   * After `end`: the window of another device of the machine (its own
   * domain, allocator and learning phase) over the events this one kept, to
   * search that device's start as this one's (`search`); null where this
   * window kept none (a trace not begun busy). A lazy search's window is the
   * trace's first events whichever device they are of.
   */
  forDevice(device: string): LearningWindow | null {
    if (this.events.length === 0) return null;
    const w = new LearningWindow(
      { ...this.opts, device },
      { ...this.rcOpts, machine: traceMachineOf(this.opts.machine, device) },
      true,
    );
    w.pool = this.pool;
    for (const e of this.events) w.push(e);
    w.end();
    return w;
  }

  /** Takes the next event of the trace. */
  push(e: TraceEvent): void {
    if (this.mid === false) return;
    this.read++;
    if (this.firstFqTimer === null && (e.type === "timer_start" || e.type === "timer_expire_entry")) {
      if (TimerFlushes.concerns(e)) {
        this.firstFqTimer = e.type;
        if (e.type === "timer_start" && this.keepIfBusy) {
          // Begun with the timer unarmed: not a busy start, nothing for a search to keep.
          this.keepEvents = false;
          this.events.length = 0;
          this.windowEvents = 0;
        }
      }
    }
    const p = this.probe;
    if (p === null) {
      // After the window: the count of allocations, and (while the start is in doubt) the unmaps that prove it.
      if (!isKernelWorkEvent(e)) this.rec.push(e);
      if (this.mid === null) {
        this.seen++;
        if (this.keepEvents) this.keep(e);
        this.liveFinder.push(e);
        if (this.liveFinder.found.length > 0) this.mid = true;
        else if (this.seen >= this.tail + LIVE_EVENTS) this.fromBoot();
      } else if (this.mid === true && this.keepEvents && this.events.length < AGAIN_EVENTS) this.events.push(e);
      return;
    }
    this.seen++;
    if (this.keepEvents) this.keep(e);
    this.liveFinder.push(e);
    if (isKernelWorkEvent(e)) p.pushWork(e);
    else this.rec.push(e);
    if (this.mid === null && (p.learningStarted || this.liveFinder.found.length > 0)) this.mid = true;
    if (this.tail < 0 && !p.learningRunning) {
      this.tail = this.seen;
      // The first allocation looked like a fresh domain's: a little further, an unmap may still prove otherwise.
      if (this.mid === null) {
        this.probe = null;
        return;
      }
    }
    if ((this.tail >= 0 && this.seen >= this.tail + TAIL_EVENTS) || this.seen >= MAX_WINDOW_EVENTS) this.closeWindow();
  }

  /** Keeps an event of the window itself. */
  private keep(e: TraceEvent): void {
    this.events.push(e);
    this.windowEvents = this.events.length;
  }

  private fromBoot(): void {
    this.mid = false;
    this.probe = null;
    this.events.length = 0;
  }

  private closeWindow(): void {
    this.probe = null;
    if (this.mid !== true) this.fromBoot();
  }

  /** After the last event: the domain's allocations in the whole trace (0 for a trace from boot: not needed). */
  end(): number {
    if (this.mid === false) return 0;
    this.probe = null;
    this.rec.end();
    if (this.mid !== true) {
      this.fromBoot();
      return 0;
    }
    return this.rec.stats.allocations.get(this.domain) ?? 0;
  }

  /**
   * After `end`: every domain's allocations in the whole trace (another
   * device's replay caps its phase by its own domain's, `learning.ts`).
   */
  get allocationsByDomain(): ReadonlyMap<string, number> {
    return new Map(this.rec.stats.allocations);
  }

  /** The mappings live at the start that the window's unmaps show (none for a trace from boot). */
  get live(): LiveMapping[] {
    return this.midLife ? this.liveFinder.found : [];
  }

  /** Whether the trace starts mid-life (known after `end`). */
  get midLife(): boolean {
    return this.mid === true;
  }

  /**
   * Whether a lazy search of this window searches several size classes
   * (`searchClasses`): each class its window (the trace's first
   * BUSY_EVENTS events) allocates a magazine's worth of or more.
   */
  get searchesClasses(): boolean {
    const probe = new Replayer(this.opts);
    const iovad = probe.kernel.dma.cookieOf(probe.dev)?.iovad;
    return iovad !== undefined && this.searchedClasses(iovad, true).length > 1;
  }

  /**
   * The size classes the window allocates a magazine's worth of or more: the others cannot show where their
   * magazines were full. `lazy`: the window a lazy search replays (`BUSY_EVENTS`), not the learning phase's,
   * which can be a fifth of it: the 6.12 lazy-timers trace cut at its line 263,645 allocates 70 2p and 98 8p
   * IOVAs in its phase's 6,212 events and 254 and 386 in the search's 30,000, and its kernel's 8p fill (CPU 0
   * 93 loaded), left empty, costs a sixth of what the trace could show (100.00% to 83.24%).
   */
  private searchedClasses(iovad: IovaDomain, lazy: boolean): number[] {
    return [...(lazy ? this.busyClasses : this.classes)]
      .filter(([k, n]) => k < iovad.rcacheOrders && n >= iovad.profile.magazineSize)
      .map(([k]) => k);
  }

  /**
   * The start state under which the replay of the window agrees most with
   * the trace (see the file comment); the empty state for a trace from boot.
   * `traceAllocations` from `end()`. `restarts`: a lazy trace's search also
   * climbs again (across CPUs, then from random starts) where the first
   * climb explains less than half of its window, and takes a state that
   * explains all of it
   * (`BusyStartSearch.restarts`; on every cut measured where the first
   * climb explained more, its state was the one to replay, or no state of
   * the searched numbers was, and the restarts' time went for nothing).
   * `budget`: the lazy search's bounds (`BUSY_BUDGET` unless a test sets
   * smaller ones).
   */
  search(traceAllocations: number, restarts = false, budget?: Readonly<BusyBudget>): StartState {
    const probe = new Replayer(this.opts);
    const cpus = probe.kernel.cpus;
    const iovad = probe.kernel.dma.cookieOf(probe.dev)?.iovad;
    const orders = iovad?.rcacheOrders ?? 0;
    let best = emptyStartState(orders, cpus);
    if (!this.midLife || !iovad || this.events.length === 0) return best;
    const cap = iovad.profile.magazineSize;
    const lazy = probe.kernel.dma.cookieOf(probe.dev)?.fq != null;
    const depotCap = Math.min(iovad.profile.depotMax, 32);
    const searched = this.searchedClasses(iovad, lazy);
    // What every class's search shares: the window, the domain and its bounds.
    const shared: Omit<BusySearch, "sizeClass"> = {
      events: this.events.length > BUSY_EVENTS ? this.events.slice(0, BUSY_EVENTS) : this.events,
      opts: this.opts,
      rcOpts: this.rcOpts,
      live: this.live,
      traceAllocations,
      domain: this.domain,
      cpus,
      orders,
      magazine: cap,
      depotMax: depotCap,
      ringMax: RING_ENTRIES,
      budget,
      pool: this.pool,
    };
    if (lazy && searched.length > 1) {
      return this.searchClasses(searched, { ...shared, byClass: true }, restarts);
    }
    if (lazy && searched.length > 0) {
      const busy = new BusyStartSearch({ ...shared, sizeClass: searched[0] });
      this.busy = busy;
      const found = busy.fromEmpty();
      return (restarts && busy.explainedShare < 0.5 && busy.restarts()) || found;
    }
    const window = this.events.slice(0, this.windowEvents);
    let trials = 0;
    const score = (s: StartState): number => {
      trials++;
      const rp = new Replayer({
        ...this.opts,
        start: s,
        traceAllocations,
        live: this.live,
        learningAdopts: false,
        choicesInPhase: false,
      });
      const rec = new Reconstructor(this.rcOpts, (c) => rp.push(c));
      for (const e of window) {
        if (isKernelWorkEvent(e)) rp.pushWork(e);
        else rec.push(e);
      }
      const r = rp.end();
      return r.learning.agreed;
    };
    let bestScore = score(best);
    const sum = (s: StartState): number =>
      s.classes.reduce(
        (a, c) => a + c.depot * cap + c.loaded.reduce((x, y) => x + y, 0) + c.prev.reduce((x, y) => x + y, 0),
        0,
      );
    type Knob = { get: (s: StartState) => number; set: (s: StartState, v: number) => void; max: number };
    const knobs: Knob[] = [];
    for (const k of searched.sort((a, b) => a - b)) {
      // First what a CPU's pair holds in all, the previous magazine full before the loaded one holds any (a
      // CPU that freed last swapped its full loaded magazine there); then the depot; then each magazine alone.
      for (let cpu = 0; cpu < cpus; cpu++) {
        knobs.push({
          get: (s) => s.classes[k].loaded[cpu] + s.classes[k].prev[cpu],
          set: (s, v) => {
            s.classes[k].prev[cpu] = Math.min(v, cap);
            s.classes[k].loaded[cpu] = v - Math.min(v, cap);
          },
          max: 2 * cap,
        });
      }
      knobs.push({ get: (s) => s.classes[k].depot, set: (s, v) => (s.classes[k].depot = v), max: depotCap });
      for (let cpu = 0; cpu < cpus; cpu++) {
        knobs.push({ get: (s) => s.classes[k].loaded[cpu], set: (s, v) => (s.classes[k].loaded[cpu] = v), max: cap });
        knobs.push({ get: (s) => s.classes[k].prev[cpu], set: (s, v) => (s.classes[k].prev[cpu] = v), max: cap });
      }
    }
    // Coordinate search, coarse to fine; a value replaces the current one only when it scores strictly more, so
    // of equal hypotheses the one with fewer placeholders stays.
    for (let round = 0; round < 2 && trials < MAX_TRIALS; round++) {
      let moved = false;
      for (const knob of knobs) {
        if (trials >= MAX_TRIALS) break;
        for (const step of [16, 4, 1]) {
          const at = knob.get(best);
          const lo = step === 16 ? 0 : Math.max(0, at - 3 * step);
          const hi = step === 16 ? knob.max : Math.min(knob.max, at + 3 * step);
          const values: number[] = [];
          for (let v = lo; v <= hi; v += step) if (v !== at) values.push(v);
          if (step === 16 && values[values.length - 1] !== knob.max && knob.max !== at) values.push(knob.max);
          for (const v of values) {
            const s = copyStartState(best);
            knob.set(s, v);
            const sc = score(s);
            if (sc > bestScore || (sc === bestScore && sum(s) < sum(best))) {
              if (sc > bestScore) moved = true;
              best = s;
              bestScore = sc;
            }
          }
        }
      }
      if (!moved) break;
    }
    return best;
  }

  /**
   * A lazy search of a window that allocates several size classes: each
   * class's fill levels in turn, smallest IOVAs first, scored on that
   * class's allocations alone (`BusyWindow.byClass`) from the state the
   * classes before it were found in. A class's magazines and depot are its
   * own: another class's state changes only which IOVAs the tree hands out
   * where both miss, while an unknown class's misses, scored too, would end
   * a CPU's run before the searched class's boundaries show (the 6.1
   * lazy-timers trace cut at its line 83,175, six classes filled: the
   * search of its 1p class alone, every other class empty, found nothing
   * better than the empty start, 62.04% of what the trace could show; the
   * classes in turn, 100.00%). With `restarts`, a class whose climb
   * explains less than half of its window climbs again (`restarts`).
   */
  private searchClasses(searched: number[], shared: Omit<BusySearch, "sizeClass">, restarts: boolean): StartState {
    let state: StartState | undefined;
    for (const sizeClass of [...searched].sort((a, b) => a - b)) {
      const busy = new BusyStartSearch({ ...shared, sizeClass, base: state });
      let found = busy.fromEmpty();
      if (restarts && busy.explainedShare < 0.5) found = busy.restarts() ?? found;
      state = found;
    }
    // `searchAgain` climbs one class's numbers again: here each class has had its restarts already.
    this.busy = null;
    return state as StartState;
  }

  /**
   * After `search(…, false)` of a lazy trace, for a replay from the state
   * found so far that still misses what the trace could show: the restarts
   * of its search from the first climb's state (`BusyStartSearch.restarts`,
   * with `tieBreak` the climbs that break the first stage's ties); with
   * `longer`, those of a search of a window twice as long (`AGAIN_EVENTS`).
   * A state that explains the whole window, or the restarts' best at the
   * last stage where that is new and better than the first climb's; else
   * null (none, the first climb's state explains the window already, the
   * trace is no longer than the first window, or its search was not a lazy
   * one).
   */
  searchAgain(longer = false, tieBreak = false): StartState | null {
    const first = this.busy;
    if (first === null) return null;
    if (!longer) return first.explainedShare >= 1 ? null : first.restarts(tieBreak);
    if (this.events.length <= first.windowEvents) return null;
    this.longerBusy ??= first.over(this.events);
    const busy = this.longerBusy;
    return busy.explainedShare >= 1 ? null : busy.restarts(tieBreak);
  }
}
