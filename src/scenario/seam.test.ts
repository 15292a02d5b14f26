import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultCostModel } from "../sim/cost.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import { Script } from "../sim/script.ts";
import { CALIBRATION_RUNS, calibrationScenario } from "./calibrate.ts";
import { bootForRun } from "./run.ts";
import { KernelDmaSeam } from "./seam.ts";

const MS = 1_000_000;

test("a lazy flush-queue timer that frees into the tree charges the rbtree lock on the CPU that runs it", () => {
  // The seed's machine, lazy with the default range: a 256 KiB mapping (64 pages) is past the
  // rcache range, so freeing it is a tree free under the rbtree lock.
  const s = calibrationScenario();
  const run = CALIBRATION_RUNS.find((r) => r.mode === "lazy");
  assert.ok(run !== undefined);
  const k = bootForRun(s, run);
  const engine = new Engine({ seed: 1, checkEveryEvents: 1 });
  engine.nowNs = Math.ceil(k.nowNs / MS) * MS;
  const cpus = Array.from({ length: k.cpus }, (_, i) => new Cpu(engine, i));
  const dev = k.device("0000:74:02.0");
  assert.ok(dev !== undefined);
  const cost = defaultCostModel();
  const seam = new KernelDmaSeam(engine, k, dev, cost, cpus);
  const big = Array.from({ length: 64 }, () => 4096);
  // CPU 3 maps and unmaps 20 of them: each unmap only queues (the ring holds 256), so no tree free yet,
  // and the first one arms the timer on CPU 3's base (the 5.15 placement keeps a busy CPU's own).
  const out = new Script();
  for (let id = 1; id <= 20; id++) seam.map(cpus[3], 0, big, id, out);
  for (let id = 1; id <= 20; id++) seam.unmap(cpus[3], 0, big, id, out);
  assert.equal(seam.stats.treeFrees, 0);
  assert.equal(seam.stats.timerFlushes, 0);
  // 20 ms later CPU 5 maps a page: the timer fired meanwhile (seen by this call), on CPU 3.
  engine.nowNs += 20 * MS;
  seam.map(cpus[5], 0, [4096], 100, new Script());
  assert.equal(seam.stats.timerFlushes, 1);
  assert.equal(seam.stats.timerTreeFrees, 20);
  assert.equal(seam.stats.treeFrees, 20);
  // Nothing charged yet: the scripts above were never run; the timer's work is CPU 3's interrupt.
  assert.equal(seam.treeLock.acquisitions, 0);
  const t0 = engine.nowNs;
  engine.run();
  // 20 holds of the rbtree lock, each a tree free, uncontended, on CPU 3 at the instant the timer was seen.
  assert.equal(seam.treeLock.acquisitions, 20);
  assert.equal(seam.treeLock.contended, 0);
  assert.equal(seam.treeLock.holdNs, 20 * cost.treeFreeNs.ns);
  const busy3 = cpus[3].stats().busyNs;
  assert.ok(busy3 >= 20 * (cost.treeFreeNs.ns + cost.lockAcquireNs.ns), `CPU 3 busy ${busy3} ns`);
  assert.equal(cpus[5].stats().busyNs, 0);
  assert.ok(engine.nowNs >= t0 + 20 * cost.treeFreeNs.ns);
});
