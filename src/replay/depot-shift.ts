/**
 * A CPU's depot push made earlier in the model than in the kernel, shown
 * by that CPU's `prev` (Linux 6.1 and 6.12 alike, `iova.c`'s
 * `__iova_rcache_insert()` and `__iova_rcache_get()`), in a trace that
 * starts mid-life: the model's magazines of that CPU filled at other frees
 * than the kernel's, so it pushed its loaded magazine on the depot and
 * swapped its `prev` some frees before the kernel did.
 *
 * The model pops its loaded magazine as it was, its `prev` full, and the
 * kernel hands out an IOVA of the depot's top magazine with, above it
 * there and in the model's loaded magazine, exactly one magazine's worth:
 * the kernel pushed that many later, its depot magazine those IOVAs, and
 * the IOVA it hands out topped its full `prev`, now swapped in (its loaded
 * one empty). The model is cut so: the depot's top magazine takes the
 * IOVAs above the kernel's, the loaded magazine the `prev` that ends with
 * it, `prev` empty. The IOVAs freed before that `prev` began are in no
 * magazine of the kernel's CPU, and where they are the trace does not
 * show: the model frees them to its tree (a replay choice, not a kernel
 * step).
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IovaDomain } from "../iova/domain.ts";
import { Magazine } from "../iova/magazine.ts";

/**
 * The model popped `popped` from `cpu`'s loaded magazine of class `c` (no
 * swap, no depot, `prev` full) where the kernel handed out `pfn`. Cuts as
 * above; false, with nothing changed, where it does not hold.
 */
export function depotShift(iovad: IovaDomain, cpu: number, c: number, popped: number, pfn: number): boolean {
  const cap = iovad.profile.magazineSize;
  const rcache = iovad.rcaches[c];
  const cr = rcache.cpu(cpu);
  const top = rcache.depot.length > 0 ? rcache.depot[rcache.depot.length - 1] : null;
  if (top === null || top.size !== cap || cr.prev.size !== cap) return false;
  const k = top.indexOf(pfn);
  // One magazine's worth above it: the rest of the depot's top magazine, the loaded one and the model's pop.
  if (k < 0 || cap - 1 - k + cr.loaded.size + 1 !== cap) return false;
  const above = [
    ...Array.from(top.pfns.subarray(k + 1, cap)),
    ...Array.from(cr.loaded.pfns.subarray(0, cr.loaded.size)),
    popped,
  ];
  const prev = Array.from(cr.prev.pfns.subarray(0, cap));
  const below = [...prev.slice(k + 1), ...Array.from(top.pfns.subarray(0, k))];
  const pushed = new Magazine(cap);
  for (const p of above) pushed.push(p);
  rcache.depot[rcache.depot.length - 1] = pushed;
  const loaded = new Magazine(cap);
  for (const p of below) loaded.push(p);
  cr.loaded = loaded;
  cr.prev = new Magazine(cap);
  // The IOVAs the model's `prev` held before the kernel's began: no magazine of the kernel's CPU holds them.
  for (const p of prev.slice(0, k + 1)) iovad.freeIova(p);
  // `popped` is cached again and `pfn` handed out; the freed ones leave the cache.
  iovad.stats.cachedPfns[c] -= k + 1;
  return true;
}
