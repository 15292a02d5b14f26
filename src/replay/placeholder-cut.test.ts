/**
 * Placeholders the kernel's CPU never held (`placeholder-cut.ts`) on a bare
 * mainline domain (127-entry magazines): CPU 1 freed its IOVAs, CPU 0
 * holds placeholders only; the allocator's invariants hold after the cut.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { placeholdersNeverHeld } from "./placeholder-cut.ts";
import { placePlaceholder } from "./start-state.ts";

const LIMIT = 0xfffff;
const held = (m: Magazine) => Array.from(m.pfns.subarray(0, m.size));

function domain(own: "placeholders" | "mixed") {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  let next = iovad.startPfn;
  const placeholder = (pages: number) => {
    const p = placePlaceholder(iovad, pages, next);
    next = p + pages;
    return p;
  };
  // CPU 0's loaded magazine: (mixed: an IOVA of its own from the tree, then) four placeholders at the bottom of the domain.
  const cr0 = iovad.rcaches[0].cpuRcaches[0];
  const mine = own === "mixed" ? iovad.allocIovaFast(0, 1, LIMIT, false) : -1;
  if (mine >= 0) cr0.loaded.push(mine);
  for (let i = 0; i < 4; i++) cr0.loaded.push(placeholder(1));
  iovad.stats.cachedPfns[0] += cr0.loaded.size;
  const top = next;
  // CPU 1 frees 130 IOVAs: the first 127 in its prev, 3 loaded.
  const pfns: number[] = [];
  for (let i = 0; i < 130; i++) pfns.push(iovad.allocIovaFast(1, 1, LIMIT, false));
  for (const p of pfns) iovad.freeIovaFast(1, p, 1);
  return { iovad, pfns, placeholder, top };
}

test("placeholdersNeverHeld: CPU 0 held no placeholders; CPU 1's magazine, the kernel's IOVA on top, came through the depot", () => {
  const { iovad, pfns, placeholder, top } = domain("placeholders");
  const popped = iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.ok(popped < top);
  // The kernel handed out the top of CPU 1's full prev.
  assert.equal(placeholdersNeverHeld(iovad, 0, 0, popped, pfns[126], top, placeholder), true);
  const [cr0, cr1] = iovad.rcaches[0].cpuRcaches;
  // CPU 0 holds CPU 1's magazine but the IOVA handed out; CPU 1 keeps the 3 freed after it, its prev empty.
  assert.deepEqual(held(cr0.loaded), pfns.slice(0, 126));
  assert.equal(cr0.prev.size, 0);
  assert.deepEqual(held(cr1.loaded), pfns.slice(127));
  assert.equal(cr1.prev.size, 0);
  // The placeholders left the tree.
  for (let p = 1; p < top; p++) assert.equal(iovad.findIova(p), null);
  // The kernel's IOVA is still a node: the caller maps it.
  iovad.verifyInvariants();
});

test("placeholdersNeverHeld: not where the CPU holds an IOVA of its own below, nor where no other CPU holds the kernel's", () => {
  const a = domain("mixed");
  const pa = a.iovad.allocIovaFast(0, 1, LIMIT, false);
  // A placeholder popped, but an IOVA of CPU 0's own lies below: the kernel's CPU held its magazines.
  assert.ok(pa < a.top);
  assert.equal(placeholdersNeverHeld(a.iovad, 0, 0, pa, a.pfns[126], a.top, a.placeholder), false);
  const b = domain("placeholders");
  const pb = b.iovad.allocIovaFast(0, 1, LIMIT, false);
  const loaded = b.iovad.rcaches[0].cpuRcaches[0].loaded;
  assert.equal(placeholdersNeverHeld(b.iovad, 0, 0, pb, 0x90000, b.top, b.placeholder), false);
  // Nothing changed: the same magazine, the same three placeholders.
  assert.equal(b.iovad.rcaches[0].cpuRcaches[0].loaded, loaded);
  assert.equal(loaded.size, 3);
});
