import assert from "node:assert/strict";
import { test } from "node:test";
import { dmaCall } from "../../test/helpers/dma-call.ts";
import { makeReport, reportJson } from "../report/results.ts";
import { InputError } from "../stdx/errors.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { machineOf, runOne } from "./run.ts";
import { parseScenarioYaml, type Scenario } from "./scenario.ts";
import { reportSetup } from "./storage.ts";

function call(kind: "map" | "unmap", allocation: number, timestampNs: number, irq: boolean): DmaCall {
  return dmaCall({ kind, allocation, cpu: 0, timestampNs, irq });
}

/** 100 4 KiB I/Os on CPU 0, one every 20 µs, each unmapped from an interrupt 10 µs after its map. */
function calls(): DmaCall[] {
  const out: DmaCall[] = [];
  for (let i = 0; i < 100; i++) {
    out.push(call("map", i + 1, 7e9 + i * 20_000, false));
    out.push(call("unmap", i + 1, 7e9 + i * 20_000 + 10_000, true));
  }
  return out;
}

function scenario(): Scenario {
  return parseScenarioYaml(
    "machine: qemu-q35-nvme\ndurationMs: 2\nwarmupMs: 0\nworkload: { kind: trace, file: t.txt }\n",
    "t.yaml",
  );
}

test("trace workloads: defaults, and errors naming the key", () => {
  const s = scenario();
  assert.deepEqual(s.workload, { kind: "trace", file: "t.txt", timeScale: 1, device: null });
  assert.deepEqual(
    s.runs.map((r) => r.name),
    ["default-strict", "default-lazy"],
  );
  const fails = (yaml: string, re: RegExp) =>
    assert.throws(
      () => parseScenarioYaml(yaml, "t.yaml"),
      (e: unknown) => e instanceof InputError && re.test(e.message),
    );
  fails(
    "workload: { kind: trace }\n",
    /^t\.yaml:1: workload\.file: expected the trace file with kind trace, found nothing$/,
  );
  fails(
    "workload: { kind: trace, file: a, mix: imix }\n",
    /^t\.yaml:1: workload\.mix: expected no mix with kind trace/,
  );
  fails("workload: { kind: trace, file: a, timeScale: 0 }\n", /^t\.yaml:1: workload\.timeScale: expected a number > 0/);
  // The model reads no files: without the calls the run says who must read it.
  assert.throws(() => runOne(s, s.runs[0]), /workload\.file: expected the trace's calls from the caller/);
});

test("a trace run by hand: 99 maps counted in 2 ms of 4 KiB; same seed, byte-identical JSON", () => {
  const s = scenario();
  const json = () =>
    reportJson(
      makeReport(
        { ...s, ...reportSetup(s, machineOf(s)) },
        s.runs.map((r) => runOne(s, r, { traceCalls: calls(), checkEveryEvents: 100 })),
      ),
    );
  const a = json();
  assert.equal(json(), a);
  const [strict, lazy] = JSON.parse(a).runs;
  // The first call is at the run's start, the instant the (empty) warm-up ends: the engine runs it
  // before the figures are reset, so 99 of the 100 maps count, over 2 ms: 49 500 per second.
  for (const r of [strict, lazy]) {
    assert.equal(r.iops, 49_500);
    assert.equal(r.mapsPerSec, 49_500);
    assert.equal(r.requestBytesMean, 4096);
  }
  // Strict frees each IOVA at its unmap; the last unmap, at 1.99 ms, ends within the window. The
  // tree then holds what the driver mapped at boot (a run of an empty trace) plus the one IOVA the
  // I/Os took turns with, now parked in the CPU's rcache (cached IOVAs stay in the tree).
  assert.equal(strict.liveIovas, runOne(s, s.runs[0], { traceCalls: [] }).liveIovas + 1);
  // One I/O at a time: after the first map every allocation is served by the caches.
  assert.ok(strict.cacheHitRate >= 0.99, `hit rate ${strict.cacheHitRate}`);
});
