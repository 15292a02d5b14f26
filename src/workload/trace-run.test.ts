import assert from "node:assert/strict";
import { test } from "node:test";
import { dmaCall } from "../../test/helpers/dma-call.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import type { Script } from "../sim/script.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import type { DmaSeam } from "./fio-run.ts";
import { TraceRun } from "./trace-run.ts";

function call(kind: "map" | "unmap", allocation: number, cpu: number, timestampNs: number, irq = false): DmaCall {
  return dmaCall({ kind, allocation, cpu, timestampNs, irq, domain: "nvme", sizeBytes: 8192 });
}

/** Records each call's instant and CPU, and charges `costNs` of CPU time for it. */
function recordingSeam(costNs: number, log: string[], engine: Engine): DmaSeam {
  const rec = (kind: string) => (cpu: Cpu, _d: number, segs: readonly number[], id: number, out: Script) => {
    log.push(`${engine.nowNs} cpu${cpu.id} ${kind}${id} ${segs[0]}`);
    out.compute(costNs);
    return true;
  };
  return { map: rec("map"), unmap: rec("unmap") };
}

function setUp(calls: DmaCall[], timeScale: number, costNs: number, cpus = 2) {
  const engine = new Engine({ seed: 1, checkEveryEvents: 10 });
  engine.nowNs = 1_000_000;
  const cpuList = Array.from({ length: cpus }, (_, i) => new Cpu(engine, i));
  const log: string[] = [];
  const run = new TraceRun({
    engine,
    cpus: cpuList,
    calls,
    timeScale,
    dma: recordingSeam(costNs, log, engine),
    device: 0,
  });
  engine.register({ name: "trace", verifyInvariants: () => run.verifyInvariants() });
  return { engine, run, log };
}

const CALLS = [
  call("map", 1, 0, 5_000_000),
  call("map", 2, 1, 5_001_000),
  call("unmap", 1, 1, 5_004_000, true),
  call("unmap", 7, 0, 5_005_000), // never mapped: a finding, skipped
  call("unmap", 2, 5, 5_006_000), // CPU 5 on a 2-CPU machine: CPU 1
];

test("calls run at their traced instants relative to the first, on their CPUs", () => {
  const { engine, run, log } = setUp(CALLS, 1, 0);
  engine.run(2_000_000);
  // The first call at the run's start (1 ms), the rest at their offsets from it.
  assert.deepEqual(log, [
    "1000000 cpu0 map1 8192",
    "1001000 cpu1 map2 8192",
    "1004000 cpu1 unmap1 8192",
    "1006000 cpu1 unmap2 8192",
  ]);
  assert.equal(run.stats.maps, 2);
  assert.equal(run.stats.unmaps, 2);
  assert.equal(run.stats.skippedUnmaps, 1);
  assert.equal(run.stats.foldedCpus, 1);
  assert.ok(run.done);
});

test("a time scale of 0.5 replays twice as fast", () => {
  const { engine, log } = setUp(CALLS, 0.5, 0);
  engine.run(2_000_000);
  assert.deepEqual(
    log.map((l) => l.split(" ")[0]),
    ["1000000", "1000500", "1002000", "1003000"],
  );
});

test("a busy CPU delays its calls: the latency is the backlog plus the cost", () => {
  // Three maps on CPU 0 traced 100 ns apart, each costing 1000 ns: they start at 0, 1000, 2000 ns
  // after the first and end 1000, 1900 and 2800 ns after their traced instants.
  const calls = [call("map", 1, 0, 0), call("map", 2, 0, 100), call("map", 3, 0, 200)];
  const { engine, run, log } = setUp(calls, 1, 1000, 1);
  engine.run(2_000_000);
  assert.deepEqual(
    log.map((l) => l.split(" ")[0]),
    ["1000000", "1001000", "1002000"],
  );
  assert.equal(run.stats.callLatencyNs.quantile(1), 2800);
  assert.ok(run.stats.callLatencyNs.quantile(0.01) >= 1000);
});
