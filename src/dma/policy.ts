/**
 * What dma-iommu (drivers/iommu/dma-iommu.c) does differently per kernel
 * profile, keyed by profile name, each switch with its source. The
 * allocator's switches are in `iova/profile.ts` (including where the
 * power-of-two round-up happens, VER-3, which moved between the two files);
 * the IOMMU core's, such as whether the DMA-FQ type exists, in `iommu/policy.ts`.
 */

import type { ProfileName } from "../iova/profile.ts";

export interface DmaPolicy {
  /**
   * The 32-bit-first (SAC) attempt of `iommu_dma_alloc_iova()`: on every
   * allocation (VER-4), or until the device's first failure
   * (`pci_32bit_workaround`, 6.4+, DMA-3.3).
   */
  readonly sacFirst: "every-allocation" | "until-first-failure";
  /**
   * Where the kernel itself places the flush-queue timer (`fq_timer`): off an
   * idle arming CPU onto a busy one up to 6.8 ("nohz-target"), or on the
   * arming CPU with remote expiry from 6.9 ("tmigr"). `fq-timer-policy.ts`
   * models both.
   */
  readonly fqTimer: "nohz-target" | "tmigr";
  /** Where each switch's value comes from. */
  readonly sources: Readonly<Partial<Record<keyof Omit<DmaPolicy, "sources">, string>>>;
}

export const DMA_POLICY: Readonly<Record<ProfileName, DmaPolicy>> = {
  mainline: {
    sacFirst: "until-first-failure",
    fqTimer: "tmigr",
    sources: {
      sacFirst: "docs/kernel-rules.md §2.3 DMA-3.3 (pci_32bit_workaround, 6.4+)",
      fqTimer: "kernel/time/timer_migration.c (6.9+): the timer stays on the arming CPU, a busy CPU expires it",
    },
  },
  "6.1": {
    sacFirst: "every-allocation",
    fqTimer: "nohz-target",
    sources: {
      sacFirst: "docs/kernel-rules.md §7 VER-4 (no sticky flag before 6.4)",
      fqTimer: "kernel/time/timer.c up to 6.8: get_target_base() asks get_nohz_timer_target()",
    },
  },
  "5.15": {
    sacFirst: "every-allocation",
    fqTimer: "nohz-target",
    sources: {
      sacFirst: "docs/kernel-rules.md §7 VER-4 (no sticky flag before 6.4)",
      fqTimer: "kernel/time/timer.c up to 6.8: get_target_base() asks get_nohz_timer_target()",
    },
  },
  "5.10": {
    sacFirst: "every-allocation",
    fqTimer: "nohz-target",
    sources: {
      sacFirst: "docs/kernel-rules.md §7 VER-4 (no sticky flag before 6.4)",
      fqTimer: "kernel/time/timer.c up to 6.8: get_target_base() asks get_nohz_timer_target()",
    },
  },
};
