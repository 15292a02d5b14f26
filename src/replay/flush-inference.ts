/**
 * Flush placement by inference (`ReplayOptions.inferFlushes`), for a lazy
 * trace that does not record when the flush queue was flushed: on the
 * traced machines its timer ran 1 to 3 jiffies past the model's nominal
 * expiry, on either CPU. Each flush is placed where the trace proves one ran
 * (see `requireFlush` and `placeFlush`), keeping several candidate
 * histories from kernel checkpoints until the calls after them tell them
 * apart. A trace with timer events places its flushes from them instead
 * (`timer-flushes.ts`).
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { PfnMap } from "../stdx/pfnmap.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import type { Outcome } from "./apply.ts";

/** What placing the flushes from the trace found, over the whole replay. */
export interface FlushInference {
  /** Flushes the trace requires: the fewest that let every reused IOVA be free when it was reused. */
  flushes: number;
  /** Of these, placed by the trace's IOVAs: one place and CPU matched more allocations than every other. */
  decided: number;
  /** Run on another CPU than the one the kernel model's timer would use. */
  otherCpu: number;
  /** Run with no flush-queue timer armed in the model (nothing queued: a no-op). */
  unarmed: number;
  /** Run time minus the model timer's nominal expiry, in whole jiffies: flushes. */
  offsetJiffies: Map<number, number>;
  /** Calls replayed in trials. */
  trialCalls: number;
  /** Pairs of two CPUs' map events replayed in the other order (see `allocatedFirst`). */
  swapped: number;
}

/** What the replayer lends the inference. */
export interface InferenceHost {
  /** The replayer's state (kernel, live allocations, clock), without the inference's own. */
  save(): unknown;
  restore(state: unknown): void;
  /** Takes back a saved state that will never be restored (its buffers serve later saves). */
  recycle(state: unknown): void;
  /** Replays one call; `record`: describe a mismatch (`wantState`: with the model's state around it). */
  apply(c: DmaCall, record: boolean, wantState: boolean): Outcome;
  /** Counts a call's result once no placement can change it. */
  finalize(c: DmaCall, o: Outcome): void;
  readonly cookie: IommuDmaCookie;
  /** The virtual time a call runs at. */
  virtualNs(c: DmaCall): number;
  readonly cpus: number;
  readonly jiffyNs: number;
}

/** The replayer's state and the flushes placed but not run yet. */
interface InferenceCheckpoint {
  host: unknown;
  fires: { call: DmaCall; cpu: number }[];
}

/**
 * A flush the trace requires, as indices into the replay's call order: it
 * ran after call `lo` (an unmap whose IOVA a later allocation reused) and
 * before call `hi` (the first allocation that reused a queued IOVA).
 */
interface FlushWindow {
  lo: number;
  hi: number;
}

/** Sorts `xs` by `order` and drops all but the first `n`. */
function keepFewest<T>(xs: T[], order: (a: T, b: T) => number, n: number): void {
  xs.sort(order);
  if (xs.length > n) xs.length = n;
}

/** How far apart two CPUs' map events may be and still have been allocated in the other order. */
const SWAP_NS = 250_000;
const SWAP_CALLS = 32;

/** Histories of flush placements kept side by side (a beam) by default: choices the next allocations cannot tell apart wait for later ones. */
export const DEFAULT_FLUSH_HISTORIES = 16;

/** A run of calls replayed for real in one history, after its parent segment. */
interface FlushSegment {
  prev: FlushSegment | null;
  /** Index of the first call. */
  from: number;
  outcomes: Outcome[];
  /** The flushes run in it: jiffies after the model timer's nominal expiry (null: nothing queued), and whether on another CPU. */
  fires: { offJiffies: number | null; otherCpu: boolean }[];
  /** Its flush's place was the only best one. */
  decided: boolean;
}

/** One history of flush placements: its state after its calls so far, and their mismatches. */
interface FlushHistory {
  /** The state after call `head - 1` (null: the boot state, saved on first use). */
  cp: InferenceCheckpoint | null;
  head: number;
  /** The call its latest flush ran before. */
  lastFlushAt: number;
  misses: number;
  seg: FlushSegment | null;
}

