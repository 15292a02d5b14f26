/**
 * Models of the drivers the built-in machines use: what each does in probe
 * that the IOMMU DMA layer sees, and the lines it prints. Probe-time DMA
 * traffic of nvme (queues, PRP pools) is not generated here: the kernel
 * traces of `docs/reference-machines.md` hold it, and replaying them drives it.
 */

import type { Device } from "../iommu/device.ts";
import type { ProfileName } from "../iova/profile.ts";
import { kstrtoull } from "../stdx/kstr.ts";
import type { DriverModel, ProbeContext } from "./core.ts";
import { DRIVER_POLICY } from "./policy.ts";

/** NVME_MAX_KB_SZ (drivers/nvme/host/pci.c): 4096 KiB. */
const NVME_MAX_KB_SZ = 4096n;

/**
 * The block queue limits a storage driver's disks get at probe, for the
 * workload side (I/O sizes, splitting): `max_hw_sectors_kb`, the default
 * `max_sectors_kb`, `max_segments`.
 */
export interface QueueLimits {
  readonly maxHwSectorsKb: number;
  readonly maxSectorsKb: number;
  readonly maxSegments: number;
}

export const queueLimits = new WeakMap<Device, QueueLimits>();

/** BLK_DEF_MAX_SECTORS: the block layer's default cap on max_sectors (2560 sectors = 1280 KiB). */
const BLK_DEF_MAX_SECTORS = 2560;

/** What nvme-pci learns from the controller and the machine at probe. */
export interface NvmeController {
  /** MDTS: the largest transfer is 2^mdts x 4 KiB (CAP.MPSMIN 4 KiB); 0 = no limit. */
  readonly mdts: number;
  /** I/O queue pairs the controller grants. */
  readonly ioQueues: number;
  /** num_possible_cpus(): nvme-pci asks for one I/O queue per CPU. */
  readonly cpus: number;
}

/**
 * How a storage driver of this model is asked for its IOVA range at probe
 * (`dma_set_max_opt_size()`, configurable-range.md §4): the module parameter,
 * the value that turns the request off, and whether it takes a byte count
 * (hisi_sas_v3_hw: `max_opt_dma_size=BYTES`, on by default) or is a switch
 * (nvme: `dma_opt_max_transfer=1` asks for its maximum transfer, off by default).
 */
export interface RangeRequestParam {
  readonly param: string;
  readonly off: string;
  readonly takesBytes: boolean;
  /** The value that turns it on with the driver's own size (null: the module's default already does). */
  readonly on: string | null;
}

export const RANGE_REQUEST_PARAMS: Readonly<Record<string, RangeRequestParam>> = {
  hisi_sas_v3_hw: { param: "max_opt_dma_size", off: "0", takesBytes: true, on: null },
  nvme: { param: "dma_opt_max_transfer", off: "0", takesBytes: false, on: "1" },
};

/** QEMU's emulated NVMe (hw/nvme: mdts=7, max_ioqpairs=64), the controller of the captured traces. */
export const QEMU_NVME: Omit<NvmeController, "cpus"> = { mdts: 7, ioQueues: 64 };

/**
 * The module parameter that makes probe ask for the controller's maximum
 * transfer with `dma_set_max_opt_size()` (configurable-range.md §4), as
 * hisi_sas_v3_hw does in this model. 0 (the default) is upstream: no call.
 */
export const NVME_OPT_PARAM = "dma_opt_max_transfer";

/**
 * Models nvme-pci: the probe lines of the reference machine's 6.1 boot log
 * (docs/reference-machines.md) and its transfer cap. With `dma_opt_max_transfer=1` the probe first asks for
 * its maximum transfer, min(NVME_MAX_KB_SZ, MDTS) (-EPROBE_DEFER: the
 * reprobe finds the rebuilt domain).
 */
