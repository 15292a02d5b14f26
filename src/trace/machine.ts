/**
 * What the reconstruction needs to know about the traced machine: which
 * devices share which IOMMU domain, which IOVA ranges device-less events
 * (`iommu:map`/`unmap` carry no device) belong to, and each domain's
 * boot-time direct mappings (reserved regions of type `direct` /
 * `direct-relaxable`, such as group 3's 0-16 MiB ISA/floppy mapping on the
 * q35 machine), which appear as map events but are no DMA allocation.
 *
 * The caller supplies it: from a machine description of `src/machine/`, or
 * by hand for a trace of another machine.
 */

export interface IovaRange {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

export interface TraceDomainSpec {
  /** The name reports use, e.g. `group1`. */
  name: string;
  /** Devices attached to the domain, as `dma:*` events print them (`0000:00:01.0`). */
  devices: readonly string[];
  /** IOVA ranges whose device-less events belong to this domain. */
  iovaRanges?: readonly IovaRange[];
  /** Boot-time identity mappings: a map event inside one with paddr = iova is this domain's, not an allocation. */
  directMappings?: readonly IovaRange[];
}

export interface TraceMachine {
  domains: readonly TraceDomainSpec[];
  /** The domain of device-less events no range claims (typically the one device doing DMA). */
  defaultDomain?: string;
  /** IOVA granule in bytes (default 4096): map events are whole granules. */
  granule?: number;
}

/**
 * The q35 + intel-iommu + NVMe machine of docs/reference-machines.md
 * (both kernels) as its sysfs tree shows it: group 1 is the NVMe
 * (00:01.0), group 2 the e1000e (00:02.0), group 3 the LPC/AHCI/SMBus with
 * the 0-16 MiB direct-relaxable region; device-less events default to
 * group 1, the only device doing DMA in the workload traces.
 */
export const Q35_NVME_TRACE_MACHINE: TraceMachine = {
  domains: [
    { name: "group0", devices: ["0000:00:00.0"] },
    { name: "group1", devices: ["0000:00:01.0"] },
    { name: "group2", devices: ["0000:00:02.0"] },
    {
      name: "group3",
      devices: ["0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"],
      directMappings: [{ start: 0, end: 0x100_0000 }],
    },
  ],
  defaultDomain: "group1",
  granule: 4096,
};