export class FlushPlacement {
  readonly stats: FlushInference = {
    flushes: 0,
    decided: 0,
    otherCpu: 0,
    unarmed: 0,
    offsetJiffies: new Map(),
    trialCalls: 0,
    swapped: 0,
  };
  private readonly host: InferenceHost;
  private readonly flushHistories: number;
  private readonly unseen: boolean;
  private readonly cpus: number;
  private readonly jiffyNs: number;
  /** Every call in its final order (flush placement keeps the whole trace's calls until the end). */
  private calls: DmaCall[] = [];
  /** The histories of flush placements kept, fewest misses first. */
  private histories: FlushHistory[] = [{ cp: null, head: 0, lastFlushAt: -1, misses: 0, seg: null }];
  /** The segment real replays record into, or null (a trial). */
  private rec: FlushSegment | null = null;
  /** Map calls moved by `allocatedFirst`, and those it has examined. */
  private readonly swappedCalls = new Set<DmaCall>();
  private readonly swapExamined = new Set<DmaCall>();
  /** No mismatch yet in the history being replayed: describe the model's state at the next one. */
  private wantState = true;
  /** Each page unmapped and not mapped again since, by the trace: the index of its unmap. */
  private readonly unmappedAt = new PfnMap();
  /** Flushes the trace requires that are not placed yet, oldest first. */
  private readonly windows: FlushWindow[] = [];
  /** Placed flushes not run yet, in call order: each runs just before its call, on its CPU. */
  private fires: { call: DmaCall; cpu: number }[] = [];
  /** The result of the last call replayed. */
  private last: Outcome | null = null;

  constructor(host: InferenceHost, flushHistories: number, unseen: boolean) {
    this.host = host;
    this.flushHistories = flushHistories;
    this.unseen = unseen;
    this.cpus = host.cpus;
    this.jiffyNs = host.jiffyNs;
  }

  /**
   * Called as the clock reaches call `c` (virtual time `t`): a flush placed
   * just before it runs now, on its CPU (the held timer fires).
   */
  fireBefore(c: DmaCall, t: number): void {
    if (this.fires.length === 0 || this.fires[0].call !== c) return;
    const fire = this.fires.shift() as { call: DmaCall; cpu: number };
    const fq = this.host.cookie.fq;
    const armed = fq?.timerArmed === true;
    this.rec?.fires.push({
      offJiffies: armed ? Math.round((t - fq.timerDueNs) / this.jiffyNs) : null,
      otherCpu: armed && fire.cpu !== fq.timerCpu,
    });
    if (fq && armed) fq.expire(fire.cpu);
  }

  /** Places what is left and counts every call (the trace ended, or its timer events take over). */
  end(): void {
    this.step(true);
    this.windows.length = 0;
  }

  private applyOk(c: DmaCall): boolean {
    this.last = this.host.apply(c, this.rec !== null, this.wantState);
    return this.last.ok;
  }

  private save(): InferenceCheckpoint {
    return { host: this.host.save(), fires: this.fires.slice() };
  }

  private restore(cp: InferenceCheckpoint): void {
    this.host.restore(cp.host);
    this.fires = cp.fires.slice();
  }

  /** Takes a call in its final order; it is replayed once the flushes around it are placed. */
  take(c: DmaCall): void {
    const idx = this.calls.length;
    this.calls.push(c);
    const g = this.host.cookie.iovad.granule;
    const first = Math.floor(c.iova / g);
    const last = Math.floor((c.iova + c.sizeBytes - 1) / g);
    if (c.kind === "unmap") {
      for (let p = first; p <= last; p++) this.unmappedAt.set(p, idx);
    } else {
      // A lazy unmap's IOVA is free again only after a flush: reusing it proves one ran in between.
      let lo = -1;
      for (let p = first; p <= last; p++) {
        const u = this.unmappedAt.get(p);
        if (u === undefined) continue;
        if (u > lo) lo = u;
        this.unmappedAt.delete(p);
      }
      if (lo >= 0) this.requireFlush(lo, idx);
    }
    this.step(false);
  }

  /**
   * Records that a flush ran between calls `lo` and `hi`. Requirements come
   * in order of `hi`; the fewest flushes that meet them all are found
   * greedily: a requirement the newest window's flush can meet (it starts
   * before that window's end) narrows the window, else it opens a new one.
   */
  private requireFlush(lo: number, hi: number): void {
    const w = this.windows.at(-1);
    if (w && lo < w.hi) {
      if (lo > w.lo) w.lo = lo;
      return;
    }
    this.windows.push({ lo, hi });
  }

