/**
 * Kernel profiles: each kernel version's IOVA allocator (drivers/iommu/iova.c)
 * as one named, documented set of switches. The allocator reads these switches
 * and nothing else about versions, so a difference between kernels is a line
 * here, not an `if` on a version string somewhere in the code. The layers
 * above keep their own per-version switches beside their code, keyed by the
 * same profile names: `iommu/policy.ts`, `dma/policy.ts`, `driver/policy.ts`;
 * `machine/profile.ts` puts them together.
 *
 * Sources: `test/fixtures/conformance/<version>/README.md` ("Differences from ...",
 * function by function) and `docs/kernel-rules.md` §7 (VER-*). Each switch
 * names the section that justifies it in `sources`.
 */

export type ProfileName = "mainline" | "6.1" | "5.15" | "5.10";

export const PROFILE_NAMES: readonly ProfileName[] = ["mainline", "6.1", "5.15", "5.10"];

export interface KernelProfile {
  readonly name: ProfileName;
  /** One line for listings. */
  readonly title: string;
  /** `IOVA_MAG_SIZE`: pfns per magazine. */
  readonly magazineSize: number;
  /**
   * Depot capacity per size class in magazines: `MAX_GLOBAL_MAGS` (32) for the
   * fixed array, Infinity for mainline's linked list.
   */
  readonly depotMax: number;
  /**
   * A full `loaded` magazine that finds the depot full is freed to the rbtree
   * at once (the fixed-array depot). Without a cap this never happens.
   */
  readonly depotOverflowFreesToTree: boolean;
  /** The 100 ms delayed depot-trim work (`iova_depot_work_func`). */
  readonly depotTrimWork: boolean;
  /**
   * Which depot magazine `free_global_cached_iovas` returns first: the list
   * head (newest) or `depot[0]` (oldest).
   */
  readonly depotDrainOrder: "newest-first" | "oldest-first";
  /** `free_global_cached_iovas` exists: flushes and the flush=1 retry drain the depot. */
  readonly flushDrainsDepot: boolean;
  /** The retry of a failed search above the old cached node (`retry_pfn`, 5.11+). */
  readonly retryAboveCachedNode: boolean;
  /**
   * The backwards walk also stops once the candidate falls below the search's
   * low bound (`new_pfn >= low_pfn` in the loop condition, 5.11+). 5.10 walks on
   * while the candidate overlaps the predecessor, whatever the low bound.
   */
  readonly walkStopsAtLowBound: boolean;
  /**
   * Where cacheable sizes below 2^(K-1) are rounded up to a power of two:
   * inside `alloc_iova_fast` (5.17+) or in dma-iommu's `iommu_dma_alloc_iova`.
   * The DMA-API result is the same (VER-3); the `alloc_fast` op includes the
   * round-up on every profile.
   */
  readonly roundUpIn: "alloc_iova_fast" | "iommu_dma_alloc_iova";
  /** Where each switch's value comes from. */
  readonly sources: Readonly<Record<string, string>>;
}

const MAINLINE: KernelProfile = {
  name: "mainline",
  title: "newest mainline iova.c (Kingxukai/linux @ 9b44fff6); 6.12's allocator",
  magazineSize: 127,
  depotMax: Number.POSITIVE_INFINITY,
  depotOverflowFreesToTree: false,
  depotTrimWork: true,
  depotDrainOrder: "newest-first",
  flushDrainsDepot: true,
  retryAboveCachedNode: true,
  walkStopsAtLowBound: true,
  roundUpIn: "alloc_iova_fast",
  sources: {
    magazineSize: "docs/kernel-rules.md §1.1 IOVA_MAG_SIZE 127",
    depotMax: "docs/kernel-rules.md §1.9 IOVA-6.6: unbounded linked-list depot",
    depotTrimWork: "docs/kernel-rules.md §1.9 IOVA-6.7: iova_depot_work_func, IOVA_DEPOT_DELAY 100 ms",
    depotDrainOrder: "test/fixtures/conformance/6.1/README.md difference 5: mainline pops the list head",
    retryAboveCachedNode: "docs/kernel-rules.md §1.5 IOVA-2.2 step 5",
    roundUpIn: "docs/kernel-rules.md §1.8 IOVA-5.1",
  },
};

