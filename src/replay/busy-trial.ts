/**
 * One trial of the busy-start search (`busy-start.ts`): the window replayed
 * from one start vector, scored by how far each CPU's allocations agree with
 * the trace before that CPU's first few differences.
 *
 * A trial is a pure function of its vector and its stage: the window, the
 * domain and the numbers' layout are fixed for a search, every trial runs on
 * a replay of its own, and what it shares with other trials (the
 * placeholders' trees, `PlaceholderCache`) is a cache of what each would
 * build alike. So a trial may run anywhere, in any order, and more than once:
 * on another thread (`TrialPool`), ahead of the search asking for it, or not
 * at all where the search finds its result kept. Its result carries what the
 * search counts against its bounds (the events it replayed, the calls it
 * replayed again), so the search spends them as if it had run the trial
 * itself, at the moment it asks.
 *
 * Replay-only, and with no thread of its own: a `TrialPool` is given by the
 * caller (the command's runs trials on worker threads).
 */

import type { KernelWorkEvent, TraceEvent } from "../trace/events.ts";
import { isKernelWorkEvent } from "../trace/events.ts";
import { type DmaCall, type ReconstructOptions, Reconstructor } from "../trace/reconstruct.ts";
import type { LiveMapping } from "./live-at-start.ts";
import { PlaceholderCache } from "./placeholder-cache.ts";
import { Replayer, type ReplayOptions } from "./replay.ts";
import { copyStartState, emptyStartState, type StartState } from "./start-state.ts";
import { TimerFlushes } from "./timer-flushes.ts";

/**
 * Differences per CPU after which its run ends, by stage: first the first difference (each boundary pinned
 * in time order), then twenty (a miss the start state cannot help, or a pair of numbers still to move, no
 * longer hides every later boundary).
 */
export const STAGES = [1, 20];
/** Events between two looks at whether every CPU's run has ended. */
const EXIT_STRIDE = 256;

/**
 * What a busy-start search replays and the numbers it searches, for one size
 * class: plain data, so that a trial can be set up on another thread from a
 * copy of it.
 */
export interface BusyWindow {
  events: readonly TraceEvent[];
  opts: ReplayOptions;
  rcOpts: ReconstructOptions;
  live: LiveMapping[];
  traceAllocations: number;
  /** The replayed domain. */
  domain: string;
  cpus: number;
  /** Size classes of the domain's rcaches, and the one searched. */
  orders: number;
  sizeClass: number;
  /** Entries a magazine holds, magazines the depot holds at most, entries a ring holds at most. */
  magazine: number;
  depotMax: number;
  ringMax: number;
  /** The other classes' fill levels, as an earlier class's search left them (default: empty). */
  base?: StartState;
  /**
   * Only the searched class's allocations are scored (in a window of several classes, another class's miss, its
   * own fill levels still unknown, would end a CPU's run before the searched class's boundaries show).
   */
  byClass?: boolean;
}

/**
 * The numbers of the searched class as one vector: each CPU's loaded fill,
 * each CPU's previous magazine (0 empty, 1 full), the depot, each CPU's ring.
 */
export type Numbers = number[];

/** What a trial asks: its vector, the differences per CPU that end a run (`STAGES`), and how it is scored. */
export interface TrialAsk {
  v: Numbers;
  /** The stage: differences per CPU after which a run ends. */
  primary: number;
  /** At the first stage, each CPU's run goes on to the last stage's end, agreement past the first counting less than one allocation. */
  tieBreak: boolean;
  /** Only allocations after the learning phase count, and the empty vector is the replay's default (adopting). */
  judge: boolean;
}

/** A trial's score, and what it spent of the search's bounds. */
export interface TrialResult {
  score: number;
  /** Events of the window replayed. */
  replayed: number;
  /** Calls the replay's own trials replayed again (`Replayer.extraApplies`). */
  extra: number;
}

/** The key of a trial within one search: equal keys, equal results. */
export function trialKey(t: TrialAsk): string {
  return `${t.primary}${t.tieBreak ? "t" : ""}${t.judge ? "j" : ""}:${t.v.join(",")}`;
}

