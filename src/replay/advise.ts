/**
 * The range advice of `iovalab advise` (issue 16): the candidate rcache
 * ranges of one IOMMU group and the one to recommend, from the figures of
 * the same workload replayed or run under each. A range of 2^k granules
 * gives the domain k + 1 size classes (`rcacheOrdersForBytes`, the range
 * patch's `iova_domain_init_rcaches` on 6.1/6.12); each step adds one class.
 */

import type { IovaDomain } from "../iova/domain.ts";
import { maxCachedBytes } from "../iova/range.ts";

/** The figures of one candidate range. */
export interface AdviceCandidate {
  bytes: number;
  rcacheOrders: number;
  treeAllocs: number;
  walkSteps: number;
  /** Wait on iova_rbtree_lock (ns) over the measured window; null for a trace replay (no timing). */
  lockWaitNs: number | null;
  /** IOVA space held in the rcaches (per-CPU and depot magazines) at the end. */
  cachedIovaBytes: number;
  /** Memory of the magazines that exist at the end. */
  magazineBytes: number;
}

export interface GroupAdvice {
  group: string;
  devices: string[];
  currentBytes: number;
  recommendedBytes: number;
  reason: string;
  candidates: AdviceCandidate[];
}

/** Share of the largest candidate's avoided tree allocations the recommendation must reach. */
export const ADVICE_SHARE = 0.95;

/** The largest range the advice tries by default: 4 MiB. */
export const ADVICE_MAX_BYTES = 4 << 20;

/**
 * The candidate ranges after the current one (`current` classes): one more
 * class each, up to `maxBytes`.
 */
export function candidateRanges(currentOrders: number, granule: number, maxBytes = ADVICE_MAX_BYTES): number[] {
  const out: number[] = [];
  for (let k = currentOrders + 1; maxCachedBytes(k, granule) <= maxBytes; k++) out.push(maxCachedBytes(k, granule));
  return out;
}

/** A candidate's figures from the domain it ended with. */
export function candidateOf(iovad: IovaDomain, lockWaitNs: number | null): AdviceCandidate {
  const st = iovad.stats;
  let cached = 0;
  for (let c = 0; c < st.cachedPfns.length; c++) cached += st.cachedPfns[c] * 2 ** c * iovad.granule;
  let mags = 0;
  for (const m of st.magazinesLive) mags += m;
  return {
    bytes: maxCachedBytes(iovad.rcacheOrders, iovad.granule),
    rcacheOrders: iovad.rcacheOrders,
    treeAllocs: st.treeAllocs,
    walkSteps: st.walkSteps,
    lockWaitNs,
    cachedIovaBytes: cached,
    magazineBytes: mags * iovad.magazineBytes,
  };
}

/**
 * The recommendation: the smallest candidate that avoids at least 95% of the
 * tree allocations the largest avoids (against the first, the current
 * range). `fmt` writes sizes for the reason.
 */
export function recommend(
  cands: readonly AdviceCandidate[],
  fmt: (bytes: number) => string,
): { bytes: number; reason: string } {
  const base = cands[0];
  const last = cands[cands.length - 1];
  const best = base.treeAllocs - last.treeAllocs;
  if (best <= 0) {
    return {
      bytes: base.bytes,
      reason:
        `keep ${fmt(base.bytes)}: the largest candidate, ${fmt(last.bytes)}, avoids none of its ` +
        `${base.treeAllocs} tree allocations (${last.treeAllocs} there), so it already avoids all a larger range would`,
    };
  }
  const need = ADVICE_SHARE * best;
  const pick = cands.find((c) => base.treeAllocs - c.treeAllocs >= need) ?? last;
  const avoided = base.treeAllocs - pick.treeAllocs;
  // best > 0, so the current range (avoiding none) is never the pick.
  const share = `${((100 * avoided) / best).toFixed(1)}%`;
  return {
    bytes: pick.bytes,
    reason:
      `${fmt(pick.bytes)} avoids ${avoided} of ${base.treeAllocs} tree allocations (${share} of the ${best} that ` +
      `${fmt(last.bytes)} avoids) for ${fmt(pick.cachedIovaBytes)} of IOVA space and ${fmt(pick.magazineBytes)} of magazines held in the caches`,
  };
}

/** The number of a group's name (`group12` → 12), to list groups in order. */
export function groupNumber(name: string): number {
  const m = /(\d+)$/.exec(name);
  return m === null ? Number.POSITIVE_INFINITY : Number(m[1]);
}
