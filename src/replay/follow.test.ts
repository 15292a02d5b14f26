/**
 * The replay-only operations of `follow.ts`: what a replay does to follow
 * the trace's IOVA, built on the kernel model's public state and snapshots.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { FlushQueue } from "../dma/flush-queue.ts";
import { IovaDomain } from "../iova/domain.ts";
import { getProfile } from "../iova/profile.ts";
import { claimIova, queuedIn, queuedLate, swapToTop, takeQueued } from "./follow.ts";

test("takeQueued() removes one queued IOVA and keeps the others' order for the flush", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  const fq = new FlushQueue(d, 1, 250);
  const pfns = [1, 2, 3, 4].map(() => d.allocIovaFast(0, 1, 0xfffff, false));
  for (const pfn of pfns) fq.queue(0, pfn, 1, 0);
  assert.equal(queuedIn(fq, pfns[1]), true);
  assert.equal(takeQueued(fq, pfns[1]), true);
  assert.equal(takeQueued(fq, pfns[1]), false);
  assert.equal(queuedIn(fq, pfns[1]), false);
  assert.equal(fq.queued(0), 3);
  fq.timeout();
  // Freed in queue order into the magazine: the last one queued is on top.
  const mag = d.rcaches[0].cpu(0).loaded;
  assert.deepEqual([...mag.pfns.subarray(0, mag.size)], [pfns[0], pfns[2], pfns[3]]);
});

test("takeQueued() on a ring that has wrapped, on the second CPU, leaves the first CPU's ring as it was", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const fq = new FlushQueue(d, 2, 250);
  const pfns = Array.from({ length: 300 }, () => d.allocIovaFast(0, 1, 0xfffff, false));
  // 200 queued and flushed on CPU 1 move its ring's head to 200; then 100 more wrap past its end.
  for (let i = 0; i < 200; i++) fq.queue(1, pfns[i], 1, 0);
  fq.timeout();
  for (let i = 200; i < 299; i++) fq.queue(1, pfns[i], 1, 0);
  fq.queue(0, pfns[299], 1, 0);
  const ring = (cpu: number) => Array.from({ length: fq.queued(cpu) }, (_, k) => fq.queuedPfn(cpu, k));
  const cpu0 = ring(0);
  const want = ring(1).filter((p) => p !== pfns[260]);
  assert.equal(takeQueued(fq, pfns[260]), true);
  assert.deepEqual(ring(1), want, "the others keep their order, across the ring's end");
  assert.deepEqual(ring(0), cpu0);
  assert.equal(ring(1).length, 98);
  assert.equal(takeQueued(fq, pfns[299]), true);
  assert.deepEqual(ring(0), []);
  assert.deepEqual(ring(1), want);
});

test("queuedLate() makes the last queued IOVA wait for the next flush", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  const fq = new FlushQueue(d, 1, 250);
  const pfns = [1, 2].map(() => d.allocIovaFast(0, 1, 0xfffff, false));
  for (const pfn of pfns) fq.queue(0, pfn, 1, 0);
  fq.expireBegin();
  queuedLate(fq, 0);
  fq.expireIotlbDone();
  fq.expireDrain(0, 0);
  // The first is freed by this flush, the late one stays queued.
  assert.equal(fq.queued(0), 1);
  assert.equal(queuedIn(fq, pfns[1]), true);
});

test("claimIova() takes a cached IOVA out of its CPU magazine, or free space as a node; refuses anything else", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const a = d.allocIovaFast(0, 1, 0xfffff, false);
  const b = d.allocIovaFast(0, 1, 0xfffff, false);
  d.freeIovaFast(1, a, 1);
  d.freeIovaFast(1, b, 1);
  // Cached on CPU 1: claimed out of the magazine, the other entry kept.
  assert.equal(claimIova(d, a, 1), true);
  const mag = d.rcaches[0].cpu(1).loaded;
  assert.deepEqual([...mag.pfns.subarray(0, mag.size)], [b]);
  assert.equal(d.stats.cachedPfns[0], 1);
  // A size that is not the node's, and a pfn inside a node, are refused.
  assert.equal(claimIova(d, b, 2), false);
  // Free space becomes a node, and the 32-bit cached node moves to it as after an allocation.
  assert.equal(claimIova(d, 0x80000, 4), true);
  assert.deepEqual(d.findIova(0x80002), [0x80000, 0x80003]);
  assert.equal(d.tree.pfnLo(d.cached32Node), 0x80000);
  // Overlapping a node: refused, nothing changed.
  assert.equal(claimIova(d, 0x7fffe, 4), false);
  assert.equal(d.findIova(0x7fffe), null);
  d.verifyInvariants();
  // A depot magazine stays full: its pfns are not claimed.
  const p = { ...getProfile("mainline"), magazineSize: 2 };
  const e = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1, profile: p });
  const got = [1, 2, 3, 4, 5].map(() => e.allocIovaFast(0, 1, 0xfffff, false));
  for (const pfn of got) e.freeIovaFast(0, pfn, 1);
  assert.equal(e.rcaches[0].depot.length, 1);
  const inDepot = e.rcaches[0].depot[0].pfns[0];
  assert.equal(claimIova(e, inDepot, 1), false);
  e.verifyInvariants();
});

test("swapToTop() trades two ranges of lost unmaps between the magazine a CPU pops and any other place, keeping every fill", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const cap = d.rcaches[0].cpu(0).loaded.capacity;
  // CPU 1 frees enough to fill both its magazines and push one to the depot; CPU 0 frees two.
  const pfns = Array.from({ length: 3 * cap + 2 }, () => d.allocIovaFast(0, 1, 0xfffff, false));
  for (const pfn of pfns.slice(0, 3 * cap)) d.freeIovaFast(1, pfn, 1);
  const [a, top] = pfns.slice(3 * cap);
  d.freeIovaFast(0, a, 1);
  d.freeIovaFast(0, top, 1);
  const depot = d.rcaches[0].depot;
  assert.equal(depot.length, 1);
  const inDepot = depot[0].pfns[5];
  const lost = new Set([top, inDepot]);
  const isLost = (pfn: number) => lost.has(pfn);
  const fills = () => [depot[0].size, ...d.rcaches[0].everyCpu.flatMap((c) => [c.loaded.size, c.prev.size])];
  const before = fills();
  // Only where both are lost ranges.
  assert.equal(swapToTop(d, 0, depot[0].pfns[6], 1, isLost), false);
  assert.equal(swapToTop(d, 0, a, 1, isLost), false);
  assert.equal(swapToTop(d, 0, inDepot, 1, isLost), true);
  const mag = d.rcaches[0].cpu(0).loaded;
  assert.equal(mag.pfns[mag.size - 1], inDepot);
  assert.equal(depot[0].pfns[5], top);
  assert.deepEqual(fills(), before);
  // Already on top: nothing to do.
  assert.equal(swapToTop(d, 0, inDepot, 1, isLost), false);
});
