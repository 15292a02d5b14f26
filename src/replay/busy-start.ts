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
 *
 * The replay from the state found runs with the learning phase not adopting
 * (`StartState.pinned`): an adoption replaces the model's IOVA by the
 * trace's in the phase and breaks an equivalent split of the same IOVAs
 * (the 6.1 mid-life capture cut at 45%: 99.88% exact without, 0.74% with).
 *
 * Deterministic: the order of trials is fixed and the search stops after a
 * fixed number of them or of events replayed, whatever the clock.
 */

import type { KernelWorkEvent, TraceEvent } from "../trace/events.ts";
import { isKernelWorkEvent } from "../trace/events.ts";
import { type DmaCall, type ReconstructOptions, Reconstructor } from "../trace/reconstruct.ts";
import type { LiveMapping } from "./live-at-start.ts";
import { PlaceholderCache } from "./placeholder-cache.ts";
import { Replayer, type ReplayOptions } from "./replay.ts";
import { emptyStartState, type StartState } from "./start-state.ts";

/**
 * Differences per CPU after which its run ends, by stage: first the first difference (each boundary pinned
 * in time order), then twenty (a miss the start state cannot help, or a pair of numbers still to move, no
 * longer hides every later boundary).
 */
const STAGES = [1, 20];
/** Hypotheses replayed at most (each up to every CPU's last counted difference, about 2 to 20 ms on a 2-CPU cut, most about 3). */
const MAX_TRIALS = 5000;
/**
 * Events replayed at most over all trials: the time bound, as trials near the answer run the whole window
 * (about 40 s here).
 */
const MAX_EVENTS = 12_000_000;
/** Rounds over all the numbers at most. */
const MAX_ROUNDS = 6;
/** Events between two looks at whether every CPU's run has ended. */
const EXIT_STRIDE = 256;

/** What the search replays and the numbers it searches, for one size class. */
export interface BusySearch {
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
}

/** One map line of the window: the trace's IOVA, its CPU, and whether the trace unmapped that IOVA before. */
interface Shown {
  iova: number;
  cpu: number;
  known: boolean;
}