/** One map line of the window: the trace's IOVA, its CPU, and whether the trace unmapped that IOVA before. */
interface Shown {
  iova: number;
  cpu: number;
  known: boolean;
  /** Its allocation's size class (-1 where the search scores every class). */
  cls: number;
}

/** The window's map lines of `domain`, in line order, as the replay emits them: from the feed's calls, before any trial. */
function shownMaps(domain: string, feed: Feed, classOf?: (bytes: number) => number): Shown[] {
  const ev: { line: number; map: boolean; iova: number; cpu: number; cls: number }[] = [];
  for (let j = 0; j < feed.items.length; j++) {
    if (feed.work[j] === 1) continue;
    const c = feed.items[j] as DmaCall;
    if (c.domain !== domain) continue;
    if (c.kind === "map") {
      const cls = classOf === undefined ? -1 : classOf(c.sizeBytes);
      for (let i = 0; i < c.mapLines.length; i++)
        ev.push({ line: c.mapLines[i], map: true, iova: c.iova + c.mapOffsets[i], cpu: c.cpu, cls });
    } else ev.push({ line: c.line, map: false, iova: c.iova, cpu: c.cpu, cls: -1 });
  }
  ev.sort((x, y) => x.line - y.line);
  const unmapped = new Set<number>();
  const out: Shown[] = [];
  for (const e of ev) {
    if (e.map) out.push({ iova: e.iova, cpu: e.cpu, known: unmapped.has(e.iova), cls: e.cls });
    else unmapped.add(e.iova);
  }
  return out;
}

/**
 * What every trial hands the replay, in the order it hands it: the window's
 * calls as the reconstruction gives them, and its timer and work events. The
 * reconstruction does not depend on the start state, so it runs once for the
 * whole search instead of once a trial (about a fifth of a trial's time).
 */
interface Feed {
  items: (DmaCall | KernelWorkEvent)[];
  /** 1 where `items` holds a timer or work event. */
  work: Uint8Array;
  /** After each EXIT_STRIDE-th event of the window, how many items the replay has been handed. */
  looks: number[];
  /** Items given before the reconstruction's end (the rest are the calls it gives at its end). */
  beforeEnd: number;
}

function feedOf(b: BusyWindow): Feed {
  const items: (DmaCall | KernelWorkEvent)[] = [];
  const work: number[] = [];
  const looks: number[] = [];
  const rec = new Reconstructor(b.rcOpts, (c) => {
    items.push(c);
    work.push(0);
  });
  let i = 0;
  for (const e of b.events) {
    if (isKernelWorkEvent(e)) {
      items.push(e);
      work.push(1);
    } else rec.push(e);
    if (++i % EXIT_STRIDE === 0) looks.push(items.length);
  }
  const beforeEnd = items.length;
  rec.end();
  return { items, work: Uint8Array.from(work), looks, beforeEnd };
}

/**
 * 1 for each of a machine's `cpus` CPUs that makes one of `calls` in `domain`
 * (a call on a CPU past them counts for its number modulo them, as the
 * replay runs it): the CPUs whose magazines a window touches.
 */
export function callingCpus(calls: readonly DmaCall[], domain: string, cpus: number): Uint8Array {
  const calling = new Uint8Array(cpus);
  for (const c of calls) if (c.domain === domain) calling[c.cpu % cpus] = 1;
  return calling;
}

/** The start state of `v` (every other class as `b.base` has it, else empty). */
export function stateOf(b: BusyWindow, v: Numbers): StartState {
  const n = b.cpus;
  const s = b.base === undefined ? emptyStartState(b.orders, n) : copyStartState(b.base);
  s.classes[b.sizeClass] = {
    loaded: v.slice(0, n),
    prev: v.slice(n, 2 * n).map((x) => x * b.magazine),
    depot: v[2 * n],
    queued: v.slice(2 * n + 1, 3 * n + 1),
  };
  s.pinned = true;
  return s;
}

/** The size class of an allocation of `bytes` in the replayed domain (as `iova_rcache_get()` rounds it). */
function classOfDomain(b: BusyWindow): (bytes: number) => number {
  const probe = new Replayer(b.opts);
  const iovad = probe.kernel.dma.cookieOf(probe.dev)?.iovad;
  if (iovad === undefined) return () => -1;
  return (bytes) => iovad.sizeClass(Math.ceil(bytes / iovad.granule));
}

