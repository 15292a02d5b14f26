/**
 * One run of a scenario: boot the machine with the run's IOMMU mode and
 * range source (set exactly as a user would: the driver parameter, the
 * command line, or sysfs while the HBA is unbound), wire the fio job to the
 * simulated CPUs, disks and HBA, route every map/unmap through the kernel
 * model (seam.ts), run the warm-up, reset the figures, run the measured
 * window, and read the figures off. No Node APIs: runs in worker threads and
 * browsers alike.
 */

import { maxCachedBytes } from "../iova/range.ts";
import { bootMachine, queueLimits, Shell } from "../machine/index.ts";
import type { Kernel } from "../machine/kernel.ts";
import { defaultReplayDevice } from "../replay/replay.ts";
import { type CostModel, defaultCostModel, withOverrides } from "../sim/cost.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import { type LockClassStats, lockClassStats } from "../sim/lock.ts";
import { assert } from "../stdx/assert.ts";
import { InputError, quote } from "../stdx/errors.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { HISI_SAS_V3_LIMITS, type QueueLimits } from "../workload/block.ts";
import { expandJobs, parseFioJobFile } from "../workload/fio.ts";
import { FioRun } from "../workload/fio-run.ts";
import { NetworkRun } from "../workload/network-run.ts";
import { TraceRun } from "../workload/trace-run.ts";
import { DmaCallRecorder } from "./dma-record.ts";
import { fastForward, findCycle } from "./fast-forward.ts";
import {
  type NetworkWorkload,
  PACKET_MIXES,
  type RunSpec,
  type Scenario,
  scenarioOfRun,
  type TraceWorkload,
} from "./scenario.ts";
import { KernelDmaSeam } from "./seam.ts";

const MS = 1_000_000;
export const HBA_BDF = "0000:74:02.0";

/** The figures of one run, keys in the order of `iovalab run --json` (issue 5 item 4). */
export interface RunResult {
  name: string;
  mode: "strict" | "lazy";
  rangeSource: "default" | "cmdline" | "driver" | "sysfs";
  rcacheOrders: number;
  iops: number;
  mapLatencyNs: { p50: number; p99: number };
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
  syncWaitShare: number;
  busyShare: number;
  rbtreeLockBusyShare: number;
  cmdqBusyShare: number;
  ioLatencyNs: { p50: number; p99: number };
  liveIovas: number;
  /** Per lock class, over every lock of the class, as `/proc/lock_stat` gives them (measured window only). */
  lockStats: { rbtree: LockClassStats; depot: LockClassStats };
  /** The range in bytes: the largest size the rcaches hold (granule << (rcacheOrders - 1)). */
  rangeBytes: number;
  /** The IOVA space the device's mappings may use: its DMA mask clipped by the domain's aperture, in bytes. */
  iovaSpaceBytes: number;
  /** Of `cachedIovaBytes`, what lies in the 32-bit window (below 4 GiB), which SAC-first allocations search first. */
  cachedIovaBytesBelow4G: number;
  /** The most magazine memory the caches can hold (two magazines per CPU and a full depot per class); null where the depot has no cap (6.12 on). */
  magazineBytesMax: number | null;
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
  seam: KernelDmaSeam;
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
  const words = [`iommu.strict=${run.mode === "strict" ? 1 : 0}`];
  switch (run.range) {
    case "default":
      words.push("hisi_sas_v3_hw.max_opt_dma_size=0");
      break;
    case "driver":
      if (run.bytes !== null) words.push(`hisi_sas_v3_hw.max_opt_dma_size=${run.bytes}`);
      break;
    case "cmdline":
      words.push("hisi_sas_v3_hw.max_opt_dma_size=0", `iommu.max_opt_dma_size=${run.bytes}`);
      break;
    case "sysfs":
      words.push("hisi_sas_v3_hw.max_opt_dma_size=0");
      break;
  }
  if (s.cmdline !== "") words.push(s.cmdline);
  return words.join(" ");
}

