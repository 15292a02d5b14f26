/**
 * The storage a fio run can drive on a booted machine: every bound device
 * whose driver is a block storage model, with what the block layer and the
 * run's devices need of it, read from the kernel model (the queue limits
 * its probe set) and the machine description (the controller's data):
 *
 * - a SAS HBA (hisi_sas_v3_hw): its disks (`/dev/sda`...), `can_queue` tags
 *   shared by them (host_tagset), its host link, completion queues with
 *   managed affinity (a request completes on the first CPU of the
 *   dispatching CPU's share); the HBA's and disks' figures are the device's
 *   `sas` block in the machine description (`sasSetup`), which a scenario's
 *   `hba`, `disks`, `completion` and `cpusPerCompletionQueue` may override;
 * - an NVMe controller (nvme): one namespace (`/dev/nvmeNn1`), one I/O queue
 *   per group of CPUs (min(CPUs, queues granted), CPUs spread evenly in
 *   order, as blk_mq_map_queues over managed vectors does), each with its
 *   own tags (queue entries - 1), its interrupt on the first CPU of its
 *   group (the submitting CPU's own when there is a queue per CPU),
 *   max_hw_sectors from probe (MDTS, and on 6.4+ `dma_opt_mapping_size()`),
 *   the media's and link's figures from the description's `nvme` block.
 */

import { diskLetters, type QueueLimits as ProbeLimits } from "../driver/drivers.ts";
import type { Device } from "../iommu/device.ts";
import { queueLimits } from "../machine/index.ts";
import type { Kernel } from "../machine/kernel.ts";
import type { DeviceDesc, MachineDesc } from "../machine/schema.ts";
import type { DiskParams } from "../sim/device.ts";
import { HISI_SAS_V3_LIMITS, NVME_QEMU_LIMITS, type QueueLimits } from "../workload/block.ts";
import { parseFioJobFile } from "../workload/fio.ts";
import type { Scenario } from "./scenario.ts";

export type StorageKind = "sas" | "nvme";

export interface StorageController {
  dev: Device;
  kind: StorageKind;
  /** The driver's name in the machine description (its module parameters' prefix). */
  driver: string;
  /** The block devices behind it, as fio's `filename=` names them. */
  diskNames: string[];
  diskParams: DiskParams;
  /** SAS: `can_queue`, shared by its disks; NVMe: tags of each I/O queue. */
  tags: number;
  /** NVMe: I/O queues; SAS: 1 (its tags are one set). */
  hctxs: number;
  /** NVMe: the queue of a CPU; null for a SAS HBA. */
  hctxOf: ((cpu: number) => number) | null;
  /** The CPU whose interrupt completes a request of queue `hctx` dispatched on `cpu`; null: the dispatching CPU. */
  completionCpu: ((cpu: number, hctx: number) => number) | null;
  linkBytesPerSec: number;
  limits: QueueLimits;
  probe: ProbeLimits;
}

/** The driver models that put block devices on the machine. */
const STORAGE_MODELS: Readonly<Record<string, StorageKind>> = { hisi_sas_v3_hw: "sas", nvme: "nvme" };

/** The kind of block storage a device's bound driver gives, or null. */
export function storageKindOf(k: Kernel, dev: Device): StorageKind | null {
  if (!dev.bound || dev.driver === null) return null;
  const model = k.machine.drivers.find((d) => d.name === dev.driver)?.model;
  return model === undefined ? null : (STORAGE_MODELS[model] ?? null);
}

