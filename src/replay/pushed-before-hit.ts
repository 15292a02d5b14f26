/**
 * Cache hits of IOVAs cached before the trace on a CPU whose loaded
 * magazine the model holds IOVAs of its own in (Linux 6.1 and 6.12 alike,
 * `iova.c`'s `__iova_rcache_insert()` and `__iova_rcache_get()`), in a
 * trace that starts mid-life: the kernel's loaded magazine had gone to the
 * depot with them, and its `prev`, full of IOVAs from before the trace, was
 * swapped in.
 *
 * A CPU's frees go on top of its loaded magazine, so while it holds an IOVA
 * it freed in the trace, the top of its loaded magazine is one freed in the
 * trace, unless that magazine left. A full loaded magazine leaves on a free
 * for `prev` when `prev` is empty (swapped back in, its top again one freed
 * in the trace) or for the depot when `prev` is full; the depot comes back
 * only once both are empty. So where the kernel hands out IOVAs cached
 * before the trace and the model pops one of its own from a loaded magazine
 * with an empty `prev`, every IOVA the model holds on that CPU went to the
 * depot in one full magazine (its own pop the top: what that CPU freed after
 * the push it had handed out again, as the model did), above IOVAs from
 * before the trace, and the kernel's `prev`, full, became the loaded
 * magazine. The model is cut so, with placeholders (`start-state.ts`) for
 * the IOVAs from before the trace; its popped IOVA goes back on top of the
 * pushed magazine and the allocation adopts the trace's IOVA, not exact.
 *
 * Two things put an IOVA from before the trace on top of one the CPU freed
 * in the trace, and one hit (`pre-trace-hit.ts`) is all either explains:
 * the flush queues held entries queued before the trace, which a flush
 * frees with the trace's own, and an allocation traced after a flush may
 * have popped its magazine before that flush pushed the model's IOVA. So
 * the rule needs an IOVA freed once no queue can hold an entry from before
 * the trace (a flush has finished and every CPU's `queue_iova()` has freed
 * its ring since), and two hits in a row on that CPU with the same IOVA of
 * the model's on top of the same loaded magazine (`PushEvidence`).
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { Magazine } from "../iova/magazine.ts";
import { CheckpointPfns } from "./checkpoint-pfns.ts";
import type { PairBefore } from "./pre-trace-hit.ts";
import { heldOnCpu } from "./prev-taken.ts";
import { pagesFreeAt } from "./start-state.ts";

/**
 * The model popped `pfn`, an IOVA of its own, from `cpu`'s loaded magazine
 * (`before`: as it was, `prev` empty, or with `partialPrev` neither empty
 * nor full, its IOVAs below the loaded ones) where the kernel handed out
 * `traceIova` (`len` pages), free in the model, the `handed`th IOVA from
 * its `prev` swapped in. Pushes `pfn` and the IOVAs below it on the depot
 * in a full magazine (placeholders below them), makes a full `prev` of
 * placeholders, less the ones handed out, the loaded magazine, and maps
 * `traceIova`. False, with nothing changed, where that does not hold or
 * the depot has no room (6.1).
 */
export function pushBeforeHit(
  cookie: IommuDmaCookie,
  cpu: number,
  before: PairBefore,
  pfn: number,
  traceIova: number,
  len: number,
  handed: number,
  placeholder: (pages: number) => number,
  partialPrev = false,
): boolean {
  const iovad = cookie.iovad;
  const c = before.c;
  if (c < 0) return false;
  const cap = iovad.profile.magazineSize;
  const rcache = iovad.rcaches[c];
  const cr = rcache.cpu(cpu);
  // A full `prev` hands out no more than a magazine's worth.
  if (cr.loaded !== before.loaded || handed > cap) return false;
  // `prev` empty, or with `partialPrev` one the learning phase took IOVAs out of (`prev-taken.ts`).
  const held = heldOnCpu(cr, cap, pfn, partialPrev);
  if (held === null) return false;
  if (iovad.profile.depotOverflowFreesToTree && rcache.depot.length >= iovad.profile.depotMax) return false;
  const pages = pagesFreeAt(iovad, pfn, traceIova);
  if (pages < 0) return false;
  // The trace's IOVA is mapped first: the placeholders below take the lowest free slots, and once enough
  // of them have been made those reach any free IOVA, this one too.
  const y = traceIova / iovad.granule;
  const t = iovad.tree;
  t.insert(t.newNode(y, y + pages - 1));
  cr.prev.size = 0;
  const pushed = new Magazine(cap);
  for (let i = held.length; i < cap; i++) pushed.push(placeholder(2 ** c));
  for (const p of held) pushed.push(p);
  rcache.depot.push(pushed);
  iovad.stats.magazinesLive[c]++;
  iovad.stats.magazinesAllocated++;
  const loaded = new Magazine(cap);
  for (let i = handed; i < cap; i++) loaded.push(placeholder(2 ** c));
  cr.loaded = loaded;
  // `pfn` is cached again; the placeholders are new.
  iovad.stats.cachedPfns[c] += cap - held.length + cap - handed + 1;
  cookie.mapped.delete(pfn);
  cookie.mapped.set(y, len);
  return true;
}

/** `PushEvidence`'s state, for checkpoints (shared until either side changes it). */
export interface PushEvidenceState {
  drained: boolean;
  ringsFreed: Uint8Array<ArrayBuffer>;
  early: Set<number>;
  hits: Float64Array<ArrayBuffer>;
}