  /**
   * Places the flushes of every window whose successor has opened (all:
   * the trace ended), then, at the end, keeps the best history and counts
   * its calls.
   */
  private step(all: boolean): void {
    while (this.windows.length > 0 && (all || this.windows.length > 1)) {
      const w = this.windows[0];
      const next = this.windows[1];
      const end = this.calls.length;
      this.placeFlush(w, next ? next.hi - 1 : end - 1);
      this.windows.shift();
    }
    if (!all) return;
    // The rest of the trace on every history; the one with the fewest misses is the replay's.
    let best: FlushHistory | null = null;
    for (const h of this.histories) {
      this.resume(h);
      const seg = this.segment(h);
      h.misses += this.record(seg, h.head, this.calls.length - 1, h.misses > 0);
      h.head = this.calls.length;
      h.seg = seg;
      // Its state at the end of the trace: the replay's result if it is the best.
      h.cp = this.save();
      if (!best || h.misses < best.misses) best = h;
    }
    const path: FlushSegment[] = [];
    for (let g = (best as FlushHistory).seg; g; g = g.prev) path.push(g);
    path.reverse();
    const inf = this.stats;
    for (const g of path) {
      for (let i = 0; i < g.outcomes.length; i++) this.host.finalize(this.calls[g.from + i], g.outcomes[i]);
      for (const f of g.fires) {
        inf.flushes++;
        if (f.offJiffies === null) inf.unarmed++;
        else inf.offsetJiffies.set(f.offJiffies, (inf.offsetJiffies.get(f.offJiffies) ?? 0) + 1);
        if (f.otherCpu) inf.otherCpu++;
      }
    }
    inf.decided = this.decidedOnBest(best as FlushHistory);
    this.restore((best as FlushHistory).cp as InferenceCheckpoint);
    this.calls = [];
  }

  /** Puts the kernel in history `h`'s state (the boot state for the first history). */
  private resume(h: FlushHistory): void {
    if (h.cp) this.restore(h.cp);
    else h.cp = this.save();
  }

  private segment(h: FlushHistory): FlushSegment {
    return { prev: h.seg, from: h.head, outcomes: [], fires: [], decided: false };
  }

  /** Replays calls `from`..`to` for real into `seg`; returns the mismatches. */
  private record(seg: FlushSegment, from: number, to: number, missed: boolean): number {
    let misses = 0;
    this.rec = seg;
    for (let i = from; i <= to; i++) {
      const j = i < to ? this.allocatedFirst(i, to) : -1;
      if (j > i) {
        // Decided once for every history: the moved map goes before map i.
        const [b] = this.calls.splice(j, 1);
        this.calls.splice(i, 0, b);
        this.swappedCalls.add(b);
        this.swappedCalls.add(this.calls[i + 1]);
        this.stats.swapped++;
      }
      const c = this.calls[i];
      this.wantState = !missed && misses === 0;
      if (!this.applyOk(c)) misses++;
      seg.outcomes.push(this.last as Outcome);
    }
    this.rec = null;
    this.wantState = true;
    return misses;
  }

  /**
   * A map event is traced after its allocation, so two CPUs' allocations a
   * few microseconds apart may be traced in the other order. When map `i`
   * lands elsewhere than the trace's, and another CPU's map traced within
   * `SWAP_NS` after it (and at most `SWAP_CALLS` calls later), allocated
   * first, gives both the trace's IOVAs, that one was first: returns its
   * index, or -1. Leaves the state as before.
   */
  private allocatedFirst(i: number, to: number): number {
    const a = this.calls[i];
    // Each map is examined once, in the first history that replays it for real.
    if (a.kind !== "map" || this.swapExamined.has(a)) return -1;
    this.swapExamined.add(a);
    const cp = this.save();
    const rec = this.rec;
    this.rec = null;
    let found = -1;
    if (!this.applyOk(a)) {
      for (let j = i + 1; j <= Math.min(to, i + SWAP_CALLS) && found < 0; j++) {
        const b = this.calls[j];
        if (b.timestampNs - a.timestampNs > SWAP_NS) break;
        if (b.kind !== "map" || b.cpu === a.cpu || this.swappedCalls.has(b)) continue;
        this.restore(cp);
        if (this.applyOk(b) && this.applyOk(a)) found = j;
      }
    }
    this.rec = rec;
    this.restore(cp);
    this.host.recycle(cp.host);
    return found;
  }

