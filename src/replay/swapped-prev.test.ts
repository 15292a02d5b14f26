/**
 * The full `prev` swapped in (`swapped-prev.ts`) on a bare mainline domain
 * (127-entry magazines) whose loaded magazine the allocator's own frees
 * fill; the allocator's invariants hold after it.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { emptyPairBefore, pairBefore } from "./pre-trace-hit.ts";
import { placePlaceholder } from "./start-state.ts";
import { HitOver, StrayFrees, swapInFullPrev, TakenWhole } from "./swapped-prev.ts";

const LIMIT = 0xfffff;

/** A domain with `n` one-page IOVAs from the tree, freed in that order on CPU 0. */
function freed(n: number) {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const pfns: number[] = [];
  for (let i = 0; i < n; i++) pfns.push(iovad.allocIovaFast(0, 1, LIMIT, false));
  for (const p of pfns) iovad.freeIovaFast(0, p, 1);
  const cookie = { iovad, mapped: new Map<number, number>() } as unknown as IommuDmaCookie;
  let next = iovad.startPfn;
  const placeholders: number[] = [];
  const placeholder = (pages: number) => {
    const p = placePlaceholder(iovad, pages, next);
    next = p + pages;
    placeholders.push(p);
    return p;
  };
  return { iovad, pfns, cookie, placeholder, placeholders };
}

const held = (m: Magazine) => Array.from(m.pfns.subarray(0, m.size));

/** 40 frees on CPU 0 (its loaded magazine holds them, prev empty), then the pop of its last, mapped. */
function poppedTop() {
  const d = freed(40);
  const pb = emptyPairBefore();
  assert.ok(pairBefore(d.iovad, 0, 4096, pb));
  const top = d.iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(top, d.pfns[39]);
  d.cookie.mapped.set(top, 1);
  return { ...d, pb, top };
}

test("swapInFullPrev: the model's loaded magazine, placeholders below, goes on the depot and placeholders fill the loaded one", () => {
  const { iovad, pfns, cookie, placeholder, placeholders, pb, top } = poppedTop();
  // The kernel handed out 0x80000, an IOVA the model holds nowhere.
  const y = 0x80000;
  assert.equal(swapInFullPrev(cookie, 0, pb, top, y * 4096, 1, placeholder), true);
  const cr = iovad.rcaches[0].cpu(0);
  const depot = iovad.rcaches[0].depot;
  // The depot's magazine: 87 placeholders (IOVAs from before the trace), then the 40 the CPU freed, its top on top.
  assert.equal(depot.length, 1);
  assert.equal(depot[0].size, 127);
  assert.deepEqual(held(depot[0]).slice(87), pfns);
  assert.deepEqual(held(depot[0]).slice(0, 87), placeholders.slice(0, 87));
  // The loaded magazine: the kernel's prev but the IOVA it handed out, placeholders all; prev empty.
  assert.deepEqual(held(cr.loaded), placeholders.slice(87));
  assert.equal(cr.loaded.size, 126);
  assert.equal(cr.prev.size, 0);
  // The trace's IOVA is the mapping.
  assert.deepEqual([...cookie.mapped], [[y, 1]]);
  assert.ok(iovad.findIova(y));
  iovad.verifyInvariants();
  // Once the 126 are handed out and the loaded magazine is empty, the depot's comes back with the CPU's last free on top.
  for (let i = 0; i < 126; i++) iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[39]);
});

test("swapInFullPrev: the trace's IOVA among the free slots the placeholders take is mapped, no placeholder there", () => {
  // Seen in a strict two-NVMe trace cut at 33% of its lines: by then the placeholders had reached the IOVAs the
  // trace uses, and one took the very IOVA the kernel handed out, between the check that it was free and its mapping
  // ("iova tree: duplicate pfn_lo on insert"). Here the kernel's IOVA is pfn 100, which the 100th placeholder takes
  // when nothing holds it.
  const { iovad, cookie, placeholder, placeholders, pb, top } = poppedTop();
  const y = 100;
  assert.equal(swapInFullPrev(cookie, 0, pb, top, y * 4096, 1, placeholder), true);
  assert.deepEqual([...cookie.mapped], [[y, 1]]);
  assert.ok(iovad.findIova(y));
  assert.equal(placeholders.length, 87 + 126);
  assert.ok(!placeholders.includes(y));
  // The placeholders took the lowest free slots but the trace's IOVA.
  assert.deepEqual(
    placeholders,
    Array.from({ length: 87 + 126 }, (_, i) => (i < y - 1 ? i + 1 : i + 2)),
  );
  iovad.verifyInvariants();
});