export function nvmeDriver(profile: ProfileName, controllerOf: (dev: Device) => NvmeController): DriverModel {
  return {
    name: "nvme",
    params: { [NVME_OPT_PARAM]: "0" },
    probe(ctx: ProbeContext, dev: Device) {
      const ctrl = controllerOf(dev);
      // MDTS in 512-byte sectors: 2^mdts pages of 4 KiB (nvme_init_ctrl_finish: 1 << (mdts + page_shift - 9)).
      const mdtsSectors = ctrl.mdts === 0 ? null : 1n << BigInt(ctrl.mdts + 12 - 9);
      const p = ctx.param(NVME_OPT_PARAM);
      const on = p !== undefined && kstrtoull(p);
      if (typeof on === "bigint" && on !== 0n) {
        let sectors = NVME_MAX_KB_SZ << 1n;
        if (mdtsSectors !== null && mdtsSectors < sectors) sectors = mdtsSectors;
        const rc = ctx.mapping.setMaxOptSize(dev, Number(sectors) * 512);
        if (rc === "EPROBE_DEFER") return rc;
      }
      const n = ctx.allocInstance("nvme");
      dev.instance = `nvme${n}`;
      ctx.log(`nvme ${dev.instance}: pci function ${dev.name}`);
      // nvme_probe: dma_set_max_seg_size(0xffffffff) (queue limit max_segment_size=4294967295, docs/reference-machines.md).
      dev.maxSegSize = 0xffff_ffff;
      // max_hw_sectors = min(NVME_MAX_KB_SZ << 1, dma_max_mapping_size >> 9 [, dma_opt_mapping_size >> 9])
      let sectors = NVME_MAX_KB_SZ << 1n;
      const max = ctx.mapping.maxMappingSize(dev) >> 9n;
      if (max < sectors) sectors = max;
      if (DRIVER_POLICY[profile].nvmeClampsToOptMappingSize) {
        const opt = ctx.mapping.optMappingSize(dev) >> 9n;
        if (opt < sectors) sectors = opt;
      }
      // The controller's MDTS caps it further (QEMU's: 7, 512 KiB).
      if (mdtsSectors !== null && mdtsSectors < sectors) sectors = mdtsSectors;
      const policy = DRIVER_POLICY[profile];
      // NVME_MAX_SEGS (127) in 6.1; newer: max_hw_sectors / (NVME_CTRL_PAGE_SIZE >> 9) + 1.
      const maxSegments = policy.nvmeMaxSegsFromSectors ? Number(sectors) / 8 + 1 : 127;
      queueLimits.set(dev, {
        maxHwSectorsKb: Number(sectors / 2n),
        maxSectorsKb: Math.min(Number(sectors), BLK_DEF_MAX_SECTORS) / 2,
        maxSegments,
      });
      // One I/O queue per possible CPU, as many as the controller grants (no read or poll queues by default).
      ctx.log(`nvme ${dev.instance}: ${Math.min(ctrl.cpus, ctrl.ioQueues)}/0/0 default/read/poll queues`);
      // NVME_QUIRK_BOGUS_NID: nvme_id_table gives it to QEMU's controller (1b36:0010).
      if (dev.pci.vendor === 0x1b36 && dev.pci.device === 0x0010) {
        ctx.log(`nvme ${dev.instance}: Ignoring bogus Namespace Identifiers`);
      }
      return 0;
    },
    remove(ctx: ProbeContext, dev: Device) {
      if (dev.instance) ctx.freeInstance("nvme", Number(dev.instance.slice(4)));
      dev.instance = null;
    },
  };
}

/** Models e1000e's probe lines (the reference machine's boot log, docs/reference-machines.md). */
export function e1000eDriver(): DriverModel {
  return {
    name: "e1000e",
    probe(ctx: ProbeContext, dev: Device) {
      const n = ctx.allocInstance("eth");
      dev.instance = `eth${n}`;
      ctx.log(`e1000e ${dev.name}: Interrupt Throttling Rate (ints/sec) set to dynamic conservative mode`);
      ctx.log(`e1000e ${dev.name} ${dev.name} (uninitialized): registered PHC clock`);
      ctx.log(`e1000e ${dev.name} ${dev.instance}: (PCI Express:2.5GT/s:Width x1) 52:54:00:12:34:56`);
      ctx.log(`e1000e ${dev.name} ${dev.instance}: Intel(R) PRO/1000 Network Connection`);
      ctx.log(`e1000e ${dev.name} ${dev.instance}: MAC: 3, PHY: 8, PBA No: 000000-000`);
      return 0;
    },
    remove(ctx: ProbeContext, dev: Device) {
      if (dev.instance) ctx.freeInstance("eth", Number(dev.instance.slice(3)));
      dev.instance = null;
    },
  };
}

