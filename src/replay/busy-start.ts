/**
 * The start-state search for a lazy trace cut while the disk was busy
 * (Linux 6.1 and 6.12 alike): besides each CPU's magazines and the depot
 * (`start-state.ts`), each CPU's flush-queue ring held unmaps from before
 * the trace (`pre-trace-ring.ts`), and together they decide every magazine
 * swap and depot push after the first flush. The learning phase's agreement
 * (what `start-search.ts` scores) is the same under most of these states:
 * an IOVA cached before the trace is a placeholder that matches any IOVA
 * the trace never unmapped, and which magazine held it shows only at a
 * boundary (a loaded magazine that fills or runs dry) much later.
 *
 * So a hypothesis is scored by how far each CPU's allocations agree with
 * the trace before that CPU's first few differences, over a window longer
 * than the phase: the first boundary a wrong number moves ends its CPU's
 * run. A state that pins one boundary scores above one that pins none, and
 * each number is moved to where the next boundary agrees. Besides single
 * numbers, the search moves pairs that hand out the same IOVAs first and
 * differ only later: a CPU's loaded fill against its ring (the ring's
 * entries reach that magazine at the first flush), its previous magazine
 * against a depot magazine, and its loaded fill against a depot magazine.
 * Searched by class, each ring holds at most about what its CPU unmaps of
 * the class in one timer period at the window's start (`ringCap`): the
 * rings are freed at every timer flush, the magazines keep their IOVAs.
 *
 * The replay from the state found runs with the learning phase not adopting
 * (`StartState.pinned`): an adoption replaces the model's IOVA by the
 * trace's in the phase and breaks an equivalent split of the same IOVAs
 * (the 6.1 mid-life capture cut at 45%: 99.88% exact without, 0.74% with).
 *
 * The climb from the empty state can end on a local maximum: a wrong pair
 * of numbers that explains the first boundaries (CPU 1's loaded fill where
 * the kernel had CPU 0's ring entries, flushed into CPU 1's magazine), from
 * which no single move or pair move of one CPU scores more. Where it does
 * not explain enough (its caller says what is: `explainedShare`, or the
 * replay from its state), `restarts` climbs again: from that state with
 * transfers across CPUs too (a CPU's loaded fill against another's ring,
 * ring against ring: a flush frees every ring into the flushing CPU's
 * magazine, so the window pins their sum long before their split), then
 * from that state with one CPU's numbers and the depot drawn at random,
 * without and then with those transfers. It keeps only a state that
 * explains every allocation of the window: one that explains less is no
 * surer than the first climb's.
 *
 * A window of several size classes is searched one class at a time
 * (`LearningWindow.searchClasses`), from the state the classes before left
 * (`BusySearch.base`), each scored on its own class's allocations only
 * (`BusyWindow.byClass`): a class's magazines and depot are its own, and another
 * class's misses would end a CPU's run before the searched class's
 * boundaries show.
 *
 * Deterministic: the order of trials is fixed, the restarts' vectors come
 * from a PRNG of a fixed seed, and the search stops after a fixed number of
 * trials or of events replayed, whatever the clock.
 */

import { Prng } from "../stdx/prng.ts";
import type { TraceEvent } from "../trace/events.ts";
import {
  BusyTrials,
  type BusyWindow,
  type Numbers,
  STAGES,
  stateOf,
  type TrialAsk,
  type TrialPool,
  type TrialResult,
  trialKey,
} from "./busy-trial.ts";
import { emptyStartState, type StartState } from "./start-state.ts";

export type { BusyWindow, TrialPool } from "./busy-trial.ts";

/** Hypotheses replayed at most (each up to every CPU's last counted difference, about 2 to 20 ms on a 2-CPU cut, most about 3). */
const MAX_TRIALS = 5000;
/**
 * Events replayed at most over all trials: the time bound, as trials near the answer run the whole window
 * (10 to 40 s on the 2-CPU cuts measured).
 */
const MAX_EVENTS = 12_000_000;
/**
 * Calls the replay's own trials replay again (`Replayer.extraApplies`), at most over the whole search, climbs
 * and restarts together: the time bound of a search from wrong states. There every flush with calls inside
 * misses and tries its phases at every place, a few hundred replays of its calls (the 6.1 mid-life capture cut
 * at its line 131,236: 40 to 150 ms a hypothesis instead of about 3; counted in neither bound above, the search
 * ran past ten minutes). A bound of its own, not a share of the events': the searches that stop at their
 * events' or trials' bound stop where they did (the 6.12 capture cut at its line 127,273: 0.7 M of these in
 * its 12 M events; the 6.1 capture cut at 15% of its lines, whose state is found: 8.3 M in its 5,000 trials).
 */
