/**
 * The defaults a replay takes from its trace (issue 13 part 3): what the
 * trace shows (`trace/facts.ts`) overrides the machine description's
 * defaults; an explicit `--kernel` or `--captured` wins over the trace, with a
 * warning when they disagree; without `--machine`, a minimal machine built
 * from the trace. Every choice made here comes back as a note for the user.
 * No Node APIs: the explorer's page takes the same defaults.
 */

import type { ProfileName } from "../iova/profile.ts";
import { DEVICE_TEMPLATE } from "../machine/builtin-descs.ts";
import { checkMachine, pathText } from "../machine/check.ts";
import { builtinMachine, type MachineDesc } from "../machine/index.ts";
import { RELEASES_WITH_PROFILES, type ReleaseProfile, releaseProfile, type SwitchChange } from "../machine/release.ts";
import { assert } from "../stdx/assert.ts";
import { FQ_TIMER_FUNCTION } from "../trace/events.ts";
import type { TraceFacts } from "../trace/facts.ts";
import type { TraceReaderStats } from "../trace/reader.ts";
import { defaultReplayDevice } from "./machine.ts";

/** Events looked at before the replay starts (held in memory meanwhile). */
export const DEFAULTS_WINDOW = 16384;

/** The shape a machine built from a trace takes what the trace cannot show from. */
const TEMPLATE = "qemu-q35-nvme";

