/**
 * One run of a scenario on any machine: boot it with the run's IOMMU mode
 * (strict, lazy, or passthrough: identity domains) and range source (set
 * exactly as a user would: each storage driver's module parameter, the
 * command line, or sysfs while the workload's devices are unbound), wire the
 * workload to the simulated CPUs and devices (fio on every storage
 * controller its jobs name, storage.ts; a NIC's rings; a trace), route every
 * map/unmap through the kernel model (one seam per IOMMU group,
 * seam-set.ts), run the warm-up, reset the figures, run the measured window,
 * and read the figures off, summed over the domains. No Node APIs: runs in
 * worker threads and browsers alike.
 */

import { RANGE_REQUEST_PARAMS } from "../driver/drivers.ts";
import { maxCachedBytes } from "../iova/range.ts";
import {
  BUILTIN_MACHINES,
  bootMachine,
  builtinMachine,
  type DeviceDesc,
  type MachineDesc,
  Shell,
} from "../machine/index.ts";
import type { Kernel } from "../machine/kernel.ts";
import { defaultReplayDevice } from "../replay/replay.ts";
import { type CostModel, defaultCostModel, withOverrides } from "../sim/cost.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import { type LockClassStats, lockClassStats } from "../sim/lock.ts";
import { assert } from "../stdx/assert.ts";
import { InputError, quote } from "../stdx/errors.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { expandJobs, parseFioJobFile } from "../workload/fio.ts";
import { type FioController, FioRun } from "../workload/fio-run.ts";
import { NetworkRun } from "../workload/network-run.ts";
import { TraceRun } from "../workload/trace-run.ts";
import { DmaCallRecorder } from "./dma-record.ts";
import { fastForward, findCycle } from "./fast-forward.ts";
import {
  type NetworkWorkload,
  NIC_FALLBACK,
  PACKET_MIXES,
  type RunSpec,
  type Scenario,
  scenarioOfRun,
  type TraceWorkload,
} from "./scenario.ts";
import { emptyStats, type KernelDmaSeam, REPORT_CLASSES, type SeamStats } from "./seam.ts";
import { SeamSet } from "./seam-set.ts";
import { SEED_SETTLE_RULE, StreamMix } from "./settle.ts";
import { type StorageController, storageControllers } from "./storage.ts";

const MS = 1_000_000;

/** A latency's quantiles in ns; null when nothing of the kind happened in the measured window (a stage that never ran). */
export type LatencyQuantiles = { p50: number; p99: number } | null;

/** A network run's packets per second, carried and dropped (measured window). */
export interface NetworkFigures {
  rxPacketsPerSec: number;
  txPacketsPerSec: number;
  /** Received packets the NIC dropped: the driver had too few RX buffers posted. */
  rxDroppedPerSec: number;
  /** Packets to send that were dropped: the TX ring full, or the sender a ring's worth behind. */
  txDroppedPerSec: number;
}

/** The figures of one run, keys in the order of `iovalab run --json` (issue 5 item 4). */
export interface RunResult {
  name: string;
  mode: "strict" | "lazy" | "passthrough";
  rangeSource: "default" | "cmdline" | "driver" | "sysfs";
  rcacheOrders: number;
  iops: number;
  mapLatencyNs: LatencyQuantiles;
  treeAllocsPerSec: number;
  walkStepsPerTreeAlloc: number;
  lockWaitShare: number;
  cacheHitRate: number;
  /** Per size class (class 0 first), hits over allocations of that class; null where none was made. */
  cacheHitRateByClass: (number | null)[];
  cachedIovaBytes: number;
  cachedIovaBytesByClass: number[];
  magazineBytes: number;
  magazineBytesByClass: number[];
  // More fields, after the ones the issue fixes:
  simulatedMs: number;
  warmupMs: number;
  maxSectorsKb: number;
  requestBytesMean: number;
  mapsPerSec: number;
  /**
   * Requests completed per second, and their bytes: below the maps while the
   * queues fill (a run shorter than its queues take to fill maps more than
   * the devices complete).
   */
  requestsPerSec: number;
  bytesPerSec: number;
  /** Maps the DMA layer failed per second (the domain's IOVA space exhausted; fio requests go back to their queue). */
  mapFailuresPerSec: number;
  syncWaitShare: number;
  busyShare: number;
  rbtreeLockBusyShare: number;
  cmdqBusyShare: number;
  ioLatencyNs: LatencyQuantiles;
  liveIovas: number;
  /** Per lock class, over every lock of the class, as `/proc/lock_stat` gives them (measured window only). */
  lockStats: {
    rbtree: LockClassStats;
    depot: LockClassStats;
    /** The invalidation queue's lock (VT-d's qi->q_lock, AMD-Vi's iommu->lock), over every unit; absent where there is none (SMMUv3, passthrough). */
    invalidationQueue?: LockClassStats;
  };
  /** The range in bytes: the largest size the rcaches hold (granule << (rcacheOrders - 1)). */
  rangeBytes: number;
  /** The IOVA space the device's mappings may use: its DMA mask clipped by the domain's aperture, in bytes. */
  iovaSpaceBytes: number;
  /** Of `cachedIovaBytes`, what lies in the 32-bit window (below 4 GiB), which SAC-first allocations search first. */
  cachedIovaBytesBelow4G: number;
  /** The most magazine memory the caches can hold (two magazines per CPU and a full depot per class); null where the depot has no cap (6.12 on). */
  magazineBytesMax: number | null;
  /** A network run's packets, carried and dropped (absent for fio and trace runs). */
  network?: NetworkFigures;
}

