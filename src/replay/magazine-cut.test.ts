/**
 * Where the kernel's magazines were cut (`magazine-cut.ts`) and cache hits
 * of IOVAs cached before the trace (`pre-trace-hit.ts`), on a bare mainline
 * domain (127-entry magazines) whose magazines the allocator's own frees
 * fill; the allocator's invariants hold after each.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { IovaDomain } from "../iova/domain.ts";
import type { Magazine } from "../iova/magazine.ts";
import { claimIova } from "./follow.ts";
import { crossCut, crossCutFrom, cutAbove, depotCut, depotCutFrom, unpush } from "./magazine-cut.ts";
import { adoptPreTraceHit, emptyPairBefore, pairBefore } from "./pre-trace-hit.ts";
import { placePlaceholder } from "./start-state.ts";

const LIMIT = 0xfffff;

/** A domain with `n` one-page IOVAs from the tree, freed in that order on `cpu`. */
function freedOn(cpu: number, n: number) {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const pfns: number[] = [];
  for (let i = 0; i < n; i++) pfns.push(iovad.allocIovaFast(cpu, 1, LIMIT, false));
  for (const p of pfns) iovad.freeIovaFast(cpu, p, 1);
  const cookie = { iovad, mapped: new Map<number, number>() } as unknown as IommuDmaCookie;
  let next = iovad.startPfn;
  const placeholder = (pages: number) => {
    const p = placePlaceholder(iovad, pages, next);
    next = p + pages;
    return p;
  };
  return { iovad, pfns, cookie, placeholder };
}

const held = (m: Magazine) => Array.from(m.pfns.subarray(0, m.size));

test("cutAbove: the kernel's IOVA one magazine below the model's top: that magazine goes on the depot, prev empties", () => {
  // 200 frees on CPU 0: loaded filled with the first 127, swapped to prev, loaded holds the other 73.
  const { iovad, pfns } = freedOn(0, 200);
  const cr = iovad.rcaches[0].cpu(0);
  assert.deepEqual([cr.prev.size, cr.loaded.size], [127, 73]);
  // The model pops its top, the last freed; the kernel handed out the 73rd freed, 127 frees below it.
  const popped = iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(popped, pfns[199]);
  const before = JSON.stringify([held(cr.prev), held(cr.loaded), iovad.rcaches[0].depot.length]);
  // 99 freed after the 101st: no magazine's worth, so no cut the kernel's rules give.
  assert.equal(cutAbove(iovad, 0, 0, popped, pfns[100]), false);
  assert.equal(JSON.stringify([held(cr.prev), held(cr.loaded), iovad.rcaches[0].depot.length]), before);
  assert.equal(cutAbove(iovad, 0, 0, popped, pfns[72]), true);
  const depot = iovad.rcaches[0].depot;
  assert.equal(depot.length, 1);
  assert.deepEqual(held(depot[0]), pfns.slice(73, 200));
  const now = iovad.rcaches[0].cpu(0);
  assert.deepEqual(held(now.loaded), pfns.slice(0, 72));
  assert.equal(now.prev.size, 0);
  iovad.verifyInvariants();
  // The kernel's next pops: the IOVAs freed just before the one it handed out.
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[71]);
});

test("crossCut: the other CPU's loaded magazine, the kernel's IOVA on top, went to the depot and this CPU took it", () => {
  // 150 frees on CPU 1: prev holds the first 127, loaded the other 23; CPU 0's magazines are empty.
  const { iovad, pfns, placeholder } = freedOn(1, 150);
  assert.equal(crossCutFrom(iovad, 0, 0, 0x12345), -1);
  assert.equal(crossCutFrom(iovad, 1, 0, pfns[140]), -1, "only for a CPU whose own magazines are empty");
  assert.equal(crossCutFrom(iovad, 0, 0, pfns[140]), 1);
  crossCut(iovad, 0, 1, 0, pfns[140], placeholder);
  const [own, other] = iovad.rcaches[0].everyCpu;
  // The magazine held the 126 IOVAs CPU 1 freed just before it.
  assert.deepEqual(held(own.loaded), pfns.slice(14, 140));
  assert.equal(own.prev.size, 0);
  // CPU 1 keeps those freed after it as its loaded magazine, and the 14 before the magazine in a full prev,
  // below 113 placeholders at the bottom of the domain.
  assert.deepEqual(held(other.loaded), pfns.slice(141));
  assert.equal(other.prev.size, 127);
  assert.deepEqual(held(other.prev).slice(113), pfns.slice(0, 14));
  assert.ok(
    held(other.prev)
      .slice(0, 113)
      .every((p) => p < Math.min(...pfns)),
  );
  iovad.verifyInvariants();
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[139]);
});