const MAX_EXTRA_APPLIES = 24_000_000;
/** Rounds over all the numbers at most. */
const MAX_ROUNDS = 6;
/**
 * Climbs from perturbed start vectors (`BusyStartSearch.restarts`) at most. The score has many local maxima: a
 * wrong pair of numbers that explains the first boundary blocks every single move towards the right pair, and
 * a climb from elsewhere often ends on a state that explains the whole window.
 */
const RESTARTS = 8;
/** Trials of one restart's climb at most (the climbs that explained a whole window took 600 to 1,800). */
const RESTART_TRIALS = 2000;
/** Events replayed at most over all restarts: their time bound (about 30 s on a 2-CPU cut). */
const RESTART_EVENTS = 24_000_000;
/**
 * The most entries of the searched class a CPU's ring may hold at the start, of the most that CPU unmaps of it
 * in one flush-queue timer period at the window's start (`BusyTrials.unmapsPerPeriod`). The ring then held only
 * what the CPU unmapped since the timer was armed: `queue_iova()` arms it at the first unmap after a flush, and
 * `fq_flush_timeout()` frees every ring's entries whose flush is done one timeout later (docs/mid-life-replay.md,
 * "Rings bounded by the timer's period"). Twice that and two more, for a rate that varies from period to period:
 * the kernel's own rings at the two lazy-timers cuts measured hold up to 1.5 times their CPU's most (the 6.1
 * trace at its line 155,324: CPU 1's 4p ring 25, its most 17). Without the bound the window cannot tell a ring's
 * entries from a loaded magazine's on another CPU (a flush frees every ring into the flushing CPU's magazine):
 * the 6.12 trace cut at its line 263,645 was searched to a 1p ring of 170 and a 4p ring of 157 where the
 * kernel's held 32 and 18 (bounds 108 and 58), states that explain the window as well and place 70.91%.
 */
export function ringCap(unmapsPerPeriod: number): number {
  return 2 * (unmapsPerPeriod + 2);
}

/** The restarts' PRNG seed: the same start vectors in every run. */
const RESTART_SEED = 1;

/** The search's bounds (`MAX_TRIALS` and the rest): what a search may spend. */
export interface BusyBudget {
  trials: number;
  events: number;
  restartTrials: number;
  restartEvents: number;
  extraApplies: number;
}

export const BUSY_BUDGET: Readonly<BusyBudget> = {
  trials: MAX_TRIALS,
  events: MAX_EVENTS,
  restartTrials: RESTART_TRIALS,
  restartEvents: RESTART_EVENTS,
  extraApplies: MAX_EXTRA_APPLIES,
};

/** What the search replays and the numbers it searches, for one size class, its bounds, and where its trials run. */
export interface BusySearch extends BusyWindow {
  /** Default `BUSY_BUDGET`. */
  budget?: Readonly<BusyBudget>;
  /** Threads that run trials ahead of the search (default: none, each trial run when asked). */
  pool?: TrialPool;
}

/**
 * The search of one busy start (see the file comment): the window's maps and
 * calls, rebuilt once, and the trials replayed from them.
 */