export interface RunOptions {
  /** Called now and then with the simulated fraction done (0..1). */
  onProgress?: (fraction: number) => void;
  /** Invariants of every component every this many events (0: never). */
  checkEveryEvents?: number;
  /** Gets the engine, kernel and seam before the run starts (the Perfetto writer hooks in here). */
  observe?: (ctx: RunContext) => void;
  /** A trace workload's calls, reconstructed by the caller from `workload.file` (the model reads no files). */
  traceCalls?: readonly DmaCall[];
}

export interface RunContext {
  engine: Engine;
  kernel: Kernel;
  /** The first device's DMA domain (a passthrough run has none, and no observer). */
  seam: KernelDmaSeam;
  /** Every domain the run drives. */
  seams: SeamSet;
  cpus: Cpu[];
  /** The workload's runner: fio jobs, or a NIC's rings. */
  fio: FioRun | null;
  net: NetworkRun | null;
  startNs: number;
  warmupEndNs: number;
  endNs: number;
}

/**
 * The kernel command line of one run: its mode and, but for the sysfs route
 * (written after boot, see `bootForRun`), its range.
 */
export function runCmdline(s: Scenario, run: RunSpec): string {
  const machine = machineOf(s);
  // Passthrough: identity default domains, no IOVA allocator, so no range to set.
  const words = [run.mode === "passthrough" ? "iommu.passthrough=1" : `iommu.strict=${run.mode === "strict" ? 1 : 0}`];
  // Each storage driver's range request (its module parameter): on for a driver run, off otherwise.
  for (const d of machine.drivers) {
    const p = RANGE_REQUEST_PARAMS[d.model];
    if (p === undefined) continue;
    if (run.range !== "driver" || run.mode === "passthrough") words.push(`${d.name}.${p.param}=${p.off}`);
    else if (run.bytes !== null) {
      if (!p.takesBytes) {
        throw new InputError(
          `run ${run.name}: bytes: expected none with range driver on ${d.name} (its ${p.param} asks for the controller's maximum transfer), found ${run.bytes}`,
        );
      }
      words.push(`${d.name}.${p.param}=${run.bytes}`);
    } else if (p.on !== null) words.push(`${d.name}.${p.param}=${p.on}`);
  }
  if (run.range === "cmdline") words.push(`iommu.max_opt_dma_size=${run.bytes}`);
  if (s.cmdline !== "") words.push(s.cmdline);
  return words.join(" ");
}

/** The devices whose groups a run's sysfs route sets: the storage controllers, the NIC, or the trace's device. */
export function workloadDevices(k: Kernel, s: Scenario) {
  if (s.workload.kind === "fio") return storageControllers(k, s).map((c) => c.dev);
  if (s.workload.kind === "network") return [nicDevice(k)];
  return [traceDevice(k, s.workload)];
}

/** The scenario's machine: its inline description (from a file), or the built-in it names. */
export function machineOf(s: Scenario): MachineDesc {
  if (s.machineDesc !== null) return s.machineDesc;
  const m = builtinMachine(s.machine);
  if (m === null) {
    throw new InputError(
      `${s.name}: machine: expected a built-in machine (${BUILTIN_MACHINES.join(", ")}) or a description file read by the caller, found ${quote(s.machine)}`,
    );
  }
  return m;
}

