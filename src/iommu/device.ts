/**
 * A device as the IOMMU and DMA layers see it: the fields of `struct device`,
 * `struct pci_dev` and `struct dev_iommu` that their decisions read. The
 * driver core owns the binding fields; every layer reads them (the kernel's
 * `struct device` is shared the same way).
 */

import type { ResvRegion } from "./types.ts";

export interface PciIdentity {
  readonly vendor: number;
  readonly device: number;
  /** 24-bit class code, e.g. 0x010802 for NVMe. */
  readonly classCode: number;
}

export class Device {
  /** `dev_name()`: the BDF for PCI devices. */
  readonly name: string;
  readonly bus: "pci";
  readonly pci: PciIdentity;
  /** The host bridge's sysfs name, e.g. `pci0000:00`. */
  readonly rootName: string;
  /** `dma_mask` and `coherent_dma_mask` as bit counts (DMA_BIT_MASK(n)). */
  readonly dmaMaskBits: number;
  readonly coherentDmaMaskBits: number;
  private readonly dmaMaskValue: bigint;
  private readonly coherentDmaMaskValue: bigint;
  /** `bus_dma_limit` in bytes, 0 = none (min_not_zero ignores it). */
  readonly busDmaLimit: bigint;
  /** `pci_dev->untrusted`: forces DMA domains (R-GRP-3.4) and swiotlb limits (DMA-6.2). */
  readonly untrusted: boolean;
  /** `dma_get_seg_boundary()`; default 0xFFFFFFFF. */
  readonly segBoundaryMask: number;
  /** `dma_get_max_seg_size()`; default 64 KiB, drivers raise it in probe (`dma_set_max_seg_size`). */
  maxSegSize: number;
  /** The device's reserved regions as `iommu_get_resv_regions()` lists them. */
  readonly resvRegions: readonly ResvRegion[];
  /** Whether its driver uses MSI through a software-managed window (DMA-1.8). */
  readonly usesMsi: boolean;
  /** The IOMMU driver's `def_domain_type(dev)` is IOMMU_DOMAIN_IDENTITY (VT-d graphics/Azalia maps, quirks). */
  readonly identityDefault: boolean;

  // --- struct dev_iommu / dma-iommu state --------------------------------
  /** `dev->iommu->pci_32bit_workaround` (DMA-2.1, DMA-3.3). */
  pci32bitWorkaround = false;
  /** `dev->dma_iommu`: the device uses the IOMMU DMA ops (DMA-2.2). */
  dmaIommu = false;
  /** The IOMMU group id, -1 before the IOMMU probed the device. */
  groupId = -1;

  // --- driver core state --------------------------------------------------
  /** `dev->driver`: the driver's name while bound or probing. */
  driver: string | null = null;
  /** `device_is_bound()`: probe completed and not yet released. */
  bound = false;
  /** `dev->can_match` (R-DD-1.4). */
  canMatch = false;
  /** Per-driver instance data (e.g. `nvme0`). */
  instance: string | null = null;

  constructor(init: {
    name: string;
    pci: PciIdentity;
    rootName: string;
    dmaMaskBits: number;
    coherentDmaMaskBits?: number;
    busDmaLimit?: bigint;
    untrusted?: boolean;
    segBoundaryMask?: number;
    maxSegSize?: number;
    resvRegions?: readonly ResvRegion[];
    usesMsi?: boolean;
    identityDefault?: boolean;
  }) {
    this.name = init.name;
    this.bus = "pci";
    this.pci = init.pci;
    this.rootName = init.rootName;
    this.dmaMaskBits = init.dmaMaskBits;
    this.coherentDmaMaskBits = init.coherentDmaMaskBits ?? init.dmaMaskBits;
    this.dmaMaskValue = (1n << BigInt(this.dmaMaskBits)) - 1n;
    this.coherentDmaMaskValue = (1n << BigInt(this.coherentDmaMaskBits)) - 1n;
    this.busDmaLimit = init.busDmaLimit ?? 0n;
    this.untrusted = init.untrusted ?? false;
    this.segBoundaryMask = init.segBoundaryMask ?? 0xffff_ffff;
    this.maxSegSize = init.maxSegSize ?? 65536;
    this.resvRegions = init.resvRegions ?? [];
    this.usesMsi = init.usesMsi ?? false;
    this.identityDefault = init.identityDefault ?? false;
  }

  /** `dma_get_mask()` as an exact 64-bit value (computed once: the DMA path reads it on every map). */
  get dmaMask(): bigint {
    return this.dmaMaskValue;
  }

  get coherentDmaMask(): bigint {
    return this.coherentDmaMaskValue;
  }
}
