/**
 * What the IOMMU core layer does differently per kernel profile beyond the
 * switches of `iova/profile.ts`: log wording and whether `type` is
 * writable at all. Keyed by profile name, each with its source.
 */

import type { ProfileName } from "../iova/profile.ts";

export interface IommuLogPolicy {
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
  readonly source: string;
}

export const IOMMU_LOG_POLICY: Readonly<Record<ProfileName, IommuLogPolicy>> = {
  mainline: {
    defaultTypeTrailingSpace: false,
    typeWritable: true,
    source: "docs/reference-machines.md, 6.12 boot log: 'iommu: Default domain type: Translated' (no trailing space)",
  },
  "6.1": {
    defaultTypeTrailingSpace: true,
    typeWritable: true,
    source: "docs/reference-machines.md, 6.1 boot log: 'iommu: Default domain type: Translated ' (trailing space)",
  },
  "5.15": {
    defaultTypeTrailingSpace: true,
    typeWritable: true,
    source: "assumed as 6.1 (the '%s %s' format predates 6.1); not observed",
  },
  "5.10": {
    defaultTypeTrailingSpace: true,
    typeWritable: false,
    source:
      "trailing space assumed as 6.1, not observed; type read-only: docs/kernel-rules.md R-ABI-3 (writable type is v5.11) and §3.5 (R-GRP-OLD from v5.11)",
  },
};
