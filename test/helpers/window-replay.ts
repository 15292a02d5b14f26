/**
 * Both readings of `iovalab replay` on a trace's events, in process: the
 * learning window first (the mappings live at the start, the allocations),
 * then the replay from what it found, with the model's IOVA of each map
 * event. And the cut a mid-life test replays: a trace from one line on.
 */

import assert from "node:assert/strict";
import type { ProfileName } from "../../src/iova/profile.ts";
import { builtinMachine, type MachineDesc } from "../../src/machine/index.ts";
import { Replayer, type ReplayOptions, type ReplayResult, traceMachineOf } from "../../src/replay/replay.ts";
import { LearningWindow } from "../../src/replay/start-search.ts";
import type { StartState } from "../../src/replay/start-state.ts";
import type { TraceEvent } from "../../src/trace/events.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { type ReconstructOptions, Reconstructor } from "../../src/trace/reconstruct.ts";
import { feedEvents } from "./feed-events.ts";

/** The trace `text` from line `from` on (1-based), the comment lines before it kept: a capture started mid-life. */
export function cutFrom(text: string, from: number): string {
  const lines = text.split("\n");
  return [...lines.filter((l, i) => i < from - 1 && l.startsWith("#")), ...lines.slice(from - 1)].join("\n");
}

/**
 * The events of a trace's `count` lines from its line `from` on (1-based; `lines` the whole trace's), each
 * numbered as in the whole trace: a capture begun at that line.
 */
export function cutEvents(lines: readonly string[], from: number, count: number): TraceEvent[] {
  return readTraceText(lines.slice(from - 1, from - 1 + count).join("\n"), { file: "t", strictInput: true }).events.map(
    (e) => ({ ...e, line: e.line + from - 1 }),
  );
}

/** The model's IOVA of the map event at a line of `evs`, from a replay's emitted IOVAs (one per map event, in order). */
export function mapIovaAt(evs: readonly TraceEvent[], emitted: readonly string[]): (line: number) => string {
  const maps = evs.filter((e) => e.type === "iommu_map");
  assert.equal(emitted.length, maps.length);
  return (line) => emitted[maps.findIndex((e) => e.line === line)];
}

/** The machine the public traces come from, and the reconstruction options of its NVMe (00:01.0). */
export function qemuNvme(): { machine: MachineDesc; rcOpts: ReconstructOptions } {
  const machine = builtinMachine("qemu-q35-nvme");
  if (machine === null) throw new Error("qemu-q35-nvme is built in");
  return { machine, rcOpts: { machine: traceMachineOf(machine, "0000:00:01.0") } };
}

export interface WindowReplay {
  machine: MachineDesc;
  kernel: ProfileName;
  rcOpts: ReconstructOptions;
  /** Options of the window, beyond machine, kernel and lazy. */
  window?: Partial<ReplayOptions>;
  /** Options of the replay, beyond those and what the window found. */
  replay?: Partial<ReplayOptions>;
}

/** The replay's result and the model's IOVA of each map event, in trace order. */
export function windowReplay(evs: readonly TraceEvent[], o: WindowReplay): { r: ReplayResult; emitted: string[] } {
  const w = new LearningWindow({ machine: o.machine, kernel: o.kernel, strict: false, ...o.window }, o.rcOpts, false);
  for (const e of evs) w.push(e);
  const allocations = w.end();
  const emitted: string[] = [];
  const rp = new Replayer({
    machine: o.machine,
    kernel: o.kernel,
    strict: false,
    live: w.live,
    traceAllocations: allocations,
    emitIova: (t: string) => emitted.push(t),
    ...o.window,
    ...o.replay,
  });
  const rc = new Reconstructor(o.rcOpts, (c) => rp.push(c));
  return { r: feedEvents(evs, rp, rc), emitted };
}

/** A lazy cut with the timer's events, read once: its learning window, and a replay of it from a start state. */
export interface BusyCut {
  events: TraceEvent[];
  window: LearningWindow;
  /** The NVMe domain's allocations in the whole cut. */
  allocations: number;
  /** The replay from `start` (the phase not adopting), or from the empty start as `iovalab replay` runs it (adopting). */
  replay: (start?: StartState) => ReplayResult;
}

/** Reads the lazy cut at `path` (the NVMe of qemu-q35-nvme, kernel `kernel`, the timer's events) and its window. */
export async function busyCut(path: string, kernel: ProfileName): Promise<BusyCut> {
  const events: TraceEvent[] = [];
  await readTraceFile(path, (e) => events.push(e));
  return busyWindow(events, kernel);
}

/** `busyCut` of the lazy cut's events `events`, read already. */
export function busyWindow(events: TraceEvent[], kernel: ProfileName): BusyCut {
  const { machine, rcOpts } = qemuNvme();
  const opts = { machine, kernel, strict: false, timerEvents: true };
  const window = new LearningWindow(opts, rcOpts, true);
  for (const e of events) window.push(e);
  window.end();
  const allocations = window.allocationsByDomain.get("group1") ?? 0;
  const replay = (start?: StartState): ReplayResult => {
    const rp = new Replayer({
      ...opts,
      start,
      learningAdopts: start === undefined,
      traceAllocations: allocations,
      live: window.live,
    });
    return feedEvents(events, rp, new Reconstructor(rcOpts, (c) => rp.push(c)));
  };
  return { events, window, allocations, replay };
}

/**
 * The replay of a lazy cut's events `evs` with the timer's events, from `start` (the NVMe of qemu-q35-nvme,
 * kernel `kernel`): its result, and the model's IOVA of the map event at a line (`mapIovaAt`).
 */
export function timerCutRun(
  evs: readonly TraceEvent[],
  kernel: ProfileName,
  start: StartState,
): { r: ReplayResult; at: (line: number) => string } {
  const { machine, rcOpts } = qemuNvme();
  const { r, emitted } = windowReplay(evs, {
    machine,
    kernel,
    rcOpts,
    window: { timerEvents: true },
    replay: { start },
  });
  return { r, at: mapIovaAt(evs, emitted) };
}
