/**
 * IOMMU domain types and reserved-region types (include/linux/iommu.h,
 * docs/kernel-rules.md §3.1 R-GRP-1). Types are held by the name the group's
 * `type` file prints, so a type reads back exactly as sysfs spells it.
 */

export type DomainType = "blocked" | "identity" | "unmanaged" | "DMA" | "DMA-FQ";

/** Flag bits of R-GRP-1.1; a type is a DMA domain iff it has the DMA_API bit. */
export const DOMAIN_TYPE_BITS: Readonly<Record<DomainType, number>> = {
  blocked: 0,
  identity: 1 << 2,
  unmanaged: 1 << 0,
  DMA: (1 << 0) | (1 << 1),
  "DMA-FQ": (1 << 0) | (1 << 1) | (1 << 3),
};

/** "Is a DMA domain": the DMA_API bit (R-GRP-1.2). */
export function isDmaType(t: DomainType): boolean {
  return (DOMAIN_TYPE_BITS[t] & (1 << 1)) !== 0;
}

/** Models `iommu_domain_type_str()` (R-GRP-1.3), used in the boot log. */
export function domainTypeStr(t: DomainType): string {
  switch (t) {
    case "blocked":
      return "Blocked";
    case "identity":
      return "Passthrough";
    case "unmanaged":
      return "Unmanaged";
    default:
      return "Translated";
  }
}

/** Reserved region types; `sw-msi` prints as `msi` (R-GRP-4.5) and is never reserved in the IOVA tree (DMA-1.6). */
export type ResvType = "direct" | "direct-relaxable" | "reserved" | "msi" | "sw-msi";

/** Type order used to break ties when sorting regions (enum iommu_resv_type order). */
export const RESV_TYPE_ORDER: Readonly<Record<ResvType, number>> = {
  direct: 0,
  "direct-relaxable": 1,
  reserved: 2,
  msi: 3,
  "sw-msi": 4,
};

export interface ResvRegion {
  /** First byte. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
  readonly type: ResvType;
}
