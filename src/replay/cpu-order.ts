/**
 * The order of two CPUs' IOVA operations in a strict replay (Linux 6.1 and
 * mainline dma-iommu.c), which the trace cannot show and the kernel's own
 * IOVAs can.
 *
 * A map event is traced after its IOVA allocation (`iommu_dma_alloc_iova()`,
 * then `iommu_map()` emits `map`), and an unmap event before its IOVA free
 * (`__iommu_unmap()` emits `unmap`, then the IOTLB sync and
 * `iommu_dma_free_iova()`). So an allocation ran at some point after its
 * CPU's previous event (or, inside an interrupt that stopped its own task
 * between the two, before that interrupt), and a free at some point before
 * its CPU's next event. Another CPU's operations traced in between may have
 * run on either side: on the traced TCG guests a vCPU thread that the host
 * deschedules leaves gaps of milliseconds between an operation and its
 * event. Most such pairs commute (different rcache classes, different
 * magazines); the ones that do not are tree allocations and tree frees,
 * where the cached node and the free space depend on which came first (on
 * the traced 6.1 machine: requests above 32 pages, up to its 512 KiB
 * max_hw_sectors; a tree free in an interrupt that stopped a task between
 * its tree allocation and its map event is the same case on one CPU).
 *
 * The replay therefore takes the trace's order, and only where a map lands
 * elsewhere than the kernel put it tries the orders its CPUs allow: the map
 * allocated earlier (back to its CPU's previous event), another CPU's later
 * map allocated before it, or another CPU's earlier unmap freed after it.
 * The nearest one that gives the map the kernel's IOVA and changes no
 * allocation replayed since is kept. Decisions are final once a call leaves
 * the window (`WINDOW` calls); the IOVAs reported are still the model's own.
 *
 * A search costs up to `TRIES` replays of the calls it may reorder, so it is
 * kept to where it can succeed. In a replay of the trace's own mode and
 * kernel from boot every search found its order (12 of 12 on the 6.1
 * strict-mixed capture, none needed on 6.12's): a search that finds none
 * says the model and the trace differ in more than the order, and the IOVAs
 * after it are placed from a state that already differs. So the replay stops
 * searching after `FAILED_RUN` searches in a row found none (a lazy trace
 * replayed as strict, another kernel), or once its trials have replayed
 * `BUDGET_PER_CALL` calls per call taken (plus one such run's worth): the
 * cost stays in proportion to the trace. A trace cut from the middle of a
 * run misses for another reason while its learning phase learns the state
 * it began in: searches made then count towards the budget only (they find
 * orders there too), and the replay searches on after the phase; counted,
 * those misses stopped it inside the phase (the 6.1 strict mixed trace cut
 * at 45% of its lines, at its line 73), and every tree allocation after it
 * two CPUs raced for kept the trace's order.
 * Each trial replays from the first call it may move (the calls before are
 * replayed once per search), undescribed; a search that finds none puts
 * back the state it started from rather than replaying the window again: in
 * a mid-life trace's learning phase a call replayed again is placed under
 * the phase's current adoption, not the one it was first placed under.
 */

import type { DmaCall } from "../trace/reconstruct.ts";
import { mayInterrupt } from "./irq-reorder.ts";

/** What the order search needs from the replay. */
export interface OrderHost<S, O extends { addr: number | null | undefined }> {
  /**
   * Replays one call, at `atNs` (virtual trace time) when given, and returns
   * its outcome; `describe`: diagnose a mismatch (a trial's outcomes are
   * thrown away unless it succeeds, and then replayed again described).
   */
  apply(c: DmaCall, atNs: number | undefined, describe: boolean): O;
  save(): S;
  restore(s: S): void;
  /** Takes a call whose place no later decision can change, in its final order. */
  finalize(c: DmaCall, o: O): void;
  /**
   * Whether the replay is still learning the state a mid-life trace began
   * in: a search that finds no order then says nothing of the model against
   * the trace, and does not count towards stopping.
   */
  learning?(): boolean;
}

/** Calls a decision may move across, and the calls kept undecided before and after a map. */
const REACH = 64;
const WINDOW = 128;
/**
 * Orders tried for one map (the nearest; the traced machines needed at most
 * 57), and searches in all that may find none before the replay stops
 * searching: past that, the model and the trace differ in more than the order.
 */
const TRIES = 128;
export const SEARCHES = 256;
/** Searches in a row that found no order, after which the replay stops searching. */
export const FAILED_RUN = 16;
/**
 * Calls the trials may replay per call taken, beyond what one run of
 * `FAILED_RUN` full searches replays (`BUDGET_BASE`). The traced machines'
 * strict replays used under 1 per call (33,663 for the 6.1 strict-mixed
 * capture's 39,790 calls); lazy heads replayed as strict about 230 to 760
 * before stopping after a run of failures.
 */
