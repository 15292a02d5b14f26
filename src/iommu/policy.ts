/**
 * What the IOMMU core (drivers/iommu/iommu.c) does differently per kernel
 * profile: which domain types exist, the rules of writing a group's `type`,
 * and log wording. Keyed by profile name, each switch with its source. The
 * allocator's switches are in `iova/profile.ts`, dma-iommu's in
 * `dma/policy.ts`, the drivers' in `driver/policy.ts`.
 */

import type { ProfileName } from "../iova/profile.ts";

export interface IommuPolicy {
  /**
   * The `DMA-FQ` default domain type (IOMMU_DOMAIN_DMA_FQ, 5.15+): a lazy
   * default domain is DMA-FQ and `type` accepts the string. Without it (5.10)
   * a lazy domain is type DMA and dma-iommu gives it a flush queue anyway.
   */
  readonly hasDmaFqType: boolean;
  /** Rules of writing a group's `type` in sysfs (R-GRP-OLD vs R-GRP-4). */
  readonly groupTypeRules: "single-device-ebusy" | "owner-eperm";
  /**
   * `iommu_subsys_init()` prints "Default domain type: %s %s" (6.1: a space
   * and then an empty string, so a trailing space) or "%s%s" (6.12 and
   * mainline: no trailing space).
   */
  readonly defaultTypeTrailingSpace: boolean;
  /**
   * The group's `type` file can be written (`iommu_group_store_type`, v5.11+);
   * before that it is read-only (0444) and a write fails to open.
   */
  readonly typeWritable: boolean;
  /** Where each switch's value comes from. */
  readonly sources: Readonly<Partial<Record<keyof Omit<IommuPolicy, "sources">, string>>>;
}

export const IOMMU_POLICY: Readonly<Record<ProfileName, IommuPolicy>> = {
  mainline: {
    hasDmaFqType: true,
    groupTypeRules: "owner-eperm",
    defaultTypeTrailingSpace: false,
    typeWritable: true,
    sources: {
      groupTypeRules: "docs/kernel-rules.md §3.4 R-GRP-4",
      defaultTypeTrailingSpace:
        "docs/reference-machines.md, 6.12 boot log: 'iommu: Default domain type: Translated' (no trailing space)",
    },
  },
  "6.1": {
    hasDmaFqType: true,
    groupTypeRules: "single-device-ebusy",
    defaultTypeTrailingSpace: true,
    typeWritable: true,
    sources: {
      groupTypeRules: "docs/kernel-rules.md §3.5 R-GRP-OLD",
      defaultTypeTrailingSpace:
        "docs/reference-machines.md, 6.1 boot log: 'iommu: Default domain type: Translated ' (trailing space)",
    },
  },
  "5.15": {
    hasDmaFqType: true,
    groupTypeRules: "single-device-ebusy",
    defaultTypeTrailingSpace: true,
    typeWritable: true,
    sources: {
      groupTypeRules: "docs/kernel-rules.md §3.5 R-GRP-OLD",
      defaultTypeTrailingSpace: "assumed as 6.1 (the '%s %s' format predates 6.1); not observed",
    },
  },
  "5.10": {
    hasDmaFqType: false,
    groupTypeRules: "single-device-ebusy",
    defaultTypeTrailingSpace: true,
    typeWritable: false,
    sources: {
      hasDmaFqType: "docs/kernel-rules.md §7 VER-7; issue 7: 5.10 has no DMA-FQ string",
      groupTypeRules: "docs/kernel-rules.md §3.5 R-GRP-OLD",
      defaultTypeTrailingSpace: "assumed as 6.1, not observed",
      typeWritable:
        "docs/kernel-rules.md R-ABI-3 (writable type is v5.11) and §3.5 (R-GRP-OLD from v5.11): read-only in 5.10",
    },
  },
};
