/**
 * The IOMMU core (drivers/iommu/iommu.c): groups and their default domains,
 * driver ownership, and the `type` and `max_opt_dma_size` stores of
 * `/sys/kernel/iommu_groups/<id>/`. Rule numbers: docs/kernel-rules.md §3
 * (R-GRP-*), docs/configurable-range.md §2-4.
 *
 * Profiles (`iommu/policy.ts`): `groupTypeRules` picks the store rules: "single-device-ebusy"
 * (R-GRP-OLD, 6.1 and older: one device only, -EBUSY while bound, with the
 * kernel's log lines) or "owner-eperm" (R-GRP-4.2, newest: -EPERM while any
 * driver owns the group, silent). `hasDmaFqType` says whether "DMA-FQ" is a
 * type at all (5.10: lazy domains are type DMA with a flush queue).
 *
 * The DMA layer sits above this one; it hands its `iommu_setup_dma_ops()` in
 * as a hook, so a rebuilt default domain is set up the way the kernel's
 * callers do it (R-GRP-3.7).
 */

import type { KernelProfile } from "../iova/profile.ts";
import { assert } from "../stdx/assert.ts";
import { fail, OK, type Outcome } from "../stdx/errno.ts";
import { kstrtoull, sysfsStreq } from "../stdx/kstr.ts";
import type { Device } from "./device.ts";
import { IommuDomain } from "./domain.ts";
import { IommuGroup } from "./group.ts";
import { IOMMU_POLICY, type IommuPolicy } from "./policy.ts";
import { chooseRange, type RangeChoice, rangeBytesBuildable } from "./range-policy.ts";
import { type DomainType, domainTypeStr, isDmaType } from "./types.ts";

export interface IommuHooks {
  /** Models `iommu_setup_dma_ops(dev)` for a device of a group (DMA-2). */
  setupDmaOps(dev: Device, domain: IommuDomain): void;
}

export interface IommuConfig {
  readonly profile: KernelProfile;
  /** Smallest IOMMU page size (DMA-1.1). */
  readonly granule: number;
  /** Aperture end of a paging domain once attached (e.g. 2^39 - 1 for a 39-bit VT-d). */
  readonly apertureEnd: bigint;
  /** `iommu.passthrough=`: null when not on the command line. */
  readonly passthroughCmdline: boolean | null;
  /** CONFIG_IOMMU_DEFAULT_PASSTHROUGH. */
  readonly configPassthrough: boolean;
  /** `iommu_dma_strict` after the command line and the config. */
  readonly strict: boolean;
  /** Whether `iommu.strict=` was on the command line (for the log line). */
  readonly strictFromCmdline: boolean;
  /** `iommu.max_opt_dma_size=` in bytes, 0 = none. */
  readonly cmdlineRangeBytes: number;
  readonly log: (line: string) => void;
}

export class IommuCore {
  readonly config: IommuConfig;
  readonly profile: KernelProfile;
  /** The IOMMU core's own switches for the profile. */
  readonly policy: IommuPolicy;
  /** Groups by id (the IDA hands out the lowest free id). */
  readonly groups = new Map<number, IommuGroup>();
  /** `iommu_def_domain_type` after `iommu_subsys_init()` (R-GRP-2.3). */
  defaultType: DomainType;
  /** `iommu_dma_strict`; `setDmaStrict()` may turn it on after boot-time init. */
  strict: boolean;
  /**
   * Counts the changes to what names a device's DMA domain: a device's group
   * (its IOMMU probe), a group's default domain, a domain's DMA cookie or a
   * device's DMA ops. Whoever keeps an answer drawn from them keeps this
   * count with it: the answer holds while the count is the same.
   */
  domainEpoch = 0;
  private hooks: IommuHooks | null = null;
  private domainSerial = 0;
  /** Group ids in the order the IOMMU probe first saw them (R-GRP-3.8). */
  private readonly groupOrder: number[] = [];
  private readonly groupByKey = new Map<string, IommuGroup>();

  constructor(config: IommuConfig) {
    this.config = config;
    this.profile = config.profile;
    this.policy = IOMMU_POLICY[config.profile.name];
    let t: DomainType;
    if (config.passthroughCmdline !== null) t = config.passthroughCmdline ? "identity" : "DMA";
    else t = config.configPassthrough ? "identity" : "DMA";
    // R-GRP-2.3 step 2: lazy makes the default DMA-FQ where the type exists.
    if (t !== "identity" && !config.strict && this.policy.hasDmaFqType) t = "DMA-FQ";
    this.defaultType = t;
    this.strict = config.strict;
  }

