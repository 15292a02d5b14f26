/**
 * Sweeps: a grid of scenario variants (`--over key=v1,v2,...`, several
 * `--over` make a cartesian product), each run of the scenario at each grid
 * point being one task. Results are one JSON line per finished task, keyed
 * by the point and the run, so a results file can be appended to as tasks
 * finish and read back to skip what is done (resume). Pure: the CLI does the
 * files and the worker pool.
 */

import type { MachineDesc } from "../machine/schema.ts";
import { COST_PARAM_NAMES } from "../sim/cost.ts";
import { InputError, quote } from "../stdx/errors.ts";
import { memparse } from "../stdx/kstr.ts";
import { overrideRuns, parseMode, type RangeVia } from "./overrides.ts";
import type { RunResult } from "./run.ts";
import { type Scenario, scenarioToData, setPath, validateScenarioData } from "./scenario.ts";

export interface SweepAxis {
  key: string;
  values: (number | string)[];
}

export interface SweepTask {
  /** Stable identity of the task: the point's values and the run's name. */
  id: string;
  point: Record<string, number | string>;
  run: string;
  /** The scenario at this point, as plain data (validated). */
  scenario: Record<string, unknown>;
}

export interface SweepLine {
  id: string;
  point: Record<string, number | string>;
  run: string;
  result: RunResult;
}

/** Parses one `--over key=v1,v2,...`. */
export function parseOver(text: string): SweepAxis {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new InputError(`--over: expected key=v1,v2,..., found ${quote(text)}`);
  const key = text.slice(0, eq).trim();
  const raw = text
    .slice(eq + 1)
    .split(",")
    .map((v) => v.trim());
  if (raw.length === 0 || raw.some((v) => v === "")) {
    throw new InputError(`--over ${key}: expected comma-separated values, found ${quote(text.slice(eq + 1))}`);
  }
  // A value is a number only when the number prints back as the same text: `5.10` (a kernel
  // profile) stays the string it was written as; planSweep gives each value its key's type.
  const values = raw.map((v) => (isNumberText(v) && String(Number(v)) === v ? Number(v) : v));
  return { key, values };
}

function isNumberText(v: string): boolean {
  return /^-?\d+(\.\d+)?(e\d+)?$/.test(v);
}

/**
 * The keys `--over` can set on a scenario: every scalar of its plain form
 * outside the runs list (`runs.N.KEY` of a run that exists is accepted too),
 * and every cost parameter.
 */
export function sweepKeys(base: Scenario): string[] {
  const keys: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) return;
    if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, path === "" ? k : `${path}.${k}`);
      return;
    }
    keys.push(path);
  };
  const { machineDesc: _desc, ...data } = scenarioToData(base);
  walk(data, "");
  for (const c of COST_PARAM_NAMES) if (!keys.includes(`cost.${c}`)) keys.push(`cost.${c}`);
  // The what-ifs over a SAS HBA's figures (the machine's unless set).
  for (const k of WHAT_IF_KEYS) if (!keys.includes(k)) keys.push(k);
  // Settings of every run, as `iovalab run`'s flags set them (overrides.ts).
  keys.push(...RUN_KEYS);
  return keys;
}

/** A scenario's what-ifs over the machine's SAS HBA, settable whether or not the scenario sets them. */
const WHAT_IF_KEYS = [
  "disks.count",
  "disks.iopsMax",
  "disks.bandwidthBytesPerSec",
  "disks.latencyNs",
  "disks.queueDepth",
  "hba.canQueue",
  "hba.linkBytesPerSec",
  "completion",
  "cpusPerCompletionQueue",
] as const;

/** `--over mode=strict,lazy,passthrough` and `--over range=BYTES,...`: every run's mode or range. */
const RUN_KEYS = ["mode", "range"] as const;

export interface SweepOptions {
  /** A machine file's description (`--over machine=a.yaml,b.yaml`); null for a built-in name. */
  resolveMachine?: (name: string) => MachineDesc | null;
  /** How `range=` values are set (default: the kernel command line). */
  rangeVia?: RangeVia;
}

/** A `range=` value in bytes: a number, or memparse's 128K / 0x20000. */
function rangeBytes(v: number | string, where: string): number {
  const n = typeof v === "number" ? BigInt(Number.isSafeInteger(v) ? v : -1) : memparse(v);
  if (n === null || n <= 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InputError(`${where}: range: expected bytes such as 131072 or 512K, found ${quote(String(v))}`);
  }
  return Number(n);
}

/** The value `v` takes at a key whose current value is `current`: a string key keeps the text. */
function typedValue(current: unknown, v: number | string): number | string {
  if (typeof current === "string") return String(v);
  return typeof v === "string" && isNumberText(v) ? Number(v) : v;
}

