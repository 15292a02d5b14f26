/**
 * Placeholders a CPU's magazines held that an allocation proves were not
 * there (Linux 6.1 and 6.12 alike, `iova.c`'s `__iova_rcache_get()`), in a
 * trace that starts mid-life. A placeholder (`start-state.ts`) is the
 * replay's guess at an IOVA the kernel had cached before the trace: a
 * magazine cut (`magazine-cut.ts`) pads the kernel's magazine with them
 * where the model's own IOVAs do not fill it, as if it were full. It need
 * not have been: the kernel's CPU may have had fewer.
 *
 * An IOVA freed on one CPU reaches another only through the depot, and a
 * CPU pops the depot only when its loaded and previous magazines are both
 * empty. So when the kernel hands out on `cpu` an IOVA the model holds in
 * another CPU's magazines, while the model's magazines of `cpu` hold only
 * placeholders (it popped one), the kernel's magazines of `cpu` were empty:
 * the placeholders go (their tree nodes too), and the other CPU's magazine
 * went to the depot as `crossCut` reads it. Where the kernel's IOVA is the
 * top of the depot's top magazine, the placeholders go the same way and
 * that CPU pops it (`popDepot`).
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import type { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { NIL } from "../iova/rbtree.ts";

/** Whether every IOVA `cpu`'s magazines of class `c` hold lies below `top` (placeholders); true when they are empty. */
export function onlyPlaceholders(iovad: IovaDomain, cpu: number, c: number, top: number): boolean {
  const cr = iovad.rcaches[c].cpu(cpu);
  for (const m of [cr.loaded, cr.prev]) for (let i = 0; i < m.size; i++) if (m.pfns[i] >= top) return false;
  return true;
}

/** Takes the placeholder node at `pfn` out of the tree (no cached node points at one: no walk ever reached it). */
export function dropNode(iovad: IovaDomain, pfn: number): void {
  const t = iovad.tree;
  const n = t.findContaining(pfn);
  if (n === NIL) return;
  t.erase(n);
  t.freeNode(n);
}

/**
 * The model popped placeholder `popped` on `cpu` (class `c`), its other
 * placeholders still in that CPU's magazines (`onlyPlaceholders`), where
 * the kernel's magazines of `cpu` were empty: all of them go, the popped
 * one's mapping too, and both magazines are left empty.
 */
export function dropPlaceholders(cookie: IommuDmaCookie, cpu: number, c: number, popped: number): void {
  const iovad = cookie.iovad;
  const cr = iovad.rcaches[c].cpu(cpu);
  const empty = (m: Magazine) => {
    for (let i = 0; i < m.size; i++) dropNode(iovad, m.pfns[i]);
    iovad.stats.cachedPfns[c] -= m.size;
    m.size = 0;
  };
  empty(cr.loaded);
  empty(cr.prev);
  dropNode(iovad, popped);
  cookie.mapped.delete(popped);
}

/**
 * The kernel's `cpu`, its magazines of class `c` empty (`dropPlaceholders`
 * done), popped the depot's top magazine, whose top is `pfn`: that magazine
 * becomes its loaded one, `pfn` handed out. False, with nothing changed,
 * when `pfn` is not that top.
 */
export function popDepot(iovad: IovaDomain, cpu: number, c: number, pfn: number): boolean {
  const rcache = iovad.rcaches[c];
  const top = rcache.depot.length > 0 ? rcache.depot[rcache.depot.length - 1] : null;
  if (top === null || top.size === 0 || top.pfns[top.size - 1] !== pfn) return false;
  rcache.depot.pop();
  top.size--;
  rcache.cpu(cpu).loaded = top;
  // The empty loaded magazine is freed, as `__iova_rcache_get()` does; `pfn` leaves the cache.
  iovad.stats.magazinesLive[c]--;
  iovad.stats.cachedPfns[c]--;
  return true;
}

/** Whether `pfn` is the top of class `c`'s depot's top magazine. */
export function depotTop(iovad: IovaDomain, c: number, pfn: number): boolean {
  const d = iovad.rcaches[c].depot;
  const top = d.length > 0 ? d[d.length - 1] : null;
  return top !== null && top.size > 0 && top.pfns[top.size - 1] === pfn;
}