/** Boots the machine for one run and sets its range the way the run says. */
export function bootForRun(s: Scenario, run: RunSpec): Kernel {
  if (run.mode === "passthrough" && run.range !== "default") {
    throw new InputError(
      `run ${run.name}: range: expected default with mode passthrough (an identity domain has no IOVA allocator, so no range), found ${run.range}`,
    );
  }
  const k = bootMachine(machineOf(s), { kernel: run.kernel ?? s.kernel, cmdline: runCmdline(s, run) });
  if (run.range === "sysfs") {
    // The sysfs route: unbind every device of each storage group, write the group's file, bind
    // again (docs/configurable-range.md); the group's range applies to its next domain.
    const lines: string[] = [];
    const done = new Set<number>();
    for (const dev of workloadDevices(k, s)) {
      const group = k.groupOf(dev);
      if (group === null || done.has(group.id)) continue;
      done.add(group.id);
      const bound = group.devices.filter((d) => d.bound && d.driver !== null);
      for (const d of bound) lines.push(`echo ${d.name} > /sys/bus/pci/drivers/${d.driver}/unbind`);
      lines.push(`echo ${run.bytes} > /sys/kernel/iommu_groups/${group.id}/max_opt_dma_size`);
      for (const d of bound) lines.push(`echo ${d.name} > /sys/bus/pci/drivers/${d.driver}/bind`);
    }
    if (lines.length === 0) {
      throw new InputError(
        `run ${run.name}: range sysfs: expected a device of the ${s.workload.kind} workload on machine ${k.machine.name}, found none`,
      );
    }
    const r = new Shell(k).runScript(lines.join("\n"));
    if (r.stderr !== "")
      throw new InputError(`run ${run.name}: setting the range through sysfs failed: ${r.stderr.trim()}`);
  }
  return k;
}

/** The instant a run's workload starts: the first whole second after the kernel's clock. */
export function workloadStartNs(k: Kernel): number {
  return (Math.floor(k.nowNs / SECOND) + 1) * SECOND;
}

const SECOND = 1000 * MS;

/** Runs one run of a scenario to the end and returns its figures. */
export function runOne(scenario: Scenario, run: RunSpec, opts: RunOptions = {}): RunResult {
  const s = scenarioOfRun(scenario, run);
  const cost = iommuKindCost(withOverrides(defaultCostModel(), s.cost, "cost"), machineOf(s).iommu.kind);
  const k = bootForRun(s, run);
  const storage = storageControllers(k, s);
  // The workload starts at the first whole second after the boot and the range's set-up
  // (the sysfs route takes a few ms more than the others): every route starts at the same instant.
  const engine = new Engine({ seed: s.seed, checkEveryEvents: opts.checkEveryEvents ?? 0 });
  const startNs = workloadStartNs(k);
  engine.nowNs = startNs;
  k.advanceTo(startNs);
  const cpus = Array.from({ length: k.cpus }, (_, i) => new Cpu(engine, i));
  let seams: SeamSet;
  let fio: FioRun | null = null;
  let net: NetworkRun | null = null;
  let trace: TraceRun | null = null;
  let runner: Workload;
  if (s.workload.kind === "network") {
    const nic = nicDevice(k);
    seams = new SeamSet(engine, k, [nic], cost, cpus);
    const port = networkPort(s.workload, k.machine.devices.find((d) => d.bdf === nic.name)?.nic, k.cpus);
    net = networkRun(s, s.workload, port, engine, cpus, cost, seams);
    runner = net;
  } else if (s.workload.kind === "trace") {
    if (opts.traceCalls === undefined) {
      throw new InputError(
        `${s.name}: workload.file: expected the trace's calls from the caller (the CLI reads ${quote(s.workload.file)}), found none`,
      );
    }
    seams = new SeamSet(engine, k, [traceDevice(k, s.workload)], cost, cpus);
    trace = new TraceRun({
      engine,
      cpus,
      calls: opts.traceCalls,
      timeScale: s.workload.timeScale,
      dma: seams,
      device: 0,
    });
    runner = trace;
  } else {
    const made = fioRun(s, k, storage, engine, cpus, cost);
    fio = made.run;
    seams = made.seams;
    runner = fio;
  }
  const seam = seams.seams[0] as KernelDmaSeam | undefined;
  engine.register({ name: "workload", verifyInvariants: () => runner.verifyInvariants() });
  engine.register({ name: "kernel", verifyInvariants: () => k.verifyInvariants() });
  const warmupEndNs = startNs + Math.round(s.warmupMs * MS);
  const endNs = warmupEndNs + Math.round(s.durationMs * MS);
  if (opts.observe !== undefined) {
    if (seam === undefined) {
      throw new InputError(
        `run ${run.name}: expected a DMA domain to observe, found only identity domains (passthrough)`,
      );
    }
    opts.observe({ engine, kernel: k, seam, seams, cpus, fio, net, startNs, warmupEndNs, endNs });
  }
  const slices = 50;
  let measuring = false;
  let from = startNs;
  let fastForwardedNs = 0;
  if (fastForwards(s)) {
    if (seam === undefined || seams.seams.length !== 1) {
      throw new InputError(
        `${s.name}: fastForward: expected a run on one DMA domain, found ${seams.seams.length} (run ${run.name})`,
      );
    }
    fastForwardedNs = ageFast(engine, seam, startNs, warmupEndNs, (done) =>
      opts.onProgress?.((done - startNs) / (endNs - startNs)),
    );
    from = engine.nowNs;
  }
  // With a fast-forward the engine's clock stays behind the kernel's by what it skipped.
  const warmupEndEngineNs = warmupEndNs - fastForwardedNs;
  const endEngineNs = endNs - fastForwardedNs;
  const step = (endEngineNs - from) / slices;
  for (let i = 1; i <= slices; i++) {
    const t = from + Math.round(step * i);
    if (!measuring && t >= warmupEndEngineNs) {
      engine.run(warmupEndEngineNs);
      resetAll(runner, seams, cpus);
      measuring = true;
    }
    engine.run(t);
    opts.onProgress?.((fastForwardedNs + t - startNs) / (endNs - startNs));
  }
  assert(measuring && engine.nowNs === endEngineNs, "the run ends at its end");
  k.advanceTo(seam === undefined ? engine.nowNs : seam.kernelTimeNs);
  return collect(s, run, k, figures(fio, net, trace), seams, cpus, storage[0]?.probe.maxSectorsKb ?? 0);
}

