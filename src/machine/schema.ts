/**
 * Machine descriptions: CPUs, the IOMMU, host bridges, PCI devices with
 * their groups and reserved regions, drivers, the kernel command line and
 * the kernel profile. Read from YAML or JSON text and validated; an error
 * names the file, the path inside it and what was expected. No file access
 * here: the CLI reads the file and hands the text in.
 */

import { z } from "zod";
import { PROFILE_NAMES } from "../iova/profile.ts";
import { isPowerOfTwo } from "../stdx/bits.ts";
import { InputError } from "../stdx/errors.ts";
import { NR_CPUS_MAX } from "../stdx/nr-cpus.ts";
import { describeIssue, issueLinePath, loadYaml } from "../stdx/yaml.ts";
import { checkMachine, pathText } from "./check.ts";

/** A non-negative integer below 2^53, given as a number or a "0x..." / decimal string. */
const addr = z.union([
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  z
    .string()
    .regex(/^(0x[0-9a-fA-F]+|[0-9]+)$/, { message: 'expected an integer such as 4096 or "0xfee00000"' })
    .transform((s) => Number(BigInt(s)))
    .refine((n) => n <= Number.MAX_SAFE_INTEGER, { message: "expected an integer below 2^53" }),
]);

const bdf = z.string().regex(/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/, {
  message: 'expected a PCI address such as "0000:00:01.0" (lower-case hex)',
});

const resvRegion = z.strictObject({
  start: addr,
  end: addr,
  type: z.enum(["direct", "direct-relaxable", "reserved", "msi", "sw-msi"]),
});

export const deviceSchema = z.strictObject({
  bdf,
  vendor: addr,
  device: addr,
  class: addr,
  hostBridge: z.string().optional(),
  /** Devices with the same key share an IOMMU group; groups get ids in the order first seen. */
  group: z.union([z.string(), z.number()]).transform(String),
  dmaMaskBits: z.number().int().min(24).max(64).default(64),
  coherentDmaMaskBits: z.number().int().min(24).max(64).optional(),
  untrusted: z.boolean().default(false),
  reservedRegions: z.array(resvRegion).default([]),
  segBoundaryMask: addr.optional(),
  maxSegSize: addr.optional(),
  usesMsi: z.boolean().default(false),
  /** `numa_node` of the device (-1: none), as sysfs shows it. */
  numaNode: z.number().int().min(-1).max(1023).default(-1),
  /**
   * The IOMMU driver's `def_domain_type()` asks for an identity domain for
   * this device (VT-d's graphics and Azalia identity maps, quirks): its
   * group gets identity whatever the global default (untrusted still wins).
   */
  identityDefault: z.boolean().default(false),
  /**
   * The IOMMU unit the device sits behind (one of `iommu.units`; default:
   * the first). Each unit has its own invalidation queue and queue lock.
   */
  iommuUnit: z.string().min(1).optional(),
  /** An NVMe controller: what nvme-pci reads from it at probe. */
  nvme: z
    .strictObject({
      /**
       * MDTS (Identify Controller byte 77): the largest transfer is 2^MDTS
       * units of the controller's minimum page size (CAP.MPSMIN, 4 KiB);
       * 0 means no limit.
       */
      mdts: z.number().int().min(0).max(20).default(7),
      /** I/O queue pairs the controller grants (Set Features, Number of Queues). */
      ioQueues: z.number().int().min(1).max(65535).default(64),
      /**
       * Entries of each I/O queue: nvme-pci's io_queue_depth (1024) capped at
       * CAP.MQES + 1; one is kept free, so a queue has one tag fewer.
       */
      queueDepth: z.number().int().min(2).max(65536).default(1024),
      /**
       * What the media sustains, the run's disk model. Defaults: a PCIe 3.0 x4
       * data-centre SSD (700K random-read IOPS, 3.5 GB/s, 80 us), assumed.
       */
      iopsMax: z.number().min(1).default(700_000),
      bandwidthBytesPerSec: z.number().min(1).default(3.5e9),
      latencyNs: z.number().int().nonnegative().default(80_000),
      /** The controller's PCIe link: default PCIe 3.0 x4, 8 GT/s x 4 lanes x 128/130 / 8 bits. */
      linkBytesPerSec: z.number().min(1).default(3.938e9),
    })
    .optional(),
  /**
   * A SAS HBA: what the block layer and the run's HBA model need of it.
   * Defaults: hisi_sas v3's (the seed's machine, docs/cost-model.md).
   */
  sas: z
    .strictObject({
      /** Host tags shared by every disk behind it (`shost->can_queue`, host_tagset). */
      canQueue: z.number().int().min(1).max(65536).default(4096),
      /** The host link every transfer crosses after its disk, bytes/s. */
      linkBytesPerSec: z.number().min(1).default(7.4e9),
      /**
       * Completion queues with managed interrupt affinity: the CPUs are split
       * evenly over them in order, a request completes on the first CPU of its
       * dispatching CPU's share. 0: on the dispatching CPU.
       */
      completionQueues: z.number().int().min(0).max(4096).default(16),
      /** Each disk behind it: media figures and its SCSI queue depth (budget). */
      disk: z
        .strictObject({
          iopsMax: z.number().min(1).default(200_000),
          bandwidthBytesPerSec: z.number().min(1).default(1.1e9),
          latencyNs: z.number().int().nonnegative().default(80_000),
          queueDepth: z.number().int().min(1).max(65536).default(32),
        })
        .default({ iopsMax: 200_000, bandwidthBytesPerSec: 1.1e9, latencyNs: 80_000, queueDepth: 32 }),
    })
    .optional(),
  /** A network port: its queues (ethtool's combined channels) and link speed. */
  nic: z
    .strictObject({
      rxQueues: z.number().int().min(1).max(4096),
      txQueues: z.number().int().min(1).max(4096),
      speedMbps: z.number().int().positive().optional(),
    })
    .optional(),
});

