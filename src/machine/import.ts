/**
 * `iovalab machine import`: a snapshot of `iovalab collect` (format
 * "iovalab-collect 1", see collect-script.ts) turned into a machine
 * description in YAML that a user can edit. What the snapshot says is
 * copied; what it cannot say is written with its default and a
 * `# assumed: ...` comment beside it, and listed at the top.
 *
 * Group ids: the model numbers groups in the order the IOMMU probe first
 * sees them, so devices are listed group by group in the snapshot's id
 * order, which gives every group its id back. Reserved regions: sysfs shows
 * a group's merged list, not which device brought each region, so each
 * device of a group gets the group's list (the merge gives the same file).
 * Default domain types: the kind most groups have sets the configuration;
 * an identity group under a translated default gets `identityDefault` (the
 * IOMMU driver's def_domain_type); a DMA/DMA-FQ difference cannot be
 * described (it is a run-time `type` write) and is reported.
 */

import { stringify } from "yaml";
import { z } from "zod";
import { DRIVER_POLICY } from "../driver/policy.ts";
import { IOMMU_POLICY } from "../iommu/policy.ts";
import { PROFILE_NAMES, type ProfileName } from "../iova/profile.ts";
import { InputError, quote } from "../stdx/errors.ts";
import { parseCmdline } from "./cmdline.ts";
import { validateMachine } from "./schema.ts";

const str = z.string().nullable();
const snapshotSchema = z.object({
  format: z.literal("iovalab-collect 1"),
  release: str,
  arch: str,
  cmdline: str,
  cpusPossible: str,
  cpus: z.number().nullable(),
  pageSize: z.number().nullable(),
  numaNodes: z.array(z.object({ name: z.string(), cpulist: str })),
  iommus: z.array(
    z.object({ name: z.string(), kind: z.string(), attrs: z.record(z.string(), str), devices: z.array(z.string()) }),
  ),
  groups: z.array(z.object({ id: z.string(), type: str, reservedRegions: str, devices: z.array(z.string()) })),
  pci: z.array(
    z.object({
      bdf: z.string(),
      vendor: str,
      device: str,
      class: str,
      driver: str,
      numaNode: str,
      dmaMaskBits: str,
      group: str,
      hostBridge: str,
    }),
  ),
  block: z.array(z.object({ name: z.string(), device: str, hwQueues: z.number(), queue: z.record(z.string(), str) })),
  net: z.array(z.object({ name: z.string(), device: str, rxQueues: z.number(), txQueues: z.number(), speed: str })),
  iomemPciBus: z.array(z.string()),
  drivers: z.array(z.object({ name: z.string(), module: z.boolean().nullable() })),
  config: z.array(z.string()),
});

export type Snapshot = z.infer<typeof snapshotSchema>;

/** The result: the YAML text and what was assumed (also in the text as comments). */
export interface ImportResult {
  readonly yaml: string;
  readonly assumptions: readonly string[];
}

const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const RESV = /^0x([0-9a-f]+) 0x([0-9a-f]+) (direct|direct-relaxable|reserved|msi)$/;