/**
 * The wait a strict unmap (and a flush-queue flush) spins on, by the IOMMU
 * kind: every kind queues an invalidation command and then a command whose
 * completion the CPU waits for — SMMUv3's CMD_SYNC (`iotlbSyncNs`), VT-d's
 * wait descriptor (`vtdWaitDescriptorNs`), AMD-Vi's COMPLETION_WAIT
 * (`amdCompletionWaitNs`); the charge (sim/charge.ts) reads `iotlbSyncNs`.
 */
export function iommuKindCost(cost: CostModel, kind: MachineDesc["iommu"]["kind"]): CostModel {
  switch (kind) {
    case "arm-smmu-v3":
      return cost;
    case "intel-vtd":
      return { ...cost, iotlbSyncNs: cost.vtdWaitDescriptorNs };
    case "amd-vi":
      return { ...cost, iotlbSyncNs: cost.amdCompletionWaitNs };
  }
}

/** The workload settles in time, window by window, until its stream of maps is steady (settle.ts)... */
const FF_SETTLE_WINDOW_NS = 250 * MS;
/** ...but for no longer than this: a stream that never settles is repeated as it is by then. */
const FF_SETTLE_MAX_NS = 10_000 * MS;
/** Each stretch of the stream recorded in time for a fast-forward to repeat. */
const FF_RECORD_NS = 50 * MS;
/** A recording with no cycle goes on for at most this many stretches in all. */
const FF_RECORD_MAX = 8;
/** Each fast-forward covers at least this many recorded stretches... */
const FF_MIN_RATIO = 4;
/** ...or this share of the age reached so far, whichever is more. */
const FF_AGE_SHARE = 0.25;
/**
 * Whether the warm-up is fast-forwarded: only when the scenario asks
 * (`fastForward: true`, `--fast-forward`): a timed warm-up is exact, a
 * fast-forwarded one agrees with it within the noise of its seeds
 * (docs/cost-model.md, "Ageing fast-forward"); never for a trace workload
 * (a trace is not a stream to repeat).
 */
function fastForwards(s: Scenario): boolean {
  return s.fastForward && s.workload.kind !== "trace";
}

/**
 * Ages the machine to `warmupEndNs` (kernel time): the workload settles in
 * time (settle.ts), then turns: a stretch in
 * time, recorded, then a fast-forward repeating it on the kernel model alone
 * (fast-forward.ts) for a quarter of the age reached (at least four
 * stretches), so that what the ageing changes in the stream (request sizes as
 * merging follows the disks' and the locks' pace, which CPUs map) comes back
 * into it at every turn, on a geometric time scale. The last stretch before
 * the end runs in time. Returns the kernel time skipped.
 */