/** HISI_SAS_SGE_PAGE_CNT: the v3 HBA's SG list holds 124 pages. */
export const HISI_SAS_SGE_PAGE_CNT = 124;

/**
 * Models hisi_sas_v3_hw with the seed's change (GAR-3.5): first thing in
 * probe, `dma_set_max_opt_size(dev, max_opt_dma_size)` (module parameter,
 * default 124 x PAGE_SIZE; 0 = no call, as upstream); -EPROBE_DEFER is
 * returned, other errors are ignored. Then MSI setup (one SW-MSI page,
 * DMA-1.8), the SCSI host and its disks.
 */
export function hisiSasV3Driver(pageSize: number, disks: number, profile: ProfileName): DriverModel {
  return {
    name: "hisi_sas_v3_hw",
    params: { max_opt_dma_size: String(HISI_SAS_SGE_PAGE_CNT * pageSize) },
    probe(ctx: ProbeContext, dev: Device) {
      const p = ctx.param("max_opt_dma_size");
      let bytes = HISI_SAS_SGE_PAGE_CNT * pageSize;
      if (p !== undefined) {
        const v = kstrtoull(p);
        if (typeof v !== "string") bytes = Number(v);
      }
      if (bytes !== 0) {
        const rc = ctx.mapping.setMaxOptSize(dev, bytes);
        if (rc === "EPROBE_DEFER") return rc;
      }
      // GICv3 ITS doorbell behind the SMMU (GITS_TRANSLATER of ITS 0 on Hi1620).
      ctx.dma.composeMsi(dev, ctx.cpu, 0x2_0202_0040);
      const host = ctx.allocInstance("host");
      dev.instance = `host${host}`;
      // The SCSI host: max_sectors SCSI_DEFAULT_MAX_SECTORS (1024) capped at dma_max_mapping_size
      // (scsi_add_host); the SAS transport's opt_sectors = min(max_sectors, dma_opt_mapping_size);
      // sd's default max_sectors = min(BLK_DEF_MAX_SECTORS, max_hw_sectors[, opt_sectors]).
      let maxSectors = 1024;
      const maxMap = ctx.mapping.maxMappingSize(dev) >> 9n;
      if (maxMap < BigInt(maxSectors)) maxSectors = Number(maxMap);
      let sdMax = Math.min(BLK_DEF_MAX_SECTORS, maxSectors);
      if (DRIVER_POLICY[profile].sdCapsAtOptSectors) {
        const opt = ctx.mapping.optMappingSize(dev) >> 9n;
        const optSectors = opt < BigInt(maxSectors) ? Number(opt) : maxSectors;
        sdMax = Math.min(sdMax, optSectors);
      }
      queueLimits.set(dev, {
        maxHwSectorsKb: maxSectors / 2,
        maxSectorsKb: sdMax / 2,
        maxSegments: HISI_SAS_SGE_PAGE_CNT,
      });
      ctx.log(`scsi ${dev.instance}: hisi_sas_v3_hw`);
      for (let i = 0; i < disks; i++) {
        ctx.log(`sd ${host}:0:${i}:0: [sd${diskLetters(i)}] Attached SCSI disk`);
      }
      return 0;
    },
    remove(ctx: ProbeContext, dev: Device) {
      if (dev.instance) ctx.freeInstance("host", Number(dev.instance.slice(4)));
      dev.instance = null;
    },
  };
}

/** A driver that binds and does nothing the IOMMU sees. */
export function plainDriver(name: string): DriverModel {
  return { name, probe: () => 0, remove: () => {} };
}

/** The letters of sd's disk names (sda..sdz, sdaa, ...): the boot log's and fio's `filename=` alike. */
export function diskLetters(i: number): string {
  let s = "";
  let n = i + 1;
  while (n > 0) {
    n--;
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26);
  }
  return s;
}
