/**
 * The main job (`npm start`, `iovalab run` without a file; issue 16): the
 * seed's server and fio job (the seed scenario's machine, disks, HBA and
 * costs) on two kernels, each with the default range, the range set through
 * sysfs and the range the driver asks for, strict and lazy:
 *
 * - 5.15, standing for the 5.13 kernel of the published figures (no sd cap at
 *   dma_opt_mapping_size(), the round-up in iommu_dma_alloc_iova), aged as the
 *   calibration ages it: 8 s of warm-up, then 1 s measured. Its default-strict,
 *   default-lazy and driver-strict runs are the calibration's three runs
 *   (calibrate.ts), the same simulation to the byte.
 * - 6.1, where sd caps requests at dma_opt_mapping_size(): 1 s of warm-up,
 *   500 ms measured. With the default range every mapping is at most 128 KiB
 *   and fits a cached class, so there is no tree path for ageing to crowd;
 *   ageing it 8 s as well would double the job's time and change no IOPS
 *   figure (docs/cost-model.md, "Limits of the calibration").
 */

import type { ProfileName } from "../iova/profile.ts";
import { HISI_SAS_MAX_MAPPING, type RunSpec, type Scenario, seedScenario } from "./scenario.ts";

/** Each kernel of the main job with the age it is measured at. */
export const MAIN_JOB_KERNELS: readonly { kernel: ProfileName; warmupMs: number; durationMs: number }[] = [
  { kernel: "5.15", warmupMs: 8000, durationMs: 1000 },
  { kernel: "6.1", warmupMs: 1000, durationMs: 500 },
];

/** What each kernel stands for, said in the verdict. */
export const MAIN_JOB_KERNEL_NOTES: Readonly<Record<string, string>> = {
  "5.15": "standing for 5.13, the kernel of the published figures",
};

export function mainJobRuns(): RunSpec[] {
  const out: RunSpec[] = [];
  for (const { kernel, warmupMs, durationMs } of MAIN_JOB_KERNELS) {
    for (const mode of ["strict", "lazy"] as const) {
      const at = { kernel, warmupMs, durationMs };
      out.push({ name: `${kernel}-default-${mode}`, mode, range: "default", bytes: null, ...at });
      out.push({ name: `${kernel}-sysfs-${mode}`, mode, range: "sysfs", bytes: HISI_SAS_MAX_MAPPING, ...at });
      out.push({ name: `${kernel}-driver-${mode}`, mode, range: "driver", bytes: null, ...at });
    }
  }
  return out;
}

export function mainJobScenario(): Scenario {
  return { ...seedScenario(), name: "main-job", runs: mainJobRuns() };
}
