/**
 * Runs on any machine (issue 14): NVMe controllers and several devices at
 * once, fio's filename= choosing the disk, the range set each way, strict,
 * lazy and passthrough on every built-in machine and on a machine imported
 * from a snapshot, and the flags' rule for overriding a scenario's runs.
 * Short simulated durations: each run takes a fraction of a second.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type FakeTree, writeTree } from "../../test/helpers/fake-sysfs.ts";
import { COLLECT_SCRIPT } from "../machine/collect-script.ts";
import { importSnapshot, parseSnapshot } from "../machine/import.ts";
import { BUILTIN_MACHINES, builtinMachine } from "../machine/index.ts";
import { parseMachine } from "../machine/schema.ts";
import { defaultCostModel } from "../sim/cost.ts";
import { lockClassStats } from "../sim/lock.ts";
import { InputError } from "../stdx/errors.ts";
import { overrideRuns } from "./overrides.ts";
import { bootForRun, type RunContext, type RunResult, runCmdline, runOne } from "./run.ts";
import { applyInput, type RunSpec, type Scenario, type ScenarioInput } from "./scenario.ts";
import { storageControllers } from "./storage.ts";
import { planSweep } from "./sweep.ts";

/** A short random-read job of `jobs` threads on CPUs 0..jobs-1, reading `filename` when given. */
function job(jobs: number, filename?: string, bs = "4k"): string {
  return `[j]\nrw=randread\nbs=${bs}\niodepth=8\nnumjobs=${jobs}\ncpus_allowed=0-${jobs - 1}\ntime_based\nruntime=1\n${filename === undefined ? "" : `filename=${filename}\n`}`;
}

function scenario(input: ScenarioInput): Scenario {
  return applyInput({ kernel: "mainline", durationMs: 1, warmupMs: 1, ...input });
}

const RUN = (mode: RunSpec["mode"], range: RunSpec["range"] = "default", bytes: number | null = null): RunSpec => ({
  name: `${range}-${mode}`,
  mode,
  range,
  bytes,
});

test("an NVMe machine runs: every map goes through the NVMe's domain, and the I/Os complete", () => {
  const s = scenario({ machine: "qemu-q35-nvme", fio: job(2) });
  let ctx: RunContext | null = null;
  const r = runOne(s, RUN("strict"), { observe: (c) => (ctx = c) });
  const c = ctx as RunContext | null;
  assert.ok(c !== null);
  assert.equal(c.seams.seams.length, 1);
  assert.equal(c.seam.dev.name, "0000:00:01.0");
  assert.ok(r.iops > 0 && r.mapsPerSec > 0, `${r.iops} IOPS`);
  assert.ok(r.lockStats.rbtree.acquisitions + r.lockStats.depot.acquisitions >= 0);
});

test("fio's filename= picks the controller: one NVMe of two, or both with their own domains and locks", () => {
  const one = scenario({ machine: "qemu-q35-two-nvme", fio: job(2, "/dev/nvme1n1") });
  let ctx: RunContext | null = null;
  runOne(one, RUN("strict"), { observe: (c) => (ctx = c) });
  const c1 = ctx as RunContext | null;
  assert.ok(c1 !== null);
  assert.deepEqual(
    c1.seams.seams.map((x) => x.dev.name),
    ["0000:00:02.0"],
  );
  const both = scenario({ machine: "qemu-q35-two-nvme", fio: job(2, "/dev/nvme0n1:/dev/nvme1n1") });
  runOne(both, RUN("lazy"), { observe: (c) => (ctx = c) });
  const c2 = ctx as RunContext | null;
  assert.ok(c2 !== null);
  assert.deepEqual(
    c2.seams.seams.map((x) => x.dev.name),
    ["0000:00:01.0", "0000:00:02.0"],
  );
  // Each group its own domain and rbtree lock; the one VT-d unit one invalidation queue.
  assert.notEqual(c2.seams.seams[0].cookie, c2.seams.seams[1].cookie);
  assert.notEqual(c2.seams.seams[0].treeLock, c2.seams.seams[1].treeLock);
  assert.equal(c2.seams.iqs.length, 1);
  assert.equal(c2.seams.seams[0].iq, c2.seams.seams[1].iq);
  for (const x of c2.seams.seams) assert.ok(x.stats.maps > 0, `${x.dev.name} mapped`);
  // A name that is no disk of the machine is an input error that lists them.
  assert.throws(
    () => runOne(scenario({ machine: "qemu-q35-two-nvme", fio: job(1, "/dev/sdq") }), RUN("strict")),
    (e: unknown) =>
      e instanceof InputError &&
      /expected a disk of machine .*\/dev\/nvme0n1, \/dev\/nvme1n1.*found "\/dev\/sdq"/.test(e.message),
  );
});

