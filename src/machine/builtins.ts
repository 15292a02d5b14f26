/**
 * The built-in machines.
 *
 * `qemu-q35-nvme` is exactly the VM of `../shared/kernel/README.md` and
 * `../shared/kernel-6.12/README.md`: 2 CPUs, one VT-d unit (39-bit, 4 KiB,
 * caching-mode=off), the host bridge windows of `nvme-domain-init.txt`, four
 * groups (host bridge; NVMe 1b36:0010; e1000e 8086:10d3; LPC + AHCI + SMBus),
 * every device with the MSI window and the LPC bridge with the 0-16 MiB
 * ISA/floppy direct-relaxable region (`sysfs-tree.txt`). nvme and e1000e are
 * modules the initramfs loads after boot (`modprobe.blacklist=e1000e` gives
 * the workload boots). Command line of the sysfs-behaviour boot: strict.
 *
 * `qemu-q35-two-nvme` is the two-NVMe boot of `../shared/kernel-more/README.md`
 * (Linux 6.12, strict): the same VM with a second NVMe controller at 00:02.0
 * in group 2 of its own, the e1000e moved to 00:03.0 (group 3) and the LPC,
 * AHCI and SMBus in group 4.
 *
 * `hisi-sas-128` is the seed's server (seed-mail.txt, kernel-behaviour.md
 * GAR-1.3): 128 CPUs, SMMUv3 with a 4 KiB granule and 48-bit input
 * addresses, a hisi_sas v3 HBA at 0000:74:02.0 alone in its group with 12
 * SAS SSDs behind it (built in: it holds the root file system), GICv3 ITS
 * MSIs through the SMMU's software-managed MSI window, strict mode.
 */

import type { MachineDesc } from "./schema.ts";
import { validateMachine } from "./schema.ts";

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

const BUILTINS: Readonly<Record<string, unknown>> = {
  "qemu-q35-nvme": QEMU_Q35_NVME,
  "qemu-q35-two-nvme": QEMU_Q35_TWO_NVME,
  "hisi-sas-128": HISI_SAS_128,
};

export const BUILTIN_MACHINES: readonly string[] = Object.keys(BUILTINS);

/** A built-in machine by name, validated like a file; null for an unknown name. */
export function builtinMachine(name: string): MachineDesc | null {
  const raw = BUILTINS[name];
  return raw === undefined ? null : validateMachine(raw, `<built-in ${name}>`);
}