/**
 * What `pushBeforeHit` needs to hold, in a mid-life replay: the IOVAs freed
 * while the kernel's flush queues may still have held entries from before
 * the trace (queued before every CPU's `queue_iova()` ran `fq_ring_free()`
 * after a finished flush: `fq_flush_finish_cnt` then passes every counter
 * from before the trace, and that ring frees them; queued again after
 * that, an IOVA leaves the set), and per CPU and size class the last
 * allocation's pre-trace hit (the model's IOVA and its loaded magazine's
 * fill) if it was one.
 */
export class PushEvidence {
  private drained = false;
  private ringsFreed: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  private readonly early = new CheckpointPfns();
  /**
   * Per `cpu * classes + c`, four slots: the model's IOVA of the last
   * allocation's pre-trace hit, its loaded magazine's fill then (-1: none)
   * and how many such hits of that IOVA came in a row, and the bottom IOVA
   * of the magazine it last popped from the depot (-1: none).
   */
  private hits: Float64Array<ArrayBuffer> = new Float64Array(0);
  /** The rings' array and the hits, shared with a saved state: copied before they change (`early` keeps its own). */
  private sharedDrain = false;
  private sharedHits = false;

  private ownDrain(): void {
    if (!this.sharedDrain) return;
    this.sharedDrain = false;
    this.ringsFreed = this.ringsFreed.slice();
  }

  private ownHits(): void {
    if (!this.sharedHits) return;
    this.sharedHits = false;
    this.hits = this.hits.slice();
  }

  /** `cpu` of `cpus` queued `pfn` with `fq_flush_finish_cnt` at `finishCnt` after its ring free. */
  queued(cpu: number, cpus: number, pfn: number, finishCnt: number): void {
    if (this.drained && !this.early.has(pfn)) return;
    this.ownDrain();
    if (!this.drained && finishCnt > 0) {
      if (this.ringsFreed.length !== cpus) this.ringsFreed = new Uint8Array(cpus);
      this.ringsFreed[cpu] = 1;
      this.drained = this.ringsFreed.every((x) => x === 1);
    }
    if (this.drained) this.early.delete(pfn);
    else this.early.add(pfn);
  }

  /** Whether `pfn` was last freed while an entry from before the trace may have been freed after it. */
  isEarly(pfn: number): boolean {
    return !this.drained || this.early.has(pfn);
  }

  /**
   * An allocation on `cpu` of class `c` (of `classes`) begins: the model's
   * IOVA of the last one's pre-trace hit (`hit`) and its loaded magazine's
   * fill then, or -1, and forgets it. Allocation-free: the fill is left in
   * `lastFill`.
   */
  take(cpu: number, c: number, classes: number): number {
    const i = 4 * (cpu * classes + c);
    if (i >= this.hits.length || this.hits[i] < 0) return -1;
    this.ownHits();
    const pfn = this.hits[i];
    this.lastFill = this.hits[i + 1];
    this.lastRun = this.hits[i + 2];
    this.hits[i] = -1;
    return pfn;
  }

  /** The fill and the run `take` found. */
  lastFill = -1;
  lastRun = 0;

  /**
   * The allocation on `cpu` of class `c` handed out an IOVA from before the
   * trace where the model popped its own `pfn` and took it back on top of
   * its loaded magazine (now of `fill`), the `run`th in a row.
   */
  hit(cpu: number, c: number, classes: number, pfn: number, fill: number, run: number): void {
    const i = this.slot(cpu, c, classes);
    this.hits[i] = pfn;
    this.hits[i + 1] = fill;
    this.hits[i + 2] = run;
  }

  /**
   * The model's `cpu` popped a magazine of class `c` from the depot, `bottom`
   * its bottom IOVA: until it runs empty its loaded magazine holds IOVAs
   * another CPU (or the depot's past) freed, not its own (`fromDepot`).
   */
  popped(cpu: number, c: number, classes: number, bottom: number): void {
    this.hits[this.slot(cpu, c, classes) + 3] = bottom;
  }

  /** Whether `loaded`, `cpu`'s of class `c`, is the magazine it last popped from the depot (its bottom still there). */
  fromDepot(cpu: number, c: number, classes: number, loaded: Magazine): boolean {
    const i = 4 * (cpu * classes + c) + 3;
    return i < this.hits.length && loaded.size > 0 && loaded.pfns[0] === this.hits[i];
  }

  /** Slot `cpu * classes + c`'s index in `hits`, the array owned and long enough. */
  private slot(cpu: number, c: number, classes: number): number {
    const i = 4 * (cpu * classes + c);
    this.ownHits();
    if (this.hits.length < i + 4) {
      const h = new Float64Array(Math.max(i + 4, 2 * this.hits.length)).fill(-1);
      h.set(this.hits);
      this.hits = h;
    }
    return i;
  }

  save(): PushEvidenceState {
    this.sharedDrain = true;
    this.sharedHits = true;
    return { drained: this.drained, ringsFreed: this.ringsFreed, early: this.early.save(), hits: this.hits };
  }

  restore(s: PushEvidenceState): void {
    this.drained = s.drained;
    this.ringsFreed = s.ringsFreed;
    this.early.restore(s.early);
    this.hits = s.hits;
    this.sharedDrain = true;
    this.sharedHits = true;
  }
}