  /** Models `iommu_set_dma_strict()` (R-GRP-2.4): strict, and a DMA-FQ default becomes DMA. */
  setDmaStrict(): void {
    this.strict = true;
    if (this.defaultType === "DMA-FQ") this.defaultType = "DMA";
  }

  setHooks(hooks: IommuHooks): void {
    this.hooks = hooks;
  }

  /** Models the log lines of `iommu_subsys_init()` (R-GRP-2.3 step 3). */
  logSubsysInit(): void {
    const pol = this.policy;
    const viaCmd = this.config.passthroughCmdline !== null ? "(set via kernel command line)" : "";
    const sep = pol.defaultTypeTrailingSpace ? " " : viaCmd ? " " : "";
    this.config.log(`iommu: Default domain type: ${domainTypeStr(this.defaultType)}${sep}${viaCmd}`);
    if (this.defaultType !== "identity") {
      const mode = this.strict ? "strict" : "lazy";
      const via = this.config.strictFromCmdline ? " (set via kernel command line)" : "";
      this.config.log(`iommu: DMA domain TLB invalidation policy: ${mode} mode${via}`);
    }
  }

  // --- Groups ----------------------------------------------------------------

  /**
   * Models the IOMMU probe of one device (`iommu_probe_device` →
   * `iommu_group_get_for_dev` → `iommu_group_add_device`, R-GRP-3.1, 3.2).
   * `groupKey` names the hardware isolation unit from the machine description.
   */
  probeDevice(dev: Device, groupKey: string): IommuGroup {
    let group = this.groupByKey.get(groupKey);
    if (!group) {
      let id = 0;
      while (this.groups.has(id)) id++;
      group = new IommuGroup(id);
      this.groups.set(id, group);
      this.groupByKey.set(groupKey, group);
      this.groupOrder.push(id);
    }
    group.devices.push(dev);
    dev.groupId = group.id;
    this.domainEpoch++;
    this.config.log(`pci ${dev.name}: Adding to iommu group ${group.id}`);
    // A device hot-added into a group with a domain reuses it (R-GRP-3.8, DMA-1.4).
    if (group.defaultDomain) this.hooks?.setupDmaOps(dev, group.defaultDomain);
    return group;
  }

  /** Models the second half of `bus_iommu_probe()` (R-GRP-3.8): default domains in group order. */
  setupDefaultDomains(): void {
    for (const id of this.groupOrder) {
      const group = this.groups.get(id);
      assert(group !== undefined, "group vanished during boot");
      if (group.defaultDomain) continue;
      const r = this.setupDefaultDomain(group, "auto", false);
      assert(r.ok, "boot-time default domain setup cannot fail here");
      this.setupDmaOpsAll(group);
    }
  }

  groupOf(dev: Device): IommuGroup | null {
    return dev.groupId < 0 ? null : (this.groups.get(dev.groupId) ?? null);
  }

  /** The rcache range a new DMA domain of `group` would get now (docs/configurable-range.md §2). */
  rangeFor(group: IommuGroup): RangeChoice {
    return chooseRange(
      {
        sysfsBytes: group.sysfsMaxOptDmaSize,
        driverBytes: group.driverMaxOptDmaSize,
        cmdlineBytes: this.config.cmdlineRangeBytes,
      },
      this.config.granule,
    );
  }

  /**
   * The type "auto" means for this group (R-GRP-3.3 to 3.5): untrusted forces
   * DMA; a device whose IOMMU driver asks for identity (`def_domain_type`)
   * gets identity; else the global default.
   */
  private autoType(group: IommuGroup): DomainType {
    if (group.devices.some((d) => d.untrusted)) return "DMA";
    if (group.devices.some((d) => d.identityDefault)) return "identity";
    return this.defaultType;
  }

