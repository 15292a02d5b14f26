import assert from "node:assert/strict";
import { test } from "node:test";
import { type VerdictRun, verdict } from "./verdict.ts";

const NO_LOCK = { acquisitions: 0, contentions: 0, waitNsMax: 0, waitNsTotal: 0, holdNsAvg: 0 };

/**
 * A run's figures with only what each case sets differing; unless a case
 * sets them, as many requests complete as are mapped (a steady state).
 */
function run(over: Partial<VerdictRun>): VerdictRun {
  const maps = over.mapsPerSec ?? 1000;
  const bytes = over.requestBytesMean ?? 131072;
  return {
    requestsPerSec: maps,
    bytesPerSec: maps * bytes,
    mapFailuresPerSec: 0,
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
    simulatedMs: 1000,
    warmupMs: 8000,
    maxSectorsKb: 512,
    requestBytesMean: 131072,
    mapsPerSec: 1000,
    syncWaitShare: 0,
    busyShare: 0.5,
    rbtreeLockBusyShare: 0,
    cmdqBusyShare: 0,
    ioLatencyNs: { p50: 1, p99: 1 },
    liveIovas: 0,
    lockStats: { rbtree: NO_LOCK, depot: NO_LOCK },
    rangeBytes: 128 << 10,
    iovaSpaceBytes: 2 ** 48,
    cachedIovaBytesBelow4G: 0,
    magazineBytesMax: null,
    kernel: "5.15",
    ...over,
  };
}

const setup = { workload: "fio" as const, hbaLinkBytesPerSec: 1e9, diskCount: 2, diskIopsMax: 1e6 };
const raised = { rangeSource: "driver" as const, rcacheOrders: 8, rangeBytes: 512 << 10 };

test("verdict: the answer first, per kernel and mode, with the range in bytes and classes and the routes to it", () => {
  const v = verdict(
    [
      run({ name: "a-default-strict", iops: 1_150_000 }),
      run({ name: "a-sysfs-strict", ...raised, rangeSource: "sysfs", iops: 1_800_000 }),
      run({ name: "a-driver-strict", ...raised, iops: 1_800_000 }),
      run({ name: "b-default-strict", kernel: "6.1", iops: 1_800_000, warmupMs: 1000, simulatedMs: 500 }),
      run({ name: "b-driver-strict", kernel: "6.1", ...raised, iops: 1_800_000, warmupMs: 1000, simulatedMs: 500 }),
    ],
    { ...setup, kernelNotes: { "5.15": "standing for 5.13" } },
  );
  assert.equal(
    v[0],
    "On 5.15 (standing for 5.13), aged 8 s, measured over the next 1 s, raising the range to 512 KiB (8 size classes, " +
      "set through sysfs or the driver: the same domain, the same figures) gives +56.5% IOPS in strict mode (1.80M against 1.15M) " +
      "because with the default range the requests larger than 128 KiB go to the rbtree, where each allocation walks 1 nodes " +
      "under iova_rbtree_lock and keeps it busy 0.0% of the time. It costs up to 0 B of IOVA space held in the caches " +
      "(0 B of it in the 4 GiB 32-bit window, the rest above it in the 256 TiB the domain addresses) and 0 B of magazines.",
  );
  assert.match(
    v[1],
    /^On 6\.1, aged 1 s, measured over the next 500 ms, raising it gives \+0\.0% IOPS in strict mode \(1\.80M against 1\.80M\)/,
  );
});

