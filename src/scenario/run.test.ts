import assert from "node:assert/strict";
import { test } from "node:test";
import { makeReport, reportJson } from "../report/results.ts";
import { runOne } from "./run.ts";
import { type Scenario, seedScenario } from "./scenario.ts";

function short(ms: number, warmupMs: number): Scenario {
  const s = seedScenario();
  s.durationMs = ms;
  s.warmupMs = warmupMs;
  return s;
}

test("same seed, byte-identical JSON; another seed, other figures", () => {
  const s = short(3, 2);
  s.runs = s.runs.filter((r) => r.name === "sysfs-strict" || r.name === "default-lazy");
  const json = (seed: number) =>
    reportJson(
      makeReport(
        { ...s, seed },
        s.runs.map((r) => runOne({ ...s, seed }, r)),
      ),
    );
  const a = json(5);
  assert.equal(json(5), a);
  assert.notEqual(json(6), a);
  const keys = Object.keys(JSON.parse(a).runs[0]).slice(0, 16);
  assert.deepEqual(keys, [
    "name",
    "mode",
    "rangeSource",
    "rcacheOrders",
    "iops",
    "mapLatencyNs",
    "treeAllocsPerSec",
    "walkStepsPerTreeAlloc",
    "lockWaitShare",
    "cacheHitRate",
    "cacheHitRateByClass",
    "cachedIovaBytes",
    "cachedIovaBytesByClass",
    "magazineBytes",
    "magazineBytesByClass",
    "simulatedMs",
  ]);
  assert.deepEqual(Object.keys(JSON.parse(a)).slice(0, 3), ["scenario", "seed", "runs"]);
});

test("the range reaches the domain the way each run sets it", () => {
  const s = short(1, 1);
  const by = new Map(s.runs.map((r) => [r.name, runOne(s, r)]));
  for (const mode of ["strict", "lazy"]) {
    const d = by.get(`default-${mode}`)!;
    assert.equal(d.rcacheOrders, 6);
    assert.equal(d.rangeSource, "default");
    // 6.1: sd caps max_sectors at dma_opt_mapping_size(), 128 KiB with the default range.
    assert.equal(d.maxSectorsKb, 128);
    for (const src of ["sysfs", "driver"] as const) {
      const r = by.get(`${src}-${mode}`)!;
      assert.equal(r.rcacheOrders, 8, `${src}-${mode}: 507904 bytes round up to 512 KiB, 8 classes`);
      assert.equal(r.rangeSource, src);
      assert.equal(r.maxSectorsKb, 512);
      assert.equal(r.cachedIovaBytesByClass.length, 8);
    }
  }
});

test("every component's invariants hold, checked every 2000 events, strict and lazy", () => {
  const s = short(1, 1);
  for (const name of ["driver-strict", "default-lazy"]) {
    const run = s.runs.find((r) => r.name === name)!;
    let engine: { invariantChecks: number; eventsRun: number } | null = null;
    const r = runOne(s, run, { checkEveryEvents: 2000, observe: (ctx) => void (engine = ctx.engine) });
    assert.ok(r.iops > 0);
    const e = engine as unknown as { invariantChecks: number; eventsRun: number };
    assert.ok(
      e.invariantChecks === Math.floor(e.eventsRun / 2000) && e.invariantChecks > 2,
      `${e.invariantChecks} checks`,
    );
  }
});