  /**
   * Models `iommu_setup_default_domain()` / `iommu_change_dev_def_domain()`
   * (R-GRP-3.5 to 3.7): reuse a default domain of exactly the requested type
   * unless `forceNew` (a new rcache range, docs/configurable-range.md §1), else
   * allocate, map the direct regions, attach, free the old domain. The caller
   * runs `iommu_setup_dma_ops()` for the devices.
   */
  setupDefaultDomain(group: IommuGroup, req: DomainType | "auto", forceNew: boolean): Outcome {
    const target = req === "auto" ? this.autoType(group) : req;
    if (group.devices.some((d) => d.untrusted) && !isDmaType(target)) return fail("EINVAL");
    // iommu_change_dev_def_domain(): a device whose driver names its type cannot take another.
    if (group.devices.some((d) => d.identityDefault) && target !== "identity") return fail("EINVAL");
    const old = group.defaultDomain;
    if (old && old.type === target && !forceNew) return OK;
    const domain = new IommuDomain({
      serial: this.domainSerial++,
      type: target,
      range: this.rangeFor(group),
      granule: this.config.granule,
      apertureEnd: this.config.apertureEnd,
    });
    if (target !== "identity" && target !== "blocked") {
      for (const r of group.resvRegions()) {
        if (r.type === "direct" || r.type === "direct-relaxable") domain.directMappings.push(r);
      }
    }
    group.defaultDomain = domain;
    group.domain = domain;
    this.domainEpoch++;
    if (old) this.freeDomain(old);
    return OK;
  }

  /** Models `iommu_domain_free()` of a replaced default domain (R-GRP-3.7, DMA-4.8). */
  private freeDomain(domain: IommuDomain): void {
    domain.cookie?.teardown();
    domain.cookie = null;
    this.domainEpoch++;
    domain.dead = true;
  }

  private setupDmaOpsAll(group: IommuGroup): void {
    const domain = group.defaultDomain;
    assert(domain !== null, "setup_dma_ops without a default domain");
    for (const dev of group.devices) this.hooks?.setupDmaOps(dev, domain);
  }

  /**
   * Rebuilds the group's default domain with the same type and the range the
   * policy gives now (docs/configurable-range.md §1: K never changes on a live
   * domain), logging one line in the kernel's style.
   */
  private rebuildForRange(group: IommuGroup): void {
    const cur = group.defaultDomain;
    assert(cur !== null, "rebuild without a default domain");
    const r = this.setupDefaultDomain(group, cur.type, true);
    assert(r.ok, "a same-type rebuild cannot conflict");
    const d = group.defaultDomain!;
    const bytes = this.config.granule * 2 ** (d.range.orders - 1);
    this.config.log(
      `iommu: Rebuilding default domain of group ${group.id} (type ${d.type}) with ${d.range.orders} IOVA rcache orders (${bytes} bytes, from ${d.range.source})`,
    );
    this.setupDmaOpsAll(group);
  }

  /** Whether the live DMA domain's K differs from what the policy gives now. */
  private rangeStale(group: IommuGroup): boolean {
    const d = group.defaultDomain;
    if (!d || !isDmaType(d.type)) return false;
    return d.range.orders !== this.rangeFor(group).orders;
  }

  // --- Driver ownership (R-GRP-3.10) and the range hook (GAR-M.2) ----------

  /**
   * Models `iommu_device_use_default_domain()` from the bus `dma_configure`,
   * with iovalab's range hook in front: when nobody owns the group and the
   * recorded range differs from the live domain's, the default domain is
   * rebuilt before the driver probes (docs/configurable-range.md §4 step 6).
   */
  useDefaultDomain(dev: Device): Outcome {
    const group = this.groupOf(dev);
    if (!group) return OK;
    if (!group.defaultDomain) return fail("EPROBE_DEFER");
    if (group.ownerCnt === 0 && this.rangeStale(group)) this.rebuildForRange(group);
    group.ownerCnt++;
    return OK;
  }

  /** Models `iommu_device_unuse_default_domain()` from `dma_cleanup`. */
  unuseDefaultDomain(dev: Device): void {
    const group = this.groupOf(dev);
    if (!group) return;
    assert(group.ownerCnt > 0, "owner_cnt underflow");
    group.ownerCnt--;
  }

  // --- sysfs stores -----------------------------------------------------------

  /** Models `iommu_group_show_type()` (R-GRP-4.1). */
  showType(group: IommuGroup): string {
    const d = group.defaultDomain;
    return `${d ? d.type : "unknown"}\n`;
  }

