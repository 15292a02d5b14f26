/**
 * Placeholders the kernel's CPU never held (Linux 6.1 and 6.12 alike,
 * `iova.c`'s `__iova_rcache_get()`), in a trace that starts mid-life: the
 * model popped a placeholder on a CPU whose magazines of that class hold
 * only placeholders (IOVAs from before the trace, `start-state.ts`), while
 * the kernel handed out an IOVA the model holds in another CPU's
 * magazines. An IOVA freed on one CPU reaches another only through the
 * depot, and a CPU pops the depot only with both its magazines empty: the
 * kernel's CPU held none of those placeholders. They go, and the
 * allocation is the one `crossCut` (`magazine-cut.ts`) reads on a CPU
 * whose magazines are empty: the other CPU's magazine, the IOVA on top,
 * went to the depot and this CPU took it.
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IovaDomain } from "../iova/domain.ts";
import { Magazine } from "../iova/magazine.ts";
import { NIL } from "../iova/rbtree.ts";
import { crossCut, crossCutFrom } from "./magazine-cut.ts";

/**
 * `cpu` popped placeholder `popped` (below `placeholderTop`) off its loaded
 * magazine of class `c`, where the kernel handed out `pfn`, held in another
 * CPU's magazines: when every IOVA left in `cpu`'s magazines of that class
 * is a placeholder and `crossCutFrom` finds that CPU once they are gone,
 * the placeholders (`popped` too) leave the tree and `crossCut` cuts the
 * magazines. False, with nothing changed, in any other case.
 */
export function placeholdersNeverHeld(
  iovad: IovaDomain,
  cpu: number,
  c: number,
  popped: number,
  pfn: number,
  placeholderTop: number,
  placeholder: (pages: number) => number,
): boolean {
  if (popped >= placeholderTop) return false;
  const cr = iovad.rcaches[c].cpuRcaches[cpu];
  const { loaded, prev } = cr;
  for (const m of [loaded, prev]) for (let i = 0; i < m.size; i++) if (m.pfns[i] >= placeholderTop) return false;
  const cap = iovad.profile.magazineSize;
  cr.loaded = new Magazine(cap);
  cr.prev = new Magazine(cap);
  const from = crossCutFrom(iovad, cpu, c, pfn);
  if (from < 0) {
    cr.loaded = loaded;
    cr.prev = prev;
    return false;
  }
  // A placeholder never touched the cached nodes: its node goes as it came (see `takePlaceholder`).
  const t = iovad.tree;
  const drop = (p: number) => {
    const n = t.findContaining(p);
    if (n === NIL) return;
    t.erase(n);
    t.freeNode(n);
  };
  drop(popped);
  for (const m of [loaded, prev]) for (let i = 0; i < m.size; i++) drop(m.pfns[i]);
  iovad.stats.cachedPfns[c] -= loaded.size + prev.size;
  crossCut(iovad, cpu, from, c, pfn, placeholder);
  return true;
}