const matchSchema = z.strictObject({
  vendor: addr.optional(),
  device: addr.optional(),
  class: addr.optional(),
  classMask: addr.optional(),
});

const driverSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, { message: "expected a driver name (letters, digits, _ and -)" }),
  model: z.enum(["nvme", "e1000e", "hisi_sas_v3_hw", "plain"]),
  /** Loaded as a module after the late initcall (by the initramfs), not built in. */
  module: z.boolean().default(false),
  match: z.array(matchSchema).min(1),
  /** Disks behind a storage HBA: at most hisi_sas's device table (HISI_SAS_MAX_DEVICES, 1024). */
  disks: z.number().int().nonnegative().max(1024).default(0),
});

export const machineSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().default(""),
  kernel: z.enum(PROFILE_NAMES as unknown as [string, ...string[]]).default("mainline"),
  cpus: z.number().int().min(1).max(NR_CPUS_MAX),
  hz: z.union([z.literal(100), z.literal(250), z.literal(300), z.literal(1000)]).default(250),
  /** PAGE_SIZE: 4 KiB on x86-64, 4, 16 or 64 KiB on arm64. */
  pageSize: z
    .number()
    .int()
    .min(4096)
    .max(65536)
    .refine(isPowerOfTwo, { message: "expected a power of two" })
    .default(4096),
  cmdline: z.string().default(""),
  config: z
    .object({
      /** CONFIG_IOMMU_DEFAULT_PASSTHROUGH. */
      defaultPassthrough: z.boolean().default(false),
      /** CONFIG_IOMMU_DEFAULT_DMA_STRICT (false = CONFIG_IOMMU_DEFAULT_DMA_LAZY). */
      defaultDmaStrict: z.boolean().default(false),
    })
    .default({ defaultPassthrough: false, defaultDmaStrict: false }),
  iommu: z.strictObject({
    kind: z.enum(["intel-vtd", "arm-smmu-v3", "amd-vi"]),
    name: z.string(),
    /** The smallest page the IOMMU maps (4 KiB; SMMUv3 also 16 or 64 KiB), at most pageSize. */
    granule: z.number().int().min(4096).refine(isPowerOfTwo, { message: "expected a power of two" }),
    /** Input address width in bits: the aperture is [0, 2^bits - 1]. */
    addressWidth: z.number().int().min(32).max(64),
    deferredFlush: z.boolean().default(true),
    /** VT-d Caching Mode: the driver forces strict (`iommu_set_dma_strict`). */
    cachingMode: z.boolean().default(false),
    /**
     * The IOMMU units, as /sys/class/iommu names them (e.g. an SMMU per
     * socket), all of `kind`; each has its own invalidation queue and queue
     * lock. Default: one unit, `name`.
     */
    units: z.array(z.string().min(1)).min(1).optional(),
  }),
  hostBridges: z
    .array(
      z.strictObject({
        name: z
          .string()
          .regex(/^pci[0-9a-f]{4}:[0-9a-f]{2}$/, { message: 'expected a root name such as "pci0000:00"' }),
        windows: z
          .array(z.strictObject({ type: z.enum(["mem", "io"]), start: addr, end: addr, offset: addr.default(0) }))
          .default([]),
        dmaRanges: z.array(z.strictObject({ start: addr, end: addr, offset: addr.default(0) })).default([]),
      }),
    )
    .min(1),
  devices: z.array(deviceSchema).min(1),
  drivers: z.array(driverSchema).default([]),
});

export type MachineDesc = z.infer<typeof machineSchema>;
export type DeviceDesc = z.infer<typeof deviceSchema>;
export type DriverDesc = z.infer<typeof driverSchema>;

/**
 * Parses and validates a machine description (YAML, which includes JSON).
 * `file` names the source in error messages, with the line of the key.
 */
export function parseMachine(text: string, file: string): MachineDesc {
  const { data, lineOf } = loadYaml(text, file);
  const at = (path: readonly PropertyKey[], linePath = path) => `${file}:${lineOf(linePath) ?? 1}: ${pathText(path)}`;
  if (data === null) throw new InputError(`${file}:1: expected a machine description, found an empty document`);
  const r = machineSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InputError(`${at(issue.path, issueLinePath(issue))}: ${describeIssue(issue, data)}`);
  }
  checkMachine(r.data, at);
  return r.data;
}

/** What `checkMachine` is given on the quick path: a bad description is read again the long way. */
const RETRY = new Error("retry with lines");

/**
 * Validates an already-built description object (the built-ins go through
 * here too), as `parseMachine` validates its JSON text. A valid one is
 * checked on the JSON round trip of the object (the data `parseMachine`
 * would read from that text) without parsing the text as YAML, which cost
 * every replay a tenth of a second; an invalid one goes through
 * `parseMachine` for its message with the line of the key.
 */
export function validateMachine(raw: unknown, file: string): MachineDesc {
  const text = JSON.stringify(raw);
  if (text !== undefined) {
    const r = machineSchema.safeParse(JSON.parse(text));
    if (r.success) {
      try {
        checkMachine(r.data, () => {
          throw RETRY;
        });
        return r.data;
      } catch (e) {
        if (e !== RETRY) throw e;
      }
    }
  }
  return parseMachine(text, file);
}