test("crossCut: this CPU had already popped the magazine's top (the learning phase took those IOVAs from the other CPU's)", () => {
  // 150 frees on CPU 1; CPU 0 then handed out the 31 freed after the 61st (the kernel popped them off the top of
  // the magazine CPU 1 pushed), which the model took out of CPU 1's magazines.
  const { iovad, pfns, placeholder } = freedOn(1, 150);
  for (let i = 91; i > 60; i--) assert.ok(claimIova(iovad, pfns[i], 1));
  // 58 freed after it still held: its magazine fits them only with the 31 popped above it.
  assert.equal(crossCutFrom(iovad, 0, 0, pfns[60], 31), 1);
  assert.equal(crossCutFrom(iovad, 0, 0, pfns[60], 127), -1, "no magazine had that many slots above it");
  crossCut(iovad, 0, 1, 0, pfns[60], placeholder, 31);
  const [own, other] = iovad.rcaches[0].everyCpu;
  // The magazine: 35 IOVAs from before the trace (placeholders), the 60 freed before it, it, and the 31 popped.
  assert.equal(own.loaded.size, 95);
  assert.deepEqual(held(own.loaded).slice(35), pfns.slice(0, 60));
  assert.ok(
    held(own.loaded)
      .slice(0, 35)
      .every((p) => p < Math.min(...pfns)),
  );
  // CPU 1 keeps those freed after the 31 as its loaded magazine; nothing it freed before the magazine.
  assert.deepEqual(held(other.loaded), pfns.slice(92));
  assert.equal(other.prev.size, 0);
  iovad.verifyInvariants();
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[59]);
});

test("depotCut: the kernel's IOVA lies below the top of the depot magazine the model popped: its pusher cut its magazines earlier", () => {
  // 261 frees on CPU 1: prev holds the first 127, the depot the next 127, loaded the last 7.
  const { iovad, pfns, placeholder } = freedOn(1, 261);
  const [own, other] = iovad.rcaches[0].everyCpu;
  assert.deepEqual([other.prev.size, iovad.rcaches[0].depot.length, other.loaded.size], [127, 1, 7]);
  // CPU 0, its magazines empty, pops the depot: the model hands out the 254th freed, the kernel the 235th.
  const popped = iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(popped, pfns[253]);
  assert.equal(own.loaded.size, 126);
  assert.equal(depotCutFrom(iovad, 0, 0, popped, pfns[234]), 1);
  assert.equal(depotCutFrom(iovad, 0, 0, popped, popped), -1, "the top: nothing to cut");
  assert.equal(depotCutFrom(iovad, 1, 0, popped, pfns[234]), -1, "a CPU whose loaded magazine is not the popped one");
  depotCut(iovad, 0, 1, 0, popped, pfns[234], placeholder);
  const [a, b] = iovad.rcaches[0].everyCpu;
  // The kernel's magazine: the top 19 of CPU 1's prev, then the depot magazine's IOVAs below the one handed out.
  assert.deepEqual(held(a.loaded), [...pfns.slice(108, 127), ...pfns.slice(127, 234)]);
  // CPU 1: the 19 above it below its own loaded ones; its prev, 19 placeholders below the rest.
  assert.deepEqual(held(b.loaded), pfns.slice(235, 261));
  assert.deepEqual(held(b.prev).slice(19), pfns.slice(0, 108));
  assert.ok(
    held(b.prev)
      .slice(0, 19)
      .every((p) => p < Math.min(...pfns)),
  );
  iovad.verifyInvariants();
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[233]);
  assert.equal(iovad.allocIovaFast(1, 1, LIMIT, false), pfns[260]);
});