  /**
   * Trial: a flush on `cpu` just before call `j`, then the calls through
   * `scoreTo`, stopping past `limit` misses (`prefix` counted already).
   * Returns the misses and, unless it stopped, the end state's digest; the
   * caller restores the state.
   */
  private tryFlush(
    j: number,
    cpu: number,
    prefix: number,
    scoreTo: number,
    limit: number,
  ): { misses: number; key: string } {
    const inf = this.stats;
    this.fires.push({ call: this.calls[j], cpu });
    let misses = prefix;
    for (let i = j; i <= Math.max(scoreTo, j) && misses <= limit; i++) {
      if (!this.applyOk(this.calls[i])) misses++;
      inf.trialCalls++;
    }
    return { misses, key: misses <= limit ? this.stateKey() : "" };
  }

  /**
   * Where a flush the trace cannot show (no IOVA it freed was reused before
   * the next flush) may have run before a window's first place `from`: the
   * timer armed since the history's last flush (nominal expiry `dueNs`), 0
   * to 3 jiffies late, on each CPU.
   */
  private unseenFlushes(head: number, dueNs: number, from: number): { j: number; cpu: number }[] {
    const out: { j: number; cpu: number }[] = [];
    if (dueNs < 0) return out;
    let last = -1;
    for (let late = 0; late <= 3; late++) {
      let j = head;
      while (j < from && this.host.virtualNs(this.calls[j]) < dueNs + late * this.jiffyNs) j++;
      if (j >= from || j === last) continue;
      last = j;
      for (let cpu = 0; cpu < this.cpus; cpu++) out.push({ j, cpu });
    }
    return out;
  }

  /** A digest of the replayed domain's cached and queued IOVAs, tree and clock: equal digests, equal futures. */
  private stateKey(): string {
    const cookie = this.host.cookie;
    let h = 0x811c9dc5;
    const mix = (x: number) => {
      h = Math.imul(h ^ (x >>> 0), 0x01000193);
      h = Math.imul(h ^ Math.floor(x / 0x1_0000_0000), 0x01000193);
    };
    const iovad = cookie.iovad;
    for (const r of iovad.rcaches) {
      for (const cr of r.everyCpu) {
        for (const m of [cr.loaded, cr.prev]) {
          mix(m.size);
          for (let i = 0; i < m.size; i++) mix(m.pfns[i]);
        }
      }
      mix(r.depot.length);
      for (const m of r.depot) for (let i = 0; i < m.size; i++) mix(m.pfns[i]);
    }
    mix(iovad.stats.treeAllocs);
    mix(iovad.stats.treeFrees);
    mix(iovad.tree.pfnLo(iovad.cachedNode));
    mix(iovad.tree.pfnLo(iovad.cached32Node));
    const fq = cookie.fq;
    if (fq) {
      mix(fq.flushes);
      mix(fq.timerArmed ? fq.timerCpu + 1 : 0);
      for (let c = 0; c < this.cpus; c++) mix(fq.queued(c));
    }
    return `${h >>> 0}:${this.fires.length}`;
  }

  private decidedOnBest(best: FlushHistory): number {
    let n = 0;
    for (let g: FlushSegment | null = best.seg; g; g = g.prev) if (g.decided) n++;
    return n;
  }