test("swapInFullPrev: not a pop of a loaded magazine as it was with prev empty, nor a magazine full with its top", () => {
  const y = 0x80000 * 4096;
  // Prev full: the kernel's would have held the model's IOVAs.
  const a = freed(140);
  const pa = emptyPairBefore();
  assert.ok(pairBefore(a.iovad, 0, 4096, pa));
  assert.equal(pa.prev?.size, 127);
  const ta = a.iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(swapInFullPrev(a.cookie, 0, pa, ta, y, 1, a.placeholder), false);
  // Loaded full with the popped IOVA on top: it was the kernel's loaded magazine too, which would have handed it out.
  const b = freed(127);
  const pbb = emptyPairBefore();
  assert.ok(pairBefore(b.iovad, 0, 4096, pbb));
  const tb = b.iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(swapInFullPrev(b.cookie, 0, pbb, tb, y, 1, b.placeholder), false);
  // A prev swapped in (130 frees: the first 127 in prev, 3 loaded, handed out): not the CPU's last free on top.
  const c = freed(130);
  for (let i = 0; i < 3; i++) c.iovad.allocIovaFast(0, 1, LIMIT, false);
  const pc = emptyPairBefore();
  assert.ok(pairBefore(c.iovad, 0, 4096, pc));
  const tc = c.iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(tc, c.pfns[126]);
  assert.equal(swapInFullPrev(c.cookie, 0, pc, tc, y, 1, c.placeholder), false);
  for (const d of [a, b, c]) assert.equal(d.iovad.rcaches[0].depot.length, 0);
});

test("TakenWhole and StrayFrees: IOVAs the model took with a depot magazine, and ones the trace holds where the model does not", () => {
  // 382 frees on CPU 0: the first 127 fill loaded and go to prev, the next 127 fill loaded and go to the depot
  // (prev full), and so on; CPU 1, its magazines empty, pops the depot.
  const { iovad, pfns, cookie } = freed(127 * 3 + 1);
  const whole = new TakenWhole();
  const pb = emptyPairBefore();
  assert.ok(pairBefore(iovad, 1, 4096, pb));
  const p = iovad.allocIovaFast(1, 1, LIMIT, false);
  whole.allocated(cookie, 1, pb);
  // CPU 1's magazines were empty: it popped the depot's magazine (the last full one CPU 0 pushed).
  assert.ok(pfns.includes(p));
  const loaded = held(iovad.rcaches[0].cpu(1).loaded);
  assert.equal(loaded.length, 126);
  for (const q of loaded) assert.ok(whole.has(q));
  assert.equal(whole.has(pfns[pfns.length - 1]), false, "CPU 0's own loaded IOVA");
  whole.freed(loaded[0]);
  assert.equal(whole.has(loaded[0]), false);
  // The trace maps 0x500 where the model placed 0x600: the kernel holds 0x500; freed from an allocation at 0x500 in both, no more.
  const stray = new StrayFrees();
  stray.mapped(0x500, 0x600);
  assert.ok(stray.has(0x500));
  const saved = stray.save();
  stray.freed(0x500, 0x500);
  assert.equal(stray.has(0x500), false);
  stray.restore(saved);
  assert.ok(stray.has(0x500), "a checkpoint keeps its own set");
});

test("HitOver: the IOVAs a CPU held at a taken-back hit, until freed; a checkpoint keeps its own set", () => {
  // 5 frees on CPU 0: its loaded magazine holds them.
  const { iovad, pfns } = freed(5);
  const cr = iovad.rcaches[0].cpu(0);
  const over = new HitOver();
  over.hit(cr.loaded, cr.prev);
  for (const p of pfns) assert.ok(over.has(p));
  assert.equal(over.has(0x80000), false);
  const saved = over.save();
  over.freed(pfns[0]);
  assert.equal(over.has(pfns[0]), false);
  assert.ok(over.has(pfns[1]));
  over.restore(saved);
  assert.ok(over.has(pfns[0]), "a checkpoint keeps its own set");
});