test("unpush: the kernel pops the top of the depot magazine the model pushed: the model's swap is taken back, that magazine loaded again", () => {
  // 255 frees on CPU 0: prev holds the first 127, the depot the next 127 (loaded filled and was pushed), loaded
  // the last, handed out again.
  const { iovad, pfns } = freedOn(0, 255);
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[254]);
  const cr = iovad.rcaches[0].cpu(0);
  assert.deepEqual([cr.prev.size, iovad.rcaches[0].depot.length, cr.loaded.size], [127, 1, 0]);
  // The model swaps prev in and pops the 127th freed; the kernel hands out the last freed, the depot magazine's top.
  const popped = iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(popped, pfns[126]);
  assert.equal(unpush(iovad, 0, 0, popped, pfns[252]), false, "not the depot magazine's top");
  assert.equal(unpush(iovad, 0, 0, popped, pfns[253]), true);
  const now = iovad.rcaches[0].cpu(0);
  assert.deepEqual(held(now.loaded), pfns.slice(127, 253));
  assert.deepEqual(held(now.prev), pfns.slice(0, 127));
  assert.equal(iovad.rcaches[0].depot.length, 0);
  iovad.verifyInvariants();
  assert.equal(iovad.allocIovaFast(0, 1, LIMIT, false), pfns[252]);
});

test("adoptPreTraceHit: the model's hit is taken back whole (a prev swapped in, a depot magazine popped) and the trace's IOVA is mapped", () => {
  // 127 frees then one allocation on CPU 0 with loaded empty: the full prev is swapped in.
  const a = freedOn(0, 128);
  const cr = a.iovad.rcaches[0].cpu(0);
  assert.equal(a.iovad.allocIovaFast(0, 1, LIMIT, false), a.pfns[127]);
  assert.deepEqual([cr.loaded.size, cr.prev.size], [0, 127]);
  const prev = cr.prev;
  const pb = emptyPairBefore();
  assert.ok(pairBefore(a.iovad, 0, 4096, pb));
  const x = a.iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(x, a.pfns[126]);
  a.cookie.mapped.set(x, 1);
  // An IOVA the model holds already is no pre-trace hit.
  assert.equal(adoptPreTraceHit(a.cookie, 0, pb, x, a.pfns[3] * 4096, 1), false);
  assert.equal(adoptPreTraceHit(a.cookie, 0, pb, x, 0x80000 * 4096, 1), true);
  const now = a.iovad.rcaches[0].cpu(0);
  assert.equal(now.loaded.size, 0);
  assert.equal(now.prev, prev);
  assert.deepEqual(held(now.prev), a.pfns.slice(0, 127));
  assert.deepEqual([...a.cookie.mapped], [[0x80000, 1]]);
  assert.deepEqual(a.iovad.findIova(0x80000), [0x80000, 0x80000]);
  a.iovad.verifyInvariants();
  // 255 frees: a full magazine on the depot; CPU 0's loaded and prev emptied by 128 allocations.
  const b = freedOn(0, 255);
  for (let i = 0; i < 128; i++) b.iovad.allocIovaFast(0, 1, LIMIT, false);
  const rc = b.iovad.rcaches[0];
  assert.deepEqual([rc.cpu(0).loaded.size, rc.cpu(0).prev.size, rc.depot.length], [0, 0, 1]);
  const pb2 = emptyPairBefore();
  assert.ok(pairBefore(b.iovad, 0, 4096, pb2));
  const y = b.iovad.allocIovaFast(0, 1, LIMIT, false);
  assert.equal(rc.depot.length, 0);
  b.cookie.mapped.set(y, 1);
  assert.equal(adoptPreTraceHit(b.cookie, 0, pb2, y, 0x80000 * 4096, 1), true);
  assert.deepEqual([rc.cpu(0).loaded.size, rc.depot.length, rc.depot[0].size], [0, 1, 127]);
  b.iovad.verifyInvariants();
});
