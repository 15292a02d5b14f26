/**
 * `PlaceholderCache`: start states seeded through the cache, one after
 * another on fresh domains as a search's trials are, give the domains that
 * seeding each placeholder by its own insert gives, node for node (the
 * tree's links, pfns and fit keys, the magazines, the top pfn), whatever
 * the order of the states and wherever the totals fall against the cache's
 * copies; a state that fills two classes is seeded without it.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { IovaDomain } from "../iova/domain.ts";
import { PlaceholderCache } from "./placeholder-cache.ts";
import { type Placer, placingEach, type StartState, seedPlaceholders } from "./start-state.ts";

/** A domain as at boot, with two reserved ranges low enough for the placeholders to step over. */
function fresh(): IovaDomain {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  d.reserveIova(40, 45);
  d.reserveIova(200, 200);
  return d;
}

/** One class's state: loaded and prev per CPU, the depot, the rings. */
function state(cls: number, loaded: number[], prev: number[], depot: number, queued: number[]): StartState {
  const classes = [];
  for (let c = 0; c <= cls; c++) {
    classes.push(
      c === cls ? { loaded, prev, depot, queued } : { loaded: [0, 0], prev: [0, 0], depot: 0, queued: [0, 0] },
    );
  }
  return { classes };
}

/** Everything seeding may have changed, as plain data. */
function image(d: IovaDomain, top: number): unknown {
  const t = d.tree;
  const used = t.snapshot().used;
  const nodes: number[][] = [];
  for (let n = 0; n < used; n++) nodes.push([t.pfnLo(n), t.hi(n), t.left(n), t.right(n), t.fitKeyBelow(n)]);
  const mags = d.rcaches.map((r) => ({
    cpus: r.everyCpu.map((cr) => [
      Array.from(cr.loaded.pfns.subarray(0, cr.loaded.size)),
      Array.from(cr.prev.pfns.subarray(0, cr.prev.size)),
    ]),
    depot: r.depot.map((m) => Array.from(m.pfns.subarray(0, m.size))),
  }));
  return { top, root: t.root, count: t.count, nodes, mags, cached: Array.from(d.stats.cachedPfns) };
}

/** Seeds `s` as the replay does: the magazines, then each ring's entries with the same placer. */
function seed(d: IovaDomain, s: StartState, placer: Placer): unknown {
  let next = seedPlaceholders(d, s, placer);
  s.classes.forEach((c, k) => {
    for (const q of c.queued ?? []) for (let i = 0; i < q; i++) next = placer.place(2 ** k, next) + 2 ** k;
  });
  return image(d, next);
}

test("PlaceholderCache: trials seeded from its copies equal trials seeded insert by insert", () => {
  const cap = fresh().profile.magazineSize;
  const states = [
    state(0, [0, 0], [0, 0], 0, [0, 0]),
    state(0, [10, 3], [0, 0], 0, [5, 0]),
    state(0, [cap, 20], [cap, 0], 2, [40, 70]),
    state(0, [1, 1], [0, 0], 0, [0, 0]),
    state(0, [cap, cap], [cap, cap], 5, [255, 255]),
    state(0, [63, 0], [0, 0], 0, [0, 1]),
    state(0, [64, 0], [0, 0], 0, [0, 0]),
    state(0, [0, 64], [cap, 0], 3, [0, 64]),
    state(0, [cap, 20], [cap, 0], 2, [40, 70]),
    state(0, [5, 7], [0, cap], 1, [3, 2]),
  ];
  const cache = new PlaceholderCache();
  const bare = (s: StartState): unknown => {
    const d = fresh();
    return seed(d, s, placingEach(d));
  };
  for (const s of states) {
    const want = bare(s);
    const d = fresh();
    assert.deepEqual(seed(d, s, cache.placer(d, s, 2)), want);
    d.verifyInvariants();
  }
  // Another class on a cache made for the first: seeded insert by insert, the same domain.
  const two = state(1, [9, 0], [0, 0], 1, [4, 0]);
  two.classes[0] = { loaded: [3, 0], prev: [0, 0], depot: 0, queued: [0, 0] };
  const d = fresh();
  assert.deepEqual(seed(d, two, cache.placer(d, two, 2)), bare(two));
});
