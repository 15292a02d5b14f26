import assert from "node:assert/strict";
import { test } from "node:test";
import { calibrationScenario } from "./calibrate.ts";
import { DMA_MAP, DMA_UNMAP, DmaCallRecorder } from "./dma-record.ts";
import { findCycle } from "./fast-forward.ts";
import { type RunContext, runOne } from "./run.ts";
import type { Scenario } from "./scenario.ts";

test("findCycle: the earliest call with as many live mappings as at the end, carried requests paired in order", () => {
  // Live before: requests 1 and 2. Then: map 3, unmap 1, map 4, unmap 2, map 5, unmap 3. Live at the end: 4, 5.
  const r = new DmaCallRecorder();
  const calls: [number, number][] = [
    [DMA_MAP, 3],
    [DMA_UNMAP, 1],
    [DMA_MAP, 4],
    [DMA_UNMAP, 2],
    [DMA_MAP, 5],
    [DMA_UNMAP, 3],
  ];
  calls.forEach(([kind, id], i) => void r.record(kind, i % 2, id, 1000 + 100 * i, kind === DMA_MAP ? 4096 : 0));
  const c = findCycle(r, 1600, 2, 0);
  assert.ok(c !== null);
  // Live before call 0 is 2 (= at the end): the whole recording is the cycle.
  assert.equal(c.first, 0);
  assert.equal(c.spanNs, 600);
  assert.equal(c.calls, 6);
  // Slots by first appearance: 3->0, 1->1, 4->2, 2->3, 5->4.
  assert.deepEqual([...c.slot], [0, 1, 2, 3, 4, 0]);
  // Unmapped before being mapped: 1 then 2; mapped and live at the end: 4 then 5.
  assert.deepEqual([...c.carriedIn], [1, 3]);
  assert.deepEqual([...c.carriedOut], [2, 4]);
  assert.deepEqual([...c.carriedOutIds], [4, 5]);
  // Asking for a longer span than recorded finds none.
  assert.equal(findCycle(r, 1600, 2, 601), null);
  // From call 2 on (live before it: 2) is a cycle too; the earliest one wins, a later one when the span allows only it.
  assert.equal(findCycle(r, 1600, 2, 500)?.first, 0);
});

function calibration(warmupMs: number, durationMs: number, fastForward: boolean): Scenario {
  return { ...calibrationScenario(), warmupMs, durationMs, fastForward };
}

/** The calibration scenario on two slow disks: the same machine and job, a fiftieth of the I/Os. */
function small(warmupMs: number, durationMs: number, fastForward: boolean): Scenario {
  const s = calibration(warmupMs, durationMs, fastForward);
  return { ...s, disks: { ...s.disks, count: 2, iopsMax: 10_000, bandwidthBytesPerSec: 5e7 } };
}

test("a warm-up too short to fast-forward runs in time: the same figures as without", () => {
  const run = calibrationScenario().runs[0];
  // Under 2.3 s: 2 s for the workload to settle at the least (settle.ts), a recording, four
  // recordings' worth to skip, a last one in time.
  const a = runOne(small(2290, 5, false), run);
  const b = runOne(small(2290, 5, true), run);
  assert.deepEqual(b, a);
});

test("fast-forward: the kernel's clock moves ahead, every invariant holds, the timed requests unmap what the last cycle mapped", () => {
  const s = small(4000, 20, true);
  let ctx: RunContext | null = null;
  const r = runOne(s, s.runs[0], { observe: (c) => void (ctx = c), checkEveryEvents: 5000 });
  const c = ctx as RunContext | null;
  assert.ok(c !== null);
  // The kernel is at the run's end; the engine behind it by what was skipped (most of the warm-up).
  assert.equal(c.seam.kernelTimeNs, c.endNs);
  assert.ok(c.seam.kernelOffsetNs >= 1000e6, `skipped ${c.seam.kernelOffsetNs} ns`);
  assert.equal(c.engine.nowNs, c.endNs - c.seam.kernelOffsetNs);
  c.kernel.verifyInvariants();
  // The stream goes on after the fast-forward: maps and IOPS as the job makes them.
  assert.ok(r.mapsPerSec > 100 && r.iops > 10_000, `${r.mapsPerSec} maps/s, ${r.iops} IOPS`);
});

/**
 * The agreement the fast-forward should have with the timed run (issue 15
 * item 3): the same figures after the same age. It does not yet — it ages the
 * caches about three times more slowly (docs/cost-model.md, "Ageing
 * fast-forward") — so the test is a todo, reported without failing the suite,
 * and slow: set IOVALAB_VALIDATE=1 to run it.
 */
test("fast-forward agrees with the timed run after 1 s of age (strict, default range, 5.15)", {
  todo: "the fast-forward under-ages the caches",
  skip: process.env.IOVALAB_VALIDATE !== "1",
}, () => {
  const run = calibrationScenario().runs[0];
  const timed = runOne(calibration(1000, 100, false), run);
  const fast = runOne(calibration(1000, 100, true), run);
  const near = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(a, b);
  assert.ok(near(fast.iops, timed.iops, 0.05), `IOPS ${fast.iops} vs ${timed.iops}`);
  assert.ok(
    Math.abs(fast.cacheHitRate - timed.cacheHitRate) <= 0.05,
    `hit rate ${fast.cacheHitRate} vs ${timed.cacheHitRate}`,
  );
  assert.ok(
    near(fast.cachedIovaBytes, timed.cachedIovaBytes, 0.25),
    `cached ${fast.cachedIovaBytes} vs ${timed.cachedIovaBytes}`,
  );
  assert.ok(
    near(fast.walkStepsPerTreeAlloc, timed.walkStepsPerTreeAlloc, 0.25),
    `walk ${fast.walkStepsPerTreeAlloc} vs ${timed.walkStepsPerTreeAlloc}`,
  );
});
