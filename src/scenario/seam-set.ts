/**
 * Every device a run drives, each through its own DMA domain: one
 * `KernelDmaSeam` per IOMMU group (its IOVA domain, rbtree lock and depot
 * locks), one invalidation queue per IOMMU unit, and one clock for all of
 * them, so a flush-queue timer that fires while another domain's call moves
 * the clock is charged to its own domain. A device whose group has an
 * identity domain (passthrough: `iommu.passthrough=1`, or `type` written
 * `identity`) maps through dma-direct: no IOVA, no page table, no
 * invalidation, nothing charged — what the IOMMU costs at all is the
 * difference from a translated run.
 */

import type { Device } from "../iommu/device.ts";
import type { Kernel } from "../machine/kernel.ts";
import type { CostModel } from "../sim/cost.ts";
import type { Cpu } from "../sim/cpu.ts";
import type { Engine } from "../sim/engine.ts";
import { SpinLock } from "../sim/lock.ts";
import type { Script } from "../sim/script.ts";
import { SerialResource } from "../sim/serial.ts";
import { assert } from "../stdx/assert.ts";
import type { DmaSeam } from "../workload/fio-run.ts";
import { KernelDmaSeam } from "./seam.ts";

export class SeamSet implements DmaSeam {
  /** One per DMA domain, in the order of the devices that first use them. */
  readonly seams: KernelDmaSeam[] = [];
  /** One per IOMMU unit. */
  readonly iqs: SerialResource[] = [];
  /** The unit's queue lock (VT-d, AMD-Vi), null for SMMUv3. */
  readonly iqLock: SpinLock | null;
  /** Maps and unmaps of devices behind identity domains (dma-direct). */
  directMaps = 0;
  directUnmaps = 0;
  private readonly seamOf: (KernelDmaSeam | null)[] = [];
  private readonly kernel: Kernel;

  /** `devices[i]` is the device of call index i (a disk's controller). */
  constructor(engine: Engine, kernel: Kernel, devices: readonly Device[], cost: CostModel, cpus: readonly Cpu[]) {
    this.kernel = kernel;
    // The machine description has one IOMMU unit; every translated group sits behind it.
    const iq = new SerialResource(engine, iqName(kernel));
    // VT-d writes its queue under qi->q_lock, AMD-Vi under iommu->lock (docs/iommu-invalidation.md).
    const lockName = iqLockName(kernel);
    const iqLock =
      lockName === null
        ? null
        : new SpinLock(engine, lockName, { acquireNs: cost.lockAcquireNs.ns, handoffNs: cost.lockHandoffNs.ns });
    this.iqLock = iqLock;
    const byCookie = new Map<unknown, KernelDmaSeam>();
    for (const dev of devices) {
      const cookie = kernel.dma.cookieOf(dev);
      if (cookie === null) {
        this.seamOf.push(null);
        continue;
      }
      let seam = byCookie.get(cookie);
      if (seam === undefined) {
        seam = new KernelDmaSeam(engine, kernel, dev, cost, cpus, iq);
        byCookie.set(cookie, seam);
        this.seams.push(seam);
      }
      this.seamOf.push(seam);
    }
    if (this.seams.length > 0) this.iqs.push(iq);
    for (const seam of this.seams) {
      seam.deviceOf = (i) => devices[i];
      seam.iqLock = iqLock;
      if (this.seams.length > 1) seam.advanceAll = () => this.advanceAll();
    }
  }

  /** The kernel's clock to the engine's, once for every domain. */
  private advanceAll(): void {
    const first = this.seams[0];
    for (const s of this.seams) s.prepareAdvance();
    this.kernel.advanceTo(first.kernelTimeNs);
    for (const s of this.seams) s.finishAdvance();
  }

  map(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): void {
    const seam = this.seamOf[device];
    assert(seam !== undefined, "a call of a device the run does not drive");
    if (seam === null) this.directMaps++;
    else seam.map(cpu, device, segments, requestId, out);
  }

  unmap(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): void {
    const seam = this.seamOf[device];
    assert(seam !== undefined, "a call of a device the run does not drive");
    if (seam === null) this.directUnmaps++;
    else seam.unmap(cpu, device, segments, requestId, out);
  }

  resetStats(): void {
    this.directMaps = 0;
    this.directUnmaps = 0;
    for (const s of this.seams) {
      s.resetStats();
      s.treeLock.resetStats();
      for (const l of s.depotLocks) l.resetStats();
    }
    for (const q of this.iqs) q.resetStats();
    this.iqLock?.resetStats();
  }

  /** The kernel's clock: the engine's (a run of several domains is never fast-forwarded). */
  get kernelTimeNs(): number {
    return this.seams.length > 0 ? this.seams[0].kernelTimeNs : Number.NaN;
  }
}

/** The lock writers of the invalidation queue take, by IOMMU kind (none: SMMUv3's queue is lock-free). */
function iqLockName(k: Kernel): string | null {
  switch (k.machine.iommu.kind) {
    case "arm-smmu-v3":
      return null;
    case "intel-vtd":
      return "qi->q_lock";
    case "amd-vi":
      return "iommu->lock";
  }
}

/** The invalidation queue by the IOMMU kind's name for it. */
function iqName(k: Kernel): string {
  switch (k.machine.iommu.kind) {
    case "arm-smmu-v3":
      return "smmu-cmdq";
    case "intel-vtd":
      return "vtd-qi";
    case "amd-vi":
      return "amdvi-cmdbuf";
  }
}