/**
 * Timer periods after the first flush-queue timer expiry over which `unmapsPerPeriod` counts: the rate that
 * filled the rings is the trace's first one, and a later one may differ tenfold (the 6.12 lazy-timers trace cut
 * at its line 263,645: CPU 1 unmaps 0 to 6 32p IOVAs a period in its first four, 31 to 78 in the next five).
 */
const RATE_PERIODS = 4;

/**
 * `BusyTrials.unmapsPerPeriod` of a search by class: each CPU's unmaps of the searched class in the part of a
 * period before the window's first expiry and in the `RATE_PERIODS` after it, the most of any one of them.
 */
function unmapsPerPeriod(b: BusyWindow, feed: Feed): number[] {
  const classOf = classOfDomain(b);
  // By line, not by the feed's order: the reconstruction may hand a call on thousands of events after its line.
  const expiries: number[] = [];
  for (let j = 0; j < feed.items.length && expiries.length <= RATE_PERIODS; j++) {
    if (feed.work[j] === 0) continue;
    const e = feed.items[j] as KernelWorkEvent;
    if (e.type === "timer_expire_entry" && TimerFlushes.concerns(e)) expiries.push(e.line);
  }
  if (expiries.length === 0) return new Array<number>(b.cpus).fill(Number.POSITIVE_INFINITY);
  // counts[p * cpus + cpu]: the unmaps of period p (0: before the first expiry) on that CPU.
  const counts = new Array<number>(expiries.length * b.cpus).fill(0);
  for (let j = 0; j < feed.items.length; j++) {
    if (feed.work[j] === 1) continue;
    const c = feed.items[j] as DmaCall;
    if (c.kind !== "unmap" || c.domain !== b.domain || c.line >= expiries[expiries.length - 1]) continue;
    if (classOf(c.sizeBytes) !== b.sizeClass) continue;
    let p = 0;
    while (c.line >= expiries[p]) p++;
    counts[p * b.cpus + (c.cpu % b.cpus)]++;
  }
  const most = new Array<number>(b.cpus).fill(0);
  for (let i = 0; i < counts.length; i++) most[i % b.cpus] = Math.max(most[i % b.cpus], counts[i]);
  return most;
}

/** The trials of one search: its window's maps and calls, rebuilt once, and each trial replayed from them. */
export class BusyTrials {
  readonly window: BusyWindow;
  private readonly shown: Shown[];
  private readonly feed: Feed;
  private readonly placeholders = new PlaceholderCache();
  /** The window's maps the score counts: all of them, or the searched class's (`BusyWindow.byClass`). */
  readonly scored: number;
  /**
   * 1 for each CPU that maps or unmaps in the replayed domain in the window: only those CPUs' magazines are
   * ever touched there (another CPU's ring still is, by every flush).
   */
  readonly calling: Uint8Array;
  /**
   * For each CPU, the most unmaps of the searched class it made between two flush-queue timer expiries at the
   * window's start (`RATE_PERIODS`): Infinity where the window has no expiry or the search is not by class.
   */
  readonly unmapsPerPeriod: number[];
  /** How many CPUs have a map the score counts: when each of their runs has ended, no later event moves it. */
  private readonly scoringCpus: number;

  constructor(b: BusyWindow) {
    this.window = b;
    this.feed = feedOf(b);
    this.shown = shownMaps(b.domain, this.feed, b.byClass === true ? classOfDomain(b) : undefined);
    const scoring = new Uint8Array(b.cpus);
    let mine = 0;
    for (const x of this.shown) {
      if (b.byClass === true && x.cls !== b.sizeClass) continue;
      mine++;
      scoring[x.cpu % b.cpus] = 1;
    }
    this.scored = mine;
    this.scoringCpus = scoring.reduce((a, x) => a + x, 0);
    // Only a search by class bounds its rings by them (`ringCap`): a search of one class reads none.
    this.unmapsPerPeriod =
      b.byClass === true ? unmapsPerPeriod(b, this.feed) : new Array<number>(b.cpus).fill(Number.POSITIVE_INFINITY);
    this.calling = callingCpus(
      this.feed.items.filter((_, j) => this.feed.work[j] === 0) as DmaCall[],
      b.domain,
      b.cpus,
    );
  }

