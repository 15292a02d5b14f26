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
import { quickSkip } from "../../test/helpers/quick.ts";
import { CALIBRATION_RUNS, CALIBRATION_TOLERANCE, calibrationScenario, figuresOf, PUBLISHED } from "./calibrate.ts";
import type { RunResult } from "./run.ts";
import { scenarioToData } from "./scenario.ts";
import type { SweepTask } from "./sweep.ts";

const s = calibrationScenario();
/** The quick tier (`npm run test:quick`) leaves out the 75 s of simulation. */
const skip = quickSkip("75 s of simulation");

// The three runs, started by the first test that needs them, never at import.
let started: Promise<RunResult[]> | null = null;
function calibrationRuns(): Promise<RunResult[]> {
  started ??= (async () => {
    const pool = new Piscina({
      filename: new URL("./sweep-worker.ts", import.meta.url).href,
      maxThreads: 2,
      minThreads: 2,
    });
    try {
      return await Promise.all(
        CALIBRATION_RUNS.map((r) => {
          const task: SweepTask = { id: r.name, point: {}, run: r.name, scenario: scenarioToData(s) };
          return pool.run(task) as Promise<RunResult>;
        }),
      );
    } finally {
      await pool.destroy();
    }
  })();
  return started;
}

async function calibrated(): Promise<{
  runs: RunResult[];
  figures: ReturnType<typeof figuresOf>;
  run: (name: string) => RunResult;
}> {
  const runs = await calibrationRuns();
  return {
    runs,
    figures: figuresOf(runs),
    run: (name: string) => runs.find((r) => r.name === name) as RunResult,
  };
}

function within(actual: number, published: number): boolean {
  return Math.abs(actual / published - 1) <= CALIBRATION_TOLERANCE;
}

test("fitted: lazy with the default range is about 1800K IOPS (±15%)", { skip }, async (t) => {
  const { figures } = await calibrated();
  t.diagnostic(`calibration figures: ${JSON.stringify(figures)}`);
  assert.ok(within(figures.lazyDefault, PUBLISHED.lazyDefault), `${figures.lazyDefault} IOPS`);
});

test("fitted: strict with the default range is about 1200K IOPS (±15%), through the rbtree lock", {
  skip,
}, async () => {
  const { figures, run } = await calibrated();
  assert.ok(within(figures.strictDefault, PUBLISHED.strictDefault), `${figures.strictDefault} IOPS`);
  // The mechanism: long walks under the one rbtree lock, which is then busy nearly all the time.
  const r = run("default-strict");
  assert.ok(r.walkStepsPerTreeAlloc > 1000, `${r.walkStepsPerTreeAlloc} steps per tree allocation`);
  assert.ok(r.rbtreeLockBusyShare > 0.9, `rbtree lock busy ${r.rbtreeLockBusyShare}`);
});

test("predicted: strict with a range covering every mapping is about 1800K IOPS on its own (±15%)", {
  skip,
}, async () => {
  const { figures, run } = await calibrated();
  assert.ok(within(figures.strictFullRange, PUBLISHED.strictFullRange), `${figures.strictFullRange} IOPS`);
  assert.ok(run("driver-strict").walkStepsPerTreeAlloc < 100);
});

test("no per-scenario factor: one cost table, the runs differ only in mode and range", { skip }, async () => {
  const { runs } = await calibrated();
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