function ageFast(
  engine: Engine,
  seam: KernelDmaSeam,
  startNs: number,
  warmupEndNs: number,
  onProgress: (kernelNs: number) => void,
): number {
  // Too short to gain: the warm-up runs in time.
  const room = (FF_MIN_RATIO + 2) * FF_RECORD_NS;
  if (warmupEndNs - startNs < SEED_SETTLE_RULE.minWindows * FF_SETTLE_WINDOW_NS + room) return 0;
  // The workload's own start-up runs in time: a recording made before its stream settles
  // would age the machine as a young workload does, however long it is repeated.
  const mix = new StreamMix(REPORT_CLASSES);
  const counts0 = new Float64Array(REPORT_CLASSES);
  const settleEndNs = Math.min(startNs + FF_SETTLE_MAX_NS, warmupEndNs - room);
  while (engine.nowNs + FF_SETTLE_WINDOW_NS <= settleEndNs && !mix.settled(SEED_SETTLE_RULE)) {
    counts0.set(seam.stats.allocsByClass);
    engine.run(engine.nowNs + FF_SETTLE_WINDOW_NS);
    mix.push(seam.stats.allocsByClass.map((n, c) => n - counts0[c]));
  }
  // Only a fast-forwarded run draws these numbers: a timed one stays as it was.
  const prng = engine.prng.derive();
  // Each turn needs room for its recording, one cycle at least, and a last stretch in time.
  while (warmupEndNs - seam.kernelTimeNs >= 3 * FF_RECORD_NS) {
    const rec = new DmaCallRecorder();
    seam.recorder = rec;
    engine.run(engine.nowNs + FF_RECORD_NS);
    let cycle = findCycle(rec, engine.nowNs, seam.live, FF_RECORD_NS / 2);
    // No stretch of it starts and ends with as many live mappings (the count drifted): record
    // on. Giving up here aged the rest of the warm-up in time — most of an hour.
    for (
      let more = 1;
      cycle === null && more < FF_RECORD_MAX && warmupEndNs - seam.kernelTimeNs >= 3 * FF_RECORD_NS;
      more++
    ) {
      engine.run(engine.nowNs + FF_RECORD_NS);
      cycle = findCycle(rec, engine.nowNs, seam.live, FF_RECORD_NS / 2);
    }
    seam.recorder = null;
    const left = warmupEndNs - seam.kernelTimeNs;
    if (cycle === null) continue;
    const wantNs = Math.max(FF_MIN_RATIO * cycle.spanNs, FF_AGE_SHARE * (seam.kernelTimeNs - startNs));
    // Whole cycles, leaving at least one recorded stretch to the end in time.
    const cycles = Math.floor(Math.min(wantNs, left - FF_RECORD_NS) / cycle.spanNs);
    if (cycles <= 0) break;
    const before = seam.kernelTimeNs;
    fastForward(seam, rec, cycle, cycles, prng, (k) => onProgress(before + k * cycle.spanNs));
  }
  return seam.kernelOffsetNs;
}

/** What runs and what collect() reads, for either workload. */
interface Workload {
  resetStats(): void;
  verifyInvariants(): void;
}

interface WorkloadFigures {
  /** I/Os or packets. */
  ios: number;
  /** Requests (packets, a trace's maps) completed, and their bytes. */
  completedRequests: number;
  bytes: number;
  requestBytesMean: number;
  mapLatencyNs: Histogram;
  ioLatencyNs: Histogram;
  network?: NetworkCounts;
}

interface Histogram {
  readonly count: number;
  quantile(q: number): number;
}

interface NetworkCounts {
  rxPackets: number;
  txPackets: number;
  rxDropped: number;
  txDropped: number;
}

/** p50 and p99 of a histogram, or null if it has no sample. */
function quantiles(h: Histogram): LatencyQuantiles {
  return h.count === 0 ? null : { p50: h.quantile(0.5), p99: h.quantile(0.99) };
}

function figures(fio: FioRun | null, net: NetworkRun | null, trace: TraceRun | null): WorkloadFigures {
  if (fio !== null) return fio.stats;
  if (trace !== null) {
    // A trace's "I/Os" are its map calls; a call's latency is its backlog plus its cost.
    const st = trace.stats;
    return {
      ios: st.maps,
      completedRequests: st.maps,
      bytes: st.mapBytes,
      requestBytesMean: st.maps === 0 ? 0 : st.mapBytes / st.maps,
      mapLatencyNs: st.callLatencyNs,
      ioLatencyNs: st.callLatencyNs,
    };
  }
  assert(net !== null, "a run has a workload");
  const st = net.stats;
  const packets = st.rxPackets + st.txPackets;
  return {
    ios: packets,
    completedRequests: packets,
    bytes: st.bytes,
    requestBytesMean: packets === 0 ? 0 : st.bytes / packets,
    mapLatencyNs: st.mapLatencyNs,
    ioLatencyNs: st.txLatencyNs,
    network: st,
  };
}

/**
 * The fio job on the machine's storage: each job instance reads the disks
 * its `filename=` names (several, `:`-separated: the instance opens them all
 * and switches between them per I/O, round robin by default, as fio's
 * `file_service_type`), or, without one, disk (i + 7 x job) over all disks.
 * Only the controllers some instance drives are simulated.
 */