export class BusyStartSearch {
  private readonly b: BusySearch;
  /** The trials: the window rebuilt once, each replayed from it. */
  private readonly runner: BusyTrials;
  /** Results of the trials run so far, by `trialKey`: a trial asked again is not run again. */
  private readonly kept = new Map<string, TrialResult>();
  /** The window's maps the score counts: all of them, or the searched class's (`BusyWindow.byClass`). */
  private readonly scored: number;
  /** The largest value of each number (the vector's layout: `Numbers`). */
  private readonly max: number[];
  /** The CPUs that map or unmap in the domain in the window (`BusyTrials.calling`), in order. */
  private readonly callingCpus: number[];
  private trials = 0;
  private replayed = 0;
  /** Calls the trials' replays replayed again so far (`MAX_EXTRA_APPLIES`). */
  private extra = 0;
  /** The budget of the climb under way: trials and events replayed up to which it may go on. */
  private readonly budget: Readonly<BusyBudget>;
  private trialsUntil: number;
  private eventsUntil: number;
  /** Differences per CPU after which its run ends (`STAGES`). */
  private missesPerCpu = STAGES[0];
  private best: Numbers;
  private bestScore = 0;
  private moved = false;
  /** Whether a climb also tries the cross-CPU transfers (`crossTransfers`): the restarts' first only. */
  private crossMoves = false;
  /**
   * Whether a first-stage score breaks its ties by the last stage's agreement (`score`; `restarts(true)`).
   * Two states whose first differences fall at the same allocations differ most often in a number the first
   * stage has not reached yet, and the one that agrees further past them is nearer the state to find. Only
   * after the plain climbs: on the 6.12 mid-life capture cut at its line 740,000 the climbs over 60,000 events
   * with it end on a state that explains the window and places 98.39% of the trace, those without it on one
   * that places 100.00%; on the 6.1 cut at its line 480,000 the plain climbs end below 4%, these on 100.00%.
   */
  private tieBreak = false;
  /** The share of the window's allocations the first climb's state explains (after `fromEmpty`). */
  explainedShare = 0;
  /** The first climb's score at the last stage, and its state (`fromEmpty`, `over`). */
  private firstScore = 0;
  private firstBest: Numbers = [];
  /** Of the restarts' climbs, the state that scores most at the last stage, and that score (`restarts`). */
  private runnerUp: Numbers | null = null;
  private runnerUpScore = -1;

  constructor(b: BusySearch) {
    this.b = b;
    this.budget = b.budget ?? BUSY_BUDGET;
    this.trialsUntil = this.budget.trials;
    this.eventsUntil = this.budget.events;
    const { budget: _budget, pool: _pool, ...window } = b;
    this.runner = new BusyTrials(window);
    this.scored = this.runner.scored;
    const n = b.cpus;
    // A CPU's ring holds every class's entries: what the other classes' fill levels queue is not this class's room.
    const ringRoom = (cpu: number): number =>
      b.ringMax - (b.base?.classes ?? []).reduce((a, c, k) => a + (k === b.sizeClass ? 0 : (c.queued?.[cpu] ?? 0)), 0);
    // Only the CPUs that map or unmap in the domain in the window are searched; every number of another is 0.
    // Its magazines are never touched there, so their fill cannot move the score. Its ring could: the timer's
    // flush frees every CPU's ring into the flushing CPU's magazine. But it held entries at the cut only if the
    // CPU unmapped within the flush period before the cut and then did no DMA for the whole window; where it
    // did, the window pins the rings' sum long before their split (`crossTransfers`), which a calling CPU's
    // ring takes. Each number searched costs a round its ~390 trials: on a machine of many CPUs of which a
    // few do DMA, the idle CPUs' numbers spent the search's whole budget before a calling CPU's were reached.
    const calling = this.runner.calling;
    this.callingCpus = Array.from({ length: n }, (_, cpu) => cpu).filter((cpu) => calling[cpu] === 1);
    const ifCalling = (cpu: number, max: number): number => (calling[cpu] === 1 ? max : 0);
    // A class's ring holds what its CPU unmapped of it within a timer period (`ringCap`). Only where the search is
    // by class (elsewhere `unmapsPerPeriod` is Infinity): a bound on every class's unmaps rarely binds, and a
    // narrower range still moves its restarts' draws (the 6.12 mid-life capture cut at its line 740,000 and the two-device cut
    // of test/replay/two-devices-busy.test.ts, whose searches then end on states that miss).
    const ringBound = (cpu: number): number => ringCap(this.runner.unmapsPerPeriod[cpu]);
    this.max = [
      ...Array.from({ length: n }, (_, cpu) => ifCalling(cpu, b.magazine)),
      ...Array.from({ length: n }, (_, cpu) => ifCalling(cpu, 1)),
      b.depotMax,
      ...Array.from({ length: n }, (_, cpu) => ifCalling(cpu, Math.max(0, Math.min(ringRoom(cpu), ringBound(cpu))))),
    ];
    this.best = new Array(3 * n + 1).fill(0);
  }

