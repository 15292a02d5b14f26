/**
 * A full `prev` swapped in, learned from a cache hit of an IOVA cached before
 * the trace (Linux 6.1 and 6.12 alike, `iova.c`'s `__iova_rcache_insert()`
 * and `__iova_rcache_get()`), in a trace that starts mid-life: the kernel
 * handed out an IOVA the model holds nowhere (free in its tree) where the
 * model popped `top`, the IOVA its CPU freed last into that class, off its
 * loaded magazine, its `prev` empty.
 *
 * The kernel's loaded magazine had that IOVA on top, so it was not the
 * magazine `top` went into: that one had left `loaded` since, and a loaded
 * magazine that holds IOVAs leaves it only when full, at a free (IOVA-6.4).
 * Swapped to `prev` (the kernel's `prev` was empty), it leaves an empty
 * loaded magazine that only IOVAs freed after `top` fill, and comes back
 * with `top` on top: neither hands out an IOVA from before the trace. So
 * it went to the depot (the kernel's `prev` was full), and the loaded
 * magazine the kernel popped now is that full `prev`, swapped in once the
 * loaded one ran empty: the IOVA is its top, and the rest of it are IOVAs
 * from before the trace too (any the trace had freed would lie above them).
 * The model's magazines are cut the same way: its loaded IOVAs, full with
 * placeholders (`start-state.ts`) below them, go to the depot, and
 * `IOVA_MAG_SIZE - 1` placeholders are the loaded magazine, its `prev`
 * empty. Replay-only: it works through the domain's public state, as
 * `follow.ts` does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import type { Magazine } from "../iova/magazine.ts";
import { CheckpointPfns } from "./checkpoint-pfns.ts";
import type { PairBefore } from "./pre-trace-hit.ts";
import { pushBeforeHit } from "./pushed-before-hit.ts";

/**
 * The model popped `top` off `cpu`'s loaded magazine of class `before.c`
 * (its magazines before it: `before`, `prev` empty) where the kernel handed
 * out `traceIova` (`len` pages), free in the model: the model's loaded
 * magazine, `top` back on it and placeholders below, goes on the depot,
 * placeholders fill the loaded one but for the slot the trace's IOVA
 * leaves, and that IOVA becomes the mapping. `placeholder` makes a
 * placeholder of `pages` pages. False, with nothing changed, in any other
 * case.
 */
export function swapInFullPrev(
  cookie: IommuDmaCookie,
  cpu: number,
  before: PairBefore,
  top: number,
  traceIova: number,
  len: number,
  placeholder: (pages: number) => number,
): boolean {
  const iovad = cookie.iovad;
  if (before.c < 0 || before.prev === null || !before.prev.isEmpty()) return false;
  const rcache = iovad.rcaches[before.c];
  const cr = rcache.cpu(cpu);
  // Only a pop of the loaded magazine as it was (no swap, no depot) has `top` as its CPU's last free.
  if (cr.loaded !== before.loaded || !cr.prev.isEmpty()) return false;
  // Full with `top`, it was the kernel's loaded one too, and the kernel would have handed out `top`: the model's
  // magazines are off otherwise than in their cut (a depot magazine it popped where the kernel did not).
  if (cr.loaded.size + 1 >= iovad.profile.magazineSize) return false;
  // The same cut as a push shown by hits in a row (`pushed-before-hit.ts`), one IOVA of the `prev` handed out.
  return pushBeforeHit(cookie, cpu, before, top, traceIova, len, 1, placeholder);
}

/**
 * The IOVAs the model took into a CPU's loaded magazine with a whole
 * magazine (popped from the depot), rather than its CPU freeing them there,
 * and not freed since: a magazine that came full, some of it handed out,
 * never filled again but by frees above them. Where the model pops one of
 * those where the kernel handed out an IOVA from before the trace, the
 * model had popped the depot where the kernel had not: that is no sign of
 * the kernel's `prev` swapped in.
 */
export class TakenWhole extends CheckpointPfns {
  /** After an allocation on `cpu` of class `before.c` (its magazines before it: `before`): notes a depot pop. */
  allocated(cookie: IommuDmaCookie, cpu: number, before: PairBefore): void {
    if (before.c < 0) return;
    const loaded = cookie.iovad.rcaches[before.c].cpu(cpu).loaded;
    if (loaded === before.loaded || loaded === before.prev || loaded.size === 0) return;
    for (let k = 0; k < loaded.size; k++) this.add(loaded.pfns[k]);
  }

  /** The IOVA at `pfn` is freed (its next caching is its CPU's own). */
  freed(pfn: number): void {
    this.delete(pfn);
  }
}

/**
 * IOVAs a CPU's magazines held in the model when the kernel handed out an
 * IOVA from before the trace there and the model's own hit was taken back
 * (`adoptPreTraceHit`), not freed since. That hit showed the kernel's
 * loaded magazine topped by an IOVA from before the trace while the model
 * held these: they were not on top of it, wherever they were (below it,
 * in a magazine gone to the depot, or not on that CPU at all). Where the
 * model later pops one of them where the kernel hands out another IOVA
 * from before the trace, it is no IOVA its CPU surely took last, and that
 * hit shows no full `prev` swapped in: the magazines had already parted
 * from the model's at the earlier hit.
 */
export class HitOver extends CheckpointPfns {
  /** A hit of an IOVA from before the trace was taken back with `loaded` and `prev` the CPU's magazines. */
  hit(loaded: Magazine, prev: Magazine): void {
    for (const m of [loaded, prev]) for (let i = 0; i < m.size; i++) this.add(m.pfns[i]);
  }

  /** The IOVA at `pfn` is freed (its next caching is its CPU's own). */
  freed(pfn: number): void {
    this.delete(pfn);
  }
}

/**
 * IOVAs the trace mapped or freed for allocations the model had placed
 * elsewhere: the kernel holds them live, queued or cached where the model
 * does not, so the model's own copy of one (cached from an earlier free) is
 * not where the kernel's is. Until the trace frees one from an allocation
 * the model placed there too.
 */
export class StrayFrees extends CheckpointPfns {
  /** The trace maps the IOVA at `tracePfn` for an allocation the model placed at `modelPfn` (-1: failed). */
  mapped(tracePfn: number, modelPfn: number): void {
    if (tracePfn !== modelPfn) this.add(tracePfn);
  }

  /** The trace frees the IOVA at `tracePfn` from an allocation the model placed at `modelPfn`. */
  freed(tracePfn: number, modelPfn: number): void {
    if (tracePfn !== modelPfn) this.add(tracePfn);
    else this.delete(tracePfn);
  }
}

/** The IOVAs the trace has mapped or unmapped so far: an IOVA free in the model but among them is no IOVA from before the trace. */
export class TraceShown extends CheckpointPfns {
  shown(pfn: number): void {
    this.add(pfn);
  }
}
