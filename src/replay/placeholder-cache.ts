/**
 * Placeholders seeded again and again on one machine (`busy-start.ts`: a
 * search replays thousands of start states, each on a new replay): the tree
 * after the first n placeholders is the same in every trial, so it is copied
 * back instead of built again by n inserts.
 */

import type { IovaDomain } from "../iova/domain.ts";
import type { IovaTreeSnapshot } from "../iova/rbtree.ts";
import { type Placer, placePlaceholder, placingEach, type StartState } from "./start-state.ts";

/** Placeholders between two copies of the tree a `PlaceholderCache` keeps. */
const CACHE_STEP = 64;

/**
 * The placeholders of many start states seeded on one domain as it is
 * before any (a search's trials, `busy-start.ts`, each a new replay on the
 * same machine): the n-th placeholder of a class lands on the same pfn
 * whichever magazine or ring it goes to, so the tree after n of them is the
 * same in every trial. The cache keeps each one's pfn and a copy of the tree
 * every CACHE_STEP of them; a trial takes the largest copy it can use
 * instead of that many inserts (about a third of a 6.1 trial's time with a
 * full depot) and places only the rest. The trees are those the inserts
 * make, node for node.
 */
export class PlaceholderCache {
  private readonly pfns: number[] = [];
  /** Tree copies: `trees[k]` after (k + 1) * CACHE_STEP placeholders. */
  private readonly trees: IovaTreeSnapshot[] = [];
  /** The class's pages, and the tree's node count before any placeholder (-1: no trial yet). */
  private pages = 0;
  private before = -1;

  /**
   * The placer of a start state seeded on `iovad` now, its rings' entries
   * on the first `queuedCpus` CPUs too (0: the domain has no flush queue);
   * one that inserts each placeholder when `s` fills more than one class or
   * the domain is not as at the first trial.
   */
  placer(iovad: IovaDomain, s: StartState, queuedCpus: number): Placer {
    let cls = -1;
    let total = 0;
    const classes = Math.min(s.classes.length, iovad.rcacheOrders);
    for (let c = 0; c < classes; c++) {
      const f = s.classes[c];
      const cap = iovad.profile.magazineSize;
      let n = Math.min(f.depot, iovad.profile.depotMax) * cap;
      for (let cpu = 0; cpu < iovad.cpus; cpu++)
        n += Math.min(f.loaded[cpu] ?? 0, cap) + Math.min(f.prev[cpu] ?? 0, cap);
      for (let cpu = 0; cpu < Math.min(f.queued?.length ?? 0, queuedCpus); cpu++) n += f.queued?.[cpu] ?? 0;
      if (n === 0) continue;
      if (cls >= 0) return placingEach(iovad);
      cls = c;
      total = n;
    }
    if (cls < 0) return placingEach(iovad);
    const t = iovad.tree;
    if (this.before < 0) {
      this.before = t.count;
      this.pages = 2 ** cls;
    }
    if (t.count !== this.before || 2 ** cls !== this.pages) return placingEach(iovad);
    const k = Math.min(Math.floor(total / CACHE_STEP), this.trees.length);
    if (k > 0) t.restore(this.trees[k - 1]);
    let i = 0;
    const skip = k * CACHE_STEP;
    return {
      place: (pages, from) => {
        if (i < skip) return this.pfns[i++];
        const pfn = placePlaceholder(iovad, pages, from);
        if (i === this.pfns.length) this.pfns.push(pfn);
        i++;
        if (i % CACHE_STEP === 0 && i / CACHE_STEP === this.trees.length + 1) this.trees.push(t.snapshot());
        return pfn;
      },
    };
  }
}
