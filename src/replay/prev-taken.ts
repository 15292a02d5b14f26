/**
 * A `prev` the learning phase took IOVAs out of (Linux 6.1 and 6.12 alike,
 * `iova.c`'s `__iova_rcache_insert()` and `__iova_rcache_get()`), in a trace
 * that starts mid-life.
 *
 * The kernel's `prev` is always empty or full: a free moves a full `loaded`
 * to `prev` only when `prev` is empty (swapped), and an allocation swaps
 * `prev` in only when `loaded` is empty. The model's `prev` ends up neither
 * where the learning phase adopted IOVAs the kernel handed out from it while
 * the model would have popped its loaded magazine: the model cut that CPU's
 * frees into magazines elsewhere than the kernel (its loaded magazine was
 * part full at the trace's start), and the kernel's loaded magazine then was
 * not the model's. Two things follow for the rule of `pushed-before-hit.ts`
 * (a loaded magazine pushed on the depot before the hits of IOVAs from
 * before the trace):
 *
 * - Each such adoption is a hit like one of an IOVA from before the trace:
 *   the kernel's loaded magazine was topped by an IOVA other than the one the
 *   model popped (and took back), so it counts in the run of hits in a row
 *   on that IOVA, and in the IOVAs the kernel's swapped-in `prev` has handed
 *   out (`inPrev`).
 * - Where the hits show the model's loaded magazine went to the depot, the
 *   IOVAs the part-full `prev` holds go with it, below the loaded ones
 *   (freed on that CPU before them), where together with the popped one
 *   they fit one magazine (`heldOnCpu`). An IOVA the model holds that its
 *   CPU freed after one the kernel handed out of its loaded magazine cannot
 *   lie in that magazine (frees go on top: the kernel would have handed it
 *   out first, and the phase taken it out), and the ones the phase took out
 *   of the model's `prev` were such. The trace cannot yet tell whether any left below them lie
 *   in the kernel's loaded magazine, nor whether the kernel pushed them in
 *   one magazine or two: one push is the fewest the IOVAs need, and on the
 *   6.1 lazy cut at 61% (line 1350) it is the kernel's: the model's part-full
 *   `prev` (109) and loaded magazine (12), in order, are the kernel's depot
 *   magazine but for 6 IOVAs from before the trace in its middle.
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { CpuRcache } from "../iova/magazine.ts";

/** Whether `pfn` lies in `cpu`'s `prev` of class `c`: adopted from there, a hit the run counts. */
export function inPrev(iovad: IovaDomain, cpu: number, c: number, pfn: number): boolean {
  return iovad.rcaches[c].cpu(cpu).prev.indexOf(pfn) >= 0;
}

/**
 * The IOVAs `cr` holds, in the order its CPU freed them, that go to the
 * depot in one magazine with `pfn` on top: the loaded ones with `prev`
 * empty; with `partial`, also a `prev` neither empty nor full below them,
 * where all fit one magazine of `cap`. Null where they do not.
 */
export function heldOnCpu(cr: CpuRcache, cap: number, pfn: number, partial: boolean): number[] | null {
  const { loaded, prev } = cr;
  const held: number[] = [];
  if (!prev.isEmpty()) {
    if (!partial || prev.isFull() || prev.size + loaded.size >= cap) return null;
    for (let i = 0; i < prev.size; i++) held.push(prev.pfns[i]);
  }
  for (let i = 0; i < loaded.size; i++) held.push(loaded.pfns[i]);
  held.push(pfn);
  return held;
}
