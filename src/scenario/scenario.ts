/**
 * A scenario: a machine with its kernel, a workload, how long to simulate,
 * the seed, and the runs to compare (IOMMU mode and where the rcache range
 * comes from). The built-in `seed` scenario is the main job (issue 5 item
 * 4): hisi-sas-128 on 6.1, the fio job of the published figures, 12 SAS
 * SSDs, three range sources × strict/lazy. Scenario files lay their keys
 * over it; `iovalab run` without a file runs the main job (main-job.ts).
 *
 * Scenario files are YAML validated here (zod); every error names the file,
 * the line when it can, the key path and what was expected.
 */

import { z } from "zod";
import { PROFILE_NAMES, type ProfileName } from "../iova/profile.ts";
import { BUILTIN_MACHINES } from "../machine/builtins.ts";
import { parseCmdline } from "../machine/cmdline.ts";
import { type MachineDesc, validateMachine } from "../machine/schema.ts";
import { COST_PARAM_NAMES } from "../sim/cost.ts";
import type { DiskParams } from "../sim/device.ts";
import { MAX_DURATION_MS } from "../stdx/duration.ts";
import { InputError, quote } from "../stdx/errors.ts";
import { describeIssue, foundText, issueLinePath, loadYaml } from "../stdx/yaml.ts";
import {
  BULK_1500,
  checkNetworkOptions,
  IMIX,
  NETWORK_DEFAULTS,
  type NetworkOptions,
  type PacketSize,
  TSO_64K,
} from "../workload/network.ts";

export type RangeSource = "default" | "cmdline" | "driver" | "sysfs";
/** strict, lazy (a flush queue), or passthrough (identity default domains: no IOVA allocator, no range). */
export type IommuMode = "strict" | "lazy" | "passthrough";
export const IOMMU_MODES: readonly IommuMode[] = ["strict", "lazy", "passthrough"];
/** The longest warm-up a scenario may ask for: 24 simulated hours (fast-forwarded). */

export interface RunSpec {
  name: string;
  mode: IommuMode;
  range: RangeSource;
  /** The range in bytes for cmdline/sysfs, or the driver's request for driver (null: its default). */
  bytes: number | null;
  /** This run's kernel profile, warm-up and measured window where they differ from the scenario's (the main job runs two kernels, each aged its own way). */
  kernel?: ProfileName;
  warmupMs?: number;
  durationMs?: number;
}

/** The packet-size mixes a network workload can name (workload/network.ts). */
export const PACKET_MIXES: Readonly<Record<string, readonly PacketSize[]>> = {
  imix: IMIX,
  "bulk-1500": BULK_1500,
  "tso-64k": TSO_64K,
};
const MIX_NAMES = Object.keys(PACKET_MIXES) as [string, ...string[]];

/**
 * A NIC driver's RX and TX rings under a fixed packet rate (workload/network-run.ts),
 * on the machine's first network device.
 */
export interface NetworkWorkload
  extends Pick<
    NetworkOptions,
    "rxPerMille" | "rxRingSize" | "rxBufferBytes" | "rxRefillBatch" | "txRingSize" | "txHeadBytes" | "txCleanBatch"
  > {
  kind: "network";
  /** A packet mix by name (PACKET_MIXES). */
  mix: string;
  /**
   * Queue pairs, spread evenly over the CPUs. null: the NIC's own (its
   * description's `nic` block: the fewer of its RX and TX queues, at most
   * one per CPU), or NIC_FALLBACK's when the description has none.
   */
  queues: number | null;
  packetsPerSecPerQueue: number;
  /** null: the NIC's `speedMbps`, or NIC_FALLBACK's when the description gives none. */
  lineRateBitsPerSec: number | null;
}

/**
 * A port whose machine description says nothing of its queues or speed: the
 * seed machine's hns3 25GbE port as the seed's network scenario runs it.
 */
export const NIC_FALLBACK = { queues: 16, lineRateBitsPerSec: 25e9 } as const;

/**
 * A kernel trace's DMA calls replayed in time (workload/trace-run.ts). The
 * model reads no files: whoever runs the scenario reads `file` (the CLI:
 * relative to the scenario file) and hands the reconstructed calls to `runOne`.
 */
