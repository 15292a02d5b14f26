/**
 * A booted kernel on a machine: wires the layers (iova ← iommu ← dma ←
 * driver ← sysfs), runs the boot sequence on the virtual clock, keeps the
 * kernel log, and moves time so flush-queue timers and depot trims fire.
 *
 * Boot, in the kernel's order (docs/kernel-rules.md R-GRP-2.3, 3.8, R-DD-2.4):
 *   0 s      command line
 *   1.0 s    iommu_subsys_init: default domain type and TLB policy lines
 *   1.5 s    IOMMU driver init (VT-d Caching Mode forces strict here), then
 *            bus_iommu_probe: each device into its group, in bus order
 *            ("Adding to iommu group N"), then each group's default domain
 *            and dma-iommu init with its reservations (DMA-1)
 *   2.0 s    built-in drivers register (device_initcall), 1 ms apart
 *   3.0 s    late_initcall: deferred probing enabled, triggered and flushed twice
 *   4.0 s    modules load (the initramfs's insmod), 100 ms apart, in the
 *            machine's order, except those in modprobe.blacklist=; each
 *            registration pushes the deferred-probe timeout work back
 *   5.0 s    boot done; the timeout work (deferred_probe_timeout= seconds
 *            after the late initcall or the last registration) runs when
 *            the clock gets there
 *
 * Deviation: the boot always runs modules after the late initcall, so the
 * timeout applies whatever the machine; a kernel without modules has none
 * (deferred_probe_timeout=0 on the command line models that).
 * Timestamps are virtual; lines of one step share its timestamp.
 */

import { type CookieSnapshot, IommuDma, type IommuDmaCookie } from "../dma/iommu-dma.ts";
import { DmaMapping } from "../dma/mapping.ts";
import { DriverCore, type DriverModel, type ProbeContext, type RegisteredDriver } from "../driver/core.ts";
import { e1000eDriver, hisiSasV3Driver, nvmeDriver, plainDriver, QEMU_NVME } from "../driver/drivers.ts";
import { DRIVER_POLICY } from "../driver/policy.ts";
import { IommuCore } from "../iommu/core.ts";
import { Device } from "../iommu/device.ts";
import type { IommuGroup } from "../iommu/group.ts";
import { rangeBytesBuildable } from "../iommu/range-policy.ts";
import { getProfile, type KernelProfile, type ProfileName } from "../iova/profile.ts";
import { F64_ZERO } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import { buildSysfs } from "../sysfs/kernel-fs.ts";
import type { SysFs } from "../sysfs/tree.ts";
import { type Cmdline, parseCmdline } from "./cmdline.ts";
import type { DriverDesc, MachineDesc } from "./schema.ts";

export interface BootOptions {
  /** The kernel profile; default: the machine's. */
  readonly kernel?: ProfileName;
  /** Words appended to the machine's command line (later words win). */
  readonly cmdline?: string;
  /** Override of the machine's CPU count. */
  readonly cpus?: number;
}

/** One DMA domain's rcache range and what it holds (docs/configurable-range.md §5, last point). */
export interface DomainRangeCost {
  readonly group: number;
  /** The type as the group's `type` file spells it. */
  readonly type: string;
  readonly orders: number;
  readonly source: string;
  readonly maxCachedBytes: number;
  readonly driverRequestBytes: number;
  readonly liveIovas: number;
  /** Per size class: IOVA space held in rcaches and depots, and the magazines' memory. */
  readonly perClass: readonly { sizeGranules: number; cachedIovaBytes: number; magazineMemoryBytes: number }[];
}

/** What `Kernel.checkpoint()` copies out. */
export interface KernelCheckpoint {
  readonly nowNs: number;
  /** Every live domain in `dma.cookies` order; `state` null: a quiet domain not copied, only its clock. */
  readonly cookies: readonly {
    readonly cookie: IommuDmaCookie;
    readonly state: CookieSnapshot | null;
    readonly iovaNowNs: number;
  }[];
  readonly sac: readonly { readonly dev: Device; readonly flag: boolean }[];
}

export interface LogLine {
  readonly tsNs: number;
  readonly text: string;
}

const MS = 1_000_000;

export class Kernel {
  readonly machine: MachineDesc;
  readonly profile: KernelProfile;
  readonly cmdline: Cmdline;
  readonly cpus: number;
  readonly iommu: IommuCore;
  readonly dma: IommuDma;
  readonly mapping: DmaMapping;
  readonly drivers: DriverCore;
  readonly sysfs: SysFs;
  readonly log: LogLine[] = [];
  /** The virtual clock, integer nanoseconds. */
  nowNs = F64_ZERO;
  private readonly instances = new Map<string, Set<number>>();
  /** Module parameters `<module>.<param>`: the command line's, then sysfs writes. */
  readonly moduleParams: Map<string, string>;

