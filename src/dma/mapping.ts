/**
 * The DMA-mapping size queries and iovalab's `dma_set_max_opt_size()`
 * (kernel/dma/mapping.c; docs/kernel-rules.md §3.6 R-MAP-*, §2.6 DMA-6;
 * docs/configurable-range.md §4). Sizes are exact 64-bit values (bigint), so
 * SIZE_MAX is 18446744073709551615.
 */

import type { IommuCore } from "../iommu/core.ts";
import type { Device } from "../iommu/device.ts";
import { rangeCovers } from "../iommu/range-policy.ts";
import type { Errno } from "../stdx/errno.ts";
import type { IommuDma } from "./iommu-dma.ts";

export const SIZE_MAX = (1n << 64n) - 1n;

/** `swiotlb_max_mapping_size()`: IO_TLB_SIZE (2 KiB) x IO_TLB_SEGSIZE (128) slots. */
export const SWIOTLB_MAX_MAPPING_SIZE = 262144n;

export class DmaMapping {
  private readonly iommu: IommuCore;
  private readonly dma: IommuDma;
  /** The CPU page size (PAGE_SIZE), for the built-in `iova_rcache_range()`. */
  private readonly pageSize: number;

  constructor(iommu: IommuCore, dma: IommuDma, pageSize: number) {
    this.iommu = iommu;
    this.dma = dma;
    this.pageSize = pageSize;
  }

  /** Models `dma_max_mapping_size()` (R-MAP-1, DMA-6.2); direct devices without swiotlb: SIZE_MAX. */
  maxMappingSize(dev: Device): bigint {
    if (dev.dmaIommu && dev.untrusted) return SWIOTLB_MAX_MAPPING_SIZE;
    return SIZE_MAX;
  }

  /**
   * Models `dma_opt_mapping_size()` (R-MAP-2) with the per-domain variant of
   * docs/configurable-range.md §4: `granule << (K-1)` once the range is configured,
   * upstream's `PAGE_SIZE << 5` with the built-in default (S-3).
   */
  optMappingSize(dev: Device): bigint {
    let size = SIZE_MAX;
    if (dev.dmaIommu) {
      const domain = this.dma.domainOf(dev);
      if (domain && domain.range.source !== "default") {
        size = BigInt(domain.granule) << BigInt(domain.range.orders - 1);
      } else {
        size = BigInt(this.pageSize) << 5n;
      }
    }
    const max = this.maxMappingSize(dev);
    return max < size ? max : size;
  }

  /**
   * Models iovalab's `dma_set_max_opt_size(dev, size)` (docs/configurable-range.md
   * §4 steps 1-5): 0 when nothing needs to happen, -EBUSY when another device
   * of the group is bound, -EPROBE_DEFER when the request was recorded and the
   * reprobe will rebuild the domain.
   */
  setMaxOptSize(dev: Device, size: number): 0 | Errno {
    const group = this.iommu.groupOf(dev);
    if (!group || !dev.dmaIommu) return 0;
    const domain = group.defaultDomain;
    if (!domain) return 0;
    if (rangeCovers(domain.range.orders, size, domain.granule)) return 0;
    if (group.sysfsMaxOptDmaSize !== 0) {
      // The administrator's value wins; the request is still shown.
      group.driverMaxOptDmaSize = size;
      return 0;
    }
    if (group.devices.some((d) => d !== dev && d.bound)) return "EBUSY";
    group.driverMaxOptDmaSize = size;
    return "EPROBE_DEFER";
  }
}
