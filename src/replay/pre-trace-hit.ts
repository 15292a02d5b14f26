/**
 * A cache hit of an IOVA cached before the trace began (Linux 6.1 and 6.12
 * alike), in a trace that starts mid-life: the kernel handed out from its
 * rcache an IOVA the model holds nowhere (free in its tree), while the
 * model's own rcache had one to give. Nothing in the trace could tell the
 * model that IOVA, so the allocation adopts it (counted as learned, never
 * as exact), and the model's hit is taken back whole: its IOVA goes back on
 * top of its magazine, and a magazine swapped in from `prev` or popped from
 * the depot for it goes back too, for the kernel's loaded magazine had an
 * IOVA to give. A cache hit never touches the tree, so the adopted IOVA's
 * node goes in with no cached node moving.
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import type { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { pagesFreeAt } from "./start-state.ts";

/** One CPU's magazines of one size class before an allocation, to take its hit back. */
export interface PairBefore {
  /** The size class (-1: no class holds the size). */
  c: number;
  loaded: Magazine | null;
  prev: Magazine | null;
}

/** A `PairBefore` to fill per allocation (`pairBefore`), so that no allocation of the replay makes one. */
export function emptyPairBefore(): PairBefore {
  return { c: -1, loaded: null, prev: null };
}

/** Fills `out` with `cpu`'s magazines of the class of `bytes` in `iovad` now; false when no class holds that size. */
export function pairBefore(iovad: IovaDomain, cpu: number, bytes: number, out: PairBefore): boolean {
  const c = iovad.sizeClass(iovad.roundUpCacheable(Math.ceil(bytes / iovad.granule)));
  out.c = c < iovad.rcacheOrders ? c : -1;
  if (out.c < 0) return false;
  const cr = iovad.rcaches[c].cpu(cpu);
  out.loaded = cr.loaded;
  out.prev = cr.prev;
  return true;
}

/**
 * The model's rcache hit `pfn` on `cpu` (its magazines before it:
 * `before`) is taken back and the trace's IOVA `traceIova` (`len` pages),
 * free in the model, becomes the mapping. False, with nothing changed,
 * when that IOVA's space is not free or the hit is not the model's last.
 */
export function adoptPreTraceHit(
  cookie: IommuDmaCookie,
  cpu: number,
  before: PairBefore,
  pfn: number,
  traceIova: number,
  len: number,
): boolean {
  const iovad = cookie.iovad;
  if (before.c < 0) return false;
  const t = iovad.tree;
  const pages = pagesFreeAt(iovad, pfn, traceIova);
  if (pages < 0) return false;
  const y = traceIova / iovad.granule;
  const rcache = iovad.rcaches[before.c];
  const cr = rcache.cpu(cpu);
  if (cr.loaded.isFull()) return false;
  cr.loaded.push(pfn);
  iovad.stats.cachedPfns[before.c]++;
  if (cr.loaded !== before.loaded) {
    if (cr.loaded === before.prev) cr.swap();
    else if (before.loaded !== null) {
      // The depot's magazine goes back on top; the loaded one, empty, was only freed.
      rcache.depot.push(cr.loaded);
      cr.loaded = before.loaded;
      iovad.stats.magazinesLive[before.c]++;
    }
  }
  t.insert(t.newNode(y, y + pages - 1));
  cookie.mapped.delete(pfn);
  cookie.mapped.set(y, len);
  return true;
}

/**
 * The model's hit on `cpu` (its magazines before it: `before`) went back on
 * top of the magazine it swapped in from `prev` or popped from the depot,
 * where the kernel's cache gave an IOVA of its own (a hidden span's, as
 * `hidden-space.ts` follows it): that magazine goes back where it came
 * from, for the kernel's loaded magazine had an IOVA to give.
 */
export function unrefill(iovad: IovaDomain, cpu: number, before: PairBefore): void {
  if (before.c < 0) return;
  const rcache = iovad.rcaches[before.c];
  const cr = rcache.cpu(cpu);
  if (cr.loaded === before.loaded || before.loaded === null || !before.loaded.isEmpty()) return;
  if (cr.loaded === before.prev) cr.swap();
  else if (cr.loaded.isFull()) {
    rcache.depot.push(cr.loaded);
    cr.loaded = before.loaded;
    iovad.stats.magazinesLive[before.c]++;
  }
}

/**
 * The model's `cpu`, its magazines empty (`before`), popped the depot's top
 * magazine and handed out `pfn`, where the kernel handed out an IOVA that
 * magazine does not hold and the model cannot place (held inside another):
 * a CPU that pops the depot hands out that magazine's top, so the kernel's
 * did not pop it; it had an IOVA of its own, cached before the trace. The
 * magazine goes back on the depot whole, `pfn` on top; the caller stands
 * the allocation on a placeholder. False, with nothing changed, otherwise.
 */
export function unpopDepot(
  iovad: IovaDomain,
  cpu: number,
  before: PairBefore,
  pfn: number,
  traceIova: number,
): boolean {
  if (before.c < 0 || before.loaded === null || !before.loaded.isEmpty()) return false;
  if (before.prev === null || !before.prev.isEmpty()) return false;
  const rcache = iovad.rcaches[before.c];
  const cr = rcache.cpu(cpu);
  const y = traceIova / iovad.granule;
  if (cr.loaded === before.loaded || cr.loaded.isFull() || cr.loaded.indexOf(y) >= 0 || pfn === y) return false;
  cr.loaded.push(pfn);
  iovad.stats.cachedPfns[before.c]++;
  rcache.depot.push(cr.loaded);
  cr.loaded = before.loaded;
  iovad.stats.magazinesLive[before.c]++;
  return true;
}