/** Every storage controller of the booted machine, in bus order, with its disks named as the kernel names them. */
export function storageControllers(k: Kernel, s: Scenario): StorageController[] {
  const out: StorageController[] = [];
  let sd = 0;
  for (const desc of k.machine.devices) {
    const dev = k.device(desc.bdf);
    if (dev === undefined) continue;
    const kind = storageKindOf(k, dev);
    const probe = queueLimits.get(dev);
    if (kind === null || probe === undefined) continue;
    const driver = dev.driver as string;
    if (kind === "sas") {
      const sas = sasSetup(s, k.machine, desc, driver);
      const names: string[] = [];
      for (let i = 0; i < sas.disks.count; i++) names.push(`/dev/sd${diskLetters(sd++)}`);
      const cpus = k.cpus;
      const queues = sas.completionQueues;
      const group = s.cpusPerCompletionQueue;
      out.push({
        dev,
        kind,
        driver,
        diskNames: names,
        diskParams: {
          iopsMax: sas.disks.iopsMax,
          bandwidthBytesPerSec: sas.disks.bandwidthBytesPerSec,
          latencyNs: sas.disks.latencyNs,
          queueDepth: sas.disks.queueDepth,
        },
        tags: sas.hba.canQueue,
        hctxs: 1,
        hctxOf: null,
        completionCpu:
          s.completion === "dispatch-cpu" || queues === 0
            ? null
            : group !== undefined
              ? (c) => c - (c % group)
              : // Managed affinity: queue q serves CPUs [ceil(q * cpus / queues), ...); the first of them takes it.
                (c) => Math.ceil((Math.floor((c * queues) / cpus) * cpus) / queues),
        linkBytesPerSec: sas.hba.linkBytesPerSec,
        limits: { ...HISI_SAS_V3_LIMITS, maxSectors: probe.maxSectorsKb * 2, maxSegments: probe.maxSegments },
        probe,
      });
    } else {
      const nv = desc.nvme ?? NVME_DEFAULTS;
      const cpus = k.cpus;
      const queues = Math.min(cpus, nv.ioQueues);
      const tags = nv.queueDepth - 1;
      out.push({
        dev,
        kind,
        driver,
        diskNames: [`/dev/${dev.instance ?? "nvme"}n1`],
        diskParams: {
          iopsMax: nv.iopsMax,
          bandwidthBytesPerSec: nv.bandwidthBytesPerSec,
          latencyNs: nv.latencyNs,
          queueDepth: tags * queues,
        },
        tags,
        hctxs: queues,
        hctxOf: (c) => Math.floor((c * queues) / cpus),
        // The first CPU of the queue's group: the smallest c with floor(c * queues / cpus) = hctx.
        completionCpu: (_c, q) => Math.ceil((q * cpus) / queues),
        linkBytesPerSec: nv.linkBytesPerSec,
        limits: { ...NVME_QEMU_LIMITS, maxSectors: probe.maxSectorsKb * 2, maxSegments: probe.maxSegments },
        probe,
      });
    }
  }
  return out;
}

/** A SAS HBA's figures as a run uses them: the device's `sas` block (or its defaults) under the scenario's what-ifs. */
export interface SasSetup {
  hba: { canQueue: number; linkBytesPerSec: number };
  disks: DiskParams & { count: number };
  completionQueues: number;
}

/**
 * The figures of the SAS HBA `desc` (bound to `driver`): the description's
 * `sas` block, its disk count from the driver's `disks`, each overridden by
 * the scenario's `hba` and `disks` keys it sets.
 */
export function sasSetup(s: Scenario, machine: MachineDesc, desc: DeviceDesc | null, driver: string | null): SasSetup {
  const sas = desc?.sas ?? SAS_DEFAULTS;
  const count = machine.drivers.find((d) => d.name === driver)?.disks ?? SAS_DEFAULT_DISKS;
  return {
    hba: {
      canQueue: s.hba.canQueue ?? sas.canQueue,
      linkBytesPerSec: s.hba.linkBytesPerSec ?? sas.linkBytesPerSec,
    },
    disks: {
      count: count > 0 ? (s.disks.count ?? count) : 0,
      iopsMax: s.disks.iopsMax ?? sas.disk.iopsMax,
      bandwidthBytesPerSec: s.disks.bandwidthBytesPerSec ?? sas.disk.bandwidthBytesPerSec,
      latencyNs: s.disks.latencyNs ?? sas.disk.latencyNs,
      queueDepth: s.disks.queueDepth ?? sas.disk.queueDepth,
    },
    completionQueues: sas.completionQueues,
  };
}

/** What a report's ceilings read: the storage's host link, its disks and their media. */
export interface ReportSetup {
  hba: { canQueue: number; linkBytesPerSec: number };
  disks: DiskParams & { count: number };
  /** The device kind behind them, whose real bottleneck the verdict names (a SAS HBA's host link, NVMe SSDs' PCIe links). */
  storage: StorageKind;
}

