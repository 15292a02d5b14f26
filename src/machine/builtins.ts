/**
 * The built-in machines.
 *
 * `qemu-q35-nvme` is exactly the VM of `docs/reference-machines.md`
 * (both kernels): 2 CPUs, one VT-d unit (39-bit, 4 KiB,
 * caching-mode=off), the host bridge windows its NVMe domain reserves, four
 * groups (host bridge; NVMe 1b36:0010; e1000e 8086:10d3; LPC + AHCI + SMBus),
 * every device with the MSI window and the LPC bridge with the 0-16 MiB
 * ISA/floppy direct-relaxable region (its sysfs tree). nvme and e1000e are
 * modules the initramfs loads after boot (`modprobe.blacklist=e1000e` gives
 * the workload boots). Command line of the sysfs-behaviour boot: strict.
 *
 * `qemu-q35-two-nvme` is the reference machine's two-NVMe boot
 * (docs/reference-machines.md; Linux 6.12, strict): the same VM with a
 * second NVMe controller at 00:02.0 in group 2 of its own, the e1000e moved
 * to 00:03.0 (group 3) and the LPC, AHCI and SMBus in group 4.
 *
 * `hisi-sas-128` is the seed's server (docs/seed-thread.md, docs/kernel-rules.md
 * GAR-1.3): 128 CPUs, SMMUv3 with a 4 KiB granule and 48-bit input
 * addresses, a hisi_sas v3 HBA at 0000:74:02.0 alone in its group with 12
 * SAS SSDs behind it (built in: it holds the root file system), GICv3 ITS
 * MSIs through the SMMU's software-managed MSI window, strict mode. The
 * HBA's `sas` figures (docs/cost-model.md, "Device and machine parameters"):
 * `can_queue` 4096 (HISI_SAS_MAX_COMMANDS, host tags shared by the disks),
 * 16 completion queues with managed interrupt affinity (hisi_sas v3's CQ
 * vectors; 8 CPUs each on 128 CPUs), the host link 7.4e9 B/s (fitted: the
 * published lazy figure, 1.8M x 4 KiB, is the link's ceiling), and 12G SAS
 * SSDs (one SAS-3 lane, 12 Gb/s with 8b/10b: 1.2 GB/s raw, 1.1e9 usable;
 * 200K random-read IOPS and 80 us, estimates; SCSI queue depth 32, chosen:
 * 16 and 64 change nothing).
 *
 * `arm-2s-nvme8`, `epyc-nvme` and `xeon-100g` are common server set-ups
 * built from public figures; each number's source is beside it, and what
 * no public source gives is marked assumed.
 */

import { BUILTIN_DESCS } from "./builtin-descs.ts";
import type { MachineDesc } from "./schema.ts";

const MSI_X86 = { start: 0xfee0_0000, end: 0xfeef_ffff, type: "msi" } as const;