export interface TraceWorkload {
  kind: "trace";
  file: string;
  /** Simulated ns per traced ns. */
  timeScale: number;
  /** The device whose domain is replayed (BDF); null: the machine's first device a driver binds. */
  device: string | null;
}

/** What the run drives: the fio job (`fio`), a network workload, or a kernel trace. */
export type Workload = { kind: "fio" } | NetworkWorkload | TraceWorkload;

/** The NIC's own queues and speed (NIC_FALLBACK without them), IMIX, half received. */
export const NETWORK_WORKLOAD_DEFAULTS: NetworkWorkload = {
  kind: "network",
  mix: "imix",
  rxPerMille: NETWORK_DEFAULTS.rxPerMille,
  rxRingSize: NETWORK_DEFAULTS.rxRingSize,
  rxBufferBytes: NETWORK_DEFAULTS.rxBufferBytes,
  rxRefillBatch: NETWORK_DEFAULTS.rxRefillBatch,
  txRingSize: NETWORK_DEFAULTS.txRingSize,
  txHeadBytes: NETWORK_DEFAULTS.txHeadBytes,
  txCleanBatch: NETWORK_DEFAULTS.txCleanBatch,
  queues: null,
  packetsPerSecPerQueue: 200_000,
  lineRateBitsPerSec: null,
};

const NETWORK_KEYS = Object.keys(NETWORK_WORKLOAD_DEFAULTS).filter((k) => k !== "kind");

export interface Scenario {
  name: string;
  /** A built-in machine's name, or the description file's name as written. */
  machine: string;
  /**
   * The machine's description when `machine` names a file: the caller (the
   * CLI) reads and parses it, the model reads no files. null for a built-in.
   */
  machineDesc: MachineDesc | null;
  kernel: ProfileName;
  seed: number;
  /** Simulated time measured, after the warm-up (ms). */
  durationMs: number;
  /** Simulated time run before the figures start (ms): magazines fill, merging settles, the allocator ages. */
  warmupMs: number;
  /**
   * Whether the warm-up is fast-forwarded (scenario/fast-forward.ts: the DMA
   * stream repeated on the kernel model alone, at allocator speed). An
   * approximation: after the workload settles in time, it draws each map's
   * size, so its figures agree with a timed warm-up's within the noise of
   * its seeds (docs/cost-model.md), not byte for byte; off unless asked for.
   */
  fastForward: boolean;
  /**
   * What-ifs over a SAS HBA's disks: each key set replaces the machine
   * description's figure (the device's `sas.disk`, the driver's `disks`).
   */
  disks: Partial<DiskParams & { count: number }>;
  /** What-ifs over a SAS HBA's `sas.canQueue` and `sas.linkBytesPerSec`. */
  hba: Partial<{ canQueue: number; linkBytesPerSec: number }>;
  /** What-if: which CPU takes a request's completion interrupt (default: the HBA's `sas.completionQueues`). */
  completion?: "dispatch-cpu" | "managed-affinity";
  /** What-if: CPUs per completion queue under managed affinity (default: the CPUs over `sas.completionQueues`). */
  cpusPerCompletionQueue?: number;
  workload: Workload;
  /** The fio job file (workload kind fio). */
  fio: string;
  /** Extra kernel command-line words. */
  cmdline: string;
  /** Cost-parameter overrides, ns. */
  cost: Record<string, number>;
  runs: RunSpec[];
}

/** The fio job of the published figures: `bs=4k rw=read iodepth=128 cpus_allowed=0-127`, 12 disks. */
export const SEED_FIO = `; The job of the published figures (docs/seed-thread.md). numjobs is not published:
; one thread per allowed CPU (128), instance i on CPU i, reading disk i % 12.
[global]
rw=read
bs=4k
iodepth=128
direct=1
ioengine=libaio
cpus_allowed=0-127
time_based
runtime=3600
[seq-read]
numjobs=128
`;

/** The driver's default request: HISI_SAS_SGE_PAGE_CNT (124) x 4 KiB, the largest mapping the HBA makes. */
export const HISI_SAS_MAX_MAPPING = 507904;

export function seedRuns(): RunSpec[] {
  const out: RunSpec[] = [];
  for (const mode of ["strict", "lazy"] as const) {
    out.push({ name: `default-${mode}`, mode, range: "default", bytes: null });
    out.push({ name: `sysfs-${mode}`, mode, range: "sysfs", bytes: HISI_SAS_MAX_MAPPING });
    out.push({ name: `driver-${mode}`, mode, range: "driver", bytes: null });
  }
  return out;
}