/**
 * The set-up the report's ceilings read (`hba`, `disks`): a SAS HBA's figures
 * (the machine's first, `sasSetup`), or for a machine whose storage is NVMe
 * the links summed, the count and the media figures of the SSDs the job
 * drives. A machine with neither (a network or trace run) reads the SAS
 * defaults, which no ceiling of those workloads uses.
 */
export function reportSetup(s: Scenario, machine: MachineDesc): ReportSetup {
  const nvme = machine.devices.filter((d) => d.class === 0x010802 && machine.drivers.some((x) => x.model === "nvme"));
  const sasDriver = machine.drivers.find((x) => x.model === "hisi_sas_v3_hw");
  if (sasDriver !== undefined || nvme.length === 0 || s.workload.kind !== "fio") {
    const desc =
      sasDriver === undefined
        ? null
        : (machine.devices.find((d) =>
            sasDriver.match.some(
              (m) =>
                (m.vendor === undefined || m.vendor === d.vendor) && (m.device === undefined || m.device === d.device),
            ),
          ) ?? null);
    const sas = sasSetup(s, machine, desc, sasDriver?.name ?? null);
    return {
      storage: "sas",
      hba: sas.hba,
      disks: sas.disks,
    };
  }
  // The SSDs the job drives: those its filename= lines name (nvmeN, numbered in bus order as probe
  // numbers them), or every one when a job names none.
  const driven = drivenNvme(s.fio, nvme.length);
  const nv = nvme.filter((_, i) => driven.has(i)).map((d) => d.nvme ?? NVME_DEFAULTS);
  return {
    storage: "nvme",
    hba: {
      canQueue: nv.reduce((n, x) => n + (x.queueDepth - 1) * Math.min(machine.cpus, x.ioQueues), 0),
      linkBytesPerSec: nv.reduce((n, x) => n + x.linkBytesPerSec, 0),
    },
    disks: {
      count: nv.length,
      iopsMax: nv[0].iopsMax,
      bandwidthBytesPerSec: nv[0].bandwidthBytesPerSec,
      latencyNs: nv[0].latencyNs,
      queueDepth: nv[0].queueDepth - 1,
    },
  };
}

/** Indices (bus order) of the NVMe namespaces the fio job reads; all of them when a job has no filename=. */
function drivenNvme(fio: string, count: number): Set<number> {
  const all = new Set(Array.from({ length: count }, (_, i) => i));
  let jobs: ReturnType<typeof parseFioJobFile>["jobs"];
  try {
    jobs = parseFioJobFile(fio, "fio", { unknownOptions: "warn" }).jobs;
  } catch {
    // A bad job file fails the run itself, with its message; the report is never reached.
    return all;
  }
  const out = new Set<number>();
  for (const j of jobs) {
    if (j.filename === null) return all;
    for (const name of j.filename.split(":")) {
      const m = /^\/dev\/nvme(\d+)n1$/.exec(name);
      if (m !== null && Number(m[1]) < count) out.add(Number(m[1]));
    }
  }
  return out.size === 0 ? all : out;
}

/** A SAS HBA without a `sas` block: the schema's defaults (hisi_sas v3's). */
const SAS_DEFAULTS = {
  canQueue: 4096,
  linkBytesPerSec: 7.4e9,
  completionQueues: 16,
  disk: { iopsMax: 200_000, bandwidthBytesPerSec: 1.1e9, latencyNs: 80_000, queueDepth: 32 },
};
/** Disks of a SAS driver that names none, and of a machine without an HBA: the seed's 12. */
const SAS_DEFAULT_DISKS = 12;

/** An NVMe controller without an `nvme` block: the description's defaults (QEMU's MDTS and queues). */
const NVME_DEFAULTS = {
  mdts: 7,
  ioQueues: 64,
  queueDepth: 1024,
  iopsMax: 700_000,
  bandwidthBytesPerSec: 3.5e9,
  latencyNs: 80_000,
  linkBytesPerSec: 3.938e9,
};