  /**
   * How many of the window's allocations `t.v` gets right before each CPU's `t.primary`-th difference (see
   * `TrialAsk` for the rest), and what that replay spent.
   */
  run(t: TrialAsk): TrialResult {
    const b = this.window;
    const n = b.cpus;
    const shown = this.shown;
    const { v, judge, primary } = t;
    const last = STAGES[STAGES.length - 1];
    const missesPerCpu = t.tieBreak && primary < last ? last : primary;
    let beyond = 0;
    const misses = new Array<number>(n).fill(0);
    let ended = 0;
    let good = 0;
    let k = 0;
    let rp: Replayer | null = null;
    let g = 0;
    const emitAddress = (m: number): void => {
      const want = shown[k++];
      if (want === undefined || rp === null) return;
      const c = want.cpu % n;
      if (misses[c] >= missesPerCpu || (want.cls >= 0 && want.cls !== b.sizeClass)) return;
      if (g === 0) g = rp.kernel.dma.cookieOf(rp.dev)?.iovad.granule ?? 4096;
      // A placeholder stands for any IOVA cached before the trace: one the trace never unmapped before.
      const ok = m === want.iova || (!want.known && m >= 0 && m / g < rp.placeholderTop);
      // Judging, only what the phase leaves to the start state counts: an adopting phase takes the trace's IOVAs.
      if (judge && rp.learningRunning) return;
      if (!ok) {
        if (++misses[c] === missesPerCpu) ended++;
      } else if (misses[c] < primary) good++;
      else beyond++;
    };
    const empty = judge && b.base === undefined && v.every((x) => x === 0);
    const r = new Replayer({
      ...b.opts,
      start: empty ? undefined : stateOf(b, v),
      traceAllocations: b.traceAllocations,
      live: b.live,
      learningAdopts: empty,
      choicesInPhase: false,
      emitAddress,
      describeMismatches: false,
      placeholders: this.placeholders,
    });
    rp = r;
    const score = (): number => good + beyond / (this.scored + 1);
    // Whether every CPU's run has ended is looked at where it was with the events rebuilt one by one: after
    // each EXIT_STRIDE-th event, once the items its reconstruction gave are in.
    const { items, work, looks, beforeEnd } = this.feed;
    let look = 0;
    for (let j = 0; j <= beforeEnd; j++) {
      for (; look < looks.length && looks[look] <= j; look++) {
        // A CPU with no map the score counts never ends its run (a machine's CPUs that do no DMA of the domain).
        if (ended === this.scoringCpus)
          return { score: score(), replayed: (look + 1) * EXIT_STRIDE, extra: r.extraApplies };
      }
      if (j === beforeEnd) break;
      if (work[j] === 1) r.pushWork(items[j] as KernelWorkEvent);
      else r.push(items[j] as DmaCall);
    }
    for (let j = beforeEnd; j < items.length; j++) r.push(items[j] as DmaCall);
    r.end();
    return { score: score(), replayed: b.events.length, extra: r.extraApplies };
  }
}

/**
 * Runs a search's trials ahead of it, on other threads: the search names the
 * trials it will ask for next (`ahead`), in the order it will ask, and takes
 * each result as it comes to it (`take`). A pool may run any of them, in any
 * order, or none: a trial is a pure function of what it asks (see the file
 * comment), so the search's course and result are the same with a pool, with
 * another pool, or without one.
 */
export interface TrialPool {
  /** The trials from now on are of `window`'s search (the same object as the last call's: the same search). */
  begin(window: BusyWindow): void;
  /** The trials the search will most likely ask for next, in order; the ones named before and not begun are dropped. */
  ahead(asks: readonly TrialAsk[]): void;
  /**
   * The result of `ask`, where the pool has it or runs it (waiting for it then, and meanwhile running, with
   * `local`, trials named ahead that no thread has begun); null where the caller is to run it itself.
   */
  take(ask: TrialAsk, local: (t: TrialAsk) => TrialResult): TrialResult | null;
}