  private constructor(machine: MachineDesc, opts: BootOptions) {
    this.machine = machine;
    this.profile = getProfile(opts.kernel ?? (machine.kernel as ProfileName));
    this.cmdline = parseCmdline(`${machine.cmdline} ${opts.cmdline ?? ""}`);
    this.cpus = opts.cpus ?? machine.cpus;
    this.moduleParams = new Map(this.cmdline.moduleParams);
    assert(Number.isInteger(this.cpus) && this.cpus >= 1, "cpus must be a positive integer");
    const log = (text: string) => this.printk(text);
    const granule = machine.iommu.granule;
    let rangeBytes = this.cmdline.maxOptDmaSize;
    if (!rangeBytesBuildable(rangeBytes, granule)) rangeBytes = 0;
    this.iommu = new IommuCore({
      profile: this.profile,
      granule,
      apertureEnd: (1n << BigInt(machine.iommu.addressWidth)) - 1n,
      passthroughCmdline: this.cmdline.passthrough,
      configPassthrough: machine.config.defaultPassthrough,
      strict: this.cmdline.strict ?? machine.config.defaultDmaStrict,
      strictFromCmdline: this.cmdline.strict !== null,
      cmdlineRangeBytes: rangeBytes,
      log,
    });
    this.dma = new IommuDma(
      {
        profile: this.profile,
        forcedac: this.cmdline.forcedac,
        cpus: this.cpus,
        hz: machine.hz,
        deferredFlush: machine.iommu.deferredFlush,
        hostBridges: new Map(machine.hostBridges.map((b) => [b.name, b])),
        log,
        clock: this,
      },
      this.iommu,
    );
    this.mapping = new DmaMapping(this.iommu, this.dma, machine.pageSize);
    this.drivers = new DriverCore(this.iommu, (dev, drv) => this.probeContext(dev, drv), log);
    const policy = DRIVER_POLICY[this.profile.name];
    this.drivers.deferredProbeTimeoutS = this.cmdline.deferredProbeTimeoutS ?? policy.deferredProbeTimeoutS;
    this.drivers.pendingLineHasReason = policy.pendingLineHasReason;
    this.sysfs = buildSysfs({ iommu: this.iommu, drivers: this.drivers, moduleParams: this.moduleParams });
  }

  /** Boots `machine` with `opts` and returns the running kernel. */
  static boot(machine: MachineDesc, opts: BootOptions = {}): Kernel {
    const k = new Kernel(machine, opts);
    k.runBoot();
    return k;
  }

  private runBoot(): void {
    const m = this.machine;
    this.printk(`Command line: ${this.cmdline.text}`);
    for (const w of this.cmdline.warnings) this.printk(w);
    if (this.cmdline.forcedac) this.printk("Forcing DAC for PCI devices");
    if (this.cmdline.maxOptDmaSize !== 0 && this.iommu.config.cmdlineRangeBytes === 0) {
      this.printk(`iommu: max_opt_dma_size=${this.cmdline.maxOptDmaSize} gives too many rcache orders; ignored`);
    }
    this.nowNs = 1000 * MS;
    this.iommu.logSubsysInit();
    this.nowNs = 1500 * MS;
    if (m.iommu.kind === "intel-vtd" && m.iommu.cachingMode) {
      this.printk("DMAR: IOMMU batching disallowed due to virtualization");
      this.iommu.setDmaStrict();
    }
    const devices: Device[] = [];
    for (const d of m.devices) {
      const dev = new Device({
        name: d.bdf,
        pci: { vendor: d.vendor, device: d.device, classCode: d.class },
        rootName: d.hostBridge ?? m.hostBridges[0].name,
        dmaMaskBits: d.dmaMaskBits,
        coherentDmaMaskBits: d.coherentDmaMaskBits,
        untrusted: d.untrusted,
        resvRegions: d.reservedRegions,
        segBoundaryMask: d.segBoundaryMask,
        maxSegSize: d.maxSegSize,
        usesMsi: d.usesMsi,
        identityDefault: d.identityDefault,
      });
      devices.push(dev);
      this.iommu.probeDevice(dev, d.group);
      this.nowNs += MS / 5;
    }
    this.iommu.setupDefaultDomains();
    for (const dev of devices) this.drivers.addDevice(dev);
    this.nowNs = 2000 * MS;
    for (const d of m.drivers) {
      if (d.module) continue;
      this.drivers.registerDriver(this.makeDriver(d), this.nowNs);
      this.nowNs += MS;
    }
    this.nowNs = 3000 * MS;
    this.drivers.lateInitcall(this.nowNs);
    this.nowNs = 4000 * MS;
    for (const d of m.drivers) {
      if (!d.module || this.cmdline.blacklist.has(d.name)) continue;
      this.drivers.registerDriver(this.makeDriver(d), this.nowNs);
      this.nowNs += 100 * MS;
    }
    this.advanceTo(5000 * MS);
  }

