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
  /** nvme-pci's max_segments follows max_hw_sectors (newer) instead of NVME_MAX_SEGS = 127 (6.1). */
  readonly nvmeMaxSegsFromSectors: boolean;
  /**
   * sd caps a disk's default max_sectors at the SCSI host's opt_sectors,
   * which the SAS transport sets from dma_opt_mapping_size() (commits
   * 608128d391fa and 4cbfca5f7750, v6.0).
   */
  readonly sdCapsAtOptSectors: boolean;
  /**
   * Default `deferred_probe_timeout` in seconds for a kernel with modules
   * (0 = no timeout work), and whether its "deferred probe pending" line
   * carries the deferral reason.
   */
  readonly deferredProbeTimeoutS: number;
  readonly pendingLineHasReason: boolean;
  readonly source: string;
  readonly timeoutSource: string;
}

export const DRIVER_POLICY: Readonly<Record<ProfileName, DriverPolicy>> = {
  mainline: {
    nvmeClampsToOptMappingSize: true,
    nvmeMaxSegsFromSectors: true,
    sdCapsAtOptSectors: true,
    deferredProbeTimeoutS: 10,
    pendingLineHasReason: true,
    source:
      "commit 3710e2b056cb 'nvme-pci: clamp max_hw_sectors based on DMA optimized limitation' (v6.4; AUTOSEL for 6.3 stable) replaced dma_max_mapping_size() by dma_opt_mapping_size() in nvme_pci_alloc_dev(); docs/reference-machines.md: 6.12 max_hw_sectors_kb=128",
    timeoutSource:
      "dd.c: 'static int driver_deferred_probe_timeout = 10' under CONFIG_MODULES (context of the Feb 2026 patch making it CONFIG_DRIVER_DEFERRED_PROBE_TIMEOUT, default 10 with modules); the reason in the pending line is from memory of dd.c, not verified",
  },
  "6.1": {
    nvmeClampsToOptMappingSize: false,
    nvmeMaxSegsFromSectors: false,
    sdCapsAtOptSectors: true,
    deferredProbeTimeoutS: 10,
    pendingLineHasReason: false,
    source:
      "docs/reference-machines.md: 6.1 NVMe max_hw_sectors_kb=512 (only dma_max_mapping_size applies: the cap came in v6.4, commit 3710e2b056cb, and was not backported to 6.1), max_segments=127; sd opt_sectors cap since v6.0 (R-MAP-3)",
    timeoutSource:
      "dd.c of the 5.19 era: 'static int driver_deferred_probe_timeout = 10' under CONFIG_MODULES (patch context in the index); assumed unchanged in 6.1, not verified on 6.1.192",
  },
  "5.15": {
    nvmeClampsToOptMappingSize: false,
    nvmeMaxSegsFromSectors: false,
    sdCapsAtOptSectors: false,
    deferredProbeTimeoutS: 0,
    pendingLineHasReason: false,
    source: "dma_opt_mapping_size() did not exist before 6.0 (R-MAP-3)",
    timeoutSource: "assumed 0 (the 2021 'back to 0' default); not verified",
  },
  "5.10": {
    nvmeClampsToOptMappingSize: false,
    nvmeMaxSegsFromSectors: false,
    sdCapsAtOptSectors: false,
    deferredProbeTimeoutS: 0,
    pendingLineHasReason: false,
    source: "dma_opt_mapping_size() did not exist before 6.0 (R-MAP-3)",
    timeoutSource: "assumed 0; not verified",
  },
};
