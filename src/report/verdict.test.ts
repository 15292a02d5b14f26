import assert from "node:assert/strict";
import { test } from "node:test";
import type { RunResult } from "../scenario/run.ts";
import { verdict } from "./verdict.ts";

const NO_LOCK = { acquisitions: 0, contentions: 0, waitNsMax: 0, waitNsTotal: 0, holdNsAvg: 0 };

/** A run's figures with only what each case sets differing. */
function run(over: Partial<RunResult>): RunResult {
  return {
    name: "r",
    mode: "strict",
    rangeSource: "default",
    rcacheOrders: 6,
    iops: 1000,
    mapLatencyNs: { p50: 1, p99: 1 },
    treeAllocsPerSec: 10,
    walkStepsPerTreeAlloc: 1,
    lockWaitShare: 0,
    cacheHitRate: 1,
    cacheHitRateByClass: [],
    cachedIovaBytes: 0,
    cachedIovaBytesByClass: [],
    magazineBytes: 0,
    magazineBytesByClass: [],
    simulatedMs: 1,
    warmupMs: 0,
    maxSectorsKb: 128,
    requestBytesMean: 131072,
    mapsPerSec: 1000,
    syncWaitShare: 0,
    busyShare: 0.5,
    rbtreeLockBusyShare: 0,
    cmdqBusyShare: 0,
    ioLatencyNs: { p50: 1, p99: 1 },
    liveIovas: 0,
    lockStats: { rbtree: NO_LOCK, depot: NO_LOCK },
    ...over,
  };
}

const setup = { kernel: "6.1", workload: "fio" as const, hbaLinkBytesPerSec: 1e9, diskCount: 2, diskIopsMax: 1e6 };

test("verdict: a run moving 96% of the link's bytes sits at its ceiling; at 10% the CPUs limit", () => {
  // 7324 requests/s of 128 KiB = 0.96e9 bytes/s on a 1e9 link.
  const at = verdict([run({ mapsPerSec: 7324 })], setup);
  assert.match(at[0], /96\.0% of the HBA link's/);
  assert.match(at[0], /sits at the HBA link's ceiling/);
  const below = verdict([run({ mapsPerSec: 763, busyShare: 0.8 })], setup);
  assert.match(below[0], /10\.0% of the HBA link's/);
  assert.match(below[0], /the CPUs limit it \(80\.0% busy/);
});

test("verdict: the answer per mode against the default range; the request cap only when the runs' caps differ", () => {
  const v = verdict(
    [
      run({ name: "default-strict", iops: 1000 }),
      run({ name: "driver-strict", rangeSource: "driver", rcacheOrders: 8, iops: 1100, maxSectorsKb: 512 }),
    ],
    setup,
  );
  assert.match(
    v[0],
    /^strict: driver-strict \(8 size classes\) reaches 1\.1K IOPS against default-strict's 1\.0K \(6 classes; \+10\.0%\)/,
  );
  assert.ok(v.some((s) => /sd caps each request .* 128 KiB in default-strict; 512 KiB in driver-strict/.test(s)));
  const same = verdict([run({ name: "a" }), run({ name: "b", rangeSource: "cmdline" })], setup);
  assert.ok(!same.some((s) => /sd caps/.test(s)));
});

test("verdict: IOVA space held against the 4 GiB window; no HBA sentences for a network workload", () => {
  const v = verdict([run({ cachedIovaBytes: 2 ** 30, magazineBytes: 2048 })], { ...setup, workload: "network" });
  assert.deepEqual(v, [
    "The caches hold at most 1 GiB of IOVA space (r), 25.0% of the 4 GiB 32-bit window, and 2 KiB of magazines.",
  ]);
});