export interface ReplayDefaults {
  machine: MachineDesc;
  device: string;
  kernel: ProfileName | undefined;
  /** `iommu.strict` of the capture: true strict, false lazy, undefined the machine's command line (the device's domain's). */
  captured: boolean | undefined;
  /** How any device's domain was captured: the trace's mode, or the device's own where the trace tells it apart. */
  capturedOf(device: string): boolean | undefined;
  /** Lines for stderr: what came from the trace, and flags that contradict it. */
  notes: string[];
  /** The trace shows flush-queue timer events (`ReplayOptions.timerEvents`). */
  timerEvents: boolean;
  /** The flush-queue timers the trace shows armed, by the devices whose unmaps armed them (`ReplayOptions.fqTimers`). */
  fqTimers: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface ReplayFlags {
  machine: MachineDesc | undefined;
  device: string | undefined;
  kernel: ProfileName | undefined;
  captured: boolean | undefined;
  /** `--cpus`: the CPUs of a machine built from the trace, over what the trace shows. */
  cpus?: number | undefined;
  /** `--kallsyms`: the functions a symbol table names, by address (`trace/kallsyms.ts`). */
  functionNames?: ReadonlyMap<string, string> | undefined;
}

/**
 * A machine of one IOMMU group per device the trace shows (its
 * `add_device_to_group` group where it has one), the template's IOMMU, CPUs
 * as many as its header gives or it uses, and a direct reserved region for each boot-time
 * identity map; device identities the template knows are kept, others become
 * NVMe-class functions (their driver is a module: nothing maps at boot).
 */
export function machineFromTrace(
  facts: TraceFacts,
  stats: Pick<TraceReaderStats, "deviceGroups" | "deviceAttached" | "headerCpus">,
): MachineDesc | null {
  const raw = traceMachineSource(facts, stats);
  return raw === null ? null : completeTraceMachine(raw);
}

/** The machine `machineFromTrace` builds, before the schema's defaults: what validating it as a file would read. */
export function traceMachineSource(
  facts: TraceFacts,
  stats: Pick<TraceReaderStats, "deviceGroups" | "deviceAttached" | "headerCpus">,
): MachineDesc | null {
  const groups = stats.deviceGroups;
  const template = builtinMachine(TEMPLATE);
  assert(template !== null, "the template machine is built in");
  const bdfs = [...new Set([...groups.keys(), ...facts.devices.keys()])];
  if (bdfs.length === 0) return null;
  type Region = { start: number; end: number; type: "msi" | "direct-relaxable" };
  const msi: Region = { start: 0xfee0_0000, end: 0xfeef_ffff, type: "msi" };
  let next = 0;
  const used = new Set(groups.values());
  const devices = bdfs.map((bdf) => {
    let group = groups.get(bdf);
    if (group === undefined) {
      while (used.has(String(next))) next++;
      group = String(next);
      used.add(group);
    }
    const known = template.devices.find((d) => d.bdf === bdf);
    return {
      bdf,
      vendor: known?.vendor ?? 0x1b36,
      device: known?.device ?? 0x0010,
      class: known?.class ?? 0x010802,
      group,
      dmaMaskBits: known?.dmaMaskBits ?? 64,
      reservedRegions: [msi],
    };
  });
  type Dev = (typeof devices)[number];
  // A direct map belongs to the group whose devices attach next (the kernel
  // makes a group's direct mappings just before it attaches them to the
  // default domain: q35's LPC bridge and its 0-16 MiB ISA region); a trace
  // without attach events puts them on a group of their own.
  const orphans: Region[] = [];
  for (const r of facts.directMaps) {
    const region: Region = { start: r.start, end: r.end - 1, type: "direct-relaxable" };
    let owner: string | null = null;
    let at = Number.POSITIVE_INFINITY;
    for (const [bdf, n] of stats.deviceAttached) {
      if (n >= r.event && n < at && devices.some((d) => d.bdf === bdf)) {
        owner = bdf;
        at = n;
      }
    }
    const dev = owner === null ? undefined : devices.find((d) => d.bdf === owner);
    if (dev !== undefined) dev.reservedRegions = [region, ...dev.reservedRegions];
    else orphans.push(region);
  }
  if (orphans.length > 0) {
    while (used.has(String(next))) next++;
    const direct: Dev = {
      bdf: devices.some((d) => d.bdf === "0000:00:1f.0") ? "0000:00:1f.7" : "0000:00:1f.0",
      vendor: 0x8086,
      device: 0x2918,
      class: 0x060100,
      group: String(next),
      dmaMaskBits: 32,
      reservedRegions: [...orphans, msi],
    };
    devices.push(direct);
  }
  const raw = {
    ...template,
    name: "from-trace",
    description: `built from the trace: ${bdfs.join(", ")}`,
    cpus: traceCpus(facts, stats) ?? 1,
    devices: devices.filter((d, i) => devices.findIndex((x) => x.bdf === d.bdf) === i),
    iommu: { ...template.iommu, addressWidth: facts.maxIova > 2 ** 39 ? 48 : template.iommu.addressWidth },
  };
  return raw as MachineDesc;
}

/**
 * The CPUs of the machine a trace was taken on: its header's count where it
 * has one (`#P:N` is the kernel's num_online_cpus()), else one past the
 * highest CPU its events name; null where it names none. A CPU that does DMA
 * only after the first events still has its own caches, and 6.12's depot
 * trim compares with that count.
 */
export function traceCpus(facts: TraceFacts, stats: Pick<TraceReaderStats, "headerCpus">): number | null {
  const n = Math.max(facts.maxCpu + 1, stats.headerCpus ?? 0);
  return n > 0 ? n : null;
}

/**
 * The built machine as validating it would make it, without loading the
 * validator (a replay's start-up): its template is a validated built-in,
 * so only its devices lack the schema's defaults, and the device template
 * holds them in the schema's key order. The cross-field checks run as for a
 * file; the shapes hold by construction (a test compares with the schema).
 */
export function completeTraceMachine(raw: MachineDesc): MachineDesc {
  const m = JSON.parse(JSON.stringify(raw)) as MachineDesc;
  m.devices = m.devices.map((d) => Object.assign(structuredClone(DEVICE_TEMPLATE), d));
  // A description given as an object is one line of JSON: every error is on line 1.
  checkMachine(m, (path) => `<machine built from the trace>:1: ${pathText(path)}`);
  return m;
}

/** The kernel a trace's events show, where they show one: the profile, why, and what a kernel they allow may differ in. */
interface KernelShown {
  profile: ProfileName;
  why: string;
  /** The kernels the events allow, for the warning (`differs` non-empty). */
  who: string;
  differs: readonly SwitchChange[];
}

function kernelShown(facts: TraceFacts): KernelShown | null {
  if (facts.kernel() === null) return null;
  if (facts.dmaEvents > 0) {
    return {
      profile: "mainline",
      why: `the trace has dma:* events (${facts.dmaEvents} in its first ${facts.events}), so Linux 6.12 or later: the mainline profile`,
      who: "",
      differs: [],
    };
  }
  // The depot's trim work: 6.7 or later, mainline's allocator; 6.7 and 6.8 differ from it as a release of theirs would.
  return {
    profile: "mainline",
    why: `the trace has runs of the rcache depot's trim work (${facts.depotWorkEvents} of iova_depot_work_func in its first ${facts.events} events), so Linux 6.7 or later: the mainline profile, whose IOVA allocator those have`,
    who: "Linux 6.7 and 6.8",
    differs: (releaseProfile("6.7") as ReleaseProfile).differs,
  };
}

export function replayDefaults(
  facts: TraceFacts,
  stats: Pick<
    TraceReaderStats,
    "fqTimerEvents" | "deviceGroups" | "deviceAttached" | "headerCpus" | "release" | "clock"
  >,
  flags: ReplayFlags,
): ReplayDefaults {
  const notes: string[] = [];
  // Kernel: the release the trace names, else what its events show (dma:* from 6.12 on, the depot's trim from 6.7).
  let kernel = flags.kernel;
  const release = stats.release;
  const fromRelease = release === null ? null : releaseProfile(release);
  const releaseKernel = fromRelease?.profile ?? null;
  const said = fromRelease !== null ? null : kernelShown(facts);
  const traceKernel = releaseKernel ?? said?.profile ?? null;
  if (traceKernel !== null) {
    const why =
      fromRelease === null
        ? (said as KernelShown).why
        : fromRelease.own
          ? `the trace was recorded on Linux ${release} (the release it names): the ${traceKernel} profile`
          : `the trace was recorded on Linux ${release} (the release it names), a version with no profile of its own: the ${traceKernel} profile, whose IOVA allocator it has (${fromRelease.allocator})`;
    if (kernel === undefined) {
      kernel = traceKernel;
      notes.push(`kernel from the trace: ${why}`);
      // Where the timer runs is the trace's own to say when it has the flush-queue timer's events.
      const differs = (fromRelease?.differs ?? said?.differs ?? []).filter(
        (d) => !(d.timer && stats.fqTimerEvents > 0),
      );
      if (differs.length > 0) {
        const who = fromRelease !== null ? `Linux ${release}` : (said as KernelShown).who;
        notes.push(
          `warning: ${who} ${fromRelease !== null ? "differs" : "may differ"} from the ${traceKernel} profile in ${differs.map((d) => d.what).join(", and in ")}: ${differs.every((d) => d.walksOnly === true) ? "the walk steps the summary counts may differ from the kernel's, not the IOVAs" : `IOVAs that follow from ${differs.length === 1 ? "it" : "them"} may differ from the kernel's`}`,
        );
      }
    } else if (kernel !== traceKernel) {
      notes.push(`warning: --kernel ${kernel} replays what ${why}; replaying with ${kernel} as asked`);
    }
  }
  // A lazy trace whose timer events name no function: its writer could not read the kernel's symbols.
  const unnamed = stats.fqTimerEvents === 0 ? facts.likelyFqAddress() : null;
  if (unnamed !== null) {
    const likely = `${unnamed.address}, armed ${unnamed.armed} time${unnamed.armed === 1 ? "" : "s"} right after an unmap on the same CPU as queue_iova() arms the flush-queue timer, is likely fq_flush_timeout`;
    const tableFq = [...(flags.functionNames ?? [])].find(([, name]) => name === FQ_TIMER_FUNCTION)?.[0];
    notes.push(
      tableFq !== undefined
        ? // The address differs from the table's: a table of another boot, where KASLR put the kernel elsewhere.
          `warning: the trace's timer events name their functions by address: ${likely}, which the symbol table given (--kallsyms) has at ${tableFq}: a table of another boot (the kernel's addresses move at every boot); give the traced boot's, or --fq-timer-function ${unnamed.address}`
        : `warning: the trace's timer events name their functions by address, not by name (its writer, perf script or trace-cmd report, could not read the kernel's symbols): ${likely}; --fq-timer-function ${unnamed.address} reads it as such, and --kallsyms FILE (a copy of /proc/kallsyms the traced boot's root made) names it and the rcache depot's work`,
    );
  }
  // A per-CPU clock orders two CPUs' events by clocks that need not agree (trace-cmd record's default, `local`).
  if (stats.clock === "local" && facts.maxCpu > 0) {
    notes.push(
      "warning: the trace was recorded with the local clock: each CPU stamps its events by its own, so two CPUs' events may interleave otherwise than they ran; record with -C global",
    );
  }
  // Capture mode.
  let captured = flags.captured;
  const traceCapture = facts.capture(stats.fqTimerEvents);
  if (traceCapture !== null) {
    const traceStrict = traceCapture.mode === "strict";
    if (captured === undefined) {
      captured = traceStrict;
      notes.push(`captured ${traceCapture.mode} (from the trace: ${traceCapture.why})`);
    } else if (captured !== traceStrict) {
      notes.push(
        `warning: --captured ${captured ? "strict" : "lazy"}, but the trace looks ${traceCapture.mode}: ${traceCapture.why}; replaying as --captured says`,
      );
    }
  }
  // Machine and device.
  let machine = flags.machine;
  let device = flags.device;
  if (machine === undefined) {
    const built = machineFromTrace(facts, stats);
    if (built !== null) {
      if (flags.cpus !== undefined) built.cpus = flags.cpus;
      machine = built;
      notes.push(
        `no --machine: replaying on a machine built from the trace (${built.devices.length} devices in ${new Set(built.devices.map((d) => d.group)).size} groups, ${built.cpus} CPUs, the ${TEMPLATE} IOMMU and MSI window)`,
      );
    } else {
      const fallback = builtinMachine(TEMPLATE);
      assert(fallback !== null, "the template machine is built in");
      // With the trace's CPUs: the template's two would fold the trace's CPU 5 onto CPU 1, one set of caches.
      const cpus = flags.cpus ?? traceCpus(facts, stats) ?? fallback.cpus;
      machine = cpus === fallback.cpus ? fallback : { ...fallback, cpus };
      notes.push(
        `no --machine and no device in the trace (no dma:* events): replaying on the built-in ${TEMPLATE} machine` +
          (cpus === fallback.cpus ? "" : ` with ${cpus} CPUs`),
      );
    }
    device ??= facts.busiestDevice() ?? undefined;
    if (device !== undefined && !machine.devices.some((d) => d.bdf === device)) device = undefined;
  }
  device ??= defaultReplayDevice(machine);
  if (release !== null && releaseKernel === null) {
    const used = kernel ?? machine.kernel;
    notes.push(
      flags.kernel !== undefined
        ? `the trace was recorded on Linux ${release} (the release it names), a version iovalab has no profile of; replaying with --kernel ${used} as asked`
        : `warning: the trace was recorded on Linux ${release} (the release it names), a version iovalab has no profile of (it has ${RELEASES_WITH_PROFILES}); replaying with the ${used} profile: --kernel names another`,
    );
  }
  // A group's type is its own (DMA strict, DMA-FQ lazy): a device whose domain the trace shows captured otherwise
  // than the trace's mode replays as its domain was.
  const ownMode = new Map<string, boolean>();
  if (flags.captured === undefined) {
    const shown = machine.devices.map((d) => ({ d, c: facts.deviceCapture(d.bdf, stats.fqTimerEvents) }));
    // Devices of one group share its domain, and so its mode: where the trace shows them apart, neither is said.
    const groupModes = new Map<string, Set<string>>();
    for (const { d, c } of shown)
      if (c !== null) groupModes.set(d.group, (groupModes.get(d.group) ?? new Set()).add(c.mode));
    for (const { d, c } of shown) {
      if (c === null || (c.mode === "strict") === captured || (groupModes.get(d.group)?.size ?? 0) > 1) continue;
      // The whole group's devices take it, the ones the trace shows nothing of too.
      for (const x of machine.devices) if (x.group === d.group) ownMode.set(x.bdf, c.mode === "strict");
      notes.push(
        `captured ${c.mode} for ${d.bdf}${captured === undefined ? "" : ", unlike the trace's mode"} (from the trace: ${c.why})`,
      );
    }
  }
  const tracewide = captured;
  const capturedOf = (bdf: string): boolean | undefined => ownMode.get(bdf) ?? tracewide;
  return {
    machine,
    device,
    kernel,
    captured: capturedOf(device),
    capturedOf,
    notes,
    timerEvents: stats.fqTimerEvents > 0,
    fqTimers: facts.fqTimerDevices,
  };
}