  /** Parses a `type` write as `sysfs_streq` does (R-GRP-4.2 step 3). */
  private parseType(buf: string): DomainType | "auto" | null {
    const names: (DomainType | "auto")[] = ["identity", "DMA", "auto"];
    if (this.policy.hasDmaFqType) names.push("DMA-FQ");
    for (const n of names) if (sysfsStreq(buf, n)) return n;
    return null;
  }

  /**
   * The checks `type` and `max_opt_dma_size` writes share, in the kernel's
   * order after parsing: R-GRP-OLD-2, 3 (one device, not bound) or R-GRP-4.2
   * step 6 (no owner). `liveFqUpgrade` is the one write allowed while bound.
   */
  private storeRestrictions(group: IommuGroup, liveFqUpgrade: boolean): Outcome {
    if (this.policy.groupTypeRules === "single-device-ebusy") {
      if (group.devices.length !== 1) {
        this.config.log("iommu: Cannot change default domain: Group has more than one device");
        return fail("EINVAL");
      }
      if (group.devices[0].bound && !liveFqUpgrade) {
        this.config.log("iommu: Device is still bound to driver");
        return fail("EBUSY");
      }
      return OK;
    }
    if (group.devices.length === 0 || group.ownerCnt !== 0) return fail("EPERM");
    return OK;
  }

  /** Models `iommu_group_store_type()` for the profile's rules (R-GRP-4.2 / R-GRP-OLD). */
  storeType(group: IommuGroup, buf: string): Outcome {
    if (!group.defaultDomain) return fail("EINVAL");
    const req = this.parseType(buf);
    if (req === null) return fail("EINVAL");
    const cur = group.defaultDomain;
    const liveFq = req === "DMA-FQ" && cur.type === "DMA";
    if (this.policy.groupTypeRules === "owner-eperm") {
      // Newest kernels take the live DMA -> DMA-FQ path before the owner check.
      if (liveFq) return this.liveFqUpgrade(group);
      const r = this.storeRestrictions(group, false);
      if (!r.ok) return r;
      const s = this.setupDefaultDomain(group, req, false);
      if (!s.ok) return s;
      this.setupDmaOpsAll(group);
      return OK;
    }
    const r = this.storeRestrictions(group, liveFq);
    if (!r.ok) return r;
    // iommu_change_dev_def_domain(): same type is a no-op; DMA -> DMA-FQ in place.
    const target = req === "auto" ? this.autoType(group) : req;
    if (target === cur.type) return OK;
    if (liveFq) return this.liveFqUpgrade(group);
    const s = this.setupDefaultDomain(group, target, false);
    if (!s.ok) return s;
    this.setupDmaOpsAll(group);
    return OK;
  }

  /** R-GRP-4.2 step 5: a flush queue on the live DMA domain, drivers bound or not. */
  private liveFqUpgrade(group: IommuGroup): Outcome {
    const d = group.defaultDomain!;
    if (d.cookie && !d.cookie.initFq()) return fail("ENOMEM");
    d.type = "DMA-FQ";
    return OK;
  }

  /** The group's `max_opt_dma_size` file (docs/configurable-range.md §3). */
  showMaxOptDmaSize(group: IommuGroup): string {
    return `${group.sysfsMaxOptDmaSize}\n`;
  }

  /**
   * Models iovalab's `max_opt_dma_size` store (docs/configurable-range.md §3):
   * `kstrtoul(buf, 0)`, a value above the aperture is -EINVAL, then the
   * `type` store's restrictions in its order; on success the value is
   * recorded and a different K rebuilds the default domain at once.
   */
  storeMaxOptDmaSize(group: IommuGroup, buf: string): Outcome {
    if (!group.defaultDomain) return fail("EINVAL");
    const v = kstrtoull(buf);
    if (typeof v === "string") return fail("EINVAL");
    const apertureBytes = this.config.apertureEnd + 1n;
    if (v > apertureBytes) return fail("EINVAL");
    const bytes = Number(v);
    if (!rangeBytesBuildable(bytes, this.config.granule)) return fail("EINVAL");
    const r = this.storeRestrictions(group, false);
    if (!r.ok) return r;
    group.sysfsMaxOptDmaSize = bytes;
    if (this.rangeStale(group)) this.rebuildForRange(group);
    return OK;
  }
}
