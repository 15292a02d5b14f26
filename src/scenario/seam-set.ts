/**
 * Every device a run drives, each through its own DMA domain: one
 * `KernelDmaSeam` per IOMMU group (its IOVA domain, rbtree lock and depot
 * locks), one invalidation queue and queue lock per IOMMU unit (the
 * description's `iommu.units`, each device behind its `iommuUnit`), and one
 * clock for all of them, so a flush-queue timer that fires while another domain's call moves
 * the clock is charged to its own domain. A device whose group has an
 * identity domain (passthrough: `iommu.passthrough=1`, or `type` written
 * `identity`) maps through dma-direct: no IOVA, no page table, no
 * invalidation, only dma-direct's own work per segment (`directMapNs`) —
 * what the IOMMU costs at all is the difference from a translated run.
 */

import type { Device } from "../iommu/device.ts";
import { iommuUnitOf } from "../machine/check.ts";
import type { Kernel } from "../machine/kernel.ts";
import type { CostModel } from "../sim/cost.ts";
import type { Cpu } from "../sim/cpu.ts";
import type { Engine } from "../sim/engine.ts";
import { SpinLock } from "../sim/lock.ts";
import { PolledQueueWait } from "../sim/qi-poll.ts";
import type { Script } from "../sim/script.ts";
import { SerialResource } from "../sim/serial.ts";
import { assert } from "../stdx/assert.ts";
import type { DmaSeam } from "../workload/fio-run.ts";
import { KernelDmaSeam } from "./seam.ts";

export class SeamSet implements DmaSeam {
  /** One per DMA domain, in the order of the devices that first use them. */
  readonly seams: KernelDmaSeam[] = [];
  /** One per IOMMU unit a translated device of the run sits behind, in the order first used. */
  readonly iqs: SerialResource[] = [];
  /** Each of those units' queue lock (VT-d, AMD-Vi); empty for SMMUv3. */
  readonly iqLocks: SpinLock[] = [];
  /** Each VT-d unit's polled wait under its queue lock (qi_submit_sync); empty on other kinds. */
  readonly iqPolls: PolledQueueWait[] = [];
  /** Maps and unmaps of devices behind identity domains (dma-direct). */
  directMaps = 0;
  directUnmaps = 0;
  private readonly seamOf: (KernelDmaSeam | null)[] = [];
  private readonly kernel: Kernel;
  /** dma-direct's work per segment of a passthrough map or unmap. */
  private readonly directNs: number;

  /** `devices[i]` is the device of call index i (a disk's controller). */
  constructor(engine: Engine, kernel: Kernel, devices: readonly Device[], cost: CostModel, cpus: readonly Cpu[]) {
    this.kernel = kernel;
    this.directNs = cost.directMapNs.ns;
    // VT-d writes its queue under qi->q_lock, AMD-Vi under iommu->lock (docs/iommu-invalidation.md).
    const lockName = iqLockName(kernel);
    const units = new Map<string, { iq: SerialResource; lock: SpinLock | null; poll: PolledQueueWait | null }>();
    // VT-d polls its wait descriptor under qi->q_lock, re-taking it between polls (sim/qi-poll.ts).
    const polled = kernel.machine.iommu.kind === "intel-vtd";
    const unitOf = (dev: Device) => {
      const name = iommuUnitOf(kernel.machine, dev.name);
      let u = units.get(name);
      if (u === undefined) {
        // One unit keeps the queue's name of old (its figures' key); several are told apart by the unit's name.
        const many = (kernel.machine.iommu.units?.length ?? 1) > 1;
        const iq = new SerialResource(engine, many ? `${iqName(kernel)}:${name}` : iqName(kernel));
        const lock =
          lockName === null
            ? null
            : new SpinLock(engine, many ? `${lockName}:${name}` : lockName, {
                acquireNs: cost.lockAcquireNs.ns,
                handoffNs: cost.lockHandoffNs.ns,
              });
        const poll = polled && lock !== null ? new PolledQueueWait(engine, lock, iq, cost.vtdFaultCheckNs.ns) : null;
        u = { iq, lock, poll };
        units.set(name, u);
        this.iqs.push(iq);
        if (lock !== null) this.iqLocks.push(lock);
        if (poll !== null) this.iqPolls.push(poll);
      }
      return u;
    };
    // AMD-Vi waits for its COMPLETION_WAIT inside iommu->lock (docs/cost-model.md, "Each IOMMU kind").
    const waitUnderLock = kernel.machine.iommu.kind === "amd-vi";
    const byCookie = new Map<unknown, KernelDmaSeam>();
    for (const dev of devices) {
      const cookie = kernel.dma.cookieOf(dev);
      if (cookie === null) {
        this.seamOf.push(null);
        continue;
      }
      let seam = byCookie.get(cookie);
      if (seam === undefined) {
        // A group's devices sit behind one unit: its first device's.
        const unit = unitOf(dev);
        seam = new KernelDmaSeam(engine, kernel, dev, cost, cpus, unit.iq);
        seam.iqLock = unit.lock;
        seam.waitUnderIqLock = waitUnderLock;
        seam.iqPoll = unit.poll;
        byCookie.set(cookie, seam);
        this.seams.push(seam);
      }
      this.seamOf.push(seam);
    }
    for (const seam of this.seams) {
      seam.devices = devices;
      if (this.seams.length > 1) seam.advancer = this;
    }
  }

  /** The kernel's clock to the engine's, once for every domain (a seam's `advancer`). */
  advanceAll(): void {
    const first = this.seams[0];
    for (const s of this.seams) s.prepareAdvance();
    this.kernel.advanceTo(first.kernelTimeNs);
    for (const s of this.seams) s.finishAdvance();
  }

  map(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): boolean {
    const seam = this.seamOf[device];
    assert(seam !== undefined, "a call of a device the run does not drive");
    if (seam !== null) return seam.map(cpu, device, segments, requestId, out);
    this.directMaps++;
    out.compute(segments.length * this.directNs);
    return true;
  }

  unmap(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): void {
    const seam = this.seamOf[device];
    assert(seam !== undefined, "a call of a device the run does not drive");
    if (seam === null) {
      this.directUnmaps++;
      out.compute(segments.length * this.directNs);
    } else seam.unmap(cpu, device, segments, requestId, out);
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
    for (const l of this.iqLocks) l.resetStats();
    for (const p of this.iqPolls) p.resetStats();
  }

  /** The first unit's queue lock (the only one on a one-unit machine); null for SMMUv3 or a passthrough run. */
  get iqLock(): SpinLock | null {
    return this.iqLocks[0] ?? null;
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