export const BUDGET_PER_CALL = 64;
const BUDGET_BASE = FAILED_RUN * TRIES * 2 * REACH;

/**
 * Where and why the replay stopped searching for CPU orders: `failed-run`,
 * `FAILED_RUN` searches in a row found none; `failed-searches`, `SEARCHES`
 * found none in all; `budget`, the trials replayed `BUDGET_PER_CALL` calls
 * per call taken.
 */
export interface OrderSearchStop {
  reason: "failed-run" | "failed-searches" | "budget";
  /** The trace line of the map placed unlike the kernel that was not searched, the first one. */
  line: number;
  /** Searches done, and those that found no order. */
  searches: number;
  failed: number;
  /** Calls replayed in trials, and calls taken. */
  trialCalls: number;
  calls: number;
}

export class CpuOrder<S, O extends { addr: number | null | undefined }> {
  private readonly host: OrderHost<S, O>;
  /** Calls taken but not replayed yet: the candidates to move before a map. */
  private ahead: DmaCall[] = [];
  /** Calls replayed since `base`, in their current order, and their outcomes. */
  private calls: DmaCall[] = [];
  private outs: O[] = [];
  /** The state before `calls[0]` and before `calls[WINDOW]`. */
  private base: S | null = null;
  private mid: S | null = null;
  /** Replay times of calls moved before another CPU's map. */
  private readonly atNs = new Map<DmaCall, number>();
  /** Calls replayed in another order than the trace's. */
  moves = 0;
  /** Searches (maps placed unlike the kernel), orders replayed in trials, and searches that found none. */
  searches = 0;
  trials = 0;
  failed = 0;
  /** Calls taken, and calls replayed in trials. */
  private taken = 0;
  private spent = 0;
  /** Searches in a row that found none, and those in all, that count towards stopping (`foundNone`). */
  private failedRun = 0;
  private failedCounted = 0;
  /** Set when the replay stopped searching, and why. */
  stopped: OrderSearchStop | null = null;

  /** Whether the search stops where it cannot succeed (`FAILED_RUN`, the budget); without, only after `SEARCHES`. */
  private readonly stops: boolean;

  constructor(host: OrderHost<S, O>, stops = true) {
    this.host = host;
    this.stops = stops;
  }

  push(c: DmaCall): void {
    this.taken++;
    this.ahead.push(c);
    while (this.ahead.length > REACH) this.step();
  }

  end(): void {
    while (this.ahead.length > 0) this.step();
    for (let i = 0; i < this.calls.length; i++) this.done(this.calls[i], this.outs[i]);
    this.calls = [];
    this.outs = [];
  }

  private done(c: DmaCall, o: O): void {
    this.atNs.delete(c);
    this.host.finalize(c, o);
  }

  private step(): void {
    const c = this.ahead.shift() as DmaCall;
    if (this.base === null) this.base = this.host.save();
    this.calls.push(c);
    this.outs.push(this.host.apply(c, this.atNs.get(c), true));
    if (this.calls.length === WINDOW) this.mid = this.host.save();
    if (c.kind === "map" && this.outs[this.outs.length - 1].addr !== c.iova && this.searching(c)) {
      this.reorder(this.calls.length - 1);
    }
    if (this.calls.length >= 2 * WINDOW) {
      for (let i = 0; i < WINDOW; i++) this.done(this.calls[i], this.outs[i]);
      this.calls = this.calls.slice(WINDOW);
      this.outs = this.outs.slice(WINDOW);
      this.base = this.mid;
      this.mid = null;
      if (this.calls.length === WINDOW) this.mid = this.host.save();
      else this.replay(this.calls);
    }
  }

  /** Whether the replay still searches for map `c`'s order: see the header for when it stops. */
  private searching(c: DmaCall): boolean {
    if (this.stopped !== null) return false;
    const reason =
      this.failedCounted >= SEARCHES
        ? "failed-searches"
        : !this.stops
          ? null
          : this.failedRun >= FAILED_RUN
            ? "failed-run"
            : this.spent > BUDGET_PER_CALL * this.taken + BUDGET_BASE
              ? "budget"
              : null;
    if (reason === null) return true;
    this.stopped = {
      reason,
      line: c.line,
      searches: this.searches,
      failed: this.failed,
      trialCalls: this.spent,
      calls: this.taken,
    };
    return false;
  }

  /** Replays `order` from `base` (saving `mid` on the way), each call described. */
  private replay(order: DmaCall[]): O[] {
    this.host.restore(this.base as S);
    const outs: O[] = [];
    for (let i = 0; i < order.length; i++) {
      if (i === WINDOW) this.mid = this.host.save();
      const c = order[i];
      outs.push(this.host.apply(c, this.atNs.get(c), true));
    }
    if (order.length === WINDOW) this.mid = this.host.save();
    return outs;
  }