function fioRun(
  s: Scenario,
  k: Kernel,
  storage: readonly StorageController[],
  engine: Engine,
  cpus: Cpu[],
  cost: CostModel,
): { run: FioRun; seams: SeamSet } {
  const where = `${s.name}.fio`;
  const { jobs } = parseFioJobFile(s.fio, where);
  const instances = expandJobs(jobs, cpus.length);
  const all = storage.flatMap((c) => c.diskNames.map((name) => ({ name, ctrl: c })));
  if (all.length === 0) {
    throw new InputError(
      `machine ${k.machine.name}: expected a bound storage device (nvme, hisi_sas_v3_hw) with disks for a fio workload, found none`,
    );
  }
  // Each instance's disks, as indices into `all`.
  const want = instances.map((inst) => {
    const f = inst.job.filename;
    if (f === null) return [(inst.index + jobs.indexOf(inst.job) * 7) % all.length];
    const names = f.split(":").filter((x) => x !== "");
    return names.map((name) => {
      const i = all.findIndex((d) => d.name === name);
      if (i < 0) {
        throw new InputError(
          `${where}: [${inst.job.name}]: filename: expected a disk of machine ${k.machine.name} (${all.map((d) => d.name).join(", ")}), found ${quote(name)}`,
        );
      }
      return i;
    });
  });
  // The controllers driven, in bus order, with all their disks (a SAS HBA's disks share its tags).
  const used = storage.filter((c) => want.some((files) => files.some((i) => all[i].ctrl === c)));
  const order = used.flatMap((c) => c.diskNames.map((name) => all.findIndex((d) => d.name === name)));
  const diskIndex = new Map(order.map((a, i) => [a, i]));
  const controllers: FioController[] = used.map((c) => ({
    name: used.length === 1 ? "hba0" : c.dev.name,
    disks: c.diskNames.length,
    diskParams: c.diskParams,
    limits: c.limits,
    tags: c.tags,
    hctxs: c.hctxs,
    ...(c.hctxOf === null ? {} : { hctxOf: c.hctxOf }),
    linkBytesPerSec: c.linkBytesPerSec,
    ...(c.completionCpu === null
      ? {}
      : { completionCpu: (d: Cpu, q: number) => cpus[(c.completionCpu as (a: number, b: number) => number)(d.id, q)] }),
  }));
  const devices = used.flatMap((c) => c.diskNames.map(() => c.dev));
  const seams = new SeamSet(engine, k, devices, cost, cpus);
  return {
    seams,
    run: new FioRun({
      engine,
      cpus,
      instances,
      diskOf: (inst) => diskIndex.get(want[instances.indexOf(inst)][0]) as number,
      filesOf: (inst) => want[instances.indexOf(inst)].map((i) => diskIndex.get(i) as number),
      diskBytes: 2 ** 40,
      controllers,
      cost,
      dma: seams,
    }),
  };
}

/**
 * The queue pairs and line rate a network run drives: the scenario's where
 * it sets them, else the port's own as its machine description gives them (a
 * driver sets up as many combined channels as the port has queue pairs, but
 * no more than the CPUs), else NIC_FALLBACK's.
 */
export function networkPort(
  w: Pick<NetworkWorkload, "queues" | "lineRateBitsPerSec">,
  nic: DeviceDesc["nic"],
  cpus: number,
): { queues: number; lineRateBitsPerSec: number } {
  return {
    queues: w.queues ?? (nic === undefined ? NIC_FALLBACK.queues : Math.min(nic.rxQueues, nic.txQueues, cpus)),
    lineRateBitsPerSec:
      w.lineRateBitsPerSec ?? (nic?.speedMbps === undefined ? NIC_FALLBACK.lineRateBitsPerSec : nic.speedMbps * 1e6),
  };
}

/**
 * The queue pairs spread evenly over the CPUs: queue q on CPU q * (cpus / queues), rounded down.
 * `port`: the queues and line rate `networkPort` chose.
 */
function networkRun(
  s: Scenario,
  w: NetworkWorkload,
  port: { queues: number; lineRateBitsPerSec: number },
  engine: Engine,
  cpus: Cpu[],
  cost: CostModel,
  seam: SeamSet,
): NetworkRun {
  const { queues, lineRateBitsPerSec } = port;
  if (queues > cpus.length) {
    throw new InputError(`${s.name}: workload.queues: expected at most the ${cpus.length} CPUs, found ${queues}`);
  }
  const queueCpus = Array.from({ length: queues }, (_, q) => cpus[Math.floor((q * cpus.length) / queues)]);
  const { kind: _kind, queues: _q, lineRateBitsPerSec: _l, packetsPerSecPerQueue, mix, ...rings } = w;
  return new NetworkRun({
    engine,
    cpus: queueCpus,
    net: { ...rings, mix: PACKET_MIXES[mix], txCompletionLag: 0 },
    packetsPerSecPerQueue,
    lineRateBitsPerSec,
    cost,
    dma: seam,
    device: 0,
  });
}

/** The trace's device: the one named, or the first one a driver of the machine binds (as `iovalab replay`). */
function traceDevice(k: Kernel, w: TraceWorkload) {
  const bdf = w.device ?? defaultReplayDevice(k.machine);
  const dev = k.device(bdf);
  if (dev === undefined || !dev.bound || k.dma.cookieOf(dev) === null) {
    throw new InputError(
      `machine ${k.machine.name}: workload.device: expected a bound device using dma-iommu, found ${quote(bdf)}`,
    );
  }
  return dev;
}