const QEMU_Q35_NVME = {
  name: "qemu-q35-nvme",
  description: "QEMU 7.2 q35 + intel-iommu (caching-mode=off), 2 vCPUs, NVMe 1b36:0010, e1000e",
  kernel: "6.1",
  cpus: 2,
  hz: 250,
  pageSize: 4096,
  cmdline: "console=ttyS0 intel_iommu=on rdinit=/init panic=-1 iommu.strict=1",
  config: { defaultPassthrough: false, defaultDmaStrict: false },
  iommu: { kind: "intel-vtd", name: "dmar0", granule: 4096, addressWidth: 39, deferredFlush: true, cachingMode: false },
  hostBridges: [
    {
      name: "pci0000:00",
      windows: [
        { type: "io", start: 0x0, end: 0xcf7 },
        { type: "io", start: 0xd00, end: 0xffff },
        { type: "mem", start: 0xa_0000, end: 0xb_ffff },
        { type: "mem", start: 0x8000_0000, end: 0xafff_ffff },
        { type: "mem", start: 0xc000_0000, end: 0xfebf_ffff },
        { type: "mem", start: 0x1_0000_0000, end: 0x8_ffff_ffff },
      ],
      dmaRanges: [],
    },
  ],
  devices: [
    {
      bdf: "0000:00:00.0",
      vendor: 0x8086,
      device: 0x29c0,
      class: 0x060000,
      group: "0",
      dmaMaskBits: 32,
      reservedRegions: [MSI_X86],
    },
    {
      bdf: "0000:00:01.0",
      vendor: 0x1b36,
      device: 0x0010,
      class: 0x010802,
      group: "1",
      dmaMaskBits: 64,
      reservedRegions: [MSI_X86],
    },
    {
      bdf: "0000:00:02.0",
      vendor: 0x8086,
      device: 0x10d3,
      class: 0x020000,
      group: "2",
      dmaMaskBits: 64,
      reservedRegions: [MSI_X86],
    },
    {
      bdf: "0000:00:1f.0",
      vendor: 0x8086,
      device: 0x2918,
      class: 0x060100,
      group: "3",
      dmaMaskBits: 32,
      reservedRegions: [{ start: 0, end: 0xff_ffff, type: "direct-relaxable" }, MSI_X86],
    },
    {
      bdf: "0000:00:1f.2",
      vendor: 0x8086,
      device: 0x2922,
      class: 0x010601,
      group: "3",
      dmaMaskBits: 32,
      reservedRegions: [MSI_X86],
    },
    {
      bdf: "0000:00:1f.3",
      vendor: 0x8086,
      device: 0x2930,
      class: 0x0c0500,
      group: "3",
      dmaMaskBits: 32,
      reservedRegions: [MSI_X86],
    },
  ],
  drivers: [
    { name: "nvme", model: "nvme", module: true, match: [{ class: 0x010802, classMask: 0xffffff }] },
    { name: "e1000e", model: "e1000e", module: true, match: [{ vendor: 0x8086, device: 0x10d3 }] },
  ],
};

const [HOST_BRIDGE, NVME0, E1000E, ...LPC] = QEMU_Q35_NVME.devices;

const QEMU_Q35_TWO_NVME = {
  ...QEMU_Q35_NVME,
  name: "qemu-q35-two-nvme",
  description: "QEMU 7.2 q35 + intel-iommu (caching-mode=off), 2 vCPUs, two NVMe 1b36:0010, e1000e",
  kernel: "mainline",
  devices: [
    HOST_BRIDGE,
    NVME0,
    { ...NVME0, bdf: "0000:00:02.0", group: "2" },
    { ...E1000E, bdf: "0000:00:03.0", group: "3" },
    ...LPC.map((d) => ({ ...d, group: "4" })),
  ],
};

const HISI_SAS_128 = {
  name: "hisi-sas-128",
  description: "Hisilicon arm64 server of the seed: 128 CPUs, SMMUv3, hisi_sas v3 HBA with 12 SAS SSDs",
  kernel: "6.1",
  cpus: 128,
  hz: 250,
  pageSize: 4096,
  cmdline: "iommu.strict=1",
  config: { defaultPassthrough: false, defaultDmaStrict: false },
  iommu: {
    kind: "arm-smmu-v3",
    name: "smmu3.0x0000000140000000",
    granule: 4096,
    addressWidth: 48,
    deferredFlush: true,
  },
  hostBridges: [
    {
      name: "pci0000:74",
      windows: [{ type: "mem", start: 0xa200_0000, end: 0xa2ff_ffff }],
      dmaRanges: [],
    },
    {
      name: "pci0000:7c",
      windows: [{ type: "mem", start: 0x1200_0000_0000, end: 0x1200_00ff_ffff }],
      dmaRanges: [],
    },
  ],
  devices: [
    {
      bdf: "0000:74:02.0",
      vendor: 0x19e5,
      device: 0xa230,
      class: 0x010700,
      hostBridge: "pci0000:74",
      group: "sas",
      dmaMaskBits: 64,
      usesMsi: true,
      sas: {
        canQueue: 4096,
        linkBytesPerSec: 7.4e9,
        completionQueues: 16,
        disk: { iopsMax: 200_000, bandwidthBytesPerSec: 1.1e9, latencyNs: 80_000, queueDepth: 32 },
      },
      reservedRegions: [{ start: 0x800_0000, end: 0x80f_ffff, type: "sw-msi" }],
    },
    {
      bdf: "0000:7d:00.0",
      vendor: 0x19e5,
      device: 0xa222,
      class: 0x020000,
      hostBridge: "pci0000:7c",
      group: "nic",
      dmaMaskBits: 64,
      usesMsi: true,
      reservedRegions: [{ start: 0x800_0000, end: 0x80f_ffff, type: "sw-msi" }],
    },
  ],
  drivers: [
    {
      name: "hisi_sas_v3_hw",
      model: "hisi_sas_v3_hw",
      module: false,
      match: [{ vendor: 0x19e5, device: 0xa230 }],
      disks: 12,
    },
    { name: "hns3", model: "plain", module: false, match: [{ vendor: 0x19e5, device: 0xa222 }] },
  ],
};