/** Boots the machine for one run and sets its range the way the run says. */
export function bootForRun(s: Scenario, run: RunSpec): Kernel {
  const k = bootMachine(s.machine, { kernel: run.kernel ?? s.kernel, cmdline: runCmdline(s, run) });
  if (run.range === "sysfs") {
    // The seed's sysfs route: unbind the HBA, write the group's file, bind again (docs/configurable-range.md).
    const group = k.groupOf(device(k))?.id;
    assert(group !== undefined, "the HBA has a group");
    const r = new Shell(k).runScript(
      [
        `echo ${HBA_BDF} > /sys/bus/pci/drivers/hisi_sas_v3_hw/unbind`,
        `echo ${run.bytes} > /sys/kernel/iommu_groups/${group}/max_opt_dma_size`,
        `echo ${HBA_BDF} > /sys/bus/pci/drivers/hisi_sas_v3_hw/bind`,
      ].join("\n"),
    );
    if (r.stderr !== "")
      throw new InputError(`run ${run.name}: setting the range through sysfs failed: ${r.stderr.trim()}`);
  }
  return k;
}

function device(k: Kernel) {
  const dev = k.device(HBA_BDF);
  if (dev === undefined || !dev.bound)
    throw new InputError(`machine ${k.machine.name}: expected a bound hisi_sas HBA at ${HBA_BDF}`);
  return dev;
}

/** The instant a run's workload starts: the first whole second after the kernel's clock. */
export function workloadStartNs(k: Kernel): number {
  return (Math.floor(k.nowNs / SECOND) + 1) * SECOND;
}

const SECOND = 1000 * MS;

/** Runs one run of a scenario to the end and returns its figures. */
export function runOne(scenario: Scenario, run: RunSpec, opts: RunOptions = {}): RunResult {
  const s = scenarioOfRun(scenario, run);
  const cost: CostModel = withOverrides(defaultCostModel(), s.cost, "cost");
  const k = bootForRun(s, run);
  // The HBA's limits where the machine has one (a trace's machine may not).
  const hba = k.device(HBA_BDF);
  const ql = hba?.bound ? queueLimits.get(hba) : undefined;
  // The workload starts at the first whole second after the boot and the range's set-up
  // (the sysfs route takes a few ms more than the others): every route starts at the same instant.
  const engine = new Engine({ seed: s.seed, checkEveryEvents: opts.checkEveryEvents ?? 0 });
  const startNs = workloadStartNs(k);
  engine.nowNs = startNs;
  k.advanceTo(startNs);
  const cpus = Array.from({ length: k.cpus }, (_, i) => new Cpu(engine, i));
  let seam: KernelDmaSeam;
  let fio: FioRun | null = null;
  let net: NetworkRun | null = null;
  let trace: TraceRun | null = null;
  let runner: Workload;
  if (s.workload.kind === "network") {
    const nic = nicDevice(k);
    seam = new KernelDmaSeam(engine, k, nic, cost, cpus);
    net = networkRun(s, s.workload, engine, cpus, cost, seam);
    runner = net;
  } else if (s.workload.kind === "trace") {
    if (opts.traceCalls === undefined) {
      throw new InputError(
        `${s.name}: workload.file: expected the trace's calls from the caller (the CLI reads ${quote(s.workload.file)}), found none`,
      );
    }
    seam = new KernelDmaSeam(engine, k, traceDevice(k, s.workload), cost, cpus);
    trace = new TraceRun({
      engine,
      cpus,
      calls: opts.traceCalls,
      timeScale: s.workload.timeScale,
      dma: seam,
      device: 0,
    });
    runner = trace;
  } else {
    const dev = device(k);
    assert(ql !== undefined, "the HBA's probe set its queue limits");
    const limits: QueueLimits = { ...HISI_SAS_V3_LIMITS, maxSectors: ql.maxSectorsKb * 2, maxSegments: ql.maxSegments };
    seam = new KernelDmaSeam(engine, k, dev, cost, cpus);
    fio = fioRun(s, engine, cpus, cost, seam, limits);
    runner = fio;
  }
  engine.register({ name: "workload", verifyInvariants: () => runner.verifyInvariants() });
  engine.register({ name: "kernel", verifyInvariants: () => k.verifyInvariants() });
  const warmupEndNs = startNs + Math.round(s.warmupMs * MS);
  const endNs = warmupEndNs + Math.round(s.durationMs * MS);
  opts.observe?.({ engine, kernel: k, seam, cpus, fio, net, startNs, warmupEndNs, endNs });
  const slices = 50;
  let measuring = false;
  let from = startNs;
  let fastForwardedNs = 0;
  if (fastForwards(s)) {
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
      resetAll(runner, seam, cpus);
      measuring = true;
    }
    engine.run(t);
    opts.onProgress?.((fastForwardedNs + t - startNs) / (endNs - startNs));
  }
  assert(measuring && engine.nowNs === endEngineNs, "the run ends at its end");
  k.advanceTo(seam.kernelTimeNs);
  return collect(s, run, k, figures(fio, net, trace), seam, cpus, ql?.maxSectorsKb ?? 0);
}