const V6_1: KernelProfile = {
  name: "6.1",
  title: "Linux 6.1 LTS iova.c (Debian 12, 6.1.192-2)",
  magazineSize: 127,
  depotMax: 32,
  depotOverflowFreesToTree: true,
  depotTrimWork: false,
  depotDrainOrder: "oldest-first",
  flushDrainsDepot: true,
  retryAboveCachedNode: true,
  walkStopsAtLowBound: true,
  roundUpIn: "alloc_iova_fast",
  sources: {
    magazineSize: "test/fixtures/conformance/6.1/README.md: IOVA_MAG_SIZE is 127 in both",
    depotMax: "test/fixtures/conformance/6.1/README.md difference 1: MAX_GLOBAL_MAGS 32",
    depotOverflowFreesToTree: "test/fixtures/conformance/6.1/README.md difference 2",
    depotTrimWork: "test/fixtures/conformance/6.1/README.md difference 3: no iova_depot_work_func",
    depotDrainOrder: "test/fixtures/conformance/6.1/README.md difference 5: depot[0] first",
  },
};

const V5_15: KernelProfile = {
  name: "5.15",
  title: "Linux 5.15 LTS iova.c (5.15.135 stable)",
  magazineSize: 128,
  depotMax: 32,
  depotOverflowFreesToTree: true,
  depotTrimWork: false,
  depotDrainOrder: "oldest-first",
  flushDrainsDepot: true,
  retryAboveCachedNode: true,
  walkStopsAtLowBound: true,
  roundUpIn: "iommu_dma_alloc_iova",
  sources: {
    magazineSize: "test/fixtures/conformance/5.15/README.md, differences from 6.1, 1: IOVA_MAG_SIZE 128",
    depotMax: "test/fixtures/conformance/5.15/README.md: MAX_GLOBAL_MAGS 32, same as 6.1",
    depotDrainOrder: "test/fixtures/conformance/5.15/README.md: free_global_cached_iovas (depot[0] first)",
    roundUpIn: "test/fixtures/conformance/5.15/README.md, differences from 6.1, 2; docs/kernel-rules.md VER-3",
  },
};

const V5_10: KernelProfile = {
  name: "5.10",
  title: "Linux 5.10 LTS iova.c (Debian 11, 5.10.262)",
  magazineSize: 128,
  depotMax: 32,
  depotOverflowFreesToTree: true,
  depotTrimWork: false,
  depotDrainOrder: "oldest-first",
  flushDrainsDepot: false,
  retryAboveCachedNode: false,
  walkStopsAtLowBound: false,
  roundUpIn: "iommu_dma_alloc_iova",
  sources: {
    magazineSize: "test/fixtures/conformance/5.10/README.md, differences from 5.15, 5: IOVA_MAG_SIZE 128",
    flushDrainsDepot:
      "test/fixtures/conformance/5.10/README.md, differences from 5.15, 2 and 3: no free_global_cached_iovas",
    retryAboveCachedNode: "test/fixtures/conformance/5.10/README.md, differences from 5.15, 1: no retry-from-last-node",
    walkStopsAtLowBound:
      "test/fixtures/conformance/5.10/README.md, differences from 5.15, 1: one walk; 5.10's loop condition is `curr && new_pfn <= curr->pfn_hi`",
    roundUpIn: "test/fixtures/conformance/5.10/README.md: round-up in dma-iommu (harness-compensated)",
  },
};

export const PROFILES: Readonly<Record<ProfileName, KernelProfile>> = {
  mainline: MAINLINE,
  "6.1": V6_1,
  "5.15": V5_15,
  "5.10": V5_10,
};

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}

export function getProfile(name: ProfileName): KernelProfile {
  return PROFILES[name];
}