  /**
   * The climb from the empty state, stage by stage; the replay's own default (the empty start with the phase
   * adopting) where that leaves more exact after the phase in the window (a cut the phase alone learns, the
   * rings' entries gone by its end).
   */
  fromEmpty(): StartState {
    for (const stage of STAGES) {
      this.missesPerCpu = stage;
      this.bestScore = this.score(this.best);
      this.climb();
    }
    this.explainedShare = this.scored === 0 ? 1 : this.bestScore / this.scored;
    this.firstScore = this.bestScore;
    this.firstBest = this.best;
    this.missesPerCpu = STAGES[STAGES.length - 1];
    const empty = new Array<number>(this.best.length).fill(0);
    if (this.score(empty, true) > this.score(this.best, true))
      return this.b.base === undefined ? emptyStartState(this.b.orders, this.b.cpus) : stateOf(this.b, empty);
    return stateOf(this.b, this.best);
  }

  /**
   * The same search over `events` (the trace's first events, more of them than this search's), after
   * `fromEmpty`: its first climb's state is this one's, scored as `fromEmpty` scores its own, and it goes on
   * from what this one spent of the calls its trials may replay again (`MAX_EXTRA_APPLIES`, a bound of the
   * whole search). `restarts` then climbs from that state.
   */
  over(events: readonly TraceEvent[]): BusyStartSearch {
    const s = new BusyStartSearch({ ...this.b, events });
    s.extra = this.extra;
    s.best = [...this.firstBest];
    s.missesPerCpu = STAGES[STAGES.length - 1];
    s.bestScore = s.score(s.best);
    s.explainedShare = s.scored === 0 ? 1 : s.bestScore / s.scored;
    s.firstScore = s.bestScore;
    s.firstBest = s.best;
    return s;
  }

  /** How many of the trace's first events this search replays. */
  get windowEvents(): number {
    return this.b.events.length;
  }

  /**
   * Climbs of the first stage, each in a trial budget of its own: first the first climb's state climbed
   * again with the cross-CPU transfers (`crossTransfers`), then, in one budget of events, climbs from
   * perturbed start vectors. The state of the first that explains every allocation of the window; where none
   * does, the one that explains most at the last stage if that is more than the first climb's state explains
   * there (the caller keeps its replay only where it places more), else null. Each perturbed start is
   * the anchor (the first climb's state, then the state of the restart that scored most) with one CPU's
   * numbers (its loaded fill, `prev` and ring; the CPUs in turn) and the depot drawn again: a climb that
   * ends on a wrong pair has often got the other CPU's numbers right, and keeping them leaves the drawn
   * CPU's to find. Only that first climb again makes cross-CPU transfers: in the first climb, four of the 22
   * busy cuts measured that it serves fell below 3% with them, each ending on another state the window's
   * first boundaries fit; in the perturbed climbs, the 6.12 cut at 15% was no longer served. `tieBreak`: the
   * same climbs with the first stage's ties broken (`BusyStartSearch.tieBreak`), for a caller whose replay
   * from the plain climbs' state still missed.
   */
  restarts(tieBreak = false): StartState | null {
    const first = this.firstBest;
    this.best = first;
    this.tieBreak = tieBreak;
    const before = this.runnerUp;
    const found = this.climbsFrom(first);
    this.tieBreak = false;
    // No climb explains the whole window at the first stage; the one that explains most of it at the last stage,
    // where that is more than the first climb's state explains there (and not the state an earlier call gave):
    // the caller replays the trace from it and keeps the replay only where it places more. The first stage ends
    // each CPU's run at its first difference, which may be a miss no start state helps: the kernel's own state at
    // the 6.1 mid-life capture cut at its line 83,514 explains 3,402 of the window's 4,996 allocations there and
    // 4,994 at the last stage, and the cross-CPU climb reaches a state that does as well (the first climb had
    // spent its trials one move short).
    if (found === null && this.runnerUp !== null && this.runnerUp !== before && this.runnerUpScore > this.firstScore)
      return stateOf(this.b, this.runnerUp);
    return found;
  }

  /** The restarts' climbs from `first` (see `restarts`): the state of the first that explains the whole window, else null. */
  private climbsFrom(first: Numbers): StartState | null {
    // The first climb's state, climbed again with the cross-CPU transfers, in a budget of its own.
    this.missesPerCpu = STAGES[0];
    this.crossMoves = true;
    this.trialsUntil = this.trials + this.budget.restartTrials;
    this.eventsUntil = this.replayed + this.budget.restartEvents;
    this.bestScore = this.score(this.best);
    this.climb();
    this.judgeClimb();
    const crossed = this.best;
    let found = this.bestScore >= this.scored ? stateOf(this.b, crossed) : null;
    this.crossMoves = false;
    found ??= this.perturbed(first);
    if (found === null) {
      // Then the perturbed climbs again, from that state and with the cross-CPU transfers.
      this.crossMoves = true;
      found = this.perturbed(crossed);
      this.crossMoves = false;
    }
    return found;
  }