  private makeDriver(d: DriverDesc): RegisteredDriver {
    let model: DriverModel;
    switch (d.model) {
      case "nvme":
        model = nvmeDriver(this.profile.name, (dev) => {
          const nv = this.machine.devices.find((x) => x.bdf === dev.name)?.nvme ?? QEMU_NVME;
          return { mdts: nv.mdts, ioQueues: nv.ioQueues, cpus: this.cpus };
        });
        break;
      case "e1000e":
        model = e1000eDriver();
        break;
      case "hisi_sas_v3_hw":
        model = hisiSasV3Driver(this.machine.pageSize, d.disks, this.profile.name);
        break;
      default:
        model = plainDriver(d.name);
    }
    if (model.name !== d.name) model = { ...model, name: d.name };
    return {
      model,
      idTable: d.match.map((x) => ({ vendor: x.vendor, device: x.device, classCode: x.class, classMask: x.classMask })),
    };
  }

  private probeContext(_dev: Device, drv: DriverModel): ProbeContext {
    return {
      log: (line) => this.printk(line),
      mapping: this.mapping,
      dma: this.dma,
      cpu: 0,
      param: (name) => this.moduleParams.get(`${drv.name}.${name}`),
      allocInstance: (prefix) => {
        let set = this.instances.get(prefix);
        if (!set) this.instances.set(prefix, (set = new Set()));
        let n = 0;
        while (set.has(n)) n++;
        set.add(n);
        return n;
      },
      freeInstance: (prefix, n) => {
        this.instances.get(prefix)?.delete(n);
      },
    };
  }

  /** Appends a line to the kernel log at the current virtual time. */
  printk(text: string): void {
    this.log.push({ tsNs: this.nowNs, text });
  }

  /** The kernel log as `dmesg` prints it: `[    1.500000] text`. */
  dmesg(): string {
    return this.log.map((l) => `${formatTs(l.tsNs)} ${l.text}\n`).join("");
  }

  /**
   * Moves the virtual clock to `nowNs`: every flush-queue timer due by then
   * fires at its time, in time order, and every IOVA domain's delayed work
   * due by then runs.
   */
  advanceTo(nowNs: number): void {
    assert(nowNs >= this.nowNs, "virtual time never goes back");
    for (;;) {
      const t = this.dma.nextTimerNs();
      const w = this.drivers.timeoutWorkDueNs ?? Number.POSITIVE_INFINITY;
      if (Math.min(t, w) > nowNs) break;
      if (w < t) {
        // The deferred-probe timeout work (R-DD-2.4 e) runs before a later timer.
        if (w > this.nowNs) this.nowNs = w;
        this.drivers.runTimeoutWork();
        continue;
      }
      if (t > this.nowNs) this.nowNs = t;
      this.dma.fireTimersAt(t);
    }
    this.nowNs = nowNs;
    this.dma.syncAll();
    this.dma.prune();
  }

  /**
   * A checkpoint of the DMA state that a replay changes: the clock, the live
   * DMA domains (IOVA allocator, flush queue, mappings) and each device's SAC
   * flag. No probe, sysfs write or domain change may happen between the
   * checkpoint and its `restore()`, and only the domains in `written` may be
   * mapped or unmapped (the replay's timer inference maps and unmaps one
   * device). Any other domain that is quiet (no timer armed, no depot work
   * pending) can then change only its clock, so only that is kept; one that
   * is not quiet is copied whole like the written ones.
   */
  checkpoint(written: readonly IommuDmaCookie[] = this.dma.cookies): KernelCheckpoint {
    const live = this.dma.cookies;
    const cookies = new Array<KernelCheckpoint["cookies"][number]>(live.length);
    for (let i = 0; i < live.length; i++) {
      const c = live[i];
      const copy = written.includes(c) || !c.quiet;
      cookies[i] = { cookie: c, state: copy ? c.snapshot() : null, iovaNowNs: c.iovad.nowNs };
    }
    const sac: { dev: Device; flag: boolean }[] = [];
    for (const g of this.iommu.groups.values())
      for (const d of g.devices) sac.push({ dev: d, flag: d.pci32bitWorkaround });
    return { nowNs: this.nowNs, cookies, sac };
  }

  /** Takes back a checkpoint that will never be restored: its buffers serve later checkpoints. */
  recycle(cp: KernelCheckpoint): void {
    for (const c of cp.cookies) if (c.state !== null) c.cookie.recycle(c.state);
  }

