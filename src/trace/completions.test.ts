/**
 * When a lost unmap most likely ran, from the traced unmaps of the same
 * CPU and domain (`completions.ts`). The times are those of the 6.12
 * mid-life capture's lines 352990-353184 where named, in microseconds.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Completions } from "./completions.ts";

const US = 1000;

test("a lost unmap runs its CPU's median request time after its map, within what the traced unmaps allow", () => {
  const c = new Completions(64);
  // On CPU 1: an earlier map's unmap at 1.7 ms, after the lost one's map (1.6 ms): it ran no earlier. Two later
  // maps' unmaps at 5 and 6 ms: it ran no later than 5. CPU 0's request (another queue) never counts.
  c.add(1, 0, 10, 0, 1700 * US);
  c.add(0, 0, 11, 1000 * US, 11000 * US);
  c.add(1, 0, 30, 1700 * US, 5000 * US);
  c.add(1, 0, 31, 1800 * US, 6000 * US);
  // CPU 1's requests took 1.7, 3.3 and 4.2 ms: its map plus the median, 1.6 + 3.3 ms.
  assert.equal(c.lostAt(1, 0, 20, 1600 * US, 40000 * US), 4900 * US);
  // Another domain's requests say nothing of it: the middle of its map and the map that showed it lost.
  assert.equal(c.lostAt(1, 1, 20, 1600 * US, 40000 * US), 20800 * US);
});

test("a traced unmap of an earlier map bounds a lost one from below, of a later map from above", () => {
  const c = new Completions(64);
  // 0xbde87000, map event 100 at 38333.429 ms, unmapped at 38337.413 ms: the first unmap of the interrupt whose
  // other 62 the trace lost, 0xbe211000's among them (map event 290, at 38336.419 ms). Requests took 3.984 ms.
  c.add(1, 0, 100, 38333429 * US, 38337413 * US);
  assert.equal(c.lostAt(1, 0, 290, 38336419 * US, 38399571 * US), 38340403 * US);
  // A traced unmap of a later map (event 300) at 38338 ms: it ran no later.
  c.add(1, 0, 300, 38336500 * US, 38338000 * US);
  assert.equal(c.lostAt(1, 0, 290, 38336419 * US, 38399571 * US), 38338000 * US);
  // With a faster median (0.1 ms) the lower bound holds it: no earlier than 0xbde87000's unmap.
  const f = new Completions(64);
  f.add(1, 0, 100, 38337313 * US, 38337413 * US);
  assert.equal(f.lostAt(1, 0, 290, 38336419 * US, 38399571 * US), 38337413 * US);
});

test("the ring holds the newest unmaps only; with none of its CPU's, a lost unmap falls midway to its reveal", () => {
  const c = new Completions(16);
  c.add(1, 0, 5, 0, 1000 * US);
  assert.equal(c.lostAt(1, 0, 10, 500 * US, 9000 * US), 1500 * US);
  for (let i = 0; i < 16; i++) c.add(0, 0, 20 + i, 2000 * US, 2000 * US + i);
  assert.equal(c.lostAt(1, 0, 10, 500 * US, 9000 * US), 4750 * US);
});