/** Timed before the first recording: fio threads, queues and caches settle. */
const FF_SETTLE_NS = 300 * MS;
/** Each stretch of the stream recorded in time for a fast-forward to repeat. */
const FF_RECORD_NS = 50 * MS;
/** Each fast-forward covers at least this many recorded stretches... */
const FF_MIN_RATIO = 4;
/** ...or this share of the age reached so far, whichever is more. */
const FF_AGE_SHARE = 0.25;
/**
 * Whether the warm-up is fast-forwarded: only when the scenario asks
 * (`fastForward: true`, `--fast-forward`), as it ages the allocator more
 * slowly than time does (docs/cost-model.md, "Ageing fast-forward"); never
 * for a trace workload (a trace is not a stream to repeat).
 */
function fastForwards(s: Scenario): boolean {
  return s.fastForward && s.workload.kind !== "trace";
}

/**
 * Ages the machine to `warmupEndNs` (kernel time) by turns: a stretch in
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
  if (warmupEndNs - startNs < FF_SETTLE_NS + (FF_MIN_RATIO + 2) * FF_RECORD_NS) return 0;
  engine.run(startNs + FF_SETTLE_NS);
  // Only a fast-forwarded run draws these numbers: a timed one stays as it was.
  const prng = engine.prng.derive();
  // Each turn needs room for its recording, one cycle at least, and a last stretch in time.
  while (warmupEndNs - seam.kernelTimeNs >= 3 * FF_RECORD_NS) {
    const rec = new DmaCallRecorder();
    seam.recorder = rec;
    engine.run(engine.nowNs + FF_RECORD_NS);
    seam.recorder = null;
    const left = warmupEndNs - seam.kernelTimeNs;
    const cycle = findCycle(rec, engine.nowNs, seam.live, FF_RECORD_NS / 2);
    if (cycle === null) break;
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
  requestBytesMean: number;
  mapLatencyNs: { quantile(q: number): number };
  ioLatencyNs: { quantile(q: number): number };
}

function figures(fio: FioRun | null, net: NetworkRun | null, trace: TraceRun | null): WorkloadFigures {
  if (fio !== null) return fio.stats;
  if (trace !== null) {
    // A trace's "I/Os" are its map calls; a call's latency is its backlog plus its cost.
    const st = trace.stats;
    return {
      ios: st.maps,
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
    requestBytesMean: packets === 0 ? 0 : st.bytes / packets,
    mapLatencyNs: st.mapLatencyNs,
    ioLatencyNs: st.txLatencyNs,
  };
}

function fioRun(
  s: Scenario,
  engine: Engine,
  cpus: Cpu[],
  cost: CostModel,
  seam: KernelDmaSeam,
  limits: QueueLimits,
): FioRun {
  const { jobs } = parseFioJobFile(s.fio, `${s.name}.fio`);
  const instances = expandJobs(jobs, cpus.length);
  const group = s.cpusPerCompletionQueue;
  return new FioRun({
    engine,
    cpus,
    instances,
    diskOf: (inst) => (inst.index + jobs.indexOf(inst.job) * 7) % s.disks.count,
    disks: s.disks.count,
    diskParams: {
      iopsMax: s.disks.iopsMax,
      bandwidthBytesPerSec: s.disks.bandwidthBytesPerSec,
      latencyNs: s.disks.latencyNs,
      queueDepth: s.disks.queueDepth,
    },
    diskBytes: 2 ** 40,
    limits,
    hostTags: s.hba.canQueue,
    hbaLinkBytesPerSec: s.hba.linkBytesPerSec,
    cost,
    dma: seam,
    completionCpu: s.completion === "managed-affinity" ? (c) => cpus[c.id - (c.id % group)] : undefined,
  });
}

/** The queue pairs spread evenly over the CPUs: queue q on CPU q * (cpus / queues), rounded down. */
function networkRun(
  s: Scenario,
  w: NetworkWorkload,
  engine: Engine,
  cpus: Cpu[],
  cost: CostModel,
  seam: KernelDmaSeam,
): NetworkRun {
  if (w.queues > cpus.length) {
    throw new InputError(`${s.name}: workload.queues: expected at most the ${cpus.length} CPUs, found ${w.queues}`);
  }
  const queueCpus = Array.from({ length: w.queues }, (_, q) => cpus[Math.floor((q * cpus.length) / w.queues)]);
  const { kind: _kind, queues: _q, packetsPerSecPerQueue, lineRateBitsPerSec, mix, ...rings } = w;
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

/** The machine's first network controller (PCI class 0x02), bound and behind a DMA domain. */
function nicDevice(k: Kernel) {
  const desc = k.machine.devices.find((d) => d.class >>> 16 === 0x02);
  const dev = desc === undefined ? undefined : k.device(desc.bdf);
  if (dev === undefined || !dev.bound || k.dma.cookieOf(dev) === null) {
    throw new InputError(
      `machine ${k.machine.name}: expected a bound network device using dma-iommu for a network workload, found ${desc === undefined ? "none" : `${desc.bdf} without one`}`,
    );
  }
  return dev;
}

function resetAll(fio: Workload, seam: KernelDmaSeam, cpus: Cpu[]): void {
  fio.resetStats();
  seam.resetStats();
  seam.treeLock.resetStats();
  for (const l of seam.depotLocks) l.resetStats();
  seam.iq.resetStats();
  for (const c of cpus) c.resetStats();
}

function collect(
  s: Scenario,
  run: RunSpec,
  k: Kernel,
  fio: WorkloadFigures,
  seam: KernelDmaSeam,
  cpus: Cpu[],
  maxSectorsKb: number,
): RunResult {
  const seconds = s.durationMs / 1000;
  const st = seam.stats;
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
  const iovad = seam.cookie.iovad;
  const orders = iovad.rcacheOrders;
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
    cachedByClass.push(iovad.cachedIovaBytes(c));
    magByClass.push(iovad.magazineMemoryBytes(c));
  }
  const treeLock = seam.treeLock.stats();
  const iq = seam.iq.stats();
  const windowNs = s.durationMs * MS;
  return {
    name: run.name,
    mode: run.mode,
    rangeSource: rangeSourceOf(k, seam.dev, run),
    rcacheOrders: orders,
    iops: Math.round(fio.ios / seconds),
    mapLatencyNs: { p50: fio.mapLatencyNs.quantile(0.5), p99: fio.mapLatencyNs.quantile(0.99) },
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
    syncWaitShare: round(elapsed === 0 ? 0 : syncWait / elapsed, 6),
    busyShare: round(elapsed === 0 ? 0 : busy / elapsed, 6),
    rbtreeLockBusyShare: round(treeLock.holdNs / windowNs, 6),
    cmdqBusyShare: round(iq.busyNs / windowNs, 6),
    ioLatencyNs: { p50: fio.ioLatencyNs.quantile(0.5), p99: fio.ioLatencyNs.quantile(0.99) },
    liveIovas: iovad.liveIovas,
    lockStats: { rbtree: lockClassStats([seam.treeLock]), depot: lockClassStats(seam.depotLocks) },
    rangeBytes: maxCachedBytes(orders, iovad.granule),
    iovaSpaceBytes: iovaSpaceBytes(k, seam.dev),
    cachedIovaBytesBelow4G: cachedBelow(iovad, 2 ** 32),
    magazineBytesMax: Number.isFinite(iovad.profile.depotMax)
      ? orders * (2 * iovad.cpus + iovad.profile.depotMax) * iovad.magazineBytes
      : null,
  };
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
    for (const cr of r.cpuRcaches) {
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