  /** Puts back a checkpoint; the clock may go back. */
  restore(cp: KernelCheckpoint): void {
    assert(
      cp.cookies.length === this.dma.cookies.length && cp.cookies.every((c, i) => this.dma.cookies[i] === c.cookie),
      "kernel restored across a domain change",
    );
    this.nowNs = cp.nowNs;
    for (const { cookie, state, iovaNowNs } of cp.cookies) {
      if (state !== null) cookie.restore(state);
      else cookie.iovad.rewindIdle(iovaNowNs);
    }
    for (const { dev, flag } of cp.sac) dev.pci32bitWorkaround = flag;
  }

  /**
   * Full walk of the kernel model's state (house style: every structure has
   * one): groups and membership, owner counts equal to bound devices, one
   * live cookie per DMA default domain, every live mapping an IOVA of the
   * tree, flush-queue rings within capacity, the deferred lists disjoint
   * and free of bound devices, and each IOVA domain's own invariants.
   */
  verifyInvariants(): void {
    for (const [id, g] of this.iommu.groups) {
      assert(g.id === id, "group id mismatch");
      let bound = 0;
      for (const d of g.devices) {
        assert(d.groupId === id, `${d.name}: groupId ${d.groupId} in group ${id}`);
        if (d.bound) bound++;
      }
      assert(g.ownerCnt === bound, `group ${id}: owner_cnt ${g.ownerCnt} with ${bound} bound devices`);
      const dom = g.defaultDomain;
      assert(dom !== null && !dom.dead, `group ${id}: no live default domain`);
      assert(g.domain === dom, `group ${id}: attached to a non-default domain`);
      if (dom.cookie) {
        const cookie = dom.cookie as IommuDmaCookie;
        assert(!cookie.dead, `group ${id}: dead cookie on a live domain`);
        assert(cookie.iovad.rcacheOrders === dom.range.orders, `group ${id}: K differs from the domain's range`);
        for (const [pfn, pages] of cookie.mapped) {
          const iova = cookie.iovad.findIova(pfn);
          assert(iova !== null && iova[0] === pfn, `group ${id}: mapping at pfn ${pfn} has no IOVA`);
          assert(iova[1] - iova[0] + 1 >= pages, `group ${id}: mapping at pfn ${pfn} larger than its IOVA`);
        }
        if (cookie.fq)
          for (let c = 0; c < this.cpus; c++) assert(cookie.fq.queued(c) <= 255, "flush queue over capacity");
        cookie.iovad.verifyInvariants();
      }
      for (const d of g.devices) {
        if (!d.dmaIommu) continue;
        assert(dom.cookie !== null, `${d.name}: uses dma-iommu without a cookie`);
      }
    }
    const onLists = new Set<Device>();
    for (const d of [...this.drivers.pending, ...this.drivers.active]) {
      assert(!onLists.has(d), `${d.name}: on the deferred lists twice`);
      assert(!d.bound, `${d.name}: bound and deferred`);
      onLists.add(d);
    }
    for (const d of this.drivers.devices) assert(d.bound === (d.driver !== null), `${d.name}: driver without binding`);
  }

  /** The range of every group's DMA domain and its cost now, in group order. */
  rangeCosts(): DomainRangeCost[] {
    const out: DomainRangeCost[] = [];
    for (const g of [...this.iommu.groups.values()].sort((a, b) => a.id - b.id)) {
      const d = g.defaultDomain;
      if (!d?.cookie) continue;
      const iovad = d.cookie.iovad;
      const perClass = [];
      for (let c = 0; c < iovad.rcacheOrders; c++) {
        perClass.push({
          sizeGranules: 2 ** c,
          cachedIovaBytes: iovad.cachedIovaBytes(c),
          magazineMemoryBytes: iovad.magazineMemoryBytes(c),
        });
      }
      out.push({
        group: g.id,
        type: d.type,
        orders: d.range.orders,
        source: d.range.source,
        maxCachedBytes: d.granule * 2 ** (d.range.orders - 1),
        driverRequestBytes: g.driverMaxOptDmaSize,
        liveIovas: iovad.liveIovas,
        perClass,
      });
    }
    return out;
  }

  /** The device with this PCI address (BDF), or undefined. */
  device(bdf: string): Device | undefined {
    return this.drivers.findDevice(bdf);
  }

  group(id: number): IommuGroup | undefined {
    return this.iommu.groups.get(id);
  }

  /** The group of a device, or null. */
  groupOf(dev: Device): IommuGroup | null {
    return this.iommu.groupOf(dev);
  }
}

/** printk's `[%5lu.%06lu]` timestamp. */
export function formatTs(ns: number): string {
  const us = Math.floor(ns / 1000);
  const s = Math.floor(us / 1e6);
  return `[${String(s).padStart(5, " ")}.${String(us % 1e6).padStart(6, "0")}]`;
}