test("SAS disks by the names sd gives them: filename=/dev/sdc drives the third disk alone, on the HBA's shared tags", () => {
  const s = scenario({ machine: "hisi-sas-128", kernel: "6.1", fio: job(4, "/dev/sdc"), disks: { count: 4 } });
  let ctx: RunContext | null = null;
  const r = runOne(s, RUN("strict"), { observe: (c) => (ctx = c) });
  const c = ctx as RunContext | null;
  assert.ok(c !== null && c.fio !== null);
  assert.ok(r.iops > 0);
  // All four disks of the HBA are simulated (they share its tags and link); only sdc has work.
  assert.deepEqual(
    c.fio.disks.map((d) => d.completed > 0),
    [false, false, true, false],
  );
});

test("NVMe queues: one per group of CPUs, the interrupt on the queue's first CPU, its own tags", () => {
  const s = scenario({ machine: "arm-2s-nvme8" });
  const k = bootForRun(s, RUN("strict"));
  const ctrls = storageControllers(k, s);
  assert.equal(ctrls.length, 8);
  const c = ctrls[0];
  assert.equal(c.kind, "nvme");
  assert.equal(c.diskNames[0], "/dev/nvme0n1");
  // 160 CPUs, 128 queues granted: 128 queues; io_queue_depth 1024 entries, one kept free.
  assert.equal(c.hctxs, 128);
  assert.equal(c.tags, 1023);
  const hctxOf = c.hctxOf as (cpu: number) => number;
  const irq = c.completionCpu as (cpu: number, q: number) => number;
  const used = new Set<number>();
  for (let cpu = 0; cpu < 160; cpu++) {
    const q = hctxOf(cpu);
    used.add(q);
    const at = irq(cpu, q);
    assert.ok(at <= cpu && hctxOf(at) === q, `CPU ${cpu}: queue ${q} completes on ${at}`);
  }
  assert.equal(used.size, 128);
  // The controller's MDTS 5: 128 KiB transfers.
  assert.equal(c.probe.maxHwSectorsKb, 128);
});

test("nvme's max_hw_sectors: capped at dma_opt_mapping_size() on mainline (6.4+), not on 6.1", () => {
  const fio = job(2, undefined, "512k");
  const max = (kernel: "mainline" | "6.1", run: RunSpec) =>
    runOne(scenario({ machine: "qemu-q35-nvme", kernel, fio }), run).maxSectorsKb;
  // QEMU's MDTS 7 allows 512 KiB; the default range's top class is 128 KiB.
  assert.equal(max("mainline", RUN("strict")), 128);
  assert.equal(max("6.1", RUN("strict")), 512);
  assert.equal(max("mainline", RUN("strict", "cmdline", 524288)), 512);
  // The driver's own request (dma_opt_max_transfer=1) is its maximum transfer: 512 KiB.
  assert.equal(max("mainline", RUN("lazy", "driver")), 512);
});

test("passthrough has no IOVA allocator: identity domains, no range, no locks, the I/Os still run", () => {
  const s = scenario({ machine: "qemu-q35-nvme", fio: job(2) });
  const k = bootForRun(s, RUN("passthrough"));
  const nvme = k.device("0000:00:01.0");
  assert.ok(nvme?.bound);
  assert.equal(k.dma.cookieOf(nvme), null);
  const r = runOne(s, RUN("passthrough"));
  assert.equal(r.rcacheOrders, 0);
  assert.equal(r.treeAllocsPerSec, 0);
  assert.equal(r.cachedIovaBytes, 0);
  assert.equal(r.lockStats.rbtree.acquisitions, 0);
  assert.equal(r.lockStats.depot.acquisitions, 0);
  assert.equal(r.cmdqBusyShare, 0);
  assert.ok(r.iops > 0 && r.mapsPerSec > 0);
  assert.match(runCmdline(s, RUN("passthrough")), /^iommu\.passthrough=1 nvme\.dma_opt_max_transfer=0/);
  // A range has nothing to act on.
  assert.throws(() => bootForRun(s, RUN("passthrough", "cmdline", 131072)), InputError);
});

