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
