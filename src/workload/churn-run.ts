/**
 * Runs a churn (workload/churn.ts) on one IOVA domain the way dma-iommu drives
 * the allocator for a 64-bit device: `alloc_iova_fast` with the flush-and-retry
 * on, `free_iova_fast` on the completing CPU. Used by the demonstration and by
 * tests that compare ranges; mappings are named by allocation number.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { ChurnStep } from "./churn.ts";

export interface ChurnResult {
  mappings: number;
  failures: number;
}

export function runChurn(domain: IovaDomain, steps: Iterable<ChurnStep>, limitPfn: number): ChurnResult {
  const pfnOf = new Map<number, number>();
  let mappings = 0;
  let failures = 0;
  for (const step of steps) {
    const granules = Math.ceil(step.bytes / domain.granule);
    if (step.kind === "map") {
      mappings++;
      const size = domain.roundUpForDmaApi(granules);
      const pfn = domain.allocIovaFast(step.cpu, size, limitPfn, true);
      if (pfn === 0) failures++;
      else pfnOf.set(step.id, pfn);
    } else {
      const pfn = pfnOf.get(step.id);
      if (pfn === undefined) continue;
      pfnOf.delete(step.id);
      domain.freeIovaFast(step.cpu, pfn, granules);
    }
  }
  return { mappings, failures };
}