  /**
   * Places flush `w` in every kept history. The trace records no flushes,
   * but it shows that one ran between calls `w.lo` and `w.hi`: a reused
   * IOVA was still queued after `w.lo` and free at `w.hi`. Where in between,
   * and on which CPU (a timer flush frees every queue into the rcache of the
   * CPU it runs on), shows in the allocations that follow: each place just
   * before a call of the window, on each CPU, is tried on the calls up to
   * `scoreTo` (where the next flush must have run), and the histories with
   * the fewest allocations placed unlike the trace so far are kept, at most
   * `flushHistories` of them (ties: the latest place, then the CPU the
   * model's timer would use), so that a choice the next allocations cannot
   * tell apart is settled by later ones. The trace's IOVAs only score the
   * trials: every IOVA the replay reports is still the model's own decision.
   */
  private placeFlush(w: FlushWindow, scoreTo: number): void {
    type Fire = { j: number; cpu: number };
    type Cand = {
      h: FlushHistory;
      parent: number;
      extra: Fire | null;
      j: number;
      cpu: number;
      total: number;
      rank: number;
      key: string;
    };
    // Fewest misses first; ties: no unseen flush, the latest place, then the earlier try (the CPU the model's timer would use).
    const byMisses = (a: Cand, b: Cand) =>
      a.total - b.total || (a.extra ? 1 : 0) - (b.extra ? 1 : 0) || b.j - a.j || a.cpu - b.cpu;
    const all: Cand[] = [];
    const totals: number[] = [];
    const pass: FlushHistory[] = [];
    this.histories.forEach((h, parent) => {
      if (w.lo < h.lastFlushAt) {
        // Met by the flush this history placed last.
        pass.push(h);
        return;
      }
      const from = Math.max(w.lo + 1, h.head);
      const to = Math.max(w.hi, h.head);
      const mine: Cand[] = [];
      // First without, then with a flush the trace cannot show before the window (see `unseenFlushes`).
      const passes: (Fire | null)[] = [null];
      for (let p = 0; p < passes.length; p++) {
        const extra = passes[p];
        this.resume(h);
        const fq = this.host.cookie.fq;
        this.fires = extra ? [{ call: this.calls[extra.j], cpu: extra.cpu }] : [];
        let prefix = h.misses;
        let dueNs = fq?.timerArmed ? fq.timerDueNs : -1;
        for (let i = h.head; i < from; i++) {
          if (!this.applyOk(this.calls[i])) prefix++;
          if (dueNs < 0 && fq?.timerArmed) dueNs = fq.timerDueNs;
        }
        if (extra === null && this.unseen) passes.push(...this.unseenFlushes(h.head, dueNs, from));
        // A try that misses more than the Bth best so far, of this history or of all, cannot be kept.
        const worst = () =>
          Math.min(
            mine.length < this.flushHistories ? Number.POSITIVE_INFINITY : mine[mine.length - 1].total,
            totals.length < this.flushHistories ? Number.POSITIVE_INFINITY : totals[this.flushHistories - 1],
          );
        for (let j = from; j <= to && prefix <= worst(); j++) {
          const here = this.save();
          const pref = fq?.timerCpu ?? 0;
          for (let k = 0; k < this.cpus; k++) {
            const cpu = (pref + k) % this.cpus;
            const limit = worst();
            const tried = this.tryFlush(j, cpu, prefix, scoreTo, limit);
            this.restore(here);
            if (tried.misses > limit) continue;
            // Places that end in the same state are one history: keep the better one.
            const cand: Cand = { h, parent, extra, j, cpu, total: tried.misses, rank: 0, key: tried.key };
            const same = mine.findIndex((x) => x.key === tried.key);
            if (same < 0) mine.push(cand);
            else if (byMisses(cand, mine[same]) < 0) mine[same] = cand;
            keepFewest(mine, byMisses, this.flushHistories);
            totals.push(tried.misses);
            keepFewest(totals, (a, b) => a - b, this.flushHistories);
          }
          this.host.recycle(here.host);
          if (!this.applyOk(this.calls[j])) prefix++;
        }
      }
      mine.forEach((c, rank) => {
        c.rank = rank;
        all.push(c);
      });
    });
    // Across histories: fewest misses, then each history's best before any history's second, so
    // that one history's near-equal places do not crowd out the others.
    all.sort((a, b) => a.total - b.total || a.rank - b.rank || a.parent - b.parent);
    const kept: Cand[] = [];
    for (const c of all) {
      if (kept.length === this.flushHistories) break;
      if (kept.some((x) => x.key === c.key)) continue;
      kept.push(c);
    }
    const decided = kept.length === 1 || (kept.length > 1 && kept[1].total > kept[0].total);
    const children: FlushHistory[] = [];
    for (const k of kept) {
      this.resume(k.h);
      const seg = this.segment(k.h);
      seg.decided = decided;
      this.fires = [{ call: this.calls[k.j], cpu: k.cpu }];
      if (k.extra) this.fires.unshift({ call: this.calls[k.extra.j], cpu: k.extra.cpu });
      const misses = this.record(seg, k.h.head, k.j, k.h.misses > 0);
      children.push({ cp: this.save(), head: k.j + 1, lastFlushAt: k.j, misses: k.h.misses + misses, seg });
    }
    // Histories this window did not concern stay, ranked by their misses so far.
    this.histories = [...children, ...pass].sort((a, b) => a.misses - b.misses).slice(0, this.flushHistories);
  }
}