/** The machine's first network controller (PCI class 0x02), bound (behind a DMA domain, or identity in passthrough). */
function nicDevice(k: Kernel) {
  const desc = k.machine.devices.find((d) => d.class >>> 16 === 0x02);
  const dev = desc === undefined ? undefined : k.device(desc.bdf);
  if (
    dev === undefined ||
    !dev.bound ||
    (k.dma.cookieOf(dev) === null && k.groupOf(dev)?.defaultDomain?.type !== "identity")
  ) {
    throw new InputError(
      `machine ${k.machine.name}: expected a bound network device using dma-iommu for a network workload, found ${desc === undefined ? "none" : `${desc.bdf} without one`}`,
    );
  }
  return dev;
}

function resetAll(fio: Workload, seams: SeamSet, cpus: Cpu[]): void {
  fio.resetStats();
  seams.resetStats();
  for (const c of cpus) c.resetStats();
}

function collect(
  s: Scenario,
  run: RunSpec,
  k: Kernel,
  fio: WorkloadFigures,
  set: SeamSet,
  cpus: Cpu[],
  maxSectorsKb: number,
): RunResult {
  const seconds = s.durationMs / 1000;
  const st = sumStats(set);
  let busy = 0;
  let lockWait = 0;
  let syncWait = 0;
  let elapsed = 0;
  for (const c of cpus) {
    const cs = c.stats();
    busy += cs.busyNs;
    lockWait += cs.lockWaitNs;
    syncWait += cs.syncWaitNs;
    elapsed += cs.elapsedNs;
  }
  const domains = set.seams.map((x) => x.cookie.iovad);
  // Passthrough: no domain, no range; with several domains, the widest range's classes.
  const orders = domains.reduce((n, d) => Math.max(n, d.rcacheOrders), 0);
  // Classes reported: every class of the range, and every class a mapping was made in.
  let classes = orders;
  for (let c = 0; c < st.allocsByClass.length; c++) if (st.allocsByClass[c] > 0) classes = Math.max(classes, c + 1);
  const hitRateByClass: (number | null)[] = [];
  let hits = 0;
  let allocs = 0;
  for (let c = 0; c < classes; c++) {
    const a = st.allocsByClass[c];
    hits += st.hitsByClass[c];
    allocs += a;
    hitRateByClass.push(a === 0 ? null : round(st.hitsByClass[c] / a, 4));
  }
  const cachedByClass: number[] = [];
  const magByClass: number[] = [];
  for (let c = 0; c < orders; c++) {
    let cached = 0;
    let mag = 0;
    for (const d of domains) {
      if (c >= d.rcacheOrders) continue;
      cached += d.cachedIovaBytes(c);
      mag += d.magazineMemoryBytes(c);
    }
    cachedByClass.push(cached);
    magByClass.push(mag);
  }
  let treeHoldNs = 0;
  for (const x of set.seams) treeHoldNs += x.treeLock.stats().holdNs;
  let iqBusyNs = 0;
  for (const q of set.iqs) iqBusyNs += q.stats().busyNs;
  const windowNs = s.durationMs * MS;
  return {
    name: run.name,
    mode: run.mode,
    rangeSource: set.seams.length === 0 ? run.range : rangeSourceOf(k, set.seams[0].dev, run),
    rcacheOrders: orders,
    iops: Math.round(fio.ios / seconds),
    mapLatencyNs: quantiles(fio.mapLatencyNs),
    treeAllocsPerSec: Math.round(st.treeAllocs / seconds),
    walkStepsPerTreeAlloc: st.treeAllocs === 0 ? 0 : round(st.walkSteps / st.treeAllocs, 2),
    lockWaitShare: round(elapsed === 0 ? 0 : lockWait / elapsed, 6),
    cacheHitRate: round(allocs === 0 ? 0 : hits / allocs, 6),
    cacheHitRateByClass: hitRateByClass,
    cachedIovaBytes: sum(cachedByClass),
    cachedIovaBytesByClass: cachedByClass,
    magazineBytes: sum(magByClass),
    magazineBytesByClass: magByClass,
    simulatedMs: s.durationMs,
    warmupMs: s.warmupMs,
    maxSectorsKb,
    requestBytesMean: Math.round(fio.requestBytesMean),
    mapsPerSec: Math.round(st.maps / seconds),
    requestsPerSec: Math.round(fio.completedRequests / seconds),
    bytesPerSec: Math.round(fio.bytes / seconds),
    mapFailuresPerSec: Math.round(st.mapFailures / seconds),
    syncWaitShare: round(elapsed === 0 ? 0 : syncWait / elapsed, 6),
    busyShare: round(elapsed === 0 ? 0 : busy / elapsed, 6),
    rbtreeLockBusyShare: round(treeHoldNs / windowNs, 6),
    cmdqBusyShare: round(iqBusyNs / windowNs, 6),
    ioLatencyNs: quantiles(fio.ioLatencyNs),
    liveIovas: domains.reduce((n, d) => n + d.liveIovas, 0),
    lockStats: {
      rbtree: lockClassStats(set.seams.map((x) => x.treeLock)),
      depot: lockClassStats(set.seams.flatMap((x) => x.depotLocks)),
      ...(set.iqLocks.length === 0 ? {} : { invalidationQueue: lockClassStats(set.iqLocks) }),
    },
    // The range and the space its caches hold, over every domain (passthrough: none).
    rangeBytes: domains.length === 0 ? 0 : maxCachedBytes(orders, domains[0].granule),
    iovaSpaceBytes: set.seams.length === 0 ? 0 : iovaSpaceBytes(k, set.seams[0].dev),
    cachedIovaBytesBelow4G: domains.reduce((n, d) => n + cachedBelow(d, 2 ** 32), 0),
    magazineBytesMax:
      domains.length > 0 && domains.every((d) => Number.isFinite(d.profile.depotMax))
        ? domains.reduce((n, d) => n + d.rcacheOrders * (2 * d.cpus + d.profile.depotMax) * d.magazineBytes, 0)
        : null,
    ...(fio.network === undefined
      ? {}
      : {
          network: {
            rxPacketsPerSec: Math.round(fio.network.rxPackets / seconds),
            txPacketsPerSec: Math.round(fio.network.txPackets / seconds),
            rxDroppedPerSec: Math.round(fio.network.rxDropped / seconds),
            txDroppedPerSec: Math.round(fio.network.txDropped / seconds),
          },
        }),
  };
}

