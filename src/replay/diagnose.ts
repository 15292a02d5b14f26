/**
 * Diagnosing a mismatch: where the model held the IOVA the kernel gave an
 * allocation the model placed elsewhere, and the model's state around it,
 * for the replay's report.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { hex16 } from "../stdx/hex.ts";
import { queuedIn } from "./follow.ts";

/**
 * Where the model held the IOVA the kernel gave an allocation the model
 * placed elsewhere: what part of its state differed.
 */
export type MismatchCause =
  | "queued in the flush queue"
  | "in this CPU's rcache, below the top"
  | "in another CPU's rcache"
  | "in the depot"
  | "free in the tree"
  | "inside another allocated IOVA"
  | "live (mapped)"
  | "model failed";

/** The first allocation the model placed elsewhere than the kernel did. */
export interface Mismatch {
  allocation: number;
  line: number;
  cpu: number;
  timestampNs: number;
  sizeBytes: number;
  traceIova: number;
  /** The model's IOVA, or null when the model failed the allocation. */
  modelIova: number | null;
  /** The model's live mappings near the trace's IOVA, and its allocator counts, at that moment. */
  state: string;
  /** Where the model held the trace's IOVA. */
  cause: MismatchCause;
}

/** Where `cookie`'s model holds `iova`, the trace's IOVA of an allocation on `cpu` the model placed at `modelAddr`, just after it. */
export function causeOf(
  cookie: IommuDmaCookie | null,
  iova: number,
  cpu: number,
  modelAddr: number | null,
): MismatchCause {
  if (modelAddr === null || !cookie) return "model failed";
  const pfn = iova / cookie.iovad.granule;
  if (cookie.mapped.has(pfn)) return "live (mapped)";
  if (cookie.fq && queuedIn(cookie.fq, pfn)) return "queued in the flush queue";
  const on = cookie.iovad.cachedOn(pfn);
  const cpus = cookie.iovad.cpus;
  if (on === cpu % cpus) return "in this CPU's rcache, below the top";
  if (on === cpus) return "in the depot";
  if (on >= 0) return "in another CPU's rcache";
  return cookie.iovad.findIova(pfn) === null ? "free in the tree" : "inside another allocated IOVA";
}

/** The model's live mappings within 64 KiB of `iova` and the allocator's counts, at virtual time `nowNs`. */
export function stateAround(cookie: IommuDmaCookie | null, iova: number, nowNs: number): string {
  if (!cookie) return "no DMA domain";
  const g = cookie.iovad.granule;
  const near: string[] = [];
  // A replay's order search asks this of every map it tries that misses: no per-entry allocation.
  cookie.mapped.forEach((pfn, pages) => {
    const a = pfn * g;
    if (a + pages * g > iova - 0x10000 && a < iova + 0x10000) near.push(`${hex16(a)}+${pages * g}`);
  });
  near.sort();
  const s = cookie.iovad.stats;
  return (
    `model clock ${nowNs} ns; ${cookie.mapped.size} live mappings, near the trace's IOVA: ` +
    `${near.length > 0 ? near.join(" ") : "none"}; tree allocations ${s.treeAllocs}, flush queue ${cookie.fq ? "on" : "off"}`
  );
}
