/**
 * Where the explorer's DMA calls come from: a kernel trace, rebuilt into
 * calls by the trace layer, or a scenario, whose run is simulated and whose
 * calls on the HBA (or NIC) are recorded as they reach dma-iommu. Either way
 * a lane replays a list of calls with the library's Replayer, so the page
 * can stop at any call and a what-if replays the same calls (a trace) or
 * the same workload under other settings (a scenario).
 */

import {
  builtinMachine,
  DEFAULTS_WINDOW,
  type DmaCall,
  InputError,
  isKernelWorkEvent,
  type KernelWorkEvent,
  lossWarning,
  type MachineDesc,
  type ProfileName,
  parseMachine,
  parseScenarioYaml,
  Reconstructor,
  Replayer,
  type ReplayOptions,
  type RunSpec,
  replayDefaults,
  runCmdline,
  runOne,
  type Scenario,
  seedScenario,
  type TraceEvent,
  TraceFacts,
  TraceReader,
  traceMachineOf,
} from "../index.ts";
import type { MachineRef, ScenarioInput, TraceInput } from "./input.ts";

/** The settings a what-if changes. */
export interface Settings {
  kernel: ProfileName;
  strict: boolean;
  /** The rcache range in bytes (`iommu.max_opt_dma_size=`), 0 = the kernel's default. */
  rangeBytes: number;
}

/** A kernel work event of a trace and its place among the calls. */
export interface LaneWork {
  at: number;
  event: KernelWorkEvent;
}

/** One list of calls and how to replay it. */
export interface LaneSpec {
  label: string;
  settings: Settings;
  calls: DmaCall[];
  replay: Omit<ReplayOptions, "emitIova" | "emitLines">;
  /** A trace's flush-queue timer and depot work events, each with the number of calls made before it. */
  work: readonly LaneWork[];
  /** Replay the calls in the trace's order (a what-if: its IOVAs are not the trace's to order by). */
  keepTraceOrder: boolean;
  /** The trace lines (or the simulated call's description) of call `i`. */
  lines(i: number): string[];
}

export interface Source {
  kind: "trace" | "scenario";
  name: string;
  machine: MachineDesc;
  baseline: Settings;
  /** A short account of the input: lines read, calls, what was left out. */
  notes: string[];
  lane(settings: Settings, label: string, onProgress?: (f: number) => void): LaneSpec;
}

