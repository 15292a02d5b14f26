/**
 * The rcache-range policy (docs/configurable-range.md §2): where a new IOVA
 * domain's number of size classes K comes from, highest precedence first:
 * the group's sysfs value, the driver's request through the DMA API, the
 * `iommu.max_opt_dma_size=` command line default, the built-in K = 6.
 * With nothing configured every result is upstream's.
 */

import { DEFAULT_RCACHE_ORDERS, MAX_RCACHE_ORDERS } from "../iova/domain.ts";
import { rcacheOrdersForBytes } from "../iova/range.ts";

export type RangeSource = "default" | "cmdline" | "driver" | "sysfs";

export interface RangeChoice {
  readonly orders: number;
  readonly source: RangeSource;
  /** The configured value in bytes, 0 for the built-in default. */
  readonly bytes: number;
}

export interface RangeInputs {
  /** The group's `max_opt_dma_size` written through sysfs, 0 = none. */
  readonly sysfsBytes: number;
  /** What a driver asked for with `dma_set_max_opt_size()`, 0 = none. */
  readonly driverBytes: number;
  /** `iommu.max_opt_dma_size=` from the command line, 0 = none. */
  readonly cmdlineBytes: number;
}

/** Picks the range a new DMA domain of the group gets (docs/configurable-range.md §2). */
export function chooseRange(inputs: RangeInputs, granule: number): RangeChoice {
  if (inputs.sysfsBytes !== 0) return pick(inputs.sysfsBytes, "sysfs", granule);
  if (inputs.driverBytes !== 0) return pick(inputs.driverBytes, "driver", granule);
  if (inputs.cmdlineBytes !== 0) return pick(inputs.cmdlineBytes, "cmdline", granule);
  return { orders: DEFAULT_RCACHE_ORDERS, source: "default", bytes: 0 };
}

function pick(bytes: number, source: RangeSource, granule: number): RangeChoice {
  return { orders: rcacheOrdersForBytes(bytes, granule), source, bytes };
}

/**
 * Whether `bytes` gives a K the allocator can build. iovalab's allocator
 * stops at K = 20 (docs/iovaops-format.md); the kernel proposal had no such cap.
 */
export function rangeBytesBuildable(bytes: number, granule: number): boolean {
  return bytes === 0 || rcacheOrdersForBytes(bytes, granule) <= MAX_RCACHE_ORDERS;
}

/** Whether a domain with K orders already caches mappings of `bytes` (docs/configurable-range.md §4 step 2). */
export function rangeCovers(orders: number, bytes: number, granule: number): boolean {
  return rcacheOrdersForBytes(bytes, granule) <= orders;
}
