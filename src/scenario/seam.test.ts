import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultCostModel } from "../sim/cost.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import { Script, ScriptTask } from "../sim/script.ts";
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
  // Nothing charged yet: the scripts above are never run; the timer's work will be CPU 3's interrupt.
  assert.equal(seam.treeLock.acquisitions, 0);
  const due = (seam.cookie.fq?.nextExpiryNs ?? 0) - seam.kernelOffsetNs;
  // The engine runs on: the timer's expiry event fires it on CPU 3 (no CPU is busy, so it stays there).
  engine.run(engine.nowNs + 20 * MS);
  assert.equal(seam.stats.timerFlushes, 1);
  assert.equal(seam.stats.timerTreeFrees, 20);
  assert.equal(seam.stats.treeFrees, 20);
  // 20 holds of the rbtree lock, each a tree free, uncontended, on CPU 3 from the timer's expiry on.
  assert.equal(seam.treeLock.acquisitions, 20);
  assert.equal(seam.treeLock.contended, 0);
  assert.equal(seam.treeLock.holdNs, 20 * cost.treeFreeNs.ns);
  const busy3 = cpus[3].stats().busyNs;
  assert.ok(busy3 >= 20 * (cost.treeFreeNs.ns + cost.lockAcquireNs.ns), `CPU 3 busy ${busy3} ns`);
  assert.equal(cpus[5].stats().busyNs, 0);
  assert.ok(due > 0 && engine.nowNs > due);
});

/**
 * One lazy 4 KiB map and unmap on CPU 3 of the seed's machine under `kernel`,
 * with CPU 2 computing for 30 ms and CPU 3 either idle (`cpu3Busy` 0) or
 * computing for `cpu3Busy` ns when it unmaps. Returns the CPU whose timer
 * base took the timer, and whose rcache the timer's flush freed the IOVA
 * into, once the engine has run past the expiry.
 */
function timerPlacement(kernel: "6.1" | "mainline", cpu3Busy: number): { base: number; freedOn: number } {
  const s = { ...calibrationScenario(), kernel };
  const run = CALIBRATION_RUNS.find((r) => r.mode === "lazy");
  assert.ok(run !== undefined);
  const k = bootForRun(s, run);
  const engine = new Engine({ seed: 1, checkEveryEvents: 1 });
  engine.nowNs = Math.ceil(k.nowNs / MS) * MS;
  const cpus = Array.from({ length: k.cpus }, (_, i) => new Cpu(engine, i));
  const dev = k.device("0000:74:02.0");
  assert.ok(dev !== undefined);
  const seam = new KernelDmaSeam(engine, k, dev, defaultCostModel(), cpus);
  const fq = seam.cookie.fq;
  assert.ok(fq !== null);
  cpus[2].enqueue(new ScriptTask("busy", new Script().compute(30 * MS)));
  if (cpu3Busy > 0) cpus[3].enqueue(new ScriptTask("busy", new Script().compute(cpu3Busy)));
  engine.run(engine.nowNs + 1000);
  assert.equal(cpus[3].runsIdleTask, cpu3Busy === 0);
  seam.map(cpus[3], 0, [4096], 1, new Script());
  const pfn = (seam.mappingOf(1)?.segments[0].dmaAddr ?? 0) / 4096;
  seam.unmap(cpus[3], 0, [4096], 1, new Script());
  assert.ok(fq.timerArmed);
  const base = fq.timerCpu;
  // The engine event at the expiry runs the callback; nothing else calls the seam.
  engine.run(engine.nowNs + 20 * MS);
  assert.equal(fq.timerArmed, false);
  assert.equal(seam.stats.timerFlushes, 1);
  return { base, freedOn: seam.cookie.iovad.cachedOn(pfn) };
}

test("the flush-queue timer runs where the kernel profile's policy puts it, from the engine's idle CPUs", () => {
  // CPU 3 unmaps from an interrupt on its idle loop while CPU 2 is busy. 6.1's mod_timer() asks
  // get_nohz_timer_target(): the timer goes to busy CPU 2's base and runs there. Mainline enqueues it on
  // CPU 3's own base; CPU 3 is still idle at expiry, so busy CPU 2 expires it (timer migration).
  assert.deepEqual(timerPlacement("6.1", 0), { base: 2, freedOn: 2 });
  assert.deepEqual(timerPlacement("mainline", 0), { base: 3, freedOn: 2 });
  // CPU 3 unmaps while busy (1 ms of work left), then goes idle. 6.1 keeps the timer on CPU 3's base and
  // wakes idle CPU 3 to run it; mainline's busy CPU 2 expires idle CPU 3's timer.
  assert.deepEqual(timerPlacement("6.1", 2 * MS), { base: 3, freedOn: 3 });
  assert.deepEqual(timerPlacement("mainline", 2 * MS), { base: 3, freedOn: 2 });
});

test("a live request keeps its span, or an untrusted device's per-entry list, until its unmap frees exactly that", () => {
  const s = calibrationScenario();
  const run = CALIBRATION_RUNS.find((r) => r.mode === "strict");
  assert.ok(run !== undefined);
  const k = bootForRun(s, run);
  const engine = new Engine({ seed: 1 });
  engine.nowNs = Math.ceil(k.nowNs / MS) * MS;
  const cpus = Array.from({ length: k.cpus }, (_, i) => new Cpu(engine, i));
  const dev = k.device("0000:74:02.0");
  assert.ok(dev !== undefined);
  const seam = new KernelDmaSeam(engine, k, dev, defaultCostModel(), cpus);
  const out = new Script();
  // The domain's live mappings (pfn -> pages): what dma_unmap must find and remove.
  const live = () => seam.cookie.mapped.size;
  const before = live();
  // Three requests at once, of 1, 3 and 8 pages: each one IOVA, freed as its span.
  const sizes = [[4096], [4096, 4096, 4096], Array.from({ length: 8 }, () => 4096)];
  for (const [i, segs] of sizes.entries()) seam.map(cpus[1], 0, segs, 100 + i, out);
  assert.equal(seam.live, 3);
  assert.equal(live(), before + 3);
  const m = seam.mappingOf(101);
  assert.ok(m !== undefined && m.nents === 1 && m.segments[0].length === 3 * 4096);
  for (const [i, segs] of sizes.entries()) seam.unmap(cpus[2], 0, segs, 100 + i, out);
  assert.equal(seam.live, 0);
  assert.equal(live(), before);
  // Untrusted (DMA-5.5's swiotlb path): one IOVA per entry, kept as the list and unmapped entry by entry.
  (dev as { untrusted: boolean }).untrusted = true;
  seam.map(cpus[1], 0, [4096, 4096, 4096], 200, out);
  assert.equal(live(), before + 3);
  assert.equal(seam.mappingOf(200)?.perEntry, true);
  seam.map(cpus[1], 0, [4096], 201, out);
  seam.unmap(cpus[1], 0, [4096, 4096, 4096], 200, out);
  assert.equal(live(), before + 1);
  seam.unmap(cpus[1], 0, [4096], 201, out);
  assert.equal(live(), before);
  assert.equal(seam.live, 0);
});
