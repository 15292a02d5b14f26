/**
 * The DMA seam over the booted kernel model: what the hisi_sas driver's
 * `dma_map_sg()` / `dma_unmap_sg()` do for each block request, run on the
 * modelled dma-iommu (src/dma) at the simulated instant and on the simulated
 * CPU, and charged as CPU time, lock holds and invalidation-queue work
 * (sim/charge.ts). This is the one place where the engine (which knows no
 * IOVAs) and the kernel model (which knows no time but what it is handed) meet.
 *
 * What is counted, per call, by diffing the IOVA domain's counters around it:
 * rcache hits and misses per class, depot pushes/pops (each one hold of that
 * class's depot lock), magazines allocated, tree searches with their exact
 * `rb_prev` steps and tree frees (each one hold of the rbtree lock), and the
 * flush queue's whole-domain flushes. Strict unmaps queue one TLBI and one
 * CMD_SYNC on the SMMU's command queue and spin for the sync; lazy unmaps
 * add a flush-queue entry, and a call that finds its CPU's ring full pays
 * the flush.
 *
 * The flush queue's 10 ms timer fires inside `Kernel.advanceTo()`, called
 * before every DMA call and by an engine event at the timer's expiry: its
 * flush occupies the command queue (no CPU spins for it), and the IOVAs it
 * frees go to the timer CPU's rcache as in the kernel (S-5). Which CPU that
 * is, the kernel profile's timer policy (dma/fq-timer-policy.ts) decides from
 * the engine's CPUs (idle-facts.ts): whether the unmapping CPU is idle when
 * `queue_iova()` arms the timer (6.1 moves it off an idle CPU), and whether
 * its CPU is idle at expiry (6.9+ lets a busy CPU expire it). What those
 * frees did to the shared structures — depot lock holds, magazines, tree
 * frees under the rbtree lock — is counted by the same diff and charged as an
 * interrupt (`fq_flush_timeout()` runs in the timer softirq) on the CPU that
 * ran the callback, at its expiry. The frees of the `queue_iova()` path
 * (entries already flushed, and a full ring's flush) happen inside the unmap
 * and are in its own diff.
 */