test("flags override a scenario's runs: mode, range and the way it is set; duplicates kept once", () => {
  const seedRuns = applyInput({}).runs;
  assert.deepEqual(
    overrideRuns(seedRuns, { mode: "lazy" }).map((r) => r.name),
    ["default-lazy", "sysfs-lazy", "driver-lazy"],
  );
  assert.deepEqual(overrideRuns(seedRuns, { range: 131072 }), [
    { name: "cmdline-strict", mode: "strict", range: "cmdline", bytes: 131072 },
    { name: "cmdline-lazy", mode: "lazy", range: "cmdline", bytes: 131072 },
  ]);
  assert.deepEqual(overrideRuns(seedRuns, { range: 131072, rangeVia: "sysfs", mode: "strict" }), [
    { name: "sysfs-strict", mode: "strict", range: "sysfs", bytes: 131072 },
  ]);
  assert.deepEqual(overrideRuns(seedRuns, { mode: "passthrough" }), [
    { name: "passthrough", mode: "passthrough", range: "default", bytes: null },
  ]);
  assert.throws(() => overrideRuns(seedRuns, { rangeVia: "cmdline" }), InputError);
  assert.throws(() => overrideRuns(seedRuns, { mode: "passthrough", range: 4096 }), InputError);
});

test("sweep: mode= and range= set every run, machine= takes a description, a wrong key lists them", () => {
  const base = applyInput({ machine: "qemu-q35-nvme", fio: job(1) });
  const tasks = planSweep(
    base,
    [
      { key: "mode", values: ["strict", "passthrough"] },
      { key: "range", values: ["128K"] },
    ],
    "s.yaml",
  );
  assert.ok(tasks.length > 0);
  const desc = builtinMachine("qemu-q35-two-nvme");
  const m = planSweep(base, [{ key: "machine", values: ["mine.yaml"] }], "s.yaml", {
    resolveMachine: (n) => (n === "mine.yaml" ? desc : null),
  });
  assert.equal((m[0].scenario.machineDesc as { name: string }).name, "qemu-q35-two-nvme");
  assert.throws(
    () => planSweep(base, [{ key: "mdoe", values: ["lazy"] }], "s.yaml"),
    (e: unknown) => e instanceof InputError && /expected one of .*, mode, range, found "mdoe"/.test(e.message),
  );
});

test("each IOMMU kind's wait: VT-d's wait descriptor is what a strict unmap on a VT-d machine spins on", () => {
  const fio = job(2);
  const wait = (cost: Record<string, number>) =>
    runOne(scenario({ machine: "qemu-q35-nvme", fio, cost }), RUN("strict")).syncWaitShare;
  const base = wait({});
  // SMMUv3's CMD_SYNC figure does not reach a VT-d machine; its own wait does.
  assert.equal(wait({ iotlbSyncNs: 20_000 }), base);
  assert.ok(wait({ vtdWaitDescriptorNs: 20_000 }) > base * 2, `${base}`);
});

