/**
 * A kernel profile whole: the per-version switches of every layer, each kept
 * beside the code that reads it and keyed by the same profile name. The
 * allocator's are in `iova/profile.ts`, the IOMMU core's in
 * `iommu/policy.ts`, dma-iommu's in `dma/policy.ts`, the drivers' in
 * `driver/policy.ts`; this file only puts them side by side (for
 * `iovalab kernels` and for anything that wants one version's whole story).
 */

import { DMA_POLICY, type DmaPolicy } from "../dma/policy.ts";
import { DRIVER_POLICY, type DriverPolicy } from "../driver/policy.ts";
import { IOMMU_POLICY, type IommuPolicy } from "../iommu/policy.ts";
import { type KernelProfile, PROFILES, type ProfileName } from "../iova/profile.ts";

export interface KernelVersion {
  readonly name: ProfileName;
  readonly iova: KernelProfile;
  readonly iommu: IommuPolicy;
  readonly dma: DmaPolicy;
  readonly driver: DriverPolicy;
}

/** Every layer's switches for one profile. */
export function kernelVersion(name: ProfileName): KernelVersion {
  return {
    name,
    iova: PROFILES[name],
    iommu: IOMMU_POLICY[name],
    dma: DMA_POLICY[name],
    driver: DRIVER_POLICY[name],
  };
}
