/**
 * The integration seam with the DMA layer: a record of what one DMA API call
 * did in the modelled kernel (counted by the upper layer, in kernel terms)
 * turned into a CPU script with the cost model's times and the real locks.
 *
 * The upper layer runs its model inside a `Hook` (script.ts) at the instant
 * the CPU reaches the call, fills a `KernelOpRecord`, and calls
 * `chargeKernelOp(out, cost, rec)`. The order of the script follows the
 * kernel's code paths (see docs/cost-model.md, "Integration seam"):
 *
 * - map (`iommu_dma_map_sg`): rcache (magazine, depot under its lock), else
 *   the tree under the rbtree lock (walk + insert); then the page-table writes.
 * - unmap (`__iommu_dma_unmap`): page-table clears; strict: invalidate and
 *   spin on the sync, then free the IOVA (rcache or tree); lazy: queue on the
 *   flush queue, and when this call flushes it, one flush-all sync and every
 *   queued IOVA freed.
 */

import { F64_ZERO, refArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import type { CostModel } from "./cost.ts";
import type { SpinLock } from "./lock.ts";
import type { PolledQueueWait } from "./qi-poll.ts";
import type { Script } from "./script.ts";
import type { SerialResource } from "./serial.ts";

export interface KernelOpRecord {
  kind: "map" | "unmap";
  /** Magazine pushes, pops and swaps on this CPU's rcache. */
  magazineOps: number;
  /** Magazines allocated or freed (kzalloc/kfree). */
  magazineAllocs: number;
  /** Depot locks taken, in order, and the depot operations done under each. */
  depotLocks: SpinLock[];
  depotOps: number[];
  /** The domain's rbtree lock, if the tree was touched. */
  treeLock: SpinLock | null;
  /** rb_prev steps of each tree allocation, in order (one lock hold each). */
  treeAllocWalkSteps: number[];
  /** IOVAs freed into the tree (one lock hold each). */
  treeFrees: number;
  pagesMapped: number;
  pagesUnmapped: number;
  /** The IOMMU's invalidation queue. */
  iq: SerialResource | null;
  /**
   * The software lock in front of the queue, taken to write the commands
   * (VT-d's `qi->q_lock`, AMD-Vi's `iommu->lock`); null where writers need
   * none (SMMUv3's lock-free command queue).
   */
  iqLock: SpinLock | null;
  /**
   * The CPU waits for the sync with `iqLock` held: AMD-Vi's
   * iommu_completion_wait() calls wait_on_sem() inside iommu->lock (until
   * "iommu/amd: move wait_on_sem() out of spinlock", d2a0cac, which no
   * modelled kernel has), so the unit's waits go one at a time.
   */
  waitUnderIqLock: boolean;
  /**
   * The commands are written under `iqLock` and their completion polled with
   * it re-taken between polls (VT-d's qi_submit_sync(), qi-poll.ts); null
   * where the wait is not polled under a lock.
   */
  iqPoll: PolledQueueWait | null;
  /** TLBI commands queued, and syncs waited for (strict mode). */
  invalidations: number;
  syncs: number;
  /** Flush-queue entries added (lazy mode), and whole-domain flushes done by this call. */
  flushQueueOps: number;
  flushAlls: number;
}

export function emptyKernelOpRecord(kind: "map" | "unmap"): KernelOpRecord {
  return {
    kind,
    magazineOps: F64_ZERO,
    magazineAllocs: 0,
    depotLocks: refArray(),
    depotOps: [],
    treeLock: null,
    treeAllocWalkSteps: [],
    treeFrees: 0,
    pagesMapped: 0,
    pagesUnmapped: 0,
    iq: null,
    iqLock: null,
    waitUnderIqLock: false,
    iqPoll: null,
    invalidations: 0,
    syncs: 0,
    flushQueueOps: 0,
    flushAlls: 0,
  };
}

/** Appends the script for `rec` to `out`. */
export function chargeKernelOp(out: Script, cost: CostModel, rec: KernelOpRecord): void {
  assert(rec.depotLocks.length === rec.depotOps.length, "depot locks and depot op counts pair up");
  if (rec.kind === "map") {
    chargeIova(out, cost, rec);
    out.compute(rec.pagesMapped * cost.pageMapNs.ns);
    return;
  }
  out.compute(rec.pagesUnmapped * cost.pageUnmapNs.ns);
  out.compute(rec.flushQueueOps * cost.flushQueueOpNs.ns);
  // The queue is occupied by each command; the sync's completion round trip is
  // latency only this CPU waits for (other CPUs' commands are served meanwhile).
  const iqNs = (rec.invalidations + rec.syncs) * cost.iotlbInvalidateNs.ns + rec.flushAlls * cost.iotlbFlushAllNs.ns;
  const latencyNs = rec.syncs > 0 || rec.flushAlls > 0 ? cost.iotlbSyncNs.ns : 0;
  if (iqNs + latencyNs > 0) {
    assert(rec.iq !== null, "invalidations without an invalidation queue");
    if (rec.iqPoll !== null) {
      // VT-d: written and polled under qi->q_lock, dropped and re-taken between polls.
      assert(rec.iqPoll.iq === rec.iq, "the polled queue is the record's");
      rec.iqPoll.charge(out, iqNs, latencyNs);
    } else if (rec.iqLock !== null && rec.waitUnderIqLock) {
      // AMD-Vi: commands written and their completion waited for under the unit's lock.
      out.lock(rec.iqLock);
      out.sync(rec.iq, iqNs, latencyNs);
      out.unlock(rec.iqLock);
    } else {
      // SMMUv3: a lock-free command queue; the CPU spins on its CMD_SYNC outside any lock.
      assert(rec.iqLock === null, "a queue lock without a way to wait under it");
      out.sync(rec.iq, iqNs, latencyNs);
    }
  }
  chargeIova(out, cost, rec);
}

function chargeIova(out: Script, cost: CostModel, rec: KernelOpRecord): void {
  out.compute(rec.magazineOps * cost.magazineOpNs.ns);
  for (let i = 0; i < rec.depotLocks.length; i++) {
    out.lock(rec.depotLocks[i]);
    out.compute(rec.depotOps[i] * cost.depotOpNs.ns);
    out.unlock(rec.depotLocks[i]);
  }
  out.compute(rec.magazineAllocs * cost.magazineAllocNs.ns);
  if (rec.treeAllocWalkSteps.length + rec.treeFrees > 0) {
    assert(rec.treeLock !== null, "tree work without the rbtree lock");
    for (const steps of rec.treeAllocWalkSteps) {
      out.lock(rec.treeLock);
      out.compute(steps * cost.treeWalkStepNs.ns + cost.treeAllocNs.ns);
      out.unlock(rec.treeLock);
    }
    for (let i = 0; i < rec.treeFrees; i++) {
      out.lock(rec.treeLock);
      out.compute(cost.treeFreeNs.ns);
      out.unlock(rec.treeLock);
    }
  }
}