test("VT-d and AMD-Vi write their queue under a per-unit lock, taken by every strict unmap; SMMUv3 under none", () => {
  const locks = (machine: string) => {
    let ctx: RunContext | null = null;
    const r = runOne(scenario({ machine, fio: job(2), disks: { count: 2 } }), RUN("strict"), {
      observe: (c) => (ctx = c),
    });
    const c = ctx as RunContext | null;
    assert.ok(c !== null);
    const lock = c.seams.iqLock;
    const polls = c.seams.iqPolls.reduce((n, p) => n + p.polls, 0);
    return { name: lock?.name ?? null, taken: lock === null ? 0 : lockClassStats([lock]).acquisitions, polls, r };
  };
  const vtd = locks("qemu-q35-nvme");
  assert.equal(vtd.name, "qi->q_lock");
  // One take per strict unmap of the measured window (unmaps lag maps by the I/Os in flight), and
  // one re-take after each poll that found the wait descriptor not done yet: at least one per unmap,
  // as the hardware needs vtdWaitDescriptorNs.
  const unmaps = vtd.taken - vtd.polls;
  assert.ok(unmaps > 0 && Math.abs(unmaps - vtd.r.mapsPerSec * 1e-3) <= 40, `${vtd.taken} takes, ${vtd.polls} polls`);
  assert.ok(vtd.polls >= unmaps, `${vtd.polls} polls for ${unmaps} unmaps`);
  // epyc-nvme has a unit per root complex: its locks are named after their units.
  assert.equal(locks("epyc-nvme").name, "iommu->lock:ivhd0");
  const smmu = locks("hisi-sas-128");
  assert.equal(smmu.name, null);
  // The run's lockStats give the queue lock's class where the kind has one, as lock_stat would list it.
  assert.deepEqual(vtd.r.lockStats.invalidationQueue?.acquisitions, vtd.taken);
  assert.equal(smmu.r.lockStats.invalidationQueue, undefined);
});

/** The runs a machine is checked with: strict and lazy with the range set each way, and passthrough. */
function runsFor(storage: boolean): RunSpec[] {
  const runs = [RUN("strict"), RUN("lazy"), RUN("strict", "cmdline", 524288), RUN("lazy", "cmdline", 524288)];
  runs.push(RUN("strict", "sysfs", 524288));
  // The driver's own request is a storage driver's (hisi_sas_v3_hw, nvme); a NIC driver makes none.
  if (storage) runs.push(RUN("lazy", "driver"));
  runs.push(RUN("passthrough"));
  return runs;
}

/** No figure of a run is NaN or infinite, its maps have a latency, and a network run carries packets both ways. */
function assertSane(r: RunResult, label: string): void {
  const walk = (v: unknown, path: string): void => {
    if (typeof v === "number") assert.ok(Number.isFinite(v), `${label}: ${path} is ${v}`);
    else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) walk(v[i], `${path}[${i}]`);
    else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
  };
  walk(r, "run");
  assert.ok(
    r.mapLatencyNs !== null && r.mapLatencyNs.p50 > 0,
    `${label}: map latency ${JSON.stringify(r.mapLatencyNs)}`,
  );
  if (r.network !== undefined) {
    assert.ok(r.network.rxPacketsPerSec > 0 && r.network.txPacketsPerSec > 0, `${label}: ${JSON.stringify(r.network)}`);
  }
}

for (const name of BUILTIN_MACHINES) {
  test(`built-in ${name} runs strict, lazy (range by each way) and passthrough`, () => {
    const desc = builtinMachine(name);
    assert.ok(desc !== null);
    const storage = desc.drivers.some((d) => d.model === "nvme" || d.model === "hisi_sas_v3_hw");
    const jobs = Math.min(desc.cpus, 4);
    const s = scenario(
      storage
        ? { machine: name, fio: job(jobs), disks: { count: 2 } }
        : { machine: name, workload: { kind: "network", queues: jobs, packetsPerSecPerQueue: 100_000 } },
    );
    for (const run of runsFor(storage)) {
      const r = runOne(s, run);
      assert.ok(r.iops > 0, `${name} ${run.name}: ${r.iops}`);
      assertSane(r, `${name} ${run.name}`);
      if (run.mode === "passthrough") assert.equal(r.rcacheOrders, 0);
      else assert.ok(r.rcacheOrders >= 6, `${name} ${run.name}: K=${r.rcacheOrders}`);
      if (run.range === "cmdline" || run.range === "sysfs") assert.equal(r.rangeSource, run.range);
    }
  });
}

