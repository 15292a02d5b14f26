import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultCostModel } from "../sim/cost.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import { HISI_SAS_V3_LIMITS } from "./block.ts";
import { expandJobs, parseFioJobFile } from "./fio.ts";
import { FioRun, pageTableOnlySeam } from "./fio-run.ts";

function run(seed: number, opts: { checkEveryEvents?: number; logEvents?: boolean } = {}) {
  const engine = new Engine({ seed, checkEveryEvents: opts.checkEveryEvents ?? 0, logEvents: opts.logEvents });
  const cpus = Array.from({ length: 2 }, (_, i) => new Cpu(engine, i));
  const { jobs } = parseFioJobFile(
    "[global]\nrw=read\nbs=4k\niodepth=256\ndirect=1\nioengine=libaio\ncpus_allowed=0-1\ntime_based\nruntime=1\n[seq]\nnumjobs=2\n",
    "seq.fio",
  );
  const instances = expandJobs(jobs, 2);
  const cost = defaultCostModel();
  const fio = new FioRun({
    engine,
    cpus,
    instances,
    diskOf: (i) => i.index % 2,
    disks: 2,
    // One fio thread per disk, and disks that take one command at a time: while one request is on the
    // disk, the thread's other I/Os wait in its CPU's queue and merge.
    diskParams: { iopsMax: 100_000, bandwidthBytesPerSec: 500e6, latencyNs: 50_000, queueDepth: 1 },
    diskBytes: 2 ** 40,
    limits: HISI_SAS_V3_LIMITS,
    hostTags: 4096,
    hbaLinkBytesPerSec: 8e9,
    cost,
    dma: pageTableOnlySeam(cost),
  });
  engine.register({ name: "fio", verifyInvariants: () => fio.verifyInvariants() });
  engine.run(5_000_000);
  fio.resetStats();
  engine.run(45_000_000);
  return { engine, fio };
}

test("sequential 4 KiB reads at depth merge into 496 KiB requests; throughput follows from the cycle", () => {
  const { fio } = run(1, { checkEveryEvents: 50 });
  const s = fio.stats;
  // iodepth 256 > 124: a full SG list (124 segments of 4 KiB, the seed's 507904-byte mapping) always waits.
  assert.equal(s.requestBytesMax, 507904);
  assert.ok(s.requestBytesMean > 500_000, `mean request ${s.requestBytesMean}`);
  // One request's cycle on a disk, from the previous completion (default cost model, 124 pages):
  //   irq 1000 + driver completion 800 + unmap 124*30 + block completion 124*300
  //   + request set-up 600 + map 124*30 + command 10000 + media 50000 + transfer 507904 B at 500 MB/s
  //   + the HBA link, after the disk, at 8 GB/s
  //   = 1800 + 3720 + 37200 + 600 + 3720 + 10000 + 50000 + 1015808 + 63488 = 1186336 ns
  // (plus up to one 2.2 us fio step before the interrupt gets the CPU).
  // Over the 40 ms window, two disks: 2 * 40e6 / 1186336 * 124 = 8362 I/Os; +-1 request per disk at the edges (3%).
  const expected = ((2 * 40e6) / 1186336) * 124;
  assert.ok(Math.abs(s.ios - expected) / expected < 0.04, `${s.ios} I/Os, expected about ${expected}`);
  assert.equal(s.ios * 4096, s.bytes);
});

test("same seed, same event log; invariants hold every 50 events", () => {
  const a = run(4, { logEvents: true });
  const b = run(4, { logEvents: true });
  assert.equal((a.engine.log as string[]).join("\n"), (b.engine.log as string[]).join("\n"));
  assert.equal(JSON.stringify(a.fio.stats), JSON.stringify(b.fio.stats));
});

test("random reads with a bssplit over the queue limits: split bios, few host tags, every I/O completes", () => {
  // 1 MiB I/Os split into 496 + 496 + 32 KiB pieces; 6 host tags for 4 threads of depth 8, so threads sleep on tags.
  const engine = new Engine({ seed: 3, checkEveryEvents: 1 });
  const cpus = Array.from({ length: 2 }, (_, i) => new Cpu(engine, i));
  const { jobs } = parseFioJobFile(
    "[r]\nrw=randread\nbssplit=4k/50:1m/50\niodepth=8\ndirect=1\nsize=64m\nio_size=24m\nnumjobs=4\ncpus_allowed=0-1\n",
    "r.fio",
  );
  const cost = defaultCostModel();
  const fio = new FioRun({
    engine,
    cpus,
    instances: expandJobs(jobs, 2),
    diskOf: (i) => i.index % 2,
    disks: 2,
    diskParams: { iopsMax: 100_000, bandwidthBytesPerSec: 1e9, latencyNs: 20_000, queueDepth: 2 },
    diskBytes: 2 ** 30,
    limits: HISI_SAS_V3_LIMITS,
    hostTags: 6,
    hbaLinkBytesPerSec: 8e9,
    cost,
    dma: pageTableOnlySeam(cost),
  });
  engine.register({ name: "fio", verifyInvariants: () => fio.verifyInvariants() });
  engine.run();
  // Each thread reads until it has issued 24 MiB; the last I/O may overshoot, by at most 1 MiB per thread.
  assert.ok(fio.stats.bytes >= 4 * 24 * 2 ** 20 && fio.stats.bytes < 4 * 25 * 2 ** 20, `${fio.stats.bytes} bytes`);
  assert.ok(fio.stats.tagWaits > 0, "threads should have slept on host tags");
  assert.ok(fio.stats.requestBytesMax <= 507904);
  assert.equal(engine.pendingEvents, 0);
});

test("a job stops issuing at ramp_time + runtime and drains", () => {
  // runtime 2 ms after a 1 ms ramp: nothing is issued after 3 ms, everything in flight completes.
  const engine = new Engine({ seed: 8, checkEveryEvents: 10 });
  const cpus = [new Cpu(engine, 0)];
  const { jobs } = parseFioJobFile("[t]\nrw=read\nbs=4k\niodepth=4\nruntime=2ms\nramp_time=1ms\ntime_based\n", "t.fio");
  const cost = defaultCostModel();
  let lastMapNs = 0;
  const seam = pageTableOnlySeam(cost);
  const fio = new FioRun({
    engine,
    cpus,
    instances: expandJobs(jobs, 1),
    diskOf: () => 0,
    disks: 1,
    diskParams: { iopsMax: 100_000, bandwidthBytesPerSec: 1e9, latencyNs: 20_000, queueDepth: 4 },
    diskBytes: 2 ** 30,
    limits: HISI_SAS_V3_LIMITS,
    hostTags: 64,
    hbaLinkBytesPerSec: 8e9,
    cost,
    dma: {
      map: (c, d, segs, id, out) => {
        lastMapNs = engine.nowNs;
        seam.map(c, d, segs, id, out);
      },
      unmap: seam.unmap,
    },
  });
  engine.run();
  assert.equal(engine.pendingEvents, 0);
  assert.ok(lastMapNs < 3_000_000 + 10_000, `mapped at ${lastMapNs}`);
  assert.ok(fio.stats.ios > 50, `${fio.stats.ios} I/Os`);
});