test("verdict: a gain is explained by the tree path under the rbtree lock, with its figures", () => {
  const v = verdict(
    [
      run({
        iops: 1_150_000,
        treeAllocsPerSec: 12_000,
        walkStepsPerTreeAlloc: 6215.6,
        rbtreeLockBusyShare: 0.9685,
        lockWaitShare: 0.184,
        requestBytesMean: 42909,
        mapLatencyNs: { p50: 53, p99: 3_777_397 },
        mapsPerSec: 10,
      }),
      run({ ...raised, iops: 1_800_000, treeAllocsPerSec: 2900, walkStepsPerTreeAlloc: 1.02, mapsPerSec: 7324 }),
    ],
    setup,
  );
  assert.match(
    v[0],
    /\+56\.5% IOPS in strict mode \(1\.80M against 1\.15M\) because .* walks 6216 nodes under iova_rbtree_lock and keeps it busy 96\.9%/,
  );
  assert.match(
    v[1],
    /^5\.15 strict, \+56\.5%: with the default 128 KiB range, requests \(up to 512 KiB, 41\.9 KiB on average\)/,
  );
  assert.match(
    v[1],
    /12\.0K allocations\/s go to the rbtree, each walking 6216 rb_prev steps under iova_rbtree_lock, which is busy 96\.9%/,
  );
  assert.match(v[1], /spend 18\.4% of their time spinning on it and dma_map_sg's p99 is 3\.78 ms/);
  // 7324 requests/s of 128 KiB = 0.96e9 bytes/s on a 1e9 link.
  assert.match(v[1], /the run sits at the HBA link's ceiling\.$/);
});

test("verdict: no gain where sd caps requests at the range, said with the caps of both runs", () => {
  const v = verdict(
    [
      run({ kernel: "6.1", maxSectorsKb: 128, cacheHitRate: 0.992, treeAllocsPerSec: 450 }),
      run({ kernel: "6.1", ...raised, maxSectorsKb: 512, cacheHitRate: 0.964, treeAllocsPerSec: 1700 }),
    ],
    setup,
  );
  assert.match(
    v[0],
    /\+0\.0% IOPS in strict mode \(1\.0K against 1\.0K\) because sd caps requests at 128 KiB, which the default range already caches/,
  );
  assert.match(v[1], /^6\.1 strict, \+0\.0%: sd caps each request at dma_opt_mapping_size\(\)/);
  assert.match(
    v[1],
    /requests stop at 128 KiB and every mapping fits a cached class \(450 tree allocations\/s, 99\.2% hit rate\)/,
  );
  assert.match(v[1], /lifts the cap to 512 KiB requests/);
  // Below 95% of the link (1000 requests of 128 KiB = 13%): the CPUs limit it.
  assert.match(
    v[1],
    /is below both the link's and the disks' ceilings \(13\.1% of the link\): the CPUs limit it \(50\.0% busy/,
  );
});

test("verdict: IOVA space against the domain's real size, and what of it sits in the 32-bit window (never above 100%)", () => {
  const v = verdict(
    [
      run({ cachedIovaBytes: 2.4 * 2 ** 30, magazineBytes: 1.5 * 2 ** 20, cachedIovaBytesBelow4G: 2 ** 31 }),
      run({
        name: "big",
        ...raised,
        cachedIovaBytes: 10 * 2 ** 30,
        cachedIovaBytesBelow4G: 2 ** 32 - 2 ** 20,
        magazineBytes: 2 * 2 ** 20,
        magazineBytesMax: 2.25 * 2 ** 20,
      }),
    ],
    { ...setup, workload: "network" },
  );
  const cost = v[v.length - 1];
  assert.equal(
    cost,
    "On 5.15 the caches hold at most 10 GiB of IOVA space (big), 0.0% of the 256 TiB (48-bit) its device's domain can address; " +
      "4 GiB of it, 100.0% of the 4 GiB 32-bit window that allocations try first, and 2 MiB of magazine memory of the 2.3 MiB its caches can take " +
      "(strict: 10 GiB with 512 KiB against 2.4 GiB with the default range, 2 MiB of magazines against 1.5 MiB).",
  );
  assert.ok(!v.some((s) => /HBA link/.test(s)), "no HBA sentences for a network workload");
});

test("verdict: the busiest run against the HBA link and the disks", () => {
  const v = verdict([run({ mapsPerSec: 7324 }), run({ name: "slow", mapsPerSec: 763 })], setup);
  assert.equal(
    v[0],
    "The busiest run, r, moves 915.5 MiB/s, 96.0% of the HBA link's 953.7 MiB/s, in 7.3K requests/s, 0.4% of the 2 disks' 2.00M commands/s; " +
      "1 of the 2 runs sit at the link's ceiling, where no range can raise IOPS further.",
  );
});

test("verdict on NVMe: the bottleneck is the SSDs' PCIe links, their media, their IOPS or the jobs' iodepth, never an HBA", () => {
  // 4 SSDs: 4 GB/s links each (16 GB/s), 3 GB/s media each (12 GB/s, below the links: a ceiling of its own).
  const nvme = {
    workload: "fio" as const,
    storage: "nvme" as const,
    hbaLinkBytesPerSec: 16e9,
    diskCount: 4,
    diskIopsMax: 500_000,
    diskBandwidthBytesPerSec: 3e9,
  };
  const says = (over: Partial<VerdictRun>) => {
    const v = verdict([run({ name: "d", ...over }), run({ name: "r", ...raised, ...over })], nvme).join("\n");
    assert.ok(!/HBA/.test(v), v);
    return v;
  };
  // 90K requests/s of 128 KiB: 11.8 GB/s, 98% of the media's 12 GB/s (74% of the links).
  assert.match(says({ mapsPerSec: 90_000 }), /which sits at the SSDs' media bandwidth/);
  assert.match(
    says({ mapsPerSec: 90_000 }),
    /73\.7% of the SSDs' PCIe links' 14\.9 GiB\/s and 98\.3% of the SSDs' media bandwidth, 11\.2 GiB\/s, in 90\.0K requests\/s, 4\.5% of the 4 SSDs' 2\.00M IOPS/,
  );
  // 4 KiB reads: 1.95M requests/s is 97.5% of the SSDs' 2M IOPS.
  assert.match(says({ mapsPerSec: 1_950_000, requestBytesMean: 4096 }), /which sits at the SSDs' IOPS ceiling/);
  // With media as fast as the links, the links are the ceiling.
  const links = verdict([run({ mapsPerSec: 120_000 }), run({ ...raised, mapsPerSec: 120_000 })], {
    ...nvme,
    diskBandwidthBytesPerSec: 5e9,
  }).join("\n");
  assert.match(links, /which sits at the SSDs' PCIe links' ceiling/);
  // Idle CPUs below every ceiling: the jobs' iodepth, not the CPUs.
  assert.match(says({ mapsPerSec: 10_000, busyShare: 0.02 }), /the jobs' iodepth limits it, not the CPUs \(2\.0% busy/);
  assert.match(says({ mapsPerSec: 10_000, busyShare: 0.9 }), /: the CPUs limit it \(90\.0% busy/);
  // One SSD: singular words.
  const one = verdict([run({ mapsPerSec: 30_000 }), run({ ...raised, mapsPerSec: 30_000 })], {
    ...nvme,
    diskCount: 1,
    hbaLinkBytesPerSec: 4e9,
  }).join("\n");
  assert.match(one, /which sits at the SSD's PCIe link's ceiling|which sits at the SSD's media bandwidth/);
  assert.match(one, / of the 1 SSD's 500\.0K IOPS;/);
});

test("verdict: one SAS disk is one disk's", () => {
  const v = verdict([run({ mapsPerSec: 763 }), run({ ...raised, mapsPerSec: 763 })], { ...setup, diskCount: 1 }).join(
    "\n",
  );
  assert.match(v, /, 0\.1% of the 1 disk's 1\.00M commands\/s;/);
  assert.match(v, /is below both the link's and the disk's ceilings/);
});

test("verdict: a run whose queues still fill is measured by what completes, not by what it maps", () => {
  // epyc-nvme's first SSD under 192 jobs at iodepth 1,024 for 30 ms: 131K tags fill in about
  // 0.2 s, so the run mapped 3.06M requests/s of 4 KiB while the SSD completed its 634K. Taken
  // from the maps, the verdict said the SSD moved 11.7 GiB/s, 318% of its link.
  const ssd = {
    workload: "fio" as const,
    storage: "nvme" as const,
    hbaLinkBytesPerSec: 3.938e9,
    diskCount: 1,
    diskIopsMax: 637_000,
    diskBandwidthBytesPerSec: 3.2e9,
  };
  const filling = {
    mapsPerSec: 3_061_367,
    requestBytesMean: 4096,
    requestsPerSec: 634_467,
    bytesPerSec: 634_467 * 4096,
  };
  const v = verdict([run({ name: "d", ...filling }), run({ name: "r", ...raised, ...filling })], ssd).join("\n");
  assert.match(
    v,
    /The busiest run, d, moves 2\.4 GiB\/s, 66\.0% of the SSD's PCIe link's 3\.7 GiB\/s and 81\.2% of the SSD's media bandwidth, 3 GiB\/s, in 634\.5K requests\/s, 99\.6% of the 1 SSD's 637\.0K IOPS;/,
  );
  assert.match(v, /which sits at the SSD's IOPS ceiling/);
});

test("verdict: runs whose domain ran out of IOVA space say so last, with the worst run's failed maps", () => {
  const v = verdict(
    [
      run({ name: "d", mapFailuresPerSec: 15_400, iovaSpaceBytes: 2 ** 32 }),
      run({ name: "r", ...raised, mapFailuresPerSec: 900, iovaSpaceBytes: 2 ** 32 }),
    ],
    setup,
  );
  assert.equal(
    v[v.length - 1],
    "2 of the 2 runs ran their device's domain out of IOVA space: up to 15.4K DMA maps failed per second (d, a domain of 4 GiB), " +
      "each request then going back to its queue until a completion freed space (BLK_STS_RESOURCE); a wider DMA mask or less in flight would map them.",
  );
  assert.ok(!verdict([run({}), run(raised)], setup).some((l) => /out of IOVA space/.test(l)));
});