import type { IommuDmaCookie, MappedSg, MappedSgBuffer, SgEntry } from "../dma/iommu-dma.ts";
import type { Device } from "../iommu/device.ts";
import { classBit } from "../iova/stats.ts";
import type { Kernel } from "../machine/kernel.ts";
import { chargeKernelOp, emptyKernelOpRecord, type KernelOpRecord } from "../sim/charge.ts";
import type { CostModel } from "../sim/cost.ts";
import type { Cpu } from "../sim/cpu.ts";
import { type Engine, type EventHandler, Priority } from "../sim/engine.ts";
import { SpinLock } from "../sim/lock.ts";
import type { PolledQueueWait } from "../sim/qi-poll.ts";
import { Script, ScriptTask } from "../sim/script.ts";
import { SerialResource } from "../sim/serial.ts";
import { F64_ZERO, holeyRefArray, numArray, refArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import { orderBase2Small } from "../stdx/bits.ts";
import { PfnMap } from "../stdx/pfnmap.ts";
import type { DmaSeam } from "../workload/fio-run.ts";
import { DMA_MAP, DMA_UNMAP, type DmaCallRecorder } from "./dma-record.ts";
import { simulatedIdleFacts } from "./idle-facts.ts";

/** Counters of the seam since the last reset (the figures of a run). */
export interface SeamStats {
  maps: number;
  /** Maps the DMA layer failed (the domain's IOVA space exhausted). */
  mapFailures: number;
  unmaps: number;
  /** `alloc_iova_fast` calls by the size class of their (rounded) size; classes past the range included. */
  allocsByClass: number[];
  /** rcache hits by class. */
  hitsByClass: number[];
  treeAllocs: number;
  walkSteps: number;
  treeFrees: number;
  depotLockHolds: number;
  invalidations: number;
  syncs: number;
  flushAlls: number;
  timerFlushes: number;
  /** Of `treeFrees`: those done by the flush-queue timer's callback. */
  timerTreeFrees: number;
}

export function emptyStats(classes: number): SeamStats {
  return {
    maps: 0,
    mapFailures: 0,
    unmaps: 0,
    allocsByClass: numArray(classes),
    hitsByClass: numArray(classes),
    treeAllocs: 0,
    walkSteps: 0,
    treeFrees: 0,
    depotLockHolds: F64_ZERO,
    invalidations: 0,
    syncs: 0,
    flushAlls: 0,
    timerFlushes: 0,
    timerTreeFrees: 0,
  };
}

/** Empties a record for the next call of its kind (its arrays keep their storage). */
function clearRecord(rec: KernelOpRecord): KernelOpRecord {
  rec.magazineOps = 0;
  rec.magazineAllocs = 0;
  // Truncating an empty array is not free (it resets its storage): most calls touch no depot and no tree.
  if (rec.depotLocks.length !== 0) rec.depotLocks.length = 0;
  if (rec.depotOps.length !== 0) rec.depotOps.length = 0;
  rec.treeLock = null;
  if (rec.treeAllocWalkSteps.length !== 0) rec.treeAllocWalkSteps.length = 0;
  rec.treeFrees = 0;
  rec.pagesMapped = 0;
  rec.pagesUnmapped = 0;
  rec.iq = null;
  rec.iqLock = null;
  rec.waitUnderIqLock = false;
  rec.iqPoll = null;
  rec.invalidations = 0;
  rec.syncs = 0;
  rec.flushQueueOps = 0;
  rec.flushAlls = 0;
  return rec;
}

/**
 * The IOVA a mapped SG list holds and its length in bytes, as
 * `iommu_dma_unmap_sg()` frees it (DMA-5.7): from the first segment's page to
 * the end of the last, rounded up to the granule.
 */
export function iovaSpan(m: MappedSg, granule: number): [number, number] {
  assert(m.nents > 0 && !m.perEntry, "one IOVA per SG list");
  const first = m.segments[0].dmaAddr;
  const last = m.segments[m.segments.length - 1];
  const start = first - (first % granule);
  return [start, Math.ceil((last.dmaAddr + last.length - start) / granule) * granule];
}

/** Size classes reported: enough for any mapping of the seed's HBA (2^20 pages would be 4 GiB). */
export const REPORT_CLASSES = 12;

/**
 * The engine event of a seam's armed flush-queue timer: a class, not a closure made with each
 * seam, so the engine's call of it has one target for every run of a process.
 */
class FqTimerEvent implements EventHandler {
  readonly name = "fq_timer";
  private readonly seam: KernelDmaSeam;

  constructor(seam: KernelDmaSeam) {
    this.seam = seam;
  }

  onEvent(): void {
    this.seam.onTimerEvent();
  }
}

export class KernelDmaSeam implements DmaSeam {
  readonly kernel: Kernel;
  /** The device whose domain this is (the first, when its group has several). */
  readonly dev: Device;
  /**
   * The device of each call's `device` index (several devices of one group share
   * the domain); default (null): `dev` for every index.
   */
  devices: readonly Device[] | null = null;
  /**
   * Set by a `SeamSet` of several domains: it moves the kernel's clock once for
   * every domain, so each sees the flush-queue timers that fire on the way. (An
   * object and its method, not a function made for each run: one call target.)
   */
  advancer: { advanceAll(): void } | null = null;
  readonly cookie: IommuDmaCookie;
  readonly treeLock: SpinLock;
  readonly depotLocks: SpinLock[];
  /** The IOMMU unit's invalidation queue (SMMUv3 command queue, VT-d QI, AMD-Vi command buffer): TLBIs, syncs, flushes. */
  readonly iq: SerialResource;
  /** The software lock writers of `iq` take (VT-d, AMD-Vi), shared by every domain behind the unit; null for SMMUv3. */
  iqLock: SpinLock | null = null;
  /** The sync is waited for with `iqLock` held (AMD-Vi's wait_on_sem() inside iommu->lock). */
  waitUnderIqLock = false;
  /** VT-d: the unit's polled wait under `iqLock` (qi_submit_sync), shared by every domain behind the unit. */
  iqPoll: PolledQueueWait | null = null;
  stats: SeamStats;
  private readonly engine: Engine;
  private readonly cost: CostModel;
  /**
   * Live requests: request id -> slot of `spanAddr`/`spanBytes` (a `PfnMap`: a JS Map that
   * sets and deletes an entry per I/O rehashes and allocates). An SG list mapped as one IOVA
   * is kept as that span (`dma_unmap_sg()` frees exactly it, DMA-5.7), in typed arrays: a
   * mapping lives a whole I/O, and as an object it would outlive young-generation collections
   * and cost the unmap three dependent loads (record, segment list, segment).
   */
  private readonly mapped = new PfnMap(1024);
  /** The span `dma_unmap_sg()` is handed, refilled by each unmap (the model keeps none of it). */
  private readonly unmapSpan = { nents: 1, segments: [{ dmaAddr: F64_ZERO, length: F64_ZERO }] };
  /** `mapSg`'s result, refilled by each map: `keep()` copies what it keeps (a per-entry list is its own). */
  private readonly mapBuffer: MappedSgBuffer = { nents: 0, segments: refArray() };
  private spanAddr = new Float64Array(256);
  /** The span's bytes, or -1: the slot holds a per-entry mapping in `perEntry`. */
  private spanBytes = new Float64Array(256);
  private readonly perEntry: (MappedSg | null)[] = refArray();
  private readonly freeSlots: number[] = numArray();
  private slotCount = 0;
  private nextPhysPage = 0;
  private readonly strict: boolean;
  private readonly k: number;
  // Counter snapshots, reused (no allocation per call).
  private readonly hits0: Float64Array;
  private readonly misses0: Float64Array;
  private readonly pushes0: Float64Array;
  private readonly pops0: Float64Array;
  private readonly overflows0: Float64Array;
  private readonly uncacheable = { n: 0 };
  /** This seam reads and clears its domain's `rcacheTouched` (it is the first seam on the domain). */
  private readsTouched = false;
  // One record per kind, cleared before each call: no allocation per DMA call.
  private readonly mapRec = emptyKernelOpRecord("map");
  private readonly unmapRec = emptyKernelOpRecord("unmap");
  /** The timer callback's frees: charged like an unmap's IOVA part, with no page or queue work. */
  private readonly timerRec = emptyKernelOpRecord("unmap");
  /** The simulated CPUs by id: where a flush-queue timer's callback is charged. */
  private readonly cpus: readonly Cpu[];
  private readonly snap = { searches: 0, allocs: 0, steps: 0, frees: 0, mags: 0 };
  /** Kernel time minus engine time: what a fast-forward (fast-forward.ts) moved the kernel's clock ahead by. */
  kernelOffsetNs = F64_ZERO;
  /** While set, every map and unmap is appended to it (the stream a fast-forward repeats). */
  recorder: DmaCallRecorder | null = null;
  /** Called with (cpu, kind, iovaPages, treeSteps) after each DMA call, e.g. by the Perfetto writer. */
  onOp: ((cpu: Cpu, kind: "map" | "unmap", pages: number, path: "rcache" | "tree", steps: number) => void) | null =
    null;
  /** The engine event that runs an armed flush-queue timer at its expiry, and its engine time (-1: none queued). */
  private readonly timerEvent = new FqTimerEvent(this);
  private timerEventNs = -1;

  constructor(
    engine: Engine,
    kernel: Kernel,
    dev: Device,
    cost: CostModel,
    cpus: readonly Cpu[] = [],
    iq: SerialResource | null = null,
  ) {
    this.engine = engine;
    this.cpus = cpus;
    this.kernel = kernel;
    this.dev = dev;
    this.cost = cost;
    const cookie = kernel.dma.cookieOf(dev);
    assert(cookie !== null, "the HBA must be behind a DMA domain");
    this.cookie = cookie;
    this.strict = cookie.fq === null;
    const iovad = cookie.iovad;
    this.k = iovad.rcacheOrders;
    const lockOpts = { acquireNs: cost.lockAcquireNs.ns, handoffNs: cost.lockHandoffNs.ns };
    this.treeLock = new SpinLock(engine, "iova_rbtree_lock", lockOpts);
    this.depotLocks = [];
    for (let c = 0; c < this.k; c++) this.depotLocks.push(new SpinLock(engine, `rcache${c}.lock`, lockOpts));
    this.iq = iq ?? new SerialResource(engine, "smmu-cmdq");
    this.hits0 = new Float64Array(this.k);
    this.misses0 = new Float64Array(this.k);
    this.pushes0 = new Float64Array(this.k);
    this.pops0 = new Float64Array(this.k);
    this.overflows0 = new Float64Array(this.k);
    if (iovad.rcacheTouchedReader === null) {
      iovad.rcacheTouchedReader = this;
      this.readsTouched = true;
    }
    this.snapshot(-1);
    this.stats = emptyStats(REPORT_CLASSES);
    // The timer policy reads the engine's CPUs: which are idle when it is armed and when it expires.
    if (cookie.fq !== null && cpus.length > 0) cookie.fq.facts = simulatedIdleFacts(cpus);
  }

  resetStats(): void {
    this.stats = emptyStats(REPORT_CLASSES);
  }

  /** The kernel's clock: the engine's, plus what fast-forwards added. */
  get kernelTimeNs(): number {
    return this.engine.nowNs + this.kernelOffsetNs;
  }

  /** The kernel's clock follows the engine's; a flush-queue timer due by now fires first. */
  private advance(): void {
    if (this.advancer !== null) {
      this.advancer.advanceAll();
      return;
    }
    this.prepareAdvance();
    this.kernel.advanceTo(this.kernelTimeNs);
    this.finishAdvance();
  }

  private readonly pending = { flushes: 0, timerCpu: -1 };

  /** @internal Before the kernel's clock moves: the flush queue's state and the counters. */
  prepareAdvance(): void {
    const fq = this.cookie.fq;
    if (fq === null) return;
    this.pending.flushes = fq.flushes;
    // Where an armed timer's callback will run, asked before it fires (the policy reads the facts of now).
    this.pending.timerCpu = fq.timerArmed ? fq.policy.expiryCpu(fq.timerCpu, fq.facts) : -1;
    this.snapshot();
  }

  /** @internal After it moved: the timer flushes that fired, charged where their callback ran. */
  finishAdvance(): void {
    const fq = this.cookie.fq;
    if (fq === null) return;
    const before = this.pending.flushes;
    const timerCpu = this.pending.timerCpu;
    const snap = this.snap;
    if (fq.flushes > before) {
      const n = fq.flushes - before;
      this.stats.timerFlushes += n;
      this.iq.submit(n * this.cost.iotlbFlushAllNs.ns);
      const rec = clearRecord(this.timerRec);
      const frees0 = this.stats.treeFrees;
      this.diff(rec, snap);
      this.stats.timerTreeFrees += this.stats.treeFrees - frees0;
      const cpu = this.cpus[timerCpu];
      if (cpu !== undefined && (rec.depotLocks.length > 0 || rec.treeFrees > 0 || rec.magazineAllocs > 0)) {
        const script = new Script();
        chargeKernelOp(script, this.cost, rec);
        cpu.raiseIrq(new ScriptTask("fq_flush_timeout", script));
      }
    }
    this.scheduleTimer();
  }

  /**
   * Queues the engine event for an armed timer's expiry (the kernel's clock
   * is ahead of the engine's by `kernelOffsetNs`), unless one at or before
   * it is queued already (it queues the next when it runs).
   */
  private scheduleTimer(): void {
    const fq = this.cookie.fq;
    if (fq === null || this.cpus.length === 0) return;
    const due = fq.nextExpiryNs;
    if (due === Number.POSITIVE_INFINITY) return;
    const at = Math.max(this.engine.nowNs, due - this.kernelOffsetNs);
    if (this.timerEventNs >= 0 && this.timerEventNs <= at) return;
    this.timerEventNs = at;
    this.engine.at(at, Priority.timer, this.timerEvent);
  }

  /** The timer's expiry (its `FqTimerEvent`): it runs now, where the policy says from the CPUs' state of now. */
  onTimerEvent(): void {
    this.timerEventNs = -1;
    this.advance();
  }

  /**
   * Takes the counters before a call (the tree's, and each class's rcache counters where
   * `touched` has its bit: after this, every class's copy equals its counters).
   */
  private snapshot(touched = this.touched()): {
    searches: number;
    allocs: number;
    steps: number;
    frees: number;
    mags: number;
  } {
    const s = this.cookie.iovad.stats;
    if (this.readsTouched) this.cookie.iovad.rcacheTouched = 0;
    for (let c = 0; c < this.k; c++) {
      if ((touched & classBit(c)) === 0) continue;
      this.hits0[c] = s.rcacheHits[c];
      this.misses0[c] = s.rcacheMisses[c];
      this.pushes0[c] = s.depotPushes[c];
      this.pops0[c] = s.depotPops[c];
      this.overflows0[c] = s.depotOverflows[c];
    }
    this.uncacheable.n = s.uncacheableAllocs;
    const snap = this.snap;
    snap.searches = s.treeSearches;
    snap.allocs = s.treeAllocs;
    snap.steps = s.walkSteps;
    snap.frees = s.treeFrees;
    snap.mags = s.magazinesAllocated;
    return snap;
  }

  /**
   * The classes whose rcache counters may have changed since the last snapshot: those the domain
   * marked (a class it did not mark has its counters as the snapshot took them, so its change
   * is 0 and it adds nothing), or every class where this seam is not the marks' reader.
   */
  private touched(): number {
    return this.readsTouched ? this.cookie.iovad.rcacheTouched : -1;
  }

  /** Fills the allocator part of `rec` from the counters' change since `snap`. */
  private diff(rec: KernelOpRecord, snap: ReturnType<KernelDmaSeam["snapshot"]>): number {
    const s = this.cookie.iovad.stats;
    const touched = this.touched();
    let hits = 0;
    for (let c = 0; c < this.k; c++) {
      if ((touched & classBit(c)) === 0) continue;
      const dh = s.rcacheHits[c] - this.hits0[c];
      const dm = s.rcacheMisses[c] - this.misses0[c];
      hits += dh;
      this.stats.hitsByClass[c] += dh;
      rec.magazineOps += dh + dm;
      // A miss with both magazines empty looks in the depot under its lock; a pop is one such look.
      const depot = Math.max(dm, s.depotPops[c] - this.pops0[c]) + (s.depotPushes[c] - this.pushes0[c]);
      const overflow = s.depotOverflows[c] - this.overflows0[c];
      const holds = depot + overflow;
      if (holds > 0) {
        for (let i = 0; i < holds; i++) {
          rec.depotLocks.push(this.depotLocks[c]);
          rec.depotOps.push(1);
        }
        this.stats.depotLockHolds += holds;
      }
    }
    const searches = s.treeSearches - snap.searches;
    const steps = s.walkSteps - snap.steps;
    const frees = s.treeFrees - snap.frees;
    if (searches > 0 || frees > 0) rec.treeLock = this.treeLock;
    // One lock hold per search; the steps of a call with two searches (SAC first, then 64-bit) go in the first.
    for (let i = 0; i < searches; i++) rec.treeAllocWalkSteps.push(i === 0 ? steps : 0);
    rec.treeFrees = frees;
    rec.magazineAllocs = s.magazinesAllocated - snap.mags;
    this.stats.treeAllocs += s.treeAllocs - snap.allocs;
    this.stats.walkSteps += steps;
    this.stats.treeFrees += frees;
    return hits;
  }

  /** The SG list of a request: each 4 KiB bio has its own page, page-aligned, physically apart (no offset, DMA-5.1). */
  sgList(segments: readonly number[]): readonly SgEntry[] {
    // One scratch list per length, refilled in place: `mapSg` reads the list and keeps none of it.
    const n = segments.length;
    // Looked up within the length only: a read past it would throw away code compiled in a run
    // whose lists were all made.
    let sg = n < this.sgScratch.length ? this.sgScratch[n] : undefined;
    if (sg === undefined) {
      sg = refArray();
      for (let i = 0; i < n; i++) sg.push({ phys: F64_ZERO, length: 0 });
      this.sgScratch[n] = sg;
    }
    for (let i = 0; i < n; i++) {
      const length = segments[i];
      const e = sg[i];
      e.phys = 0x10_0000_0000 + (this.nextPhysPage % 0x100_0000) * 4096;
      e.length = length;
      this.nextPhysPage += Math.ceil(length / 4096) + 1;
    }
    return sg;
  }

  /** `sgList`'s scratch lists, by length. */
  private readonly sgScratch: { phys: number; length: number }[][] = holeyRefArray();

  /** Keeps a live request's mapping until its unmap: its span, or the mapping itself if per entry. */
  private keep(requestId: number, m: MappedSg): void {
    assert(Number.isSafeInteger(requestId) && requestId >= 0, "a request id is a non-negative integer");
    this.mapped.set(requestId, this.store(this.freeSlots.pop() ?? this.newSlot(), m));
  }

  private store(slot: number, m: MappedSg): number {
    if (m.perEntry === true) {
      this.spanBytes[slot] = -1;
      this.perEntry[slot] = m;
      return slot;
    }
    const first = m.segments[0];
    const last = m.segments[m.segments.length - 1];
    this.spanAddr[slot] = first.dmaAddr;
    this.spanBytes[slot] = last.dmaAddr + last.length - first.dmaAddr;
    return slot;
  }

  private newSlot(): number {
    const slot = this.slotCount++;
    if (slot === this.spanAddr.length) {
      const addr = new Float64Array(slot * 2);
      addr.set(this.spanAddr);
      this.spanAddr = addr;
      const bytes = new Float64Array(slot * 2);
      bytes.set(this.spanBytes);
      this.spanBytes = bytes;
    }
    this.perEntry.push(null);
    return slot;
  }

  /** The mapping a live request holds (a fast-forward swaps in the one it made last). */
  mappingOf(requestId: number): MappedSg | undefined {
    const slot = this.mapped.get(requestId);
    if (slot === undefined) return undefined;
    const bytes = this.spanBytes[slot];
    if (bytes < 0) return this.perEntry[slot] as MappedSg;
    return { nents: 1, segments: [{ dmaAddr: this.spanAddr[slot], length: bytes }] };
  }

  /** @internal fast-forward.ts: the live request now holds `m`. */
  setMapping(requestId: number, m: MappedSg): void {
    const slot = this.mapped.get(requestId);
    assert(slot !== undefined, "a fast-forward rebinds only live requests");
    this.perEntry[slot] = null;
    this.store(slot, m);
  }

  map(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): boolean {
    this.advance();
    const snap = this.snapshot();
    const m = this.kernel.dma.mapSg(this.device(device), cpu.id, this.sgList(segments), this.mapBuffer);
    if (m.nents === 0) {
      // The domain's IOVA space is exhausted (after the allocator's flush of every cache and its
      // retry): what the attempt did is charged, and nothing is mapped.
      this.stats.mapFailures++;
      const rec = clearRecord(this.mapRec);
      this.diff(rec, snap);
      chargeKernelOp(out, this.cost, rec);
      return false;
    }
    this.keep(requestId, m);
    if (this.recorder !== null) {
      const bytes = iovaSpan(m, this.cookie.iovad.granule)[1];
      this.recorder.record(DMA_MAP, cpu.id, requestId, this.engine.nowNs, bytes, cpu.runsIdleTask);
    }
    const rec = clearRecord(this.mapRec);
    const hits = this.diff(rec, snap);
    let pages = 0;
    for (const l of segments) pages += Math.ceil(l / 4096);
    rec.pagesMapped = pages;
    const iovaPages = this.iovaPages(pages);
    const c = Math.min(orderBase2Small(iovaPages), REPORT_CLASSES - 1);
    this.stats.allocsByClass[c]++;
    this.stats.maps++;
    chargeKernelOp(out, this.cost, rec);
    this.onOp?.(cpu, "map", iovaPages, hits > 0 ? "rcache" : "tree", rec.treeAllocWalkSteps[0] ?? 0);
    return true;
  }

  unmap(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): void {
    this.advance();
    this.recorder?.record(DMA_UNMAP, cpu.id, requestId, this.engine.nowNs, 0, cpu.runsIdleTask);
    const slot = this.mapped.get(requestId);
    assert(slot !== undefined, "unmap of a request never mapped");
    this.mapped.delete(requestId);
    this.freeSlots.push(slot);
    const fq = this.cookie.fq;
    const flushes0 = fq === null ? 0 : fq.flushes;
    const snap = this.snapshot();
    const bytes = this.spanBytes[slot];
    let m: MappedSg;
    if (bytes < 0) {
      m = this.perEntry[slot] as MappedSg;
      this.perEntry[slot] = null;
    } else {
      // A list mapped as one IOVA is unmapped as its span (DMA-5.7), handed over in a reused record.
      m = this.unmapSpan;
      this.unmapSpan.segments[0].dmaAddr = this.spanAddr[slot];
      this.unmapSpan.segments[0].length = bytes;
    }
    assert(this.kernel.dma.unmapSg(this.device(device), cpu.id, m), "dma_unmap_sg of a live mapping failed");
    const rec = clearRecord(this.unmapRec);
    this.diff(rec, snap);
    // The per-call frees into the rcache are magazine ops the counters above do not see.
    rec.magazineOps += 1;
    let pages = 0;
    for (const l of segments) pages += Math.ceil(l / 4096);
    rec.pagesUnmapped = pages;
    rec.iq = this.iq;
    rec.iqLock = this.iqLock;
    rec.waitUnderIqLock = this.waitUnderIqLock;
    rec.iqPoll = this.iqPoll;
    if (this.strict) {
      rec.invalidations = 1;
      rec.syncs = 1;
      this.stats.invalidations++;
      this.stats.syncs++;
    } else {
      rec.flushQueueOps = 1;
      rec.flushAlls = fq === null ? 0 : fq.flushes - flushes0;
      this.stats.flushAlls += rec.flushAlls;
    }
    this.stats.unmaps++;
    this.scheduleTimer();
    chargeKernelOp(out, this.cost, rec);
    this.onOp?.(cpu, "unmap", this.iovaPages(pages), rec.treeFrees > 0 ? "tree" : "rcache", 0);
  }

  private device(i: number): Device {
    return this.devices === null ? this.dev : this.devices[i];
  }

  /** The IOVA size of a mapping of `pages` pages: rounded up to a power of two below the range's top. */
  private iovaPages(pages: number): number {
    return this.cookie.iovad.roundUpCacheable(pages);
  }

  /** Mappings live now. */
  get live(): number {
    return this.mapped.size;
  }
}