/**
 * Intel SSD DC P4510 NVMe (U.2), the data-centre drive of the NVMe server
 * built-ins. PCI 8086:0a54 (drivers/nvme/host/pci.c nvme_id_table: "Intel
 * P4500/P4600", the family's device id, which the P4510 shares), class
 * 0x010802 (NVM Express). MDTS 5, 128 KiB transfers: `nvme id-ctrl` of a
 * P4510 in github.com/linux-nvme/nvme-cli/issues/2195 ("mdts : 5").
 * I/O queues granted: 128, assumed (no public figure found for the P4510;
 * the Micron 9200 datasheet's "128 SQ/CQ pairs" is the class's number).
 * Queue entries: 1024 (nvme-pci's io_queue_depth; the drive's MQES is
 * assumed at least that). Media, from Intel's P4510 product brief for the
 * 2 TB model: 637K 4 KiB random-read IOPS, 3,200 MB/s sequential read,
 * 77 us read latency. Link: PCIe 3.1 x4 (the brief), 8 GT/s x 4 lanes x
 * 128/130 / 8 = 3.938 GB/s.
 */
const P4510 = {
  vendor: 0x8086,
  device: 0x0a54,
  class: 0x010802,
  nvme: {
    mdts: 5,
    ioQueues: 128,
    queueDepth: 1024,
    iopsMax: 637_000,
    bandwidthBytesPerSec: 3.2e9,
    latencyNs: 77_000,
    linkBytesPerSec: 3.938e9,
  },
} as const;

/** arm-smmu-v3's software-managed MSI window: MSI_IOVA_BASE 0x8000000, MSI_IOVA_LENGTH 0x100000 (arm-smmu-v3.c). */
const SW_MSI_ARM = { start: 0x800_0000, end: 0x80f_ffff, type: "sw-msi" } as const;

/** nvme-pci, built in so a deferral from `dma_opt_max_transfer=1` is retried by the late initcall. */
const NVME_BUILTIN = { name: "nvme", model: "nvme", module: false, match: [{ class: 0x010802, classMask: 0xffffff }] };

/**
 * A two-socket Arm server with 8 NVMe SSDs behind SMMUv3: Ampere Mt.
 * Collins (2 x Ampere Altra Q80-30: 80 cores each, one thread per core,
 * Ampere Altra product brief), its Arm MMU-600 SMMUv3 units (Altra
 * datasheet: "SMMUv3.1"), 4 KiB pages (CONFIG_ARM64_4K_PAGES, the Debian
 * and Ubuntu arm64 default) and so a 4 KiB granule; 48-bit input
 * addresses (arm_smmu_domain_finalise_s1: ias = min(48, VA_BITS) without
 * FEAT_VAX). Each socket has its own PCIe segment (pci0000:00, pci0001:00)
 * and its NUMA node; each SSD sits on its own root port, so it is alone
 * in its group. MSIs: GICv3 ITS through the SMMU's software MSI window.
 * IOMMU units: one SMMUv3 per socket, each with its own command queue, the
 * socket's four SSDs behind it (Altra puts an SMMU in front of each socket's
 * PCIe root complexes; the units' names, which /sys/class/iommu derives
 * from their MMIO bases, are assumed).
 * Host bridge windows: not published for the board; none are reserved
 * (assumed: the 64-bit windows of Altra lie above the IOVAs a run uses).
 */