export function seedScenario(): Scenario {
  return {
    name: "seed",
    machine: "hisi-sas-128",
    machineDesc: null,
    kernel: "6.1",
    seed: 1,
    // 500 ms measured after 1 s of warm-up (the caches age: what they hold still grows after
    // 200 ms); the six runs take about 25 s on a 2-core machine. The main job (main-job.ts) ages its 5.15 runs 8 s.
    durationMs: 500,
    warmupMs: 1000,
    fastForward: false,
    // The HBA, its disks and its completion queues are the machine's (hisi-sas-128's `sas` block).
    disks: {},
    hba: {},
    workload: { kind: "fio" },
    fio: SEED_FIO,
    cmdline: "",
    cost: {},
    runs: seedRuns(),
  };
}

// ---- YAML ----

const posInt = z.number().int().positive();
const runSchema = z
  .object({
    name: z.string().min(1),
    mode: z.enum(["strict", "lazy", "passthrough"]),
    range: z.enum(["default", "cmdline", "driver", "sysfs"]),
    bytes: posInt.nullable().optional(),
    kernel: z.enum(PROFILE_NAMES as [ProfileName, ...ProfileName[]]).optional(),
    warmupMs: z.number().nonnegative().max(MAX_DURATION_MS).optional(),
    durationMs: z.number().positive().max(MAX_DURATION_MS).optional(),
  })
  .strict();

const scenarioSchema = z
  .object({
    name: z.string().min(1).optional(),
    machine: z.string().min(1).optional(),
    /** The description of a machine file, as the caller read it (sweeps ship it to workers). */
    machineDesc: z.record(z.string(), z.unknown()).nullable().optional(),
    kernel: z.enum(PROFILE_NAMES as [ProfileName, ...ProfileName[]]).optional(),
    seed: z.number().int().nonnegative().optional(),
    durationMs: z.number().positive().max(MAX_DURATION_MS).optional(),
    warmupMs: z.number().nonnegative().max(MAX_DURATION_MS).optional(),
    fastForward: z.boolean().optional(),
    disks: z
      .object({
        count: posInt.max(64).optional(),
        iopsMax: z.number().min(1).optional(),
        bandwidthBytesPerSec: z.number().min(1).optional(),
        latencyNs: z.number().int().nonnegative().optional(),
        queueDepth: posInt.optional(),
      })
      .strict()
      .optional(),
    hba: z
      .object({ canQueue: posInt.optional(), linkBytesPerSec: z.number().min(1).optional() })
      .strict()
      .optional(),
    completion: z.enum(["dispatch-cpu", "managed-affinity"]).optional(),
    cpusPerCompletionQueue: posInt.optional(),
    workload: z
      .object({
        kind: z.enum(["fio", "network", "trace"]),
        file: z.string().min(1).optional(),
        timeScale: z.number().positive().optional(),
        device: z.string().min(1).nullable().optional(),
        mix: z.enum(MIX_NAMES).optional(),
        rxPerMille: z.number().int().min(0).max(1000).optional(),
        rxRingSize: posInt.optional(),
        rxBufferBytes: posInt.optional(),
        rxRefillBatch: posInt.optional(),
        txRingSize: posInt.optional(),
        txHeadBytes: posInt.optional(),
        txCleanBatch: posInt.optional(),
        queues: posInt.nullable().optional(),
        packetsPerSecPerQueue: z.number().positive().max(1e9).optional(),
        lineRateBitsPerSec: z.number().positive().nullable().optional(),
      })
      .strict()
      .optional(),
    fio: z.string().min(1).optional(),
    cmdline: z.string().optional(),
    cost: z.partialRecord(z.enum(COST_PARAM_NAMES), z.number().int().nonnegative()).optional(),
    runs: z.array(runSchema).min(1).optional(),
  })
  .strict();

export type ScenarioInput = z.infer<typeof scenarioSchema>;

