/**
 * dma-iommu (drivers/iommu/dma-iommu.c): the DMA cookie of a DMA domain,
 * `iommu_setup_dma_ops()` and `iommu_dma_init_domain()` with its
 * reservations, `iommu_dma_alloc_iova()` with SAC-first and forcedac, the
 * map/unmap paths of pages and scatter-gather lists, and the strict or
 * flush-queue free. Rules: docs/kernel-rules.md §2 (DMA-1 to DMA-6).
 *
 * Profiles: the allocator's `roundUpIn` "iommu_dma_alloc_iova" (5.10, 5.15)
 * rounds cacheable sizes up here instead of in `alloc_iova_fast` (VER-3);
 * this layer's `sacFirst` (`dma/policy.ts`) is "every-allocation" (6.1 and
 * older, VER-4) or "until-first-failure" (the sticky `pci_32bit_workaround`
 * of 6.4+, DMA-3.3); the IOMMU core's `hasDmaFqType` false (5.10) means a
 * lazy domain is type DMA with a flush queue.
 *
 * Addresses are plain numbers (every IOVA and physical address here is below
 * 2^53); DMA masks and limits are bigints, reduced to pfns once per call.
 */

import type { IommuCore } from "../iommu/core.ts";
import type { Device } from "../iommu/device.ts";
import type { DmaCookie, IommuDomain } from "../iommu/domain.ts";
import { isDmaType } from "../iommu/types.ts";
import { IovaDomain, type IovaDomainSnapshot } from "../iova/domain.ts";
import type { KernelProfile } from "../iova/profile.ts";
import { numArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import { PfnMap, type PfnMapSnapshot } from "../stdx/pfnmap.ts";
import { FlushQueue, type FlushQueueSnapshot } from "./flush-queue.ts";
import { fqTimerPolicyFor } from "./fq-timer-policy.ts";
import { DMA_POLICY, type DmaPolicy } from "./policy.ts";

const DMA_BIT_MASK_32 = 0xffff_ffffn;

/** A device's effective DMA limit for a domain (DMA-3.1). */
interface DmaLimit {
  readonly limit: bigint;
  /** Above DMA_BIT_MASK(32): try a 32-bit (SAC) address first (DMA-3.2). */
  readonly above32: boolean;
}

export interface HostBridge {
  /** sysfs name, e.g. `pci0000:00`. */
  readonly name: string;
  /** `bridge->windows`, in list order; only `mem` windows are reserved. */
  readonly windows: readonly { type: "mem" | "io"; start: number; end: number; offset: number }[];
  /** `bridge->dma_ranges` (empty on x86/ACPI). */
  readonly dmaRanges: readonly { start: number; end: number; offset: number }[];
}

export interface DmaConfig {
  readonly profile: KernelProfile;
  /** `iommu.forcedac=` (DMA-2.4). */
  readonly forcedac: boolean;
  readonly cpus: number;
  readonly hz: number;
  /** The IOMMU supports deferred flush (IOMMU_CAP_DEFERRED_FLUSH, DMA-1.5 step 4). */
  readonly deferredFlush: boolean;
  readonly hostBridges: ReadonlyMap<string, HostBridge>;
  readonly log: (line: string) => void;
  /**
   * The virtual clock (the kernel), its `nowNs` read at every operation: a field of one long-lived
   * object, where a function made afresh with each kernel would be a new call target each run.
   */
  readonly clock: { readonly nowNs: number };
}

/** The state `IommuDmaCookie.snapshot()` copies out. */
export interface CookieSnapshot {
  readonly iovad: IovaDomainSnapshot;
  readonly fq: FlushQueueSnapshot | null;
  readonly mapped: PfnMapSnapshot;
}

/** The DMA cookie: the IOVA domain, the flush queue and the MSI pages (`struct iommu_dma_cookie`). */
export class IommuDmaCookie implements DmaCookie {
  readonly iovad: IovaDomain;
  fq: FlushQueue | null = null;
  /** MSI doorbell pages mapped into the domain (DMA-1.8), by doorbell address. */
  readonly msiPages = new Map<number, number>();
  /**
   * Live mappings made through the DMA API: first pfn → pages. The IOMMU
   * page table in the kernel; here it only tells a real unmap from a bad one,
   * since a freed IOVA sitting in an rcache is still in the tree.
   */
  readonly mapped = new PfnMap();
  /**
   * What `iova_reserve_iommu_regions()` reserved at the domain's set-up
   * (DMA-1.6), first and last byte: the kernel keeps no list, only the tree's
   * nodes; a replay reads it to tell a trace of another machine, whose IOVAs
   * fall where this one never allocates.
   */
  readonly reserved: { start: number; end: number; what: string; identity: boolean }[] = [];
  private readonly cpus: number;
  private readonly hz: number;
  dead = false;

  constructor(iovad: IovaDomain, cpus: number, hz: number) {
    this.iovad = iovad;
    this.cpus = cpus;
    this.hz = hz;
  }

  get fqActive(): boolean {
    return this.fq !== null;
  }

  initFq(): boolean {
    if (!this.fq) this.fq = new FlushQueue(this.iovad, this.cpus, this.hz, fqTimerPolicyFor(this.iovad.profile.name));
    return true;
  }

  /**
   * Whether the domain changes only by its own mappings and unmappings: no
   * flush-queue timer armed and no depot work pending, so the clock moving
   * on runs nothing in it.
   */
  get quiet(): boolean {
    return (this.fq === null || !this.fq.timerArmed) && this.iovad.idle;
  }

  /** A copy of the domain's DMA state: IOVA domain, flush queue, live mappings. */
  snapshot(): CookieSnapshot {
    return { iovad: this.iovad.snapshot(), fq: this.fq?.snapshot() ?? null, mapped: this.mapped.snapshot() };
  }

  /** Takes back a snapshot that will never be restored (its buffers serve later ones). */
  recycle(s: CookieSnapshot): void {
    this.iovad.recycle(s.iovad);
    this.mapped.recycle(s.mapped);
  }

  restore(s: CookieSnapshot): void {
    assert((s.fq === null) === (this.fq === null), "cookie restored across a flush-queue change");
    this.iovad.restore(s.iovad);
    if (s.fq && this.fq) this.fq.restore(s.fq);
    this.mapped.restore(s.mapped);
  }

  teardown(): void {
    this.fq?.destroy();
    this.dead = true;
  }
}

/** One output segment of a mapped scatter-gather list. */
export interface DmaSegment {
  readonly dmaAddr: number;
  readonly length: number;
}

export interface SgEntry {
  /** Physical address of the segment's first byte. */
  readonly phys: number;
  readonly length: number;
}

export interface MappedSg {
  /** `dma_map_sg()`'s return: the number of output segments (0 = failure). */
  readonly nents: number;
  readonly segments: readonly DmaSegment[];
  /** Mapped one IOVA per entry (the swiotlb path of DMA-5.5), so unmapped one by one too. */
  readonly perEntry?: boolean;
}

/**
 * A `MappedSg` its caller reuses (`mapSg`'s `into`): refilled in place by the
 * next call, so a caller that copies what it keeps allocates nothing per map.
 */
export interface MappedSgBuffer {
  nents: number;
  readonly segments: { dmaAddr: number; length: number }[];
}

export class IommuDma {
  readonly config: DmaConfig;
  private readonly iommu: IommuCore;
  /** dma-iommu's own switches for the profile. */
  readonly policy: DmaPolicy;
  /** Every live cookie, in creation order, for the clock. */
  readonly cookies: IommuDmaCookie[] = [];

  constructor(config: DmaConfig, iommu: IommuCore) {
    this.config = config;
    this.iommu = iommu;
    this.policy = DMA_POLICY[config.profile.name];
    iommu.setHooks({ setupDmaOps: (dev, domain) => this.setupDmaOps(dev, domain) });
  }

  /** Models `iommu_setup_dma_ops()` (DMA-2.1, 2.2). */
  setupDmaOps(dev: Device, domain: IommuDomain): void {
    dev.pci32bitWorkaround = !this.config.forcedac;
    dev.dmaIommu = isDmaType(domain.type);
    if (dev.dmaIommu && !this.initDomain(domain, dev)) {
      this.config.log(`Failed to set up IOMMU for device ${dev.name}; retaining platform DMA ops`);
      dev.dmaIommu = false;
    }
    this.iommu.domainEpoch++;
  }

  /** Models `iommu_dma_init_domain()` (DMA-1.4 to DMA-1.6); false = error. */
  private initDomain(domain: IommuDomain, dev: Device): boolean {
    // DMA-1.4: a domain already initialised is kept as it is.
    if (domain.cookie) return true;
    const shift = Math.log2(domain.granule);
    const basePfn = Math.max(1, Number(domain.apertureStart >> BigInt(shift)));
    const iovad = new IovaDomain({
      granule: domain.granule,
      startPfn: basePfn,
      cpus: this.config.cpus,
      rcacheOrders: domain.range.orders,
      profile: this.config.profile,
      // The kernel's clock: the depot trim's delay is whole jiffies, run at the timer wheel's tick.
      jiffyNs: 1e9 / this.config.hz,
    });
    iovad.advanceTo(this.config.clock.nowNs);
    const cookie = new IommuDmaCookie(iovad, this.config.cpus, this.config.hz);
    // DMA-1.5 step 3-4: a flush queue for DMA-FQ (or a lazy 5.10 DMA domain),
    // silently downgraded to DMA without deferred-flush support.
    const wantsFq = domain.type === "DMA-FQ" || (!this.iommu.policy.hasDmaFqType && !this.iommu.strict);
    if (wantsFq) {
      if (this.config.deferredFlush) cookie.initFq();
      else if (domain.type === "DMA-FQ") domain.type = "DMA";
    }
    if (!this.reserveRegions(cookie, dev, shift)) return false;
    domain.cookie = cookie;
    this.iommu.domainEpoch++;
    this.cookies.push(cookie);
    return true;
  }

  /** Models `iova_reserve_iommu_regions()` (DMA-1.6, DMA-1.7). */
  private reserveRegions(cookie: IommuDmaCookie, dev: Device, shift: number): boolean {
    const iovad = cookie.iovad;
    const pfn = (addr: number) => Math.floor(addr / 2 ** shift);
    // Recorded as the tree holds it, whole granules. `identity`: a direct region, which the kernel also maps one
    // to one (the trace shows those maps).
    const reservePfns = (lo: number, hi: number, what: string, identity = false) => {
      iovad.reserveIova(lo, hi);
      cookie.reserved.push({ start: lo * 2 ** shift, end: (hi + 1) * 2 ** shift - 1, what, identity });
    };
    const reserve = (start: number, end: number, what: string, identity = false) =>
      reservePfns(pfn(start), pfn(end), what, identity);
    const bridge = this.config.hostBridges.get(dev.rootName);
    if (bridge) {
      for (const w of bridge.windows) {
        if (w.type !== "mem") continue;
        reserve(w.start - w.offset, w.end - w.offset, "a memory window of the host bridge");
      }
      const ranges = [...bridge.dmaRanges].sort((a, b) => a.start - b.start);
      let start = 0;
      let end = 0;
      for (const r of ranges) {
        end = r.start - r.offset;
        if (end < start) return false;
        // Both ends are floor-divided (DMA-1.7): the granule of the range's first byte is reserved too.
        if (end > start) reserve(start, end, "outside the host bridge's DMA ranges");
        start = r.end - r.offset + 1;
      }
      if (ranges.length > 0) {
        // After the last range the rest of the space up to ~0 is reserved.
        reservePfns(pfn(start), iovad.maxReservablePfn, "outside the host bridge's DMA ranges");
      }
    }
    for (const r of dev.resvRegions) {
      if (r.type === "sw-msi") continue;
      reserve(r.start, r.end, `the device's ${r.type} region`, r.type === "direct" || r.type === "direct-relaxable");
    }
    return true;
  }

  /** The live cookie of the device's default domain, or null for direct DMA. */
  cookieOf(dev: Device): IommuDmaCookie | null {
    if (dev !== this.namedDev || this.iommu.domainEpoch !== this.namedEpoch) this.lookUp(dev);
    return this.namedCookie;
  }

  domainOf(dev: Device): IommuDomain | null {
    if (dev !== this.namedDev || this.iommu.domainEpoch !== this.namedEpoch) this.lookUp(dev);
    return this.namedDomain;
  }

  // The last device's domain and cookie: a replay asks for them several times a call, always for one device,
  // and the look-ups through its group cost about 6% of a replay's instructions (measured).
  private namedDev: Device | null = null;
  private namedEpoch = -1;
  private namedDomain: IommuDomain | null = null;
  private namedCookie: IommuDmaCookie | null = null;

  /** Looks `dev`'s domain and cookie up (for `cookieOf` and `domainOf`), and keeps them while the epoch holds. */
  private lookUp(dev: Device): void {
    const domain = this.iommu.groupOf(dev)?.defaultDomain ?? null;
    this.namedDev = dev;
    this.namedEpoch = this.iommu.domainEpoch;
    this.namedDomain = domain;
    this.namedCookie = dev.dmaIommu ? ((domain?.cookie ?? null) as IommuDmaCookie | null) : null;
  }

  /**
   * Models `iommu_dma_alloc_iova()` (DMA-3) on `cpu`: returns the IOVA in
   * bytes, 0 for failure. `sizeBytes` is granule-aligned.
   */
  allocIova(
    dev: Device,
    domain: IommuDomain,
    cookie: IommuDmaCookie,
    sizeBytes: number,
    dmaLimit: bigint,
    cpu: number,
  ): number {
    const iovad = cookie.iovad;
    this.sync(iovad);
    const shift = iovad.iovaShift;
    let iovaLen = sizeBytes / iovad.granule;
    assert(Number.isInteger(iovaLen) && iovaLen > 0, "iommu_dma_alloc_iova of an unaligned size");
    iovaLen = iovad.roundUpForDmaApi(iovaLen);
    const { limit, above32 } = this.effectiveLimit(dev, domain, dmaLimit);
    if (above32 && dev.pci32bitWorkaround) {
      const pfn = iovad.allocIovaFast(cpu, iovaLen, 2 ** (32 - shift) - 1, false);
      if (pfn !== 0) return pfn * iovad.granule;
      if (this.policy.sacFirst === "until-first-failure") {
        dev.pci32bitWorkaround = false;
        this.config.log(`${devPrefix(dev)}: Using ${bitsPer(limit)}-bit DMA addresses`);
      }
    }
    const pfn = iovad.allocIovaFast(cpu, iovaLen, this.limitPfn(limit, shift), true);
    return pfn * iovad.granule;
  }

  // The last limit worked out, as a pfn too: BigInt arithmetic costs more
  // than the rest of a cache-hit map, and a device maps under the same mask
  // into the same domain every time, so it is redone only when one changes.
  private readonly sgOff: number[] = numArray();
  private readonly sgIovaLen: number[] = numArray();
  private lastDev: Device | null = null;
  private lastDomain: IommuDomain | null = null;
  private lastDmaLimit = -1n;
  private lastLimit: DmaLimit = { limit: -1n, above32: false };
  private lastShift = -1;
  private lastLimitPfn = 0;

  /**
   * The device's mask clipped by its bus limit and the domain's aperture
   * (DMA-3.1), and whether it is above 32 bits (the SAC-first attempt, DMA-3.2).
   */
  private effectiveLimit(dev: Device, domain: IommuDomain, dmaLimit: bigint): DmaLimit {
    if (dev === this.lastDev && domain === this.lastDomain && dmaLimit === this.lastDmaLimit) return this.lastLimit;
    let limit = dmaLimit;
    if (dev.busDmaLimit !== 0n && (limit === 0n || dev.busDmaLimit < limit)) limit = dev.busDmaLimit;
    if (domain.forceAperture && domain.apertureEnd < limit) limit = domain.apertureEnd;
    this.lastDev = dev;
    this.lastDomain = domain;
    this.lastDmaLimit = dmaLimit;
    this.lastLimit = { limit, above32: limit > DMA_BIT_MASK_32 };
    this.lastShift = -1;
    return this.lastLimit;
  }

  private limitPfn(limit: bigint, shift: number): number {
    if (limit !== this.lastLimit.limit || shift !== this.lastShift) {
      this.lastShift = shift;
      this.lastLimitPfn = Number(limit >> BigInt(shift));
    }
    return this.lastLimitPfn;
  }

  /** Models `iommu_dma_free_iova()` (DMA-4.3): queued on a flush-queue domain, else freed at once. */
  private freeIova(cookie: IommuDmaCookie, addr: number, sizeBytes: number, cpu: number, viaFq: boolean): void {
    const iovad = cookie.iovad;
    this.sync(iovad);
    const pfn = addr / iovad.granule;
    const pages = sizeBytes / iovad.granule;
    if (viaFq && cookie.fq) cookie.fq.queue(cpu, pfn, pages, this.config.clock.nowNs);
    else iovad.freeIovaFast(cpu, pfn, pages);
  }

  /** Runs the IOVA domain's own delayed work up to now (the depot trim). */
  private sync(iovad: IovaDomain): void {
    const now = this.config.clock.nowNs;
    if (iovad.nowNs < now) iovad.advanceTo(now);
  }

  /**
   * Models `__iommu_dma_map()` (DMA-5.1, 5.2) with `mask` (the device's DMA
   * mask for streaming maps, the coherent mask for allocations). Returns the
   * DMA address, or null for DMA_MAPPING_ERROR. Direct devices get `phys`.
   */
  mapPhys(dev: Device, cpu: number, phys: number, size: number, coherent = false): number | null {
    const cookie = this.cookieOf(dev);
    if (!cookie) return phys;
    const domain = this.domainOf(dev)!;
    const g = cookie.iovad.granule;
    const off = granuleOffset(phys, g);
    const len = alignUp(size + off, g);
    const mask = coherent ? dev.coherentDmaMask : dev.dmaMask;
    const iova = this.allocIova(dev, domain, cookie, len, mask, cpu);
    if (iova === 0) return null;
    cookie.mapped.set(iova / g, len / g);
    return iova + off;
  }

  /**
   * Models `__iommu_dma_unmap()` (DMA-5.4). Returns false when nothing is
   * mapped there (the kernel would WARN; the model refuses).
   */
  unmapPhys(dev: Device, cpu: number, dmaAddr: number, size: number): boolean {
    const cookie = this.cookieOf(dev);
    if (!cookie) return true;
    const g = cookie.iovad.granule;
    const off = granuleOffset(dmaAddr, g);
    const addr = dmaAddr - off;
    const len = alignUp(size + off, g);
    if (!cookie.mapped.delete(addr / g)) return false;
    this.freeIova(cookie, addr, len, cpu, cookie.fq !== null);
    return true;
  }

  /**
   * Models `iommu_dma_map_sg()` and `__finalise_sg()` (DMA-5.5, 5.6): one
   * IOVA for the whole list, padded at segment boundaries, output segments
   * merged. Direct devices map each entry at its physical address. With
   * `into`, the IOMMU path's result is `into`, refilled (valid until its next
   * use); the other paths return a list of their own.
   */
  mapSg(dev: Device, cpu: number, sg: readonly SgEntry[], into: MappedSgBuffer | null = null): MappedSg {
    const cookie = this.cookieOf(dev);
    if (!cookie) return { nents: sg.length, segments: sg.map((s) => ({ dmaAddr: s.phys, length: s.length })) };
    if (dev.untrusted) return this.mapSgPerEntry(dev, cpu, sg);
    const domain = this.domainOf(dev)!;
    const g = cookie.iovad.granule;
    const boundary = dev.segBoundaryMask + 1;
    // Per-entry scratch, reused across calls (the call does not nest). Written by index and never
    // truncated: only the first sg.length entries are read, and truncating frees the storage.
    const off = this.sgOff;
    const iovaLenOf = this.sgIovaLen;
    // Grown before the loop, which then writes within the length only.
    while (off.length < sg.length) {
      off.push(0);
      iovaLenOf.push(0);
    }
    let iovaLen = 0;
    for (let i = 0; i < sg.length; i++) {
      const sOff = granuleOffset(sg[i].phys, g);
      const sLen = alignUp(sg[i].length + sOff, g);
      // Bytes to the next segment boundary; padding goes on the previous segment.
      const into = offsetInto(iovaLen, boundary);
      const pad = into === 0 ? 0 : boundary - into;
      if (pad !== 0 && pad < sLen - 1 && i > 0) {
        iovaLenOf[i - 1] += pad;
        iovaLen += pad;
      }
      off[i] = sOff;
      iovaLenOf[i] = sLen;
      iovaLen += sLen;
    }
    if (iovaLen === 0) return { nents: 0, segments: [] };
    const iova = this.allocIova(dev, domain, cookie, iovaLen, dev.dmaMask, cpu);
    if (iova === 0) return { nents: 0, segments: [] };
    cookie.mapped.set(iova / g, iovaLen / g);
    // Into the caller's buffer, its segment records overwritten by index (the length set only
    // when it changes: truncating frees the storage), or into fresh ones.
    const out = into === null ? [] : into.segments;
    let n = 0;
    let dmaAddr = iova;
    let curLen = 0;
    for (let i = 0; i < sg.length; i++) {
      const sLength = sg[i].length;
      const sOff = off[i];
      if (curLen !== 0 && sOff === 0 && offsetInto(dmaAddr, boundary) !== 0 && dev.maxSegSize - curLen >= sLength) {
        curLen += sLength;
        out[n - 1].length = curLen;
      } else {
        if (n < out.length) {
          out[n].dmaAddr = dmaAddr + sOff;
          out[n].length = sLength;
        } else out.push({ dmaAddr: dmaAddr + sOff, length: sLength });
        n++;
        curLen = sLength;
      }
      dmaAddr += iovaLenOf[i];
      if (sLength + sOff < iovaLenOf[i]) curLen = 0;
    }
    if (out.length !== n) out.length = n;
    if (into === null) return { nents: n, segments: out };
    into.nents = n;
    return into;
  }

  /**
   * The swiotlb path of `iommu_dma_map_sg()` (DMA-5.5 first bullet): an
   * untrusted device maps every entry on its own through DMA-5.2. The bounce
   * buffer itself is not modelled: the IOVA size follows the original
   * buffer's in-page offset.
   */
  private mapSgPerEntry(dev: Device, cpu: number, sg: readonly SgEntry[]): MappedSg {
    const out: DmaSegment[] = [];
    for (const s of sg) {
      const a = this.mapPhys(dev, cpu, s.phys, s.length);
      if (a === null) {
        for (const m of out) this.unmapPhys(dev, cpu, m.dmaAddr, m.length);
        return { nents: 0, segments: [] };
      }
      out.push({ dmaAddr: a, length: s.length });
    }
    return { nents: out.length, segments: out, perEntry: true };
  }

  /** Models `iommu_dma_unmap_sg()` (DMA-5.7): one unmap from the first to the end of the last segment. */
  unmapSg(dev: Device, cpu: number, mapped: MappedSg): boolean {
    if (mapped.nents === 0) return true;
    if (mapped.perEntry) return mapped.segments.every((s) => this.unmapPhys(dev, cpu, s.dmaAddr, s.length));
    const first = mapped.segments[0];
    const last = mapped.segments[mapped.segments.length - 1];
    return this.unmapPhys(dev, cpu, first.dmaAddr, last.dmaAddr + last.length - first.dmaAddr);
  }

  /**
   * Models the MSI doorbell mapping of a software-managed MSI window
   * (DMA-1.8): one granule per doorbell page, allocated once per domain.
   */
  composeMsi(dev: Device, cpu: number, doorbell: number): void {
    const cookie = this.cookieOf(dev);
    if (!cookie || !dev.resvRegions.some((r) => r.type === "sw-msi")) return;
    const g = cookie.iovad.granule;
    const page = doorbell - (doorbell % g);
    if (cookie.msiPages.has(page)) return;
    const iova = this.allocIova(dev, this.domainOf(dev)!, cookie, g, dev.dmaMask, cpu);
    if (iova !== 0) cookie.msiPages.set(page, iova);
  }

  /** The earliest armed flush-queue timer of a live domain, or Infinity. */
  nextTimerNs(): number {
    let t = Number.POSITIVE_INFINITY;
    for (const c of this.cookies) if (!c.dead && c.fq && c.fq.nextExpiryNs < t) t = c.fq.nextExpiryNs;
    return t;
  }

  /** Fires every flush-queue timer due at exactly `nowNs` (after the domains' own work up to then). */
  fireTimersAt(nowNs: number): void {
    for (const c of this.cookies) {
      if (c.dead || !c.fq || c.fq.nextExpiryNs !== nowNs) continue;
      this.sync(c.iovad);
      c.fq.timeout();
    }
  }

  /** Moves every live IOVA domain's clock to now (depot trims due by then run). */
  syncAll(): void {
    for (const c of this.cookies) if (!c.dead) this.sync(c.iovad);
  }

  /** Drops dead cookies from the clock's list. */
  prune(): void {
    for (let i = this.cookies.length - 1; i >= 0; i--) if (this.cookies[i].dead) this.cookies.splice(i, 1);
  }
}

/**
 * `x % g` for a granule `g` (a power of two, `init_iova_domain`): floor(x / g) * g is exact then,
 * and floor and multiply are instructions where `%` on numbers past 2^31 (addresses) is a
 * library call (fmod) on every map and unmap. Negative x (never an address) keeps `%`.
 */
function granuleOffset(x: number, g: number): number {
  return x >= 0 ? x - Math.floor(x / g) * g : x % g;
}

/**
 * `x % boundary` for a segment boundary (any mask a machine names, so `%` where it is needed): a
 * value below the boundary, nearly every one, is its own remainder without the library call.
 */
function offsetInto(x: number, boundary: number): number {
  return x < boundary ? x : x % boundary;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/** `bits_per(x)`: bits needed to represent x (1 for 0). */
function bitsPer(x: bigint): number {
  return x === 0n ? 1 : x.toString(2).length;
}

/** `dev_printk` prefix: the bound driver's name (else the bus) and the device name. */
export function devPrefix(dev: Device): string {
  return `${dev.driver ?? dev.bus} ${dev.name}`;
}
