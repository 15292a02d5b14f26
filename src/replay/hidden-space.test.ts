/**
 * Hidden space of a mid-life trace (`hidden-space.ts`): spans made from what
 * a tree walk passed, IOVAs taken out of them, spans a tree allocation
 * disproves; checked on a bare domain against the allocator's invariants.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { IovaDomain } from "../iova/domain.ts";
import { NIL } from "../iova/rbtree.ts";
import { HiddenSpace } from "./hidden-space.ts";

/** A 6.1-sized domain (32-page rcache range) with nodes at pfns 0x1000-0x100f and 0x1080-0x108f. */
function setup() {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const t = iovad.tree;
  for (const [lo, hi] of [
    [0x1000, 0x100f],
    [0x1080, 0x108f],
  ]) {
    const n = t.newNode(lo, hi);
    t.insert(n);
    iovad.insertUpdate(n);
  }
  const cookie = { iovad, mapped: new Map<number, number>() } as unknown as IommuDmaCookie;
  return { iovad, t, cookie, h: new HiddenSpace() };
}

const nodes = (iovad: IovaDomain): [number, number][] => {
  const out: [number, number][] = [];
  iovad.forEachIova((lo, hi) => out.push([lo, hi]));
  return out;
};

test("occupy: a run becomes hidden from its lowest to its highest aligned slot of the size; the rest stays free", () => {
  const { iovad, cookie, h } = setup();
  // The free run 0x1010-0x107f holds one 64-aligned slot of 51 pages, 0x1040-0x1072.
  assert.equal(h.occupy(cookie, 0x1010, 0x107f, 51, 64), 51);
  assert.deepEqual([...h.spans], [[0x1040, 0x1072]]);
  assert.deepEqual(nodes(iovad), [
    [0x1000, 0x100f],
    [0x1040, 0x1072],
    [0x1080, 0x108f],
  ]);
  // A run that holds no slot proves nothing.
  assert.equal(h.occupy(cookie, 0x1010, 0x103f, 51, 64), 0);
  assert.equal(h.proofs, 1);
  iovad.verifyInvariants();
});

test("take: an IOVA inside a span leaves it as its own node; the span's rest stays hidden; a cached node on it stays on its first pfn", () => {
  const { iovad, t, cookie, h } = setup();
  h.occupy(cookie, 0x1010, 0x107f, 51, 64);
  iovad.cached32Node = t.findContaining(0x1040);
  assert.equal(h.take(cookie, 0x1000, 4), NIL);
  const m = h.take(cookie, 0x1050, 4);
  assert.deepEqual([t.pfnLo(m), t.hi(m)], [0x1050, 0x1053]);
  assert.deepEqual(
    [...h.spans].sort((a, b) => a[0] - b[0]),
    [
      [0x1040, 0x104f],
      [0x1054, 0x1072],
    ],
  );
  assert.equal(t.pfnLo(iovad.cached32Node), 0x1040);
  iovad.verifyInvariants();
});

test("release: spans a tree allocation overlaps, and nothing else, are dropped whole; a cached node on them moves past them", () => {
  const { iovad, t, cookie, h } = setup();
  h.occupy(cookie, 0x1010, 0x107f, 51, 64);
  iovad.cached32Node = t.findContaining(0x1040);
  // Overlapping a node the trace placed: not the spans' to drop.
  assert.equal(h.release(cookie, 0x1008, 0x40), false);
  assert.equal(h.release(cookie, 0x1030, 0x20), true);
  assert.equal(h.spans.size, 0);
  assert.equal(t.pfnLo(iovad.cached32Node), 0x1080);
  assert.deepEqual(nodes(iovad), [
    [0x1000, 0x100f],
    [0x1080, 0x108f],
  ]);
  iovad.verifyInvariants();
});

test("follow: the kernel's IOVA in a span becomes the mapping, the model's allocation goes back; a checkpoint keeps the spans by reference", () => {
  const { iovad, cookie, h } = setup();
  h.occupy(cookie, 0x1010, 0x107f, 51, 64);
  const before = h.save();
  const addr = iovad.allocIova(4, 0xfffff, true) * 4096;
  (cookie.mapped as unknown as Map<number, number>).set(addr / 4096, 4);
  assert.equal(h.follow(cookie, 0x1060 * 4096, 4 * 4096, 0, addr, true), true);
  assert.equal(iovad.findIova(addr / 4096), null);
  assert.deepEqual(iovad.findIova(0x1060), [0x1060, 0x1063]);
  assert.equal((cookie.mapped as unknown as Map<number, number>).get(0x1060), 4);
  assert.notEqual(h.save(), before);
  h.restore(before);
  assert.deepEqual([...h.spans], [[0x1040, 0x1072]]);
});

test("widen: an IOVA that overlaps a span and free space beside it grows the span to hold it; anything else of the model stops it", () => {
  const { iovad, t, cookie, h } = setup();
  // A 51-page slot aligned to 64 pages never holds pfns 0x1073-0x107f: the walk proved nothing of them.
  h.occupy(cookie, 0x1010, 0x107f, 51, 64);
  iovad.cached32Node = t.findContaining(0x1040);
  // Reaching into the node at 0x1080 the trace placed: not the span's.
  assert.equal(h.widen(cookie, 0x1070, 0x20), false);
  // Free space alone: no span to grow.
  assert.equal(h.widen(cookie, 0x1010, 0x10), false);
  assert.deepEqual([...h.spans], [[0x1040, 0x1072]]);
  assert.equal(h.widen(cookie, 0x1060, 0x20), true);
  assert.deepEqual([...h.spans], [[0x1040, 0x107f]]);
  assert.equal(t.pfnLo(iovad.cached32Node), 0x1040);
  assert.equal(t.hi(iovad.cached32Node), 0x107f);
  // Now inside one span, the IOVA leaves it as its own node.
  const m = h.take(cookie, 0x1060, 0x20);
  assert.deepEqual([t.pfnLo(m), t.hi(m)], [0x1060, 0x107f]);
  assert.deepEqual([...h.spans], [[0x1040, 0x105f]]);
  iovad.verifyInvariants();
});

test("follow: the kernel's IOVA reaching past a span into free space is followed, the span widened to hold it", () => {
  const { iovad, cookie, h } = setup();
  h.occupy(cookie, 0x1010, 0x107f, 51, 64);
  const addr = iovad.allocIova(0x20, 0xfffff, true) * 4096;
  (cookie.mapped as unknown as Map<number, number>).set(addr / 4096, 0x1a);
  assert.equal(h.follow(cookie, 0x1060 * 4096, 0x1a * 4096, 0, addr, true), true);
  assert.equal(iovad.findIova(addr / 4096), null);
  assert.deepEqual(iovad.findIova(0x1060), [0x1060, 0x107f]);
  assert.deepEqual([...h.spans], [[0x1040, 0x105f]]);
  iovad.verifyInvariants();
});