/** The seed scenario with `input` laid over it (every key optional). */
export function applyInput(input: ScenarioInput): Scenario {
  const s = seedScenario();
  const w = input.workload;
  const { kind: _kind, ...netKeys } = w ?? { kind: "fio" };
  const workload: Workload =
    w?.kind === "network"
      ? { ...NETWORK_WORKLOAD_DEFAULTS, ...stripUndefined(netKeys) }
      : w?.kind === "trace"
        ? { kind: "trace", file: w.file ?? "", timeScale: w.timeScale ?? 1, device: w.device ?? null }
        : { kind: "fio" };
  // The seed's driver and sysfs runs set the HBA's range: network and trace runs compare strict and lazy.
  const runs =
    workload.kind !== "fio"
      ? (["strict", "lazy"] as const).map((mode) => ({
          name: `default-${mode}`,
          mode,
          range: "default" as const,
          bytes: null,
        }))
      : s.runs;
  return {
    ...s,
    workload,
    ...stripUndefined({
      name: input.name,
      machine: input.machine,
      kernel: input.kernel,
      seed: input.seed,
      durationMs: input.durationMs,
      warmupMs: input.warmupMs,
      fastForward: input.fastForward,
      completion: input.completion,
      cpusPerCompletionQueue: input.cpusPerCompletionQueue,
      fio: input.fio,
      cmdline: input.cmdline,
    }),
    machineDesc:
      input.machineDesc === undefined || input.machineDesc === null
        ? null
        : validateMachine(input.machineDesc, `<machine ${input.machine ?? s.machine}>`),
    disks: { ...s.disks, ...stripUndefined(input.disks ?? {}) },
    hba: { ...s.hba, ...stripUndefined(input.hba ?? {}) },
    cost: { ...s.cost, ...(input.cost ?? {}) },
    runs:
      input.runs?.map((r) => ({
        name: r.name,
        mode: r.mode,
        range: r.range,
        bytes: r.bytes ?? null,
        ...stripUndefined({ kernel: r.kernel, warmupMs: r.warmupMs, durationMs: r.durationMs }),
      })) ?? runs,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Validates a scenario's plain data (from YAML or a sweep point); `where` names it in errors. */
export function validateScenarioData(
  data: unknown,
  where: string,
  lineOf?: (path: readonly PropertyKey[]) => number | null,
): Scenario {
  const r = scenarioSchema.safeParse(data ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const path = issue.path.length === 0 ? "(top level)" : issue.path.join(".");
    const line = lineOf?.(issueLinePath(issue)) ?? null;
    const keys = (p: readonly PropertyKey[]) => (p[0] === "cost" ? ` (${COST_PARAM_NAMES.join(", ")})` : "");
    throw new InputError(`${where}${line === null ? "" : `:${line}`}: ${path}: ${describeIssue(issue, data, keys)}`);
  }
  const s = applyInput(r.data);
  checkScenario(
    s,
    (path) => {
      const line = lineOf?.(path) ?? null;
      return `${where}${line === null ? "" : `:${line}`}`;
    },
    r.data.workload,
  );
  return s;
}

/** Relations zod cannot state: distinct run names, byte counts where the source needs them. */
function checkScenario(
  s: Scenario,
  at: (path: readonly PropertyKey[]) => string,
  scenarioInputWorkload: ScenarioInput["workload"],
): void {
  const names = new Set<string>();
  s.runs.forEach((r, i) => {
    if (names.has(r.name))
      throw new InputError(
        `${at(["runs", i, "name"])}: runs.${i}.name: expected a unique name, found ${quote(r.name)} twice`,
      );
    names.add(r.name);
    if ((r.range === "cmdline" || r.range === "sysfs") && r.bytes === null) {
      throw new InputError(
        `${at(["runs", i, "bytes"])}: runs.${i}.bytes: expected the range in bytes for range ${r.range}, found nothing`,
      );
    }
    if (r.range === "default" && r.bytes !== null) {
      throw new InputError(
        `${at(["runs", i, "bytes"])}: runs.${i}.bytes: expected no bytes with range default, found ${r.bytes}`,
      );
    }
  });
  const kind = s.workload.kind;
  // Each kind takes its own keys only.
  const own = kind === "fio" ? [] : kind === "trace" ? ["file", "timeScale", "device"] : NETWORK_KEYS;
  const extra = Object.keys(scenarioInputWorkload ?? {}).filter((k) => k !== "kind" && !own.includes(k));
  if (extra.length > 0) {
    throw new InputError(
      `${at(["workload", extra[0]])}: workload.${extra[0]}: expected no ${extra[0]} with kind ${kind}, found ${quote(extra[0])}`,
    );
  }
  if (kind !== "fio") {
    s.runs.forEach((r, i) => {
      if (r.range === "driver") {
        throw new InputError(
          `${at(["runs", i, "range"])}: runs.${i}.range: expected default, cmdline or sysfs with a ${kind} workload (driver sets a storage driver's range), found ${r.range}`,
        );
      }
    });
  }
  if (s.workload.kind === "trace" && s.workload.file === "") {
    throw new InputError(
      `${at(["workload", "file"])}: workload.file: expected the trace file with kind trace, found nothing`,
    );
  }
  if (s.workload.kind === "network") {
    const w = s.workload;
    try {
      checkNetworkOptions({ ...NETWORK_DEFAULTS, ...w, mix: PACKET_MIXES[w.mix], seed: 0, packets: 0 });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      throw new InputError(`${at(["workload"])}: workload: ${e.message.replace(/^network workload: /, "")}`);
    }
  }
  // A run simulates the device's IOVA allocator: an identity default domain has none (direct DMA).
  if (parseCmdline(s.cmdline).passthrough === true) {
    throw new InputError(
      `${at(["cmdline"])}: cmdline: expected no iommu.passthrough (a run's mode sets it), found ${quote(s.cmdline)}; use runs with mode: passthrough`,
    );
  }
  s.runs.forEach((r, i) => {
    if (r.mode === "passthrough" && r.range !== "default") {
      throw new InputError(
        `${at(["runs", i, "range"])}: runs.${i}.range: expected default with mode passthrough (an identity domain has no IOVA allocator, so no range), found ${r.range}`,
      );
    }
  });
  if (s.machineDesc === null && !BUILTIN_MACHINES.includes(s.machine) && !/\.(ya?ml|json)$/.test(s.machine)) {
    throw new InputError(
      `${at(["machine"])}: machine: expected a built-in machine (${BUILTIN_MACHINES.join(", ")}) or a description file (.yaml, .yml, .json), found ${quote(s.machine)}`,
    );
  }
  for (const key of ["durationMs", "warmupMs"] as const) {
    if (!Number.isInteger(s[key] * 1e6)) {
      throw new InputError(
        `${at([key])}: ${key}: expected milliseconds in whole nanoseconds, found ${quote(String(s[key]))}`,
      );
    }
    s.runs.forEach((r, i) => {
      const v = r[key];
      if (v !== undefined && !Number.isInteger(v * 1e6)) {
        throw new InputError(
          `${at(["runs", i, key])}: runs.${i}.${key}: expected milliseconds in whole nanoseconds, found ${quote(String(v))}`,
        );
      }
    });
  }
}

/** The scenario one run sees: its own kernel, warm-up and measured window where it names them. */
export function scenarioOfRun(s: Scenario, run: RunSpec): Scenario {
  if (run.kernel === undefined && run.warmupMs === undefined && run.durationMs === undefined) return s;
  return {
    ...s,
    kernel: run.kernel ?? s.kernel,
    warmupMs: run.warmupMs ?? s.warmupMs,
    durationMs: run.durationMs ?? s.durationMs,
  };
}

/** Parses a scenario YAML file's text. */
export function parseScenarioYaml(text: string, file: string): Scenario {
  const { data, lineOf } = loadYaml(text, file);
  if (data === null) {
    // An empty file is a mistake, not a request for the built-in scenario (run without a file).
    throw new InputError(`${file}:1: expected a mapping of scenario keys, found an empty document`);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new InputError(`${file}:${lineOf([]) ?? 1}: expected a mapping of scenario keys, found ${foundText(data)}`);
  }
  return validateScenarioData(data, file, lineOf);
}

/**
 * Sets a dotted key of a scenario's plain form to `value` (sweeps: `--over
 * cost.lockHandoffNs=100,200`). Numbers stay numbers; the result is
 * validated again by the caller.
 */
export function setPath(data: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let o: Record<string, unknown> = data;
  for (const p of parts.slice(0, -1)) {
    const next = o[p];
    if (next === undefined || next === null) o[p] = {};
    else if (typeof next !== "object") throw new InputError(`--over ${key}: ${p} is not a mapping`);
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]] = value;
}

/** A scenario as plain data that `validateScenarioData` accepts again (sweeps ship it to workers). */
export function scenarioToData(s: Scenario): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
}
