/**
 * The slot of a placeholder (`placeholder-slot.ts`) on a bare mainline
 * domain: a magazine a cut padded with placeholders below the model's own
 * IOVAs gives up its top placeholder, the others and the IOVAs keeping
 * their order; the allocator's invariants hold after it.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { takeSlot } from "./placeholder-slot.ts";
import { placePlaceholder } from "./start-state.ts";

const LIMIT = 0xfffff;
const held = (m: Magazine) => Array.from(m.pfns.subarray(0, m.size));

test("takeSlot: the magazine's top placeholder goes, its tree node too; none: nothing changes", () => {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  // Three placeholders at the bottom of the domain in CPU 1's loaded magazine, then four IOVAs of the model's freed
  // on top of them (allocated on CPU 0, whose magazines are empty).
  let next = iovad.startPfn;
  const ph: number[] = [];
  for (let i = 0; i < 3; i++) {
    ph.push(placePlaceholder(iovad, 1, next));
    next = ph[i] + 1;
  }
  const top = next;
  const cr = iovad.rcaches[0].cpu(1);
  for (const p of ph) cr.loaded.push(p);
  iovad.stats.cachedPfns[0] += ph.length;
  const own: number[] = [];
  for (let i = 0; i < 4; i++) own.push(iovad.allocIovaFast(0, 1, LIMIT, false));
  for (const p of own) iovad.freeIovaFast(1, p, 1);
  assert.deepEqual(held(cr.loaded), [...ph, ...own]);
  const cached = iovad.stats.cachedPfns[0];

  assert.equal(takeSlot(iovad, 0, cr.loaded, top), true);
  assert.deepEqual(held(cr.loaded), [ph[0], ph[1], ...own]);
  assert.equal(iovad.stats.cachedPfns[0], cached - 1);
  assert.equal(iovad.findIova(ph[2]), null, "its node left the tree");
  assert.notEqual(iovad.findIova(ph[1]), null);
  iovad.verifyInvariants();
  // The model's next pops are its own IOVAs, newest first, then the two placeholders left.
  const pops: number[] = [];
  for (let i = 0; i < 6; i++) pops.push(iovad.allocIovaFast(1, 1, LIMIT, false));
  assert.deepEqual(pops, [...own].reverse().concat([ph[1], ph[0]]));

  // A magazine of the model's own IOVAs only: nothing to take.
  for (const p of own) iovad.freeIovaFast(1, p, 1);
  const before = held(cr.loaded);
  assert.equal(takeSlot(iovad, 0, cr.loaded, top), false);
  assert.deepEqual(held(cr.loaded), before);
  iovad.verifyInvariants();
});