const ARM_2S_NVME8 = {
  name: "arm-2s-nvme8",
  description: "two-socket Ampere Altra (2 x 80 cores), SMMUv3, 8 x Intel P4510 NVMe (4 per socket)",
  kernel: "mainline",
  cpus: 160,
  hz: 250,
  pageSize: 4096,
  cmdline: "",
  // CONFIG_IOMMU_DEFAULT_DMA_LAZY=y as in Debian's kernels (the captured reference 6.1 build, docs/reference-machines.md: amd64; assumed for arm64).
  config: { defaultPassthrough: false, defaultDmaStrict: false },
  iommu: {
    kind: "arm-smmu-v3",
    name: "smmu3.0x0000100010000000",
    granule: 4096,
    addressWidth: 48,
    deferredFlush: true,
    units: ["smmu3.0x0000100010000000", "smmu3.0x0000500010000000"],
  },
  hostBridges: [
    { name: "pci0000:00", windows: [], dmaRanges: [] },
    { name: "pci0001:00", windows: [], dmaRanges: [] },
  ],
  devices: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => ({
    bdf: `000${i < 4 ? 0 : 1}:0${(i % 4) + 1}:00.0`,
    ...P4510,
    hostBridge: i < 4 ? "pci0000:00" : "pci0001:00",
    group: `nvme${i}`,
    dmaMaskBits: 64,
    usesMsi: true,
    numaNode: i < 4 ? 0 : 1,
    iommuUnit: i < 4 ? "smmu3.0x0000100010000000" : "smmu3.0x0000500010000000",
    reservedRegions: [SW_MSI_ARM],
  })),
  drivers: [NVME_BUILTIN],
};

/** x86's interrupt window, reserved in every group (VT-d and AMD-Vi: IOAPIC_RANGE / MSI_RANGE 0xfee00000-0xfeefffff). */
const MSI_X86_RANGE = { start: 0xfee0_0000, end: 0xfeef_ffff, type: "msi" } as const;

/**
 * An AMD EPYC server with NVMe SSDs behind AMD-Vi: one EPYC 9654 (Genoa,
 * 96 cores, 192 threads: AMD product page), 4 x Intel P4510, each on its
 * own root port and group, NUMA node 0 (NPS1, the BIOS default). The SoC's
 * I/O die has four PCIe root complexes, each with its own IOMMU (Linux
 * finds one AMD-Vi unit per root complex, at 00:00.2, 40:00.2, 80:00.2
 * and c0:00.2 of a socket, /sys/class/iommu/ivhd0..3): each is a host
 * bridge here (pci0000:00, :40, :80, :c0) with its IOMMU unit, and the
 * four SSDs are spread one per root complex (assumed: the usual cabling of
 * a 4-bay U.2 backplane), so each has its own command buffer and
 * iommu->lock. AMD-Vi: 4 KiB granule (AMD_IOMMU_PGSIZES: 4 KiB smallest);
 * the v1 page table's aperture is the whole 64-bit space (dma_max_address():
 * ~0ULL for v1, drivers/iommu/amd/iommu.c). Reserved regions of every device
 * (amd_iommu_get_resv_regions): MSI_RANGE 0xfee00000-0xfeefffff (msi) and
 * HT_RANGE 0xfd00000000-0xffffffffff (reserved: HyperTransport).
 * Host bridge windows: not published; the 32-bit window
 * 0xc0000000-0xfebfffff of the first root complex is assumed (a common ACPI
 * _CRS value, as QEMU's), the others none.
 */
const EPYC_RC = ["00", "40", "80", "c0"] as const;
const EPYC_NVME = {
  name: "epyc-nvme",
  description: "AMD EPYC 9654 (96 cores, 192 threads), AMD-Vi (an IOMMU per root complex), 4 x Intel P4510 NVMe",
  kernel: "mainline",
  cpus: 192,
  hz: 250,
  pageSize: 4096,
  cmdline: "",
  config: { defaultPassthrough: false, defaultDmaStrict: false },
  iommu: {
    kind: "amd-vi",
    name: "ivhd0",
    granule: 4096,
    addressWidth: 64,
    deferredFlush: true,
    units: ["ivhd0", "ivhd1", "ivhd2", "ivhd3"],
  },
  hostBridges: EPYC_RC.map((b, i) => ({
    name: `pci0000:${b}`,
    windows: i === 0 ? [{ type: "mem", start: 0xc000_0000, end: 0xfebf_ffff }] : [],
    dmaRanges: [],
  })),
  devices: [
    // The root complex itself (00:00.0, AMD 1022:14a4 Genoa root complex, class 0x060000) in its own group.
    {
      bdf: "0000:00:00.0",
      vendor: 0x1022,
      device: 0x14a4,
      class: 0x060000,
      hostBridge: "pci0000:00",
      group: "rc",
      dmaMaskBits: 32,
      iommuUnit: "ivhd0",
      reservedRegions: [MSI_X86_RANGE, { start: 0xfd_0000_0000, end: 0xff_ffff_ffff, type: "reserved" }],
    },
    ...EPYC_RC.map((b, i) => ({
      bdf: `0000:${(Number.parseInt(b, 16) + 1).toString(16).padStart(2, "0")}:00.0`,
      ...P4510,
      hostBridge: `pci0000:${b}`,
      group: `nvme${i}`,
      dmaMaskBits: 64,
      numaNode: 0,
      iommuUnit: `ivhd${i}`,
      reservedRegions: [MSI_X86_RANGE, { start: 0xfd_0000_0000, end: 0xff_ffff_ffff, type: "reserved" }],
    })),
  ],
  drivers: [NVME_BUILTIN],
};

