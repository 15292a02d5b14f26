/**
 * An IOMMU group (`struct iommu_group`, docs/kernel-rules.md §3.3): its
 * devices in insertion order, its default domain, the driver ownership
 * counter, and the two range values iovalab adds (docs/configurable-range.md §2).
 */

import { hex16 } from "../stdx/hex.ts";
import type { Device } from "./device.ts";
import type { IommuDomain } from "./domain.ts";
import { RESV_TYPE_ORDER, type ResvRegion, type ResvType } from "./types.ts";

export class IommuGroup {
  readonly id: number;
  readonly devices: Device[] = [];
  /** `iommu_group_set_name()`; most IOMMU drivers set none. */
  name: string | null = null;
  defaultDomain: IommuDomain | null = null;
  /** The attached domain; the default one unless something claimed the group. */
  domain: IommuDomain | null = null;
  /** `owner_cnt` (R-GRP-3.10). */
  ownerCnt = 0;
  /** `max_opt_dma_size` written through sysfs, 0 = none (docs/configurable-range.md §3). */
  sysfsMaxOptDmaSize = 0;
  /** The driver's `dma_set_max_opt_size()` request, 0 = none (docs/configurable-range.md §4). */
  driverMaxOptDmaSize = 0;

  constructor(id: number) {
    this.id = id;
  }

  /**
   * Models `iommu_get_group_resv_regions()` (R-GRP-4.5): every device's
   * regions, sorted by start (ties by type), same-type overlapping or
   * adjacent regions merged.
   */
  resvRegions(): ResvRegion[] {
    const all: { start: number; end: number; type: ResvType }[] = [];
    for (const dev of this.devices) {
      for (const r of dev.resvRegions) all.push({ start: r.start, end: r.end, type: r.type });
    }
    all.sort((a, b) => a.start - b.start || RESV_TYPE_ORDER[a.type] - RESV_TYPE_ORDER[b.type]);
    const out: { start: number; end: number; type: ResvType }[] = [];
    for (const r of all) {
      // The kernel merges into the most recent region of the same type only.
      let merged = false;
      for (let i = out.length - 1; i >= 0; i--) {
        const top = out[i];
        if (top.type !== r.type) continue;
        if (r.start <= top.end + 1) {
          top.end = Math.max(top.end, r.end);
          merged = true;
        }
        break;
      }
      if (!merged) out.push({ ...r });
    }
    return out;
  }

  /** The `reserved_regions` file (R-GRP-4.5). */
  reservedRegionsText(): string {
    return this.resvRegions()
      .map((r) => `${hex16(r.start)} ${hex16(r.end)} ${r.type === "sw-msi" ? "msi" : r.type}\n`)
      .join("");
  }
}
