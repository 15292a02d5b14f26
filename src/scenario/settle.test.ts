import assert from "node:assert/strict";
import { test } from "node:test";
import { type SettleRule, StreamMix } from "./settle.ts";

const RULE: SettleRule = { minWindows: 5, spanWindows: 2, lagWindows: 1, maxDistance: 0.05 };

test("StreamMix.distance: total variation distance between two spans' mixes", () => {
  const m = new StreamMix(3);
  m.push([10, 0, 0]);
  m.push([0, 10, 0]);
  m.push([5, 5, 0]);
  m.push([0, 0, 0]);
  // [10,0,0] against [0,10,0]: disjoint.
  assert.equal(m.distance(0, 1, 1, 2), 1);
  // [10,10,0] (half and half) against [5,5,0]: the same mix.
  assert.equal(m.distance(0, 2, 2, 3), 0);
  // [10,0,0] against [5,5,0]: half the mass moves.
  assert.equal(m.distance(0, 1, 2, 3), 0.5);
  // A span without a map has no mix: never settled on it.
  assert.equal(m.distance(3, 4, 0, 1), 1);
});

test("StreamMix.settled: a steady mix settles, a drifting one does not, a quiet start is held by the minimum", () => {
  const steady = new StreamMix(2);
  for (let i = 0; i < 4; i++) steady.push([100, 10]);
  // Steady from the start, but fewer windows than the minimum.
  assert.equal(steady.settled(RULE), false);
  steady.push([100, 10]);
  assert.equal(steady.settled(RULE), true);
  // The small size's share grows by 10 points a window (0% to 50%), then stays at 60%.
  const drift = new StreamMix(2);
  for (let i = 0; i < 6; i++) drift.push([100 - 10 * i, 10 * i]);
  assert.equal(drift.settled(RULE), false);
  // Last two windows 60%, the two ending a window before them 30% and 40%: still moving.
  drift.push([40, 60]);
  drift.push([40, 60]);
  assert.equal(drift.settled(RULE), false);
  drift.push([40, 60]);
  // 60% against 45%.
  assert.equal(drift.settled(RULE), false);
  drift.push([40, 60]);
  drift.push([40, 60]);
  // Both spans see only the new mix.
  assert.equal(drift.settled(RULE), true);
});
