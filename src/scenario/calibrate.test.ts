/**
 * The calibration as a test (issue 5 item 2), tolerance ±15% on each
 * published figure. Runs are shorter than the main job's (5 ms measured after
 * 5 ms of warm-up instead of 200 + 50): at these rates a run is link-bound
 * within a few ms, and the short figures agree with the long ones to under
 * 1% (docs/cost-model.md, "Calibration"), far inside the tolerance.
 *
 * The strict/default figure (published 1200K) is NOT reproduced: the model
 * gives about 1800K. It is kept as a `todo` test so the gap stays visible in
 * every test run until the mechanism that closes it is in the model (see
 * docs/cost-model.md, "What the model does not reproduce").
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { CALIBRATION_TOLERANCE, calibrationFigures, PUBLISHED } from "./calibrate.ts";
import { seedScenario } from "./scenario.ts";

const s = seedScenario();
s.durationMs = 5;
s.warmupMs = 5;
const { figures } = calibrationFigures(s);

function within(actual: number, published: number): boolean {
  return Math.abs(actual / published - 1) <= CALIBRATION_TOLERANCE;
}

test("fitted: lazy with the default range is about 1800K IOPS (±15%)", () => {
  assert.ok(within(figures.lazyDefault, PUBLISHED.lazyDefault), `${figures.lazyDefault} IOPS`);
});

test("predicted: strict with a range covering every mapping is about 1800K IOPS on its own (±15%)", () => {
  assert.ok(within(figures.strictFullRange, PUBLISHED.strictFullRange), `${figures.strictFullRange} IOPS`);
});

test("fitted: strict with the default range is about 1200K IOPS (±15%)", {
  todo: "the model gives ~1800K: the rbtree path is not a bottleneck at this workload's walk lengths",
}, () => {
  assert.ok(within(figures.strictDefault, PUBLISHED.strictDefault), `${figures.strictDefault} IOPS`);
});

test("no per-scenario factor: the three runs share one cost table and differ only in mode and range", () => {
  // The calibration runs take the scenario's cost overrides and nothing else.
  assert.deepEqual(s.cost, {});
  assert.ok(figures.strictDefault > 0 && figures.lazyDefault > 0 && figures.strictFullRange > 0);
});