  /**
   * Replays `order[from..]` from the state before `order[from]`; with
   * `keep`, undescribed and stopping at the first map whose address differs
   * from `keep`'s (null then); without, described and saving `mid` on the way.
   */
  private replayFrom(
    order: DmaCall[],
    from: number,
    at: S,
    keep: Map<DmaCall, number | null | undefined> | null,
  ): O[] | null {
    this.host.restore(at);
    const outs: O[] = [];
    for (let i = from; i < order.length; i++) {
      if (keep === null && i === WINDOW) this.mid = this.host.save();
      const c = order[i];
      const o = this.host.apply(c, this.atNs.get(c), keep === null);
      this.spent++;
      if (keep !== null && c.kind === "map") {
        const want = keep.has(c) ? keep.get(c) : c.iova;
        if (o.addr !== want) return null;
      }
      outs.push(o);
    }
    if (keep === null && order.length === WINDOW) this.mid = this.host.save();
    return outs;
  }

  /**
   * Map `calls[h]` landed elsewhere than the kernel's: tries each single move
   * its CPUs allow within `REACH` calls (a map allocated earlier, an unmap
   * freed later, or a later map allocated before it), fewest calls crossed
   * first.
   */
  private reorder(h: number): void {
    const lo = Math.max(0, h - REACH);
    const seq = [...this.calls, ...this.ahead];
    const candidates: { dist: number; order: DmaCall[]; moved: DmaCall; atNs?: number }[] = [];
    for (let i = lo; i < seq.length; i++) {
      const c = seq[i];
      if (c.kind === "map") {
        // Allocated earlier: back across other CPUs' calls, and across its own CPU's
        // interrupt unmaps of its own task, up to its CPU's previous call.
        for (let t = i - 1; t >= lo; t--) {
          const z = seq[t];
          if (z.cpu === c.cpu && !(mayInterrupt(z) && z.pid === c.pid)) break;
          if (i > h && t > h) continue;
          const order =
            i <= h
              ? [...seq.slice(0, t), c, ...seq.slice(t, i), ...seq.slice(i + 1, h + 1)]
              : [...seq.slice(0, t), c, ...seq.slice(t, h + 1)];
          candidates.push({ dist: i - t, order, moved: c, atNs: z.timestampNs });
        }
      } else if (i < h) {
        // Freed later: forward across other CPUs' calls, past the map at most.
        for (let t = i + 1; t <= h; t++) {
          const z = seq[t];
          if (z.cpu === c.cpu) break;
          candidates.push({
            dist: t - i,
            order: [...seq.slice(0, i), ...seq.slice(i + 1, t + 1), c, ...seq.slice(t + 1, h + 1)],
            moved: c,
          });
        }
      }
    }
    candidates.sort((a, b) => a.dist - b.dist);
    this.searches++;
    if (candidates.length > TRIES) candidates.length = TRIES;
    if (candidates.length === 0) {
      this.foundNone();
      return;
    }
    const keep = new Map<DmaCall, number | null | undefined>();
    for (let i = lo; i < h; i++) keep.set(this.calls[i], this.outs[i].addr);
    // Every order tried keeps the calls before `lo` as they are: replay them once, and each trial from there.
    const asReplayed = this.host.save();
    const mid = this.mid;
    this.host.restore(this.base as S);
    for (let i = 0; i < lo; i++) this.host.apply(this.calls[i], this.atNs.get(this.calls[i]), false);
    this.spent += lo;
    const atLo = this.host.save();
    for (const cand of candidates) {
      const had = this.atNs.get(cand.moved);
      if (cand.atNs !== undefined) this.atNs.set(cand.moved, cand.atNs);
      this.trials++;
      if (this.replayFrom(cand.order, lo, atLo, keep) !== null) {
        const from = this.ahead.indexOf(cand.moved);
        if (from >= 0) this.ahead.splice(from, 1);
        this.outs = [...this.outs.slice(0, lo), ...(this.replayFrom(cand.order, lo, atLo, null) as O[])];
        this.calls = cand.order;
        this.moves++;
        this.failedRun = 0;
        return;
      }
      if (had === undefined) this.atNs.delete(cand.moved);
      else this.atNs.set(cand.moved, had);
    }
    this.foundNone();
    // None: the trace's order stays, and so does the state it left.
    this.host.restore(asReplayed);
    this.mid = mid;
  }

  /**
   * A search found no order: counted towards stopping, but for one made
   * while the replay learns the trace's start state.
   */
  private foundNone(): void {
    this.failed++;
    if (this.host.learning?.() === true) return;
    this.failedCounted++;
    this.failedRun++;
  }
}