  /** Scores the climb's state at the last stage and keeps it if it is the restarts' best so far (`runnerUp`). */
  private judgeClimb(): void {
    const stage = this.missesPerCpu;
    this.missesPerCpu = STAGES[STAGES.length - 1];
    const sc = this.score(this.best);
    this.missesPerCpu = stage;
    if (sc > this.runnerUpScore) {
      this.runnerUp = this.best;
      this.runnerUpScore = sc;
    }
  }

  /** The perturbed climbs (see `restarts`) around `from`, in one budget of events of their own. */
  private perturbed(from: Numbers): StartState | null {
    const prng = new Prng(RESTART_SEED);
    const n = this.b.cpus;
    this.eventsUntil = this.replayed + this.budget.restartEvents;
    let anchor = from;
    let anchorScore = -1;
    // The drawn CPU is one that calls in the window: another's loaded fill and `prev` stay 0 (`max`).
    const cpus = this.callingCpus.length > 0 ? this.callingCpus : [0];
    for (let r = 0; r < RESTARTS && this.replayed < this.eventsUntil && this.extra < this.budget.extraApplies; r++) {
      const cpu = cpus[r % cpus.length];
      const v = [...anchor];
      for (const i of [cpu, n + cpu, 2 * n, 2 * n + 1 + cpu]) v[i] = prng.below(this.max[i] + 1);
      this.best = v;
      this.trialsUntil = this.trials + this.budget.restartTrials;
      this.bestScore = this.score(this.best);
      this.climb();
      if (this.bestScore >= this.scored) return stateOf(this.b, this.best);
      this.judgeClimb();
      if (this.bestScore > anchorScore) {
        anchor = this.best;
        anchorScore = this.bestScore;
      }
    }
    return null;
  }

  /** Nothing beats a state that explains the whole window: a climb ends there, or where its budget does. */
  private spent(): boolean {
    return (
      this.trials >= this.trialsUntil ||
      this.replayed >= this.eventsUntil ||
      this.extra >= this.budget.extraApplies ||
      this.bestScore >= this.scored
    );
  }

  /**
   * How many of the window's allocations `v` gets right before each CPU's `missesPerCpu`-th difference;
   * `judge`: only those after the learning phase, and the empty vector as the replay's default (adopting).
   */
  private score(v: Numbers, judge = false): number {
    this.trials++;
    const r = this.result(this.ask(v, judge));
    this.replayed += r.replayed;
    this.extra += r.extra;
    return r.score;
  }

  /** The trial of `v` at the current stage (see `TrialAsk`). */
  private ask(v: Numbers, judge = false): TrialAsk {
    return { v, primary: this.missesPerCpu, tieBreak: this.tieBreak, judge };
  }

  /** The result of trial `t`: kept from an earlier ask, from the pool, or run here. */
  private result(t: TrialAsk): TrialResult {
    const key = trialKey(t);
    let r = this.kept.get(key);
    if (r !== undefined) return r;
    r = this.b.pool?.take(t, this.local) ?? this.runner.run(t);
    this.kept.set(key, r);
    return r;
  }

  private readonly local = (t: TrialAsk): TrialResult => this.runner.run(t);

  /**
   * The trials the climb asks for next where no move before them scores more (each vector in range, in the
   * order asked): the pool may run them meanwhile. Each list is exact where the climb makes it: a loop over one
   * number's values asks the same vectors whether or not one of them moves the best (they differ from it in
   * that number only), and a pair's moves are made from the best before the first of them.
   */
  private aheadOf(vs: readonly Numbers[]): void {
    const pool = this.b.pool;
    if (pool === undefined || this.spent()) return;
    const asks: TrialAsk[] = [];
    for (const v of vs) {
      const t = this.ask(v);
      if (this.inRange(v) && !this.kept.has(trialKey(t))) asks.push(t);
    }
    pool.begin(this.runner.window);
    pool.ahead(asks);
  }

  private inRange(v: Numbers): boolean {
    return v.every((x, i) => x >= 0 && x <= this.max[i]);
  }