test("a machine imported from a snapshot runs strict, lazy and passthrough", (t) => {
  const fixture = new URL("../../test/fixtures/collect/qemu-q35-6.1.tree.json", import.meta.url);
  const tree = JSON.parse(readFileSync(fixture, "utf8")) as FakeTree;
  const dir = mkdtempSync(join(tmpdir(), "iovalab-machines-"));
  let json: string;
  try {
    writeTree(join(dir, "root"), tree);
    writeFileSync(join(dir, "collect.sh"), COLLECT_SCRIPT);
    const r = spawnSync("sh", [join(dir, "collect.sh")], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", IOVALAB_ROOT: join(dir, "root") },
      encoding: "utf8",
    });
    if (r.status !== 0) {
      t.skip(`sh could not run the collect script: ${r.stderr}`);
      return;
    }
    json = r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const imported = importSnapshot(parseSnapshot(json, "snap.json"), "snap.json");
  const desc = parseMachine(imported.yaml, "snap.yaml");
  const s = { ...scenario({ machine: "snap.yaml", fio: job(2) }), machineDesc: desc };
  for (const run of runsFor(true)) {
    const r = runOne(s, run);
    assert.ok(r.iops > 0, `${run.name}: ${r.iops}`);
    assertSane(r, `snapshot ${run.name}`);
  }
});

test("a SAS HBA's can_queue, host link, disks and completion queues are the machine description's; a scenario's keys are what-ifs over them", () => {
  const seed = scenario({});
  const [hisi] = storageControllers(bootForRun(seed, RUN("strict")), seed);
  assert.equal(hisi.tags, 4096);
  assert.equal(hisi.linkBytesPerSec, 7.4e9);
  assert.equal(hisi.diskNames.length, 12);
  assert.deepEqual(hisi.diskParams, {
    iopsMax: 200_000,
    bandwidthBytesPerSec: 1.1e9,
    latencyNs: 80_000,
    queueDepth: 32,
  });
  // 16 managed-affinity completion queues over 128 CPUs: CPU 13 completes on CPU 8, CPU 127 on 120.
  const done = hisi.completionCpu as (cpu: number, hctx: number) => number;
  assert.deepEqual([done(0, 0), done(13, 0), done(127, 0)], [0, 8, 120]);
  // Another HBA of the same driver, described in a machine file: its own figures reach the run.
  const desc = builtinMachine("hisi-sas-128");
  assert.ok(desc !== null);
  const other = {
    ...desc,
    name: "small-hba",
    devices: desc.devices.map((d) =>
      d.sas === undefined
        ? d
        : {
            ...d,
            sas: {
              canQueue: 64,
              linkBytesPerSec: 2e9,
              completionQueues: 0,
              disk: { iopsMax: 50_000, bandwidthBytesPerSec: 5e8, latencyNs: 100_000, queueDepth: 8 },
            },
          },
    ),
    drivers: desc.drivers.map((d) => (d.model === "hisi_sas_v3_hw" ? { ...d, disks: 4 } : d)),
  };
  const s2 = scenario({ machine: "small-hba.yaml", machineDesc: other, fio: job(4) });
  const [small] = storageControllers(bootForRun(s2, RUN("strict")), s2);
  assert.deepEqual(
    { tags: small.tags, link: small.linkBytesPerSec, disks: small.diskNames.length, done: small.completionCpu },
    { tags: 64, link: 2e9, disks: 4, done: null },
  );
  assert.equal(small.diskParams.queueDepth, 8);
  const r = runOne(s2, RUN("lazy"));
  assert.ok(r.iops > 0 && r.iops <= 4 * 50_000 * 1.01, `${r.iops} IOPS`);
  // The scenario's keys override what they name and nothing else.
  const s3 = scenario({ machine: "small-hba.yaml", machineDesc: other, hba: { canQueue: 32 }, disks: { count: 2 } });
  const [what] = storageControllers(bootForRun(s3, RUN("strict")), s3);
  assert.deepEqual([what.tags, what.linkBytesPerSec, what.diskNames.length], [32, 2e9, 2]);
});

