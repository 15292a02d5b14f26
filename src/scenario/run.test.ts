import assert from "node:assert/strict";
import { test } from "node:test";
import { makeReport, reportJson } from "../report/results.ts";
import { machineOf, runOne } from "./run.ts";
import { type Scenario, seedScenario } from "./scenario.ts";
import { reportSetup } from "./storage.ts";

function short(ms: number, warmupMs: number): Scenario {
  const s = seedScenario();
  s.durationMs = ms;
  s.warmupMs = warmupMs;
  return s;
}

test("same seed, byte-identical JSON; with a random workload another seed gives other figures", () => {
  const s = short(3, 2);
  s.runs = s.runs.filter((r) => r.name === "sysfs-strict" || r.name === "default-lazy");
  const json = (sc: Scenario, seed: number) =>
    reportJson(
      makeReport(
        { ...sc, seed, ...reportSetup(sc, machineOf(sc)) },
        sc.runs.map((r) => runOne({ ...sc, seed }, r)),
      ),
    );
  const a = json(s, 5);
  assert.equal(json(s, 5), a);
  // The seed scenario's timing draws no random numbers (sequential reads, FIFO locks, devices whose
  // service time does not depend on the offset): its figures do not depend on the seed. Random
  // request sizes do.
  const figures = (j: string) => JSON.stringify(JSON.parse(j).runs);
  assert.equal(figures(json(s, 6)), figures(a));
  const r = {
    ...s,
    fio: s.fio
      .replace("rw=read", "rw=randread")
      .replace("bs=4k", "bssplit=4k/50:64k/50")
      .replace("numjobs=128", "numjobs=24"),
  };
  assert.notEqual(figures(json(r, 6)), figures(json(r, 5)));
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
  // lock_stat's figures per lock class, in every run; the lazy run with the default range takes the rbtree lock.
  const runs = JSON.parse(a).runs;
  assert.ok(runs.find((x: { name: string }) => x.name === "default-lazy").lockStats.rbtree.acquisitions > 0);
  for (const run of runs) {
    assert.deepEqual(Object.keys(run.lockStats), ["rbtree", "depot"]);
    for (const cls of ["rbtree", "depot"]) {
      const l = run.lockStats[cls];
      assert.deepEqual(Object.keys(l), ["acquisitions", "contentions", "waitNsMax", "waitNsTotal", "holdNsAvg"]);
      assert.ok(l.contentions <= l.acquisitions && l.waitNsMax <= l.waitNsTotal, `${run.name} ${cls}`);
      assert.equal(l.contentions === 0, l.waitNsTotal === 0, `${run.name} ${cls}: waits only when contended`);
    }
    // Every rbtree hold is a tree allocation or a free (200 ns of work at least); every depot hold one depot op (40 ns).
    const { rbtree, depot } = run.lockStats;
    assert.ok(rbtree.acquisitions === 0 || rbtree.holdNsAvg >= 200, `${run.name}: ${JSON.stringify(rbtree)}`);
    assert.ok(depot.acquisitions === 0 || depot.holdNsAvg >= 40, `${run.name}: ${JSON.stringify(depot)}`);
  }
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