function machineOf(ref: MachineRef): MachineDesc {
  if ("builtin" in ref) {
    const m = builtinMachine(ref.builtin);
    if (!m) throw new InputError(`--machine: expected a built-in machine, found ${JSON.stringify(ref.builtin)}`);
    return m;
  }
  return parseMachine(ref.text, ref.file);
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * A trace: its text is read once; every lane replays the same calls. The
 * kernel, capture mode and (without a machine) the machine come from the
 * trace as `iovalab replay` takes them (`replay/defaults.ts`), and its
 * flush-queue timer and depot work events go to every lane where they fall
 * among the calls, so a lazy trace with timer events replays as exactly in
 * the page as on the command line.
 */
export function traceSource(input: TraceInput, text: string): Source {
  const reader = new TraceReader({ file: input.name });
  const facts = new TraceFacts();
  const events: TraceEvent[] = [];
  reader.push(text, (e) => {
    if (events.length < DEFAULTS_WINDOW) facts.observe(e);
    events.push(e);
  });
  reader.end((e) => events.push(e));
  const d = replayDefaults(facts, reader.stats, {
    machine: input.machine === undefined ? undefined : machineOf(input.machine),
    device: input.device,
    kernel: input.kernel,
    captured: input.captured === undefined ? undefined : input.captured === "strict",
  });
  const { machine, device } = d;
  const calls: DmaCall[] = [];
  const work: LaneWork[] = [];
  const rc = new Reconstructor({ machine: traceMachineOf(machine, device), file: input.name }, (c) => calls.push(c));
  // Each work event goes after the calls rebuilt before it was read: the order the command line hands them over.
  for (const e of events) {
    if (isKernelWorkEvent(e)) work.push({ at: calls.length, event: e });
    else rc.push(e);
  }
  rc.end();
  const textLines = text.split("\n");
  const st = reader.stats;
  const notes = [
    `${input.name}: ${st.lines} lines, ${st.eventsTotal} DMA events, ${st.malformed} malformed lines`,
    `${calls.length} calls rebuilt (${rc.stats.directEvents} direct-mapping events and ${rc.stats.untranslated} untranslated calls left out), ${work.length} timer and workqueue events`,
    ...d.notes,
  ];
  const lost = lossWarning(st);
  if (lost !== null) notes.push(`warning: ${lost}`);
  const probe: ReplayOptions = { machine, kernel: d.kernel, device, strict: d.captured };
  // The baseline's settings as the booted machine has them (its kernel and its command line's mode).
  const booted = new Replayer(probe).kernel;
  const baseline: Settings = { kernel: booted.profile.name, strict: booted.iommu.strict, rangeBytes: 0 };
  const same = (a: Settings) =>
    a.kernel === baseline.kernel && a.strict === baseline.strict && a.rangeBytes === baseline.rangeBytes;
  return {
    kind: "trace",
    name: input.name,
    machine,
    baseline,
    notes,
    lane(settings, label) {
      return {
        label,
        settings,
        calls,
        work,
        // A what-if's IOVAs are not the trace's to fit the CPUs' order to (as on the command line).
        keepTraceOrder: !same(settings),
        replay: {
          ...probe,
          kernel: settings.kernel,
          strict: settings.strict,
          rangeBytes: settings.rangeBytes || undefined,
        },
        lines(i) {
          const c = calls[i];
          return c.lines.slice(0, 6).map((n) => `${n}: ${textLines[n - 1] ?? ""}`);
        },
      };
    },
  };
}

/**
 * A scenario: each lane simulates one run and records the calls that reach
 * dma-iommu for the workload's device, in the order and on the CPUs the
 * simulation made them, then replays them; the replay's IOVAs must equal the
 * simulation's (a mismatch would show on the scrubber).
 */
export function scenarioSource(input: ScenarioInput): Source {
  let s: Scenario = input.yaml === "" ? seedScenario() : parseScenarioYaml(input.yaml, input.name);
  if (input.kernel !== undefined) s = { ...s, kernel: input.kernel };
  if (input.machine !== undefined) s = { ...s, machine: input.machine };
  if (s.workload.kind === "trace") {
    throw new InputError(`${input.name}: workload: a trace workload: explore the trace itself with --machine`);
  }
  const machine = builtinMachine(s.machine);
  if (!machine) throw new InputError(`${input.name}: machine: expected a built-in machine, found ${s.machine}`);
  const first = s.runs[0];
  const scenario = s;
  return {
    kind: "scenario",
    name: input.name,
    machine,
    baseline: {
      kernel: s.kernel,
      strict: first.mode === "strict",
      rangeBytes: first.range === "default" ? 0 : (first.bytes ?? 0),
    },
    notes: [
      `${s.name}: ${s.machine}, ${s.workload.kind} workload, ${s.warmupMs} ms warm-up + ${s.durationMs} ms, seed ${s.seed}`,
      `runs: ${s.runs.map((r) => r.name).join(", ")}`,
    ],
    lane(settings, label, onProgress) {
      // The baseline lane is the scenario's first run as written; a what-if sets the range on the command line.
      const isFirst =
        settings.kernel === scenario.kernel &&
        settings.strict === (first.mode === "strict") &&
        settings.rangeBytes === (first.range === "default" ? 0 : (first.bytes ?? 0));
      const run: RunSpec = isFirst
        ? first
        : {
            name: "what-if",
            mode: settings.strict ? "strict" : "lazy",
            range: settings.rangeBytes === 0 ? "default" : "cmdline",
            bytes: settings.rangeBytes === 0 ? null : settings.rangeBytes,
          };
      const sc: Scenario = { ...scenario, kernel: settings.kernel };
      return simulate(sc, run, machine, label, settings, onProgress);
    },
  };
}

function simulate(
  s: Scenario,
  run: RunSpec,
  machine: MachineDesc,
  label: string,
  settings: Settings,
  onProgress?: (f: number) => void,
): LaneSpec {
  const calls: DmaCall[] = [];
  let device = "";
  let domain = "";
  runOne(s, run, {
    onProgress,
    observe: (ctx) => {
      const dev = ctx.seam.dev;
      device = dev.name;
      const group = machine.devices.find((d) => d.bdf === device)?.group;
      domain = `group${group}`;
      const dma = ctx.kernel.dma;
      const g = ctx.seam.cookie.iovad.granule;
      const mapSg = dma.mapSg.bind(dma);
      const unmapSg = dma.unmapSg.bind(dma);
      const live = new Map<number, number>();
      let allocation = 0;
      const record = (kind: "map" | "unmap", cpu: number, iova: number, pages: number, n: number) => {
        calls.push({
          kind,
          allocation: n,
          domain,
          device,
          api: kind === "map" ? "dma_map_sg" : "dma_unmap_sg",
          iova,
          sizeBytes: pages * g,
          requestedBytes: undefined,
          dmaAddr: iova,
          pieces: kind === "map" ? 1 : 0,
          mapLines: kind === "map" ? [calls.length + 1] : [],
          mapOffsets: kind === "map" ? [0] : [],
          cpu,
          irq: false,
          irqKnown: true,
          reuses: 0,
          reusesCpu: -1,
          lostAtNs: -1,
          unmapLost: false,
          pid: 1,
          comm: "fio",
          timestampNs: ctx.engine.nowNs,
          line: calls.length + 1,
          lines: [calls.length + 1],
          inferred: false,
        });
      };
      dma.mapSg = (d, cpu, sg, into) => {
        const m = mapSg(d, cpu, sg, into);
        if (d === dev && m.nents > 0 && !m.perEntry) {
          const pfn = Math.floor(m.segments[0].dmaAddr / g);
          const pages = ctx.seam.cookie.mapped.get(pfn) ?? 0;
          live.set(pfn, ++allocation);
          record("map", cpu, pfn * g, pages, allocation);
        }
        return m;
      };
      dma.unmapSg = (d, cpu, m) => {
        if (d === dev && m.nents > 0 && !m.perEntry) {
          const pfn = Math.floor(m.segments[0].dmaAddr / g);
          const pages = ctx.seam.cookie.mapped.get(pfn) ?? 0;
          record("unmap", cpu, pfn * g, pages, live.get(pfn) ?? 0);
          live.delete(pfn);
        }
        return unmapSg(d, cpu, m);
      };
    },
  });
  return {
    label,
    settings,
    calls,
    work: [],
    keepTraceOrder: false,
    // The sysfs route writes the range after boot; the replay's machine has it from the start.
    replay: {
      machine,
      kernel: s.kernel,
      device,
      cmdline: runCmdline(s, run) + (run.range === "sysfs" ? ` iommu.max_opt_dma_size=${run.bytes}` : ""),
    },
    lines(i) {
      const c = calls[i];
      return [
        `${c.line}: [cpu ${c.cpu}] ${(c.timestampNs / 1e6).toFixed(6)} ms: ${c.api} ${hex(c.iova)} ` +
          `${c.sizeBytes / 1024} KiB (request ${c.allocation})`,
      ];
    },
  };
}
