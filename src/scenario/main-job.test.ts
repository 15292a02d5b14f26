import assert from "node:assert/strict";
import { test } from "node:test";
import { bootKey } from "./boot-key.ts";
import { CALIBRATION_RUNS, calibrationScenario } from "./calibrate.ts";
import { mainJobScenario } from "./main-job.ts";
import { runOne } from "./run.ts";
import { scenarioOfRun } from "./scenario.ts";

test("main job: two kernels x strict/lazy x default/sysfs/driver; 5.15 aged as the calibration", () => {
  const s = mainJobScenario();
  assert.equal(s.machine, "hisi-sas-128");
  assert.equal(s.runs.length, 12);
  const set = new Set(s.runs.map((r) => `${r.kernel} ${r.mode} ${r.range}`));
  assert.equal(set.size, 12);
  for (const k of ["5.15", "6.1"])
    for (const m of ["strict", "lazy"])
      for (const r of ["default", "sysfs", "driver"]) assert.ok(set.has(`${k} ${m} ${r}`), `${k} ${m} ${r}`);
  // Each calibration run is a main-job run seen the same way: the same scenario, to the field.
  const cal = calibrationScenario();
  for (const c of CALIBRATION_RUNS) {
    const run = s.runs.find((r) => r.name === `5.15-${c.name}`);
    assert.ok(run !== undefined, c.name);
    const { name: _a, runs: _b, ...mine } = scenarioOfRun(s, run);
    const { name: _c, runs: _d, ...theirs } = cal;
    assert.deepEqual(mine, theirs);
    assert.deepEqual({ mode: run.mode, range: run.range }, { mode: c.mode, range: c.range });
  }
});

test("boot keys: the sysfs and driver routes start from the same state, and nothing else does", () => {
  const s = mainJobScenario();
  const keys = s.runs.map((r) => bootKey(s, r));
  const same: string[] = [];
  for (let i = 0; i < keys.length; i++)
    for (let j = i + 1; j < keys.length; j++)
      if (keys[i].key === keys[j].key) same.push(`${s.runs[i].name} ${s.runs[j].name}`);
  assert.deepEqual(same, [
    "5.15-sysfs-strict 5.15-driver-strict",
    "5.15-sysfs-lazy 5.15-driver-lazy",
    "6.1-sysfs-strict 6.1-driver-strict",
    "6.1-sysfs-lazy 6.1-driver-lazy",
  ]);
  // Each keeps the range source its own boot recorded.
  assert.deepEqual(
    keys.slice(0, 3).map((k) => k.rangeSource),
    ["default", "sysfs", "driver"],
  );
});

test("the key's promise: runs with one key simulate the same figures (lazy, where timers fire on the clock)", () => {
  const s = { ...mainJobScenario(), warmupMs: 20, durationMs: 10 };
  const [sysfs, driver] = ["6.1-sysfs-lazy", "6.1-driver-lazy"].map((name) => {
    const { warmupMs: _w, durationMs: _d, ...run } = s.runs.find((r) => r.name === name) as (typeof s.runs)[number];
    const { name: _n, rangeSource: _r, ...figures } = runOne(s, run);
    return figures;
  });
  assert.deepEqual(sysfs, driver);
  assert.ok(sysfs.treeAllocsPerSec > 0 && sysfs.iops > 0);
});
