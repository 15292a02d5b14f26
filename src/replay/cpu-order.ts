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
 */

import type { DmaCall } from "../trace/reconstruct.ts";

/** What the order search needs from the replay. */
export interface OrderHost<S, O extends { addr: number | null | undefined }> {
  /** Replays one call, at `atNs` (virtual trace time) when given, and returns its outcome. */
  apply(c: DmaCall, atNs: number | undefined): O;
  save(): S;
  restore(s: S): void;
  /** Takes a call whose place no later decision can change, in its final order. */
  finalize(c: DmaCall, o: O): void;
}

/** Calls a decision may move across, and the calls kept undecided before and after a map. */
const REACH = 64;
const WINDOW = 128;
/**
 * Orders tried for one map (the nearest; the traced machines needed at most
 * 57), and searches that may find none before the replay stops searching:
 * past that, the model and the trace differ in more than the order.
 */
const TRIES = 128;
const SEARCHES = 256;

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
  /** Orders replayed in trials, and searches that found none. */
  trials = 0;
  failed = 0;

  constructor(host: OrderHost<S, O>) {
    this.host = host;
  }

  push(c: DmaCall): void {
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
    this.outs.push(this.host.apply(c, this.atNs.get(c)));
    if (this.calls.length === WINDOW) this.mid = this.host.save();
    if (c.kind === "map" && this.outs[this.outs.length - 1].addr !== c.iova && this.failed < SEARCHES) {
      this.reorder(this.calls.length - 1);
    }
    if (this.calls.length >= 2 * WINDOW) {
      for (let i = 0; i < WINDOW; i++) this.done(this.calls[i], this.outs[i]);
      this.calls = this.calls.slice(WINDOW);
      this.outs = this.outs.slice(WINDOW);
      this.base = this.mid;
      this.mid = null;
      if (this.calls.length === WINDOW) this.mid = this.host.save();
      else this.replay(this.calls, null);
    }
  }

  /**
   * Replays `order` from `base` (saving `mid` on the way); with `keep`, stops
   * at the first map whose address differs from `keep`'s and returns null.
   */
  private replay(order: DmaCall[], keep: Map<DmaCall, number | null | undefined> | null): O[] | null {
    this.host.restore(this.base as S);
    const outs: O[] = [];
    for (let i = 0; i < order.length; i++) {
      if (i === WINDOW) this.mid = this.host.save();
      const c = order[i];
      const o = this.host.apply(c, this.atNs.get(c));
      if (keep !== null && c.kind === "map") {
        const want = keep.has(c) ? keep.get(c) : c.iova;
        if (o.addr !== want) return null;
      }
      outs.push(o);
    }
    if (order.length === WINDOW) this.mid = this.host.save();
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
          if (z.cpu === c.cpu && !(z.kind === "unmap" && z.irq && z.pid === c.pid)) break;
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
    const keep = new Map<DmaCall, number | null | undefined>();
    for (let i = 0; i < h; i++) keep.set(this.calls[i], this.outs[i].addr);
    if (candidates.length > TRIES) candidates.length = TRIES;
    for (const cand of candidates) {
      const had = this.atNs.get(cand.moved);
      if (cand.atNs !== undefined) this.atNs.set(cand.moved, cand.atNs);
      this.trials++;
      const outs = this.replay(cand.order, keep);
      if (outs !== null) {
        const from = this.ahead.indexOf(cand.moved);
        if (from >= 0) this.ahead.splice(from, 1);
        this.calls = cand.order;
        this.outs = outs;
        this.moves++;
        return;
      }
      if (had === undefined) this.atNs.delete(cand.moved);
      else this.atNs.set(cand.moved, had);
    }
    this.failed++;
    // None: the trace's order stays, and so does the state it left.
    const outs = this.replay(this.calls, null) as O[];
    this.outs = outs;
  }
}