/** The seams' counters summed over every domain (a passthrough run's maps go straight to the device). */
function sumStats(set: SeamSet): SeamStats {
  if (set.seams.length === 1) return set.seams[0].stats;
  const out = emptyStats(REPORT_CLASSES);
  out.maps = set.directMaps;
  out.unmaps = set.directUnmaps;
  for (const x of set.seams) {
    const st = x.stats;
    for (let c = 0; c < REPORT_CLASSES; c++) {
      out.allocsByClass[c] += st.allocsByClass[c];
      out.hitsByClass[c] += st.hitsByClass[c];
    }
    out.maps += st.maps;
    out.mapFailures += st.mapFailures;
    out.unmaps += st.unmaps;
    out.treeAllocs += st.treeAllocs;
    out.walkSteps += st.walkSteps;
    out.treeFrees += st.treeFrees;
    out.depotLockHolds += st.depotLockHolds;
    out.invalidations += st.invalidations;
    out.syncs += st.syncs;
    out.flushAlls += st.flushAlls;
    out.timerFlushes += st.timerFlushes;
    out.timerTreeFrees += st.timerTreeFrees;
  }
  return out;
}

/** The device's DMA limit clipped by its domain's aperture (DMA-3.1), plus one: the bytes of IOVA space it can use. */
function iovaSpaceBytes(k: Kernel, dev: KernelDmaSeam["dev"]): number {
  let limit = (1n << BigInt(dev.dmaMaskBits)) - 1n;
  if (dev.busDmaLimit !== 0n && dev.busDmaLimit < limit) limit = dev.busDmaLimit;
  const domain = k.groupOf(dev)?.defaultDomain;
  if (domain?.forceAperture && domain.apertureEnd < limit) limit = domain.apertureEnd;
  return Number(limit + 1n);
}

/** IOVA space held in the rcaches (per-CPU magazines and depot) that ends at or below `endBytes`. */
function cachedBelow(iovad: KernelDmaSeam["cookie"]["iovad"], endBytes: number): number {
  const endPfn = endBytes / iovad.granule;
  let bytes = 0;
  iovad.rcaches.forEach((r, c) => {
    const pages = 2 ** c;
    const count = (m: { size: number; pfns: Float64Array }) => {
      for (let i = 0; i < m.size; i++) if (m.pfns[i] + pages <= endPfn) bytes += pages * iovad.granule;
    };
    for (const cr of r.everyCpu) {
      count(cr.loaded);
      count(cr.prev);
    }
    for (const m of r.depot) count(m);
  });
  return bytes;
}

/** Where the live domain's range came from, as the kernel model records it. */
export function rangeSourceOf(k: Kernel, dev: KernelDmaSeam["dev"], run: RunSpec): RunResult["rangeSource"] {
  const g = k.groupOf(dev);
  const src = g?.defaultDomain?.range.source;
  if (src === "default" || src === "cmdline" || src === "driver" || src === "sysfs") return src;
  return run.range;
}

function sum(a: readonly number[]): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
