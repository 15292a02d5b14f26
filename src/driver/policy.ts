/**
 * Driver behaviour that differs per kernel profile, keyed by profile name,
 * each with its source (the driver layer's own switches; `iova/profile.ts`
 * holds the allocator's).
 */

import type { ProfileName } from "../iova/profile.ts";

export interface DriverPolicy {
  /**
   * nvme-pci caps `max_hw_sectors` at `dma_opt_mapping_size() >> 9` as well
   * as at `dma_max_mapping_size()`.
   */
  readonly nvmeClampsToOptMappingSize: boolean;
  readonly source: string;
}

export const DRIVER_POLICY: Readonly<Record<ProfileName, DriverPolicy>> = {
  mainline: {
    nvmeClampsToOptMappingSize: true,
    source:
      "../shared/kernel-6.12/README.md: 6.12 nvme/host/pci.c caps at dma_opt_mapping_size(); max_hw_sectors_kb=128",
  },
  "6.1": {
    nvmeClampsToOptMappingSize: false,
    source: "../shared/kernel/README.md: 6.1 NVMe max_hw_sectors_kb=512 (only dma_max_mapping_size applies)",
  },
  "5.15": { nvmeClampsToOptMappingSize: false, source: "dma_opt_mapping_size() did not exist before 6.0 (R-MAP-3)" },
  "5.10": { nvmeClampsToOptMappingSize: false, source: "dma_opt_mapping_size() did not exist before 6.0 (R-MAP-3)" },
};