  private tryMove(v: Numbers): void {
    if (this.spent() || !this.inRange(v)) return;
    const sc = this.score(v);
    if (sc > this.bestScore) {
      this.best = v;
      this.bestScore = sc;
      this.moved = true;
    }
  }

  private climb(): void {
    const n = this.b.cpus;
    const max = this.max;
    const depot = 2 * n;
    for (let round = 0; round < MAX_ROUNDS && !this.spent(); round++) {
      this.moved = false;
      for (let i = 0; i < max.length; i++) {
        this.aheadOf(valuesOf(this.best, i, max[i]));
        for (let x = 0; x <= max[i]; x++) {
          if (x === this.best[i]) continue;
          const v = [...this.best];
          v[i] = x;
          this.tryMove(v);
        }
      }
      for (let cpu = 0; cpu < n; cpu++) {
        const loaded = cpu;
        const prev = n + cpu;
        const ring = 2 * n + 1 + cpu;
        // The loaded fill against the ring: the same IOVAs first, the ring's after the first flush.
        this.transfer(loaded, ring);
        // The previous magazine against a depot magazine: a CPU that runs dry takes either, 127 IOVAs alike.
        this.tryAll([-1, 1].map((dd) => prevAgainstDepot(this.best, prev, depot, dd)));
        // The loaded fill against a depot magazine.
        this.tryAll(loadedAgainstDepot(this.best, loaded, depot, max[loaded]));
      }
      if (this.crossMoves) this.crossTransfers();
      if (!this.moved) break;
    }
  }

  /**
   * Transfers that keep a sum across CPUs: a CPU's loaded fill against
   * another CPU's ring, and one CPU's ring against another's. The timer's
   * flush frees every CPU's ring into the flushing CPU's magazine, so the
   * window's first flushes pin that CPU's loaded fill plus the rings'
   * entries; how they are split shows only where a CPU frees its own ring's
   * flushed entries into its own magazine, at its next unmap
   * (`queue_iova()` does that first), as after a flush of a full ring,
   * which frees no other CPU's.
   */
  private crossTransfers(): void {
    const n = this.b.cpus;
    const ring = (cpu: number) => 2 * n + 1 + cpu;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i !== j) this.transfer(i, ring(j));
        if (i < j) this.transfer(ring(i), ring(j));
      }
    }
  }

  /** Every move of some of number `c` to number `a` or back, their sum kept, from the best state before the first. */
  private transfer(a: number, c: number): void {
    this.tryAll(transfersOf(this.best, a, c, this.max[a]));
  }

  /** Tries each of `vs` in turn, all made from the best before the first: the pool may run them meanwhile. */
  private tryAll(vs: readonly Numbers[]): void {
    this.aheadOf(vs);
    for (const v of vs) this.tryMove(v);
  }
}

// The vectors the climb's loops try, in their order, for `BusyStartSearch.aheadOf` (the loops build them so too).

/** `best` with number `i` at each other value up to `max`. */
function valuesOf(best: Numbers, i: number, max: number): Numbers[] {
  const out: Numbers[] = [];
  for (let x = 0; x <= max; x++) {
    if (x === best[i]) continue;
    const v = [...best];
    v[i] = x;
    out.push(v);
  }
  return out;
}

/** `b` with its previous magazine flipped and the depot moved by `dd` (a copy). */
function prevAgainstDepot(b: Numbers, prev: number, depot: number, dd: number): Numbers {
  const v = [...b];
  v[prev] = 1 - v[prev];
  v[depot] += dd;
  return v;
}

/** `b` with its loaded fill moved by each amount up to `max` and the depot by one either way. */
function loadedAgainstDepot(b: Numbers, loaded: number, depot: number, max: number): Numbers[] {
  const out: Numbers[] = [];
  for (let x = -b[loaded]; x <= max - b[loaded]; x++) {
    if (x === 0) continue;
    for (const dd of [-1, 1]) {
      const v = [...b];
      v[loaded] += x;
      v[depot] += dd;
      out.push(v);
    }
  }
  return out;
}

/** `b` with some of number `c` moved to number `a` or back, up to `a`'s `max`, their sum kept. */
function transfersOf(b: Numbers, a: number, c: number, max: number): Numbers[] {
  const out: Numbers[] = [];
  for (let x = -b[a]; x <= max - b[a]; x++) {
    if (x === 0) continue;
    const v = [...b];
    v[a] += x;
    v[c] -= x;
    out.push(v);
  }
  return out;
}