/** Parses a snapshot's JSON text; errors name the file and the path inside it. */
export function parseSnapshot(text: string, file: string): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${file}: expected the JSON of iovalab collect, found ${(e as Error).message}`);
  }
  const r = snapshotSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.length === 0 ? "(top level)" : issue.path.join(".");
    throw new InputError(`${file}: ${path}: ${issue.message.replace(/^Invalid input: /, "")}`);
  }
  return r.data;
}

/** The kernel profile closest to a release string, and whether it is only assumed. */
function profileOf(release: string | null): { kernel: ProfileName; exact: boolean } {
  const m = /^(\d+)\.(\d+)/.exec(release ?? "");
  if (!m) return { kernel: "mainline", exact: false };
  const v = `${m[1]}.${m[2]}`;
  // A release with a profile of its own ("mainline" is no release number).
  if ((PROFILE_NAMES as readonly string[]).includes(v)) return { kernel: v as ProfileName, exact: true };
  // The mainline profile is the 6.12 kernel's behaviour.
  return { kernel: "mainline", exact: v === "6.12" };
}

/** Counts the CPUs of a cpulist such as "0-127" or "0-3,8-11". */
function cpuCount(list: string): number | null {
  let n = 0;
  for (const part of list.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return n > 0 ? n : null;
}

function hexNum(s: string | null): number | null {
  if (s === null || !/^0x[0-9a-fA-F]+$/.test(s.trim())) return null;
  return Number.parseInt(s.trim().slice(2), 16);
}

/** Turns a snapshot into an editable machine description (validated before it is returned). */
export function importSnapshot(snap: Snapshot, name: string): ImportResult {
  const assumed: string[] = [];
  const note = (text: string) => {
    assumed.push(text);
    return text;
  };
  const comments = new Map<string, string>();
  const say = (key: string, text: string) => comments.set(key, note(text));

  const prof = profileOf(snap.release);
  if (!prof.exact) say("kernel", `kernel profile ${prof.kernel} for release ${snap.release ?? "unknown"}`);
  let cpus = snap.cpus ?? (snap.cpusPossible === null ? null : cpuCount(snap.cpusPossible));
  if (cpus === null) {
    cpus = 1;
    say("cpus", "1 CPU (no /sys/devices/system/cpu/possible in the snapshot)");
  }
  let pageSize = snap.pageSize;
  if (pageSize === null || pageSize <= 0 || (pageSize & (pageSize - 1)) !== 0) {
    pageSize = 4096;
    say("pageSize", "4 KiB pages (no KernelPageSize in the snapshot)");
  }
  const kconfig = new Map(
    snap.config.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string]),
  );
  let hz = Number(kconfig.get("CONFIG_HZ"));
  if (![100, 250, 300, 1000].includes(hz)) {
    hz = 250;
    say("hz", "HZ=250 (no CONFIG_HZ: /boot/config-RELEASE was not readable)");
  }

  // The IOMMU: the first unit's kind; every unit of that kind kept, with the devices it lists.
  const unit = snap.iommus.find((u) => u.kind !== "unknown");
  if (!unit) throw new InputError(`${name}: iommus: expected an IOMMU under /sys/class/iommu, found none`);
  const kind = unit.kind as "intel-vtd" | "amd-vi" | "arm-smmu-v3";
  const units = snap.iommus.filter((u) => u.kind === kind);
  const others = snap.iommus.filter((u) => u.kind !== kind).map((u) => u.name);
  if (others.length > 0) note(`IOMMU units not of kind ${kind} left out: ${others.join(", ")}`);
  const unitOfBdf = new Map<string, string>();
  for (const u of units) for (const d of u.devices) if (!unitOfBdf.has(d)) unitOfBdf.set(d, u.name);
  const granule = kind === "arm-smmu-v3" ? pageSize : 4096;
  let addressWidth = 48;
  let cachingMode = false;
  const cap = unit.attrs["intel-iommu/cap"]?.trim();
  if (kind === "intel-vtd" && cap !== undefined && /^[0-9a-fA-F]{1,16}$/.test(cap)) {
    const c = BigInt(`0x${cap}`);
    // VT-d CAP: MGAW in bits 21:16 (width - 1), CM in bit 7.
    addressWidth = Math.min(64, Math.max(32, Number((c >> 16n) & 0x3fn) + 1));
    cachingMode = ((c >> 7n) & 1n) === 1n;
  } else if (kind === "intel-vtd") {
    say("iommu", "addressWidth: 48 (no readable intel-iommu/cap)");
  } else if (kind === "amd-vi") {
    addressWidth = 64;
    say("iommu", "addressWidth: the whole 64-bit space (AMD-Vi v1 page table, dma_max_address())");
  } else {
    say("iommu", "addressWidth: 48-bit input addresses (SMMUv3 stage 1 without FEAT_VAX); not in /sys");
  }

  // Default domain type: from the command line, else from what most groups are.
  const cmdline = snap.cmdline ?? "";
  const types = snap.groups.map((g) => (g.type ?? "").trim());
  const most = (t: string) => types.filter((x) => x === t).length;
  const translated = most("DMA") + most("DMA-FQ");
  const parsed = parseCmdline(cmdline);
  const passthrough = parsed.passthrough;
  const passthroughCmd = passthrough === true;
  const strictCmd = parsed.strict !== null;
  // The kernel's configuration when the snapshot has it, else what most groups are.
  // The Kconfig choice writes exactly one of the three as =y.
  const known = ["PASSTHROUGH", "DMA_STRICT", "DMA_LAZY"].some((o) => kconfig.get(`CONFIG_IOMMU_DEFAULT_${o}`) === "y");
  const defaultPassthrough = known
    ? kconfig.get("CONFIG_IOMMU_DEFAULT_PASSTHROUGH") === "y"
    : !passthroughCmd && most("identity") > translated;
  if (defaultPassthrough && !known) say("config", "CONFIG_IOMMU_DEFAULT_PASSTHROUGH=y (most groups are identity)");
  const defaultDmaStrict = known
    ? kconfig.get("CONFIG_IOMMU_DEFAULT_DMA_STRICT") === "y"
    : !strictCmd && !cachingMode && most("DMA") > most("DMA-FQ");
  if (!known && !strictCmd && !defaultPassthrough) {
    say(
      "config",
      defaultDmaStrict
        ? "CONFIG_IOMMU_DEFAULT_DMA_STRICT=y (most groups are DMA, no iommu.strict= on the command line)"
        : "CONFIG_IOMMU_DEFAULT_DMA_LAZY=y",
    );
  }
  const defaultIdentity = passthrough === null ? defaultPassthrough : passthrough;
  // The translated type groups boot with: DMA-FQ when lazy (where the type exists), DMA when strict.
  const strict = cachingMode || (parsed.strict ?? defaultDmaStrict);
  const bootTranslated = strict || !IOMMU_POLICY[prof.kernel].hasDmaFqType ? "DMA" : "DMA-FQ";

  // Host bridges and their windows (top-level "PCI Bus" lines of /proc/iomem).
  const pciByBdf = new Map(snap.pci.map((p) => [p.bdf, p]));
  const bridges = new Map<string, { type: "mem"; start: string; end: string }[]>();
  for (const p of snap.pci) if (p.hostBridge) bridges.set(p.hostBridge, []);
  let zeroWindows = false;
  for (const line of snap.iomemPciBus) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) : PCI Bus ([0-9a-f]{4}):([0-9a-f]{2})$/.exec(line.trim());
    if (!m) continue;
    if (/^0+$/.test(m[1]) && /^0+$/.test(m[2])) {
      zeroWindows = true;
      continue;
    }
    bridges.get(`pci${m[3]}:${m[4]}`)?.push({ type: "mem", start: `0x${m[1]}`, end: `0x${m[2]}` });
  }
  if (bridges.size === 0) bridges.set("pci0000:00", []);
  if (snap.iomemPciBus.length === 0 || zeroWindows) {
    say("hostBridges", "no host bridge windows reserved (/proc/iomem unreadable or read without root)");
  }
  say("dmaRanges", "no dma-ranges and a zero bus offset (not in /sys)");

  // Devices, group by group in the snapshot's id order.
  const nvmeOf = new Map<string, { mdts: number; ioQueues: number; why: string[] }>();
  for (const b of snap.block) {
    if (!b.device || nvmeOf.has(b.device) || !/^nvme\d+n\d+$/.test(b.name)) continue;
    const why: string[] = [];
    const kb = Number(b.queue.max_hw_sectors_kb ?? "");
    let mdts = 5;
    // max_hw_sectors_kb = min(4096, MDTS[, dma_opt_mapping_size on 6.2+]): MDTS shows below the caps.
    const optCap = DRIVER_POLICY[prof.kernel].nvmeClampsToOptMappingSize ? 128 : 4096;
    if (Number.isInteger(kb) && kb > 0 && kb < optCap && (kb & (kb - 1)) === 0 && kb >= 4) mdts = Math.log2(kb / 4);
    else
      why.push(
        `MDTS ${mdts} (max_hw_sectors_kb ${Number.isNaN(kb) ? "missing" : kb} is a kernel cap, not the controller's)`,
      );
    let ioQueues = b.hwQueues;
    if (ioQueues <= 0) {
      ioQueues = 64;
      why.push("64 I/O queues granted (no /sys/block/*/mq in the snapshot)");
    }
    nvmeOf.set(b.device, { mdts, ioQueues, why });
  }
  const netOf = new Map(snap.net.filter((n) => n.device).map((n) => [n.device!, n]));
  const groupsSorted = [...snap.groups].sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
  const devices: Record<string, unknown>[] = [];
  const deviceNotes: string[][] = [];
  const skipped: string[] = [];
  const drivers = new Map<string, { vendor: number; device: number }[]>();
  for (const g of groupsSorted) {
    const regions = (g.reservedRegions ?? "")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => {
        const m = RESV.exec(l.trim());
        if (!m)
          throw new InputError(
            `${name}: groups.${g.id}.reservedRegions: expected "0xSTART 0xEND TYPE", found ${quote(l)}`,
          );
        return { start: `0x${m[1].replace(/^0+(?=.)/, "")}`, end: `0x${m[2].replace(/^0+(?=.)/, "")}`, type: m[3] };
      });
    const type = (g.type ?? "").trim();
    if (type !== "identity" && type !== "" && defaultIdentity) {
      note(`group ${g.id} reads ${type} under an identity default: a run-time type write? not reproduced`);
    } else if ((type === "DMA" || type === "DMA-FQ") && type !== bootTranslated) {
      note(
        `group ${g.id} reads ${type}, the machine boots it ${bootTranslated}: a run-time type write? not reproduced`,
      );
    }
    for (const bdf of [...g.devices].sort()) {
      const p = pciByBdf.get(bdf);
      if (!BDF.test(bdf) || !p) {
        skipped.push(`${bdf} (group ${g.id}): not a PCI device the model can describe; left out`);
        continue;
      }
      const why: string[] = [];
      const vendor = hexNum(p.vendor);
      const device = hexNum(p.device);
      const cls = hexNum(p.class);
      if (vendor === null || device === null || cls === null) {
        skipped.push(`${bdf}: vendor/device/class unreadable; left out`);
        continue;
      }
      const d: Record<string, unknown> = {
        bdf,
        vendor: hex(vendor, 4),
        device: hex(device, 4),
        class: hex(cls, 6),
      };
      if (p.hostBridge) d.hostBridge = p.hostBridge;
      d.group = g.id;
      const mask = Number((p.dmaMaskBits ?? "").trim());
      if (Number.isInteger(mask) && mask >= 24 && mask <= 64) d.dmaMaskBits = mask;
      else {
        d.dmaMaskBits = p.driver ? 64 : 32;
        why.push(
          `dmaMaskBits ${d.dmaMaskBits} (${p.driver ? "its driver's usual" : "the PCI default without a driver"})`,
        );
      }
      const numa = Number((p.numaNode ?? "").trim());
      if (Number.isInteger(numa) && numa >= -1) d.numaNode = numa;
      else why.push("numaNode -1 (no numa_node file)");
      if (type === "identity" && !defaultIdentity) {
        d.identityDefault = true;
        why.push(
          "identityDefault: the group reads identity under a translated default (IOMMU driver's choice, or a run-time type write)",
        );
      }
      if (units.length > 1) {
        const u = unitOfBdf.get(bdf);
        d.iommuUnit = u ?? unit.name;
        if (u === undefined) why.push(`iommuUnit ${unit.name} (no unit lists the device)`);
      }
      if (kind === "arm-smmu-v3" && regions.some((r) => r.type === "msi")) d.usesMsi = true;
      d.reservedRegions = regions.map((r) => ({
        ...r,
        type: r.type === "msi" && kind === "arm-smmu-v3" ? "sw-msi" : r.type,
      }));
      const nv = nvmeOf.get(bdf);
      if (nv && (cls & 0xffffff) === 0x010802) {
        d.nvme = { mdts: nv.mdts, ioQueues: nv.ioQueues };
        why.push(...nv.why);
      }
      const net = netOf.get(bdf);
      if (net && net.rxQueues > 0 && net.txQueues > 0) {
        const speed = Number((net.speed ?? "").trim());
        d.nic = { rxQueues: net.rxQueues, txQueues: net.txQueues, ...(speed > 0 ? { speedMbps: speed } : {}) };
      }
      if (p.driver === "hisi_sas_v3_hw") {
        // A SAS HBA: nothing of its tags, host link, completion queues or disks' media is in the
        // snapshot; hisi_sas v3's figures (the schema's defaults) are written for the user to edit.
        d.sas = {
          canQueue: 4096,
          linkBytesPerSec: 7.4e9,
          completionQueues: 16,
          disk: { iopsMax: 200_000, bandwidthBytesPerSec: 1.1e9, latencyNs: 80_000, queueDepth: 32 },
        };
        why.push(
          "sas: hisi_sas v3's can_queue 4096, 16 completion queues, a 7.4e9 B/s host link and 12G SAS SSDs (200K IOPS, 1.1e9 B/s, 80 us, queue depth 32); none is in the snapshot",
        );
      }
      if (p.driver) {
        const list = drivers.get(p.driver) ?? [];
        list.push({ vendor, device });
        drivers.set(p.driver, list);
      }
      devices.push(d);
      deviceNotes.push(why);
      for (const w of why) note(`${bdf}: ${w}`);
    }
  }
  for (const p of snap.pci) {
    if (!p.group) skipped.push(`${p.bdf}: in no IOMMU group (not behind the IOMMU); left out`);
  }
  for (const s of skipped) note(s);
  if (devices.length === 0)
    throw new InputError(`${name}: groups: expected a PCI device in an IOMMU group, found none`);

  const unknownModule: string[] = [];
  const driverList = [...drivers.entries()].map(([drv, ids]) => {
    const model =
      drv === "nvme" ? "nvme" : drv === "e1000e" ? "e1000e" : drv === "hisi_sas_v3_hw" ? "hisi_sas_v3_hw" : "plain";
    const match =
      model === "nvme"
        ? [{ class: "0x010802", classMask: "0xffffff" }]
        : uniq(ids.map((i) => `${i.vendor}:${i.device}`)).map((k) => {
            const [v, d] = k.split(":").map(Number);
            return { vendor: hex(v, 4), device: hex(d, 4) };
          });
    const module = snap.drivers.find((d) => d.name === drv)?.module ?? null;
    if (module === null) unknownModule.push(drv);
    return { name: drv, model, module: module ?? true, match };
  });
  if (unknownModule.length > 0) {
    note(`module: true for ${unknownModule.join(", ")} (no /sys/module in the snapshot: built in or module unknown)`);
  }

  const machine = {
    name: `imported-${(snap.release ?? "machine").replace(/[^A-Za-z0-9._-]/g, "_")}`,
    description: `imported from iovalab collect: ${snap.release ?? "unknown release"} (${snap.arch ?? "unknown arch"})`,
    kernel: prof.kernel,
    cpus,
    hz,
    pageSize,
    cmdline,
    config: { defaultPassthrough, defaultDmaStrict },
    iommu: {
      kind,
      name: unit.name,
      granule,
      addressWidth,
      deferredFlush: true,
      ...(kind === "intel-vtd" ? { cachingMode } : {}),
      ...(units.length > 1 ? { units: units.map((u) => u.name) } : {}),
    },
    hostBridges: [...bridges.entries()].map(([n, windows]) => ({ name: n, windows, dmaRanges: [] })),
    devices,
    drivers: driverList,
  };
  // Validate before anything is written: the import must boot.
  validateMachine(machine, name);

  // The YAML, with the assumptions beside the keys they concern.
  const lines: string[] = [];
  lines.push(`# Machine imported by iovalab machine import from ${name}.`);
  lines.push("# Lines marked 'assumed' are defaults for what the snapshot cannot tell; edit them.");
  for (const a of assumed) lines.push(`#   assumed: ${a}`);
  const body = stringify(machine, { lineWidth: 0, flowCollectionPadding: false });
  let deviceIndex = -1;
  let inDevices = false;
  for (const l of body.split("\n")) {
    const top = /^([A-Za-z]+):/.exec(l);
    if (top) {
      inDevices = top[1] === "devices";
      const c = comments.get(top[1]);
      if (c) lines.push(`# assumed: ${c}`);
      if (top[1] === "hostBridges") lines.push(`# assumed: ${comments.get("dmaRanges")}`);
      if (top[1] === "drivers" && unknownModule.length > 0) {
        lines.push(`# assumed: module: true for ${unknownModule.join(", ")} (built in or module unknown)`);
      }
    }
    if (inDevices && /^ {2}- bdf:/.test(l)) {
      deviceIndex++;
      for (const w of deviceNotes[deviceIndex]) lines.push(`  # assumed: ${w}`);
    }
    lines.push(l);
  }
  return { yaml: `${lines.join("\n").replace(/\n+$/, "")}\n`, assumptions: assumed };
}

function hex(n: number, digits: number): string {
  return `0x${n.toString(16).padStart(digits, "0")}`;
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