/**
 * An Intel server with a 100 GbE NIC behind VT-d: one Xeon Platinum 8380
 * (Ice Lake-SP, 40 cores, 80 threads: Intel ARK), an Intel E810-C QSFP
 * 100 GbE port (PCI 8086:1592, ICE_DEV_ID_E810C_QSFP in
 * drivers/net/ethernet/intel/ice/ice_devids.h; class 0x020000), driver ice
 * with one queue pair per CPU by default (ice_vsi_set_num_qs: min of the
 * online CPUs and the PF's queues; E810 has up to 256 per PF, datasheet):
 * 80 RX and 80 TX queues. VT-d: 4 KiB granule; 48-bit domains (4-level
 * tables, SAGAW bit 2), assumed: run `iovalab collect` for the real
 * cap. Reserved regions: the interrupt window (msi). Caching mode off
 * (bare metal). Host bridge window assumed as in the EPYC machine.
 */
const XEON_100G = {
  name: "xeon-100g",
  description: "Intel Xeon Platinum 8380 (40 cores, 80 threads), VT-d, Intel E810-C 100 GbE (ice)",
  kernel: "mainline",
  cpus: 80,
  hz: 250,
  pageSize: 4096,
  cmdline: "intel_iommu=on",
  config: { defaultPassthrough: false, defaultDmaStrict: false },
  iommu: { kind: "intel-vtd", name: "dmar0", granule: 4096, addressWidth: 48, deferredFlush: true, cachingMode: false },
  hostBridges: [
    { name: "pci0000:00", windows: [{ type: "mem", start: 0xc000_0000, end: 0xfebf_ffff }], dmaRanges: [] },
  ],
  devices: [
    {
      bdf: "0000:17:00.0",
      vendor: 0x8086,
      device: 0x1592,
      class: 0x020000,
      group: "ice",
      dmaMaskBits: 64,
      numaNode: 0,
      nic: { rxQueues: 80, txQueues: 80, speedMbps: 100_000 },
      reservedRegions: [MSI_X86_RANGE],
    },
  ],
  drivers: [{ name: "ice", model: "plain", module: true, match: [{ vendor: 0x8086, device: 0x1592 }] }],
};

/**
 * The built-ins as written here. `builtin-descs.ts` holds each one as the
 * schema validates it (defaults filled in), so that a run on a built-in
 * loads no validator; a test checks the two agree.
 */
export const BUILTIN_SOURCES: Readonly<Record<string, unknown>> = {
  "qemu-q35-nvme": QEMU_Q35_NVME,
  "qemu-q35-two-nvme": QEMU_Q35_TWO_NVME,
  "hisi-sas-128": HISI_SAS_128,
  "arm-2s-nvme8": ARM_2S_NVME8,
  "epyc-nvme": EPYC_NVME,
  "xeon-100g": XEON_100G,
};

export const BUILTIN_MACHINES: readonly string[] = Object.keys(BUILTIN_SOURCES);

/** A built-in machine by name, as validated like a file (a fresh copy: callers may change it); null for an unknown name. */
export function builtinMachine(name: string): MachineDesc | null {
  const desc = Object.hasOwn(BUILTIN_DESCS, name) ? BUILTIN_DESCS[name] : undefined;
  return desc === undefined ? null : structuredClone(desc);
}