test("several IOMMU units: each device's unit has its own invalidation queue and, on VT-d and AMD-Vi, its own lock", () => {
  // arm-2s-nvme8: an SMMU per socket, SSDs 0-3 behind the first, 4-7 behind the second.
  let ctx: RunContext | null = null;
  const s = scenario({ machine: "arm-2s-nvme8", fio: job(4, "/dev/nvme0n1:/dev/nvme4n1") });
  const r = runOne(s, RUN("strict"), { observe: (c) => (ctx = c) });
  const c = ctx as RunContext | null;
  assert.ok(c !== null && r.iops > 0);
  assert.deepEqual(
    c.seams.iqs.map((q) => q.name),
    ["smmu-cmdq:smmu3.0x0000100010000000", "smmu-cmdq:smmu3.0x0000500010000000"],
  );
  assert.deepEqual(
    c.seams.seams.map((x) => [x.dev.name, x.iq.name]),
    [
      ["0000:01:00.0", "smmu-cmdq:smmu3.0x0000100010000000"],
      ["0001:01:00.0", "smmu-cmdq:smmu3.0x0000500010000000"],
    ],
  );
  for (const q of c.seams.iqs) assert.ok(q.stats().busyNs > 0, `${q.name} served nothing`);
  // Two SSDs behind one socket's SMMU share its queue.
  runOne(scenario({ machine: "arm-2s-nvme8", fio: job(4, "/dev/nvme0n1:/dev/nvme1n1") }), RUN("strict"), {
    observe: (x) => (ctx = x),
  });
  const one = ctx as RunContext | null;
  assert.ok(one !== null);
  assert.equal(one.seams.seams.length, 2);
  assert.equal(one.seams.iqs.length, 1);
  assert.equal(one.seams.seams[0].iq, one.seams.seams[1].iq);
  // A unit a device names must exist.
  const desc = builtinMachine("arm-2s-nvme8");
  assert.ok(desc !== null);
  const bad = { ...desc, devices: desc.devices.map((d, i) => (i === 2 ? { ...d, iommuUnit: "smmu9" } : d)) };
  assert.throws(
    () => parseMachine(JSON.stringify(bad, null, 1), "m.json"),
    (e: unknown) =>
      e instanceof InputError &&
      /^m\.json:\d+: devices\[2\]\.iommuUnit: expected one of iommu\.units \(smmu3\.0x0000100010000000, smmu3\.0x0000500010000000\), found "smmu9"$/.test(
        e.message,
      ),
  );
});

test("AMD-Vi waits for its COMPLETION_WAIT inside iommu->lock; VT-d holds qi->q_lock for each poll, dropping it between polls", () => {
  const held = (machine: string) => {
    let ctx: RunContext | null = null;
    runOne(scenario({ machine, fio: job(2) }), RUN("strict"), { observe: (c) => (ctx = c) });
    const c = ctx as RunContext | null;
    assert.ok(c !== null && c.seams.iqLock !== null);
    return lockClassStats([c.seams.iqLock]);
  };
  const amd = held("epyc-nvme");
  const vtd = held("qemu-q35-nvme");
  // Held across the wait: at least the 1000 ns udelay step per hold. VT-d's holds are one poll's
  // fault-status read each (vtdFaultCheckNs) and the last take that finds the wait done (none).
  assert.ok(amd.acquisitions > 0 && amd.holdNsAvg >= 1000, JSON.stringify(amd));
  const check = defaultCostModel().vtdFaultCheckNs.ns;
  assert.ok(vtd.acquisitions > 0 && vtd.holdNsAvg > check / 2 && vtd.holdNsAvg < check, JSON.stringify(vtd));
});

test("one fio thread of two files switches file after every I/O (file_service_type=roundrobin), or after N with :N", () => {
  const served = (extra: string) => {
    let ctx: RunContext | null = null;
    const fio = `${job(1, "/dev/nvme0n1:/dev/nvme1n1")}${extra}`;
    runOne(scenario({ machine: "qemu-q35-two-nvme", fio }), RUN("lazy"), { observe: (c) => (ctx = c) });
    const c = ctx as RunContext | null;
    assert.ok(c !== null && c.fio !== null);
    assert.equal(c.seams.seams.length, 2, "both controllers' domains are driven by the one thread");
    return c.fio.disks.map((d) => d.completed);
  };
  // Alternating I/Os: the two disks' counts differ by no more than the I/Os in flight (iodepth 8).
  const [a, b] = served("");
  assert.ok(a > 20 && Math.abs(a - b) <= 8, `${a} and ${b} I/Os`);
  const [c, d] = served("file_service_type=roundrobin:64\n");
  // 64 I/Os on the first file before the first switch: in the first millisecond it leads.
  assert.ok(c > 20 && c - d >= 16 && Math.abs(c - d) <= 64 + 8, `${c} and ${d} I/Os`);
});