/** Every task of the grid, points in the order of the axes (last axis fastest), runs within a point. */
export function planSweep(
  base: Scenario,
  axes: readonly SweepAxis[],
  where: string,
  opts: SweepOptions = {},
): SweepTask[] {
  if (axes.length === 0) throw new InputError("sweep: expected at least one --over key=v1,v2,...");
  const baseData = scenarioToData(base);
  const valid = sweepKeys(base);
  for (const a of axes) {
    const cur = valueAt(baseData, a.key);
    const scalar = cur === undefined || cur === null || typeof cur !== "object";
    if (!valid.includes(a.key) && !(a.key.startsWith("runs.") && cur !== undefined && scalar)) {
      throw new InputError(`--over ${a.key}: expected one of ${valid.join(", ")}, found ${quote(a.key)}`);
    }
  }
  const points: Record<string, number | string>[] = [{}];
  for (const a of axes) {
    const next: Record<string, number | string>[] = [];
    for (const p of points) for (const v of a.values) next.push({ ...p, [a.key]: v });
    points.splice(0, points.length, ...next);
  }
  const tasks: SweepTask[] = [];
  for (const point of points) {
    const data = scenarioToData(base);
    const label = Object.entries(point)
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    // A value takes the type of the key it replaces: `kernel=5.10,5.15` are names, not numbers.
    for (const [k, v] of Object.entries(point)) {
      if (k === "mode") {
        const runs = data.runs as Scenario["runs"];
        data.runs = overrideRuns(runs, { mode: parseMode(`${where} at ${label}: mode`, String(v)) });
        continue;
      }
      if (k === "range") {
        // A passthrough point has no range to set.
        if (point.mode === "passthrough") continue;
        const runs = data.runs as Scenario["runs"];
        data.runs = overrideRuns(runs, { range: rangeBytes(v, `${where} at ${label}`), rangeVia: opts.rangeVia });
        continue;
      }
      const typed = typedValue(valueAt(data, k), v);
      point[k] = typed;
      setPath(data, k, typed);
      if (k === "machine") data.machineDesc = opts.resolveMachine?.(String(typed)) ?? null;
    }
    const s = validateScenarioData(data, `${where} at ${label}`);
    for (const r of s.runs) {
      tasks.push({ id: `${label}|${r.name}`, point, run: r.name, scenario: scenarioToData(s) });
    }
  }
  return tasks;
}

function valueAt(data: Record<string, unknown>, key: string): unknown {
  let v: unknown = data;
  for (const p of key.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** Reads a results file's lines; a torn last line (a crash mid-write) is dropped. */
export function readSweepLines(text: string): SweepLine[] {
  const out: SweepLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.trim() === "") continue;
    try {
      const v = JSON.parse(l) as SweepLine;
      if (typeof v.id === "string" && v.result !== undefined) out.push(v);
    } catch {
      // Only the last line can be torn; anything else is a damaged file.
      if (i < lines.length - 1 && lines.slice(i + 1).some((x) => x.trim() !== "")) {
        throw new InputError(`results line ${i + 1}: expected a JSON result, found ${quote(l)}`);
      }
    }
  }
  return out;
}

export function sweepLine(task: SweepTask, result: RunResult): string {
  const line: SweepLine = { id: task.id, point: task.point, run: task.run, result };
  return `${JSON.stringify(line)}\n`;
}

/** The metrics plotted against the swept value. */
export const SWEEP_METRICS: readonly (keyof RunResult)[] = [
  "iops",
  "treeAllocsPerSec",
  "walkStepsPerTreeAlloc",
  "lockWaitShare",
  "cacheHitRate",
  "cachedIovaBytes",
  "magazineBytes",
];

/** A vega-lite figure: each metric against the first axis, one line per run (and other axes' values). */
export function sweepFigure(lines: readonly SweepLine[], axes: readonly SweepAxis[]): Record<string, unknown> {
  const x = axes[0].key;
  const rows = lines.map((l) => {
    const others = axes
      .slice(1)
      .map((a) => `${a.key}=${l.point[a.key]}`)
      .join(",");
    const row: Record<string, unknown> = { x: l.point[x], series: others === "" ? l.run : `${l.run} ${others}` };
    for (const m of SWEEP_METRICS) row[m] = l.result[m];
    // In µs, as a person reads it (the sweep's JSON keeps ns).
    row.mapP99 = l.result.mapLatencyNs === null ? null : l.result.mapLatencyNs.p99 / 1000;
    return row;
  });
  const numeric = axes[0].values.every((v) => typeof v === "number");
  const charts = [...SWEEP_METRICS, "mapP99"].map((m) => ({
    title: m === "mapP99" ? "map latency p99 (µs)" : m,
    width: 320,
    height: 160,
    data: { values: rows },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "x", type: numeric ? "quantitative" : "ordinal", title: x },
      y: { field: m, type: "quantitative", title: null },
      color: { field: "series", type: "nominal", title: "run" },
    },
  }));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `sweep over ${axes.map((a) => a.key).join(" x ")}`,
    config: { font: "DejaVu Sans" },
    background: "white",
    columns: 2,
    concat: charts,
  };
}