/** The window's map lines of `domain`, in line order, as the replay emits them. */
function shownMaps(b: BusySearch): Shown[] {
  const ev: { line: number; map: boolean; iova: number; cpu: number }[] = [];
  const rec = new Reconstructor(b.rcOpts, (c) => {
    if (c.domain !== b.domain) return;
    if (c.kind === "map") {
      for (let i = 0; i < c.mapLines.length; i++)
        ev.push({ line: c.mapLines[i], map: true, iova: c.iova + c.mapOffsets[i], cpu: c.cpu });
    } else ev.push({ line: c.line, map: false, iova: c.iova, cpu: c.cpu });
  });
  for (const e of b.events) if (!isKernelWorkEvent(e)) rec.push(e);
  rec.end();
  ev.sort((x, y) => x.line - y.line);
  const unmapped = new Set<number>();
  const out: Shown[] = [];
  for (const e of ev) {
    if (e.map) out.push({ iova: e.iova, cpu: e.cpu, known: unmapped.has(e.iova) });
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

function feedOf(b: BusySearch): Feed {
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
 * The numbers of the searched class as one vector: each CPU's loaded fill,
 * each CPU's previous magazine (0 empty, 1 full), the depot, each CPU's ring.
 */
type Numbers = number[];

/** The start state of `v` (every other class empty). */
function stateOf(b: BusySearch, v: Numbers): StartState {
  const n = b.cpus;
  const s = emptyStartState(b.orders, n);
  s.classes[b.sizeClass] = {
    loaded: v.slice(0, n),
    prev: v.slice(n, 2 * n).map((x) => x * b.magazine),
    depot: v[2 * n],
    queued: v.slice(2 * n + 1, 3 * n + 1),
  };
  s.pinned = true;
  return s;
}

/** The searched start state (see the file comment). */
export function searchBusyStart(b: BusySearch): StartState {
  const n = b.cpus;
  const shown = shownMaps(b);
  const feed = feedOf(b);
  const placeholders = new PlaceholderCache();
  let trials = 0;
  let replayed = 0;
  const spent = (): boolean => trials >= MAX_TRIALS || replayed >= MAX_EVENTS;
  let missesPerCpu = STAGES[0];
  const score = (v: Numbers, judge = false): number => {
    trials++;
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
      if (misses[c] >= missesPerCpu) return;
      if (g === 0) g = rp.kernel.dma.cookieOf(rp.dev)?.iovad.granule ?? 4096;
      // A placeholder stands for any IOVA cached before the trace: one the trace never unmapped before.
      const ok = m === want.iova || (!want.known && m >= 0 && m / g < rp.placeholderTop);
      // Judging, only what the phase leaves to the start state counts: an adopting phase takes the trace's IOVAs.
      if (judge && rp.learningRunning) return;
      if (ok) good++;
      else if (++misses[c] === missesPerCpu) ended++;
    };
    const r = new Replayer({
      ...b.opts,
      start: judge && v.every((x) => x === 0) ? undefined : stateOf(b, v),
      traceAllocations: b.traceAllocations,
      live: b.live,
      learningAdopts: judge && v.every((x) => x === 0),
      emitAddress,
      describeMismatches: false,
      placeholders,
    });
    rp = r;
    // Whether every CPU's run has ended is looked at where it was with the events rebuilt one by one: after
    // each EXIT_STRIDE-th event, once the items its reconstruction gave are in.
    const { items, work, looks, beforeEnd } = feed;
    let look = 0;
    for (let j = 0; j <= beforeEnd; j++) {
      for (; look < looks.length && looks[look] <= j; look++) {
        if (ended === n) {
          replayed += (look + 1) * EXIT_STRIDE;
          return good;
        }
      }
      if (j === beforeEnd) break;
      if (work[j] === 1) r.pushWork(items[j] as KernelWorkEvent);
      else r.push(items[j] as DmaCall);
    }
    replayed += b.events.length;
    for (let j = beforeEnd; j < items.length; j++) r.push(items[j] as DmaCall);
    r.end();
    return good;
  };
  const max: number[] = [
    ...new Array(n).fill(b.magazine),
    ...new Array(n).fill(1),
    b.depotMax,
    ...new Array(n).fill(b.ringMax),
  ];
  const inRange = (v: Numbers): boolean => v.every((x, i) => x >= 0 && x <= max[i]);
  let best: Numbers = new Array(3 * n + 1).fill(0);
  let bestScore = 0;
  let moved = false;
  const tryMove = (v: Numbers): void => {
    if (spent() || !inRange(v)) return;
    const sc = score(v);
    if (sc > bestScore) {
      best = v;
      bestScore = sc;
      moved = true;
    }
  };
  const depot = 2 * n;
  for (const stage of STAGES) {
    missesPerCpu = stage;
    bestScore = score(best);
    climb();
  }
  // The replay's own default, the empty start with the phase adopting, where it leaves more exact after the phase
  // (a cut the phase alone learns, the rings' entries gone by its end).
  missesPerCpu = STAGES[STAGES.length - 1];
  const empty = new Array<number>(best.length).fill(0);
  if (score(empty, true) > score(best, true)) return emptyStartState(b.orders, n);
  return stateOf(b, best);

  function climb(): void {
    for (let round = 0; round < MAX_ROUNDS && !spent() && bestScore < shown.length; round++) {
      moved = false;
      for (let i = 0; i < max.length; i++) {
        for (let x = 0; x <= max[i]; x++) {
          if (x === best[i]) continue;
          const v = [...best];
          v[i] = x;
          tryMove(v);
        }
      }
      for (let cpu = 0; cpu < n; cpu++) {
        const loaded = cpu;
        const prev = n + cpu;
        const ring = 2 * n + 1 + cpu;
        // The loaded fill against the ring: the same IOVAs first, the ring's after the first flush.
        const b0 = [...best];
        for (let x = -b0[loaded]; x <= max[loaded] - b0[loaded]; x++) {
          if (x === 0) continue;
          const v = [...b0];
          v[loaded] += x;
          v[ring] -= x;
          tryMove(v);
        }
        // The previous magazine against a depot magazine: a CPU that runs dry takes either, 127 IOVAs alike.
        const b1 = [...best];
        for (const dd of [-1, 1]) {
          const v = [...b1];
          v[prev] = 1 - v[prev];
          v[depot] += dd;
          tryMove(v);
        }
        // The loaded fill against a depot magazine.
        const b2 = [...best];
        for (let x = -b2[loaded]; x <= max[loaded] - b2[loaded]; x++) {
          if (x === 0) continue;
          for (const dd of [-1, 1]) {
            const v = [...b2];
            v[loaded] += x;
            v[depot] += dd;
            tryMove(v);
          }
        }
      }
      if (!moved) break;
    }
  }
}
