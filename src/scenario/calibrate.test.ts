/**
 * The calibration as a test (issue 5 item 2), tolerance ±15% on each
 * published figure: the calibration scenario (the published set-up: 5.13-era
 * kernel behaviour, managed interrupt affinity, aged 8 s, measured for the
 * next second; `calibrationScenario()`), its three runs on two worker
 * threads, about 75 s of wall time on two cores. The ageing cannot be
 * shortened: what it does to the tree is the effect being calibrated.
 *
 * Fitted: the HBA link (on lazy/default) and `treeWalkStepNs` (13 ns, inside
 * the C baseline's 15 ns ±15%, on strict/default). Predicted: strict with a
 * range covering every mapping. No per-scenario factor: one cost table.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Piscina } from "piscina";
import { CALIBRATION_RUNS, CALIBRATION_TOLERANCE, calibrationScenario, figuresOf, PUBLISHED } from "./calibrate.ts";
import type { RunResult } from "./run.ts";
import { scenarioToData } from "./scenario.ts";
import type { SweepTask } from "./sweep.ts";

const s = calibrationScenario();
const pool = new Piscina({
  filename: new URL("./sweep-worker.ts", import.meta.url).href,
  maxThreads: 2,
  minThreads: 2,
});
const runs: RunResult[] = await Promise.all(
  CALIBRATION_RUNS.map((r) => {
    const task: SweepTask = { id: r.name, point: {}, run: r.name, scenario: scenarioToData(s) };
    return pool.run(task) as Promise<RunResult>;
  }),
);
await pool.destroy();
const figures = figuresOf(runs);
const run = (name: string) => runs.find((r) => r.name === name) as RunResult;

function within(actual: number, published: number): boolean {
  return Math.abs(actual / published - 1) <= CALIBRATION_TOLERANCE;
}

test("fitted: lazy with the default range is about 1800K IOPS (±15%)", (t) => {
  t.diagnostic(`calibration figures: ${JSON.stringify(figures)}`);
  assert.ok(within(figures.lazyDefault, PUBLISHED.lazyDefault), `${figures.lazyDefault} IOPS`);
});

test("fitted: strict with the default range is about 1200K IOPS (±15%), through the rbtree lock", () => {
  assert.ok(within(figures.strictDefault, PUBLISHED.strictDefault), `${figures.strictDefault} IOPS`);
  // The mechanism: long walks under the one rbtree lock, which is then busy nearly all the time.
  const r = run("default-strict");
  assert.ok(r.walkStepsPerTreeAlloc > 1000, `${r.walkStepsPerTreeAlloc} steps per tree allocation`);
  assert.ok(r.rbtreeLockBusyShare > 0.9, `rbtree lock busy ${r.rbtreeLockBusyShare}`);
});

test("predicted: strict with a range covering every mapping is about 1800K IOPS on its own (±15%)", () => {
  assert.ok(within(figures.strictFullRange, PUBLISHED.strictFullRange), `${figures.strictFullRange} IOPS`);
  assert.ok(run("driver-strict").walkStepsPerTreeAlloc < 100);
});

test("no per-scenario factor: one cost table, the runs differ only in mode and range", () => {
  assert.deepEqual(s.cost, {});
  assert.deepEqual(
    runs.map((r) => [r.mode, r.rangeSource, r.rcacheOrders]),
    [
      ["strict", "default", 6],
      ["lazy", "default", 6],
      ["strict", "driver", 8],
    ],
  );
});
