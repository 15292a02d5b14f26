/**
 * `iovalab advise TRACE|SCENARIO.yaml`: which rcache range to give each IOMMU
 * group that maps. A trace is replayed (as `iovalab replay`, defaults from the trace)
 * once per candidate range on the same calls; a scenario's workload runs once
 * per candidate range (its first run's mode, the range on the command line).
 * The candidates and the rule are `replay/advise.ts`.
 */

import type { Command } from "commander";
import { assert, InputError, type ProfileName } from "../face/allocator.ts";
import {
  type AdviceCandidate,
  candidateOf,
  candidateRanges,
  dmaDevices,
  type GroupAdvice,
  groupNumber,
  isKernelWorkEvent,
  lossWarning,
  type MachineDesc,
  machineForDevice,
  Reconstructor,
  Replayer,
  recommend,
  replayDefaults,
  type TraceEvent,
  type TraceFacts,
  TraceReader,
  traceMachineOf,
} from "../face/kernel.ts";
import { formatBytes, formatNs, formatTable } from "../face/simulation.ts";
import { runCommand, writeStdout } from "./io.ts";
import { loadMachineOption } from "./machine-option.ts";
import { parseKernelOption } from "./ops.ts";
import { readTraceWithFacts } from "./replay-defaults.ts";

interface AdviseOpts {
  machine?: string;
  kernel?: string;
  json?: boolean;
  duration?: string;
}

export function registerAdvise(program: Command): void {
  program
    .command("advise")
    .description("recommend each IOMMU group's rcache range for a trace or a scenario")
    .argument("<input>", "a kernel DMA trace (as for replay) or a scenario YAML file (.yaml/.yml)")
    .option("--machine <machine>", "trace: a built-in machine name or a description file (default: from the trace)")
    .option("--kernel <profile>", "trace: kernel profile (default: what the trace shows, else the machine's)")
    .option(
      "--duration <ms>",
      "scenario: simulated milliseconds measured per candidate (default: the scenario's, at most 20)",
    )
    .option("--json", "print the advice as JSON")
    .action((input: string, opts: AdviseOpts) =>
      runCommand(async () => {
        let groups: GroupAdvice[];
        if (/\.ya?ml$/i.test(input)) {
          const { adviseScenario } = await import("./advise-scenario.ts");
          groups = await adviseScenario(input, opts.duration);
        } else {
          const machine = opts.machine === undefined ? undefined : loadMachineOption(opts.machine);
          groups = await adviseTrace(input, input === "-" ? "<stdin>" : input, machine, parseKernelOption(opts.kernel));
        }
        await writeStdout(opts.json ? `${JSON.stringify({ groups }, null, 2)}\n` : adviceText(groups));
      }),
    );
}

/** One group's advice as text: a table of the candidates, then the recommendation. */
export function adviceText(groups: readonly GroupAdvice[]): string {
  const blocks: string[] = [];
  for (const g of groups) {
    const out: string[] = [];
    const base = g.candidates[0];
    out.push(`${g.group} (${g.devices.join(", ")}): range now ${formatBytes(g.currentBytes)}`);
    const rows = g.candidates.map((c: AdviceCandidate) => [
      c === base ? `${formatBytes(c.bytes)} (now)` : formatBytes(c.bytes),
      String(c.rcacheOrders),
      String(c.treeAllocs),
      String(base.treeAllocs - c.treeAllocs),
      String(base.walkSteps - c.walkSteps),
      c.lockWaitNs === null || base.lockWaitNs === null ? "-" : formatNs(base.lockWaitNs - c.lockWaitNs),
      formatBytes(c.cachedIovaBytes),
      formatBytes(c.magazineBytes),
    ]);
    out.push(
      formatTable(
        [
          "range",
          "classes",
          "tree allocs",
          "allocs avoided",
          "walk steps avoided",
          "rbtree lock wait avoided",
          "IOVA space cached",
          "magazines",
        ],
        rows,
      ).trimEnd(),
    );
    out.push(`recommendation: ${g.reason}`);
    blocks.push(out.join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}

/**
 * Replays the trace once per candidate range and IOMMU group, side by side on
 * the same reconstructed calls: for every group whose devices a DMA driver
 * binds, its range now first, then one more size class each up to 4 MiB.
 * Groups the trace makes no DMA map in are left out.
 */
export async function adviseTrace(
  trace: string,
  file: string,
  machine: MachineDesc | undefined,
  kernel?: ProfileName,
): Promise<GroupAdvice[]> {
  const reader = new TraceReader({ file });
  /** Per group: the devices, then the replay under the current range and under each candidate. */
  let groups: { devices: string[]; replayers: Replayer[] }[] = [];
  let rc: Reconstructor | null = null;
  let primary = "";
  const start = (facts: TraceFacts): ((e: TraceEvent) => void) => {
    const d = replayDefaults(facts, reader.stats, {
      machine,
      device: undefined,
      kernel,
      captured: undefined,
    });
    for (const n of d.notes) process.stderr.write(`iovalab advise: ${n}\n`);
    primary = d.device;
    // Advice reads counts, never why an IOVA differs from the trace's: under another range nearly every one does,
    // and describing each (a scan of every CPU's magazines) was most of an advice's time.
    const make = (device: string, rangeBytes: number | undefined) =>
      new Replayer({
        machine: machineForDevice(d.machine, device),
        kernel: d.kernel,
        device,
        strict: d.captured,
        rangeBytes,
        describeMismatches: false,
      });
    // One replayed device per group (the group's devices share its domain): the replayed device's first.
    const seen = new Set<string | undefined>();
    const devices = [d.device, ...dmaDevices(d.machine).filter((x) => x !== d.device)];
    groups = [];
    for (const dev of devices) {
      const group = d.machine.devices.find((x) => x.bdf === dev)?.group;
      if (group !== undefined && seen.has(group)) continue;
      seen.add(group);
      const members = d.machine.devices.filter((x) => x.group !== undefined && x.group === group).map((x) => x.bdf);
      // The current range's classes, from a replay of nothing on the same boot.
      const { rcacheOrders, granule } = make(dev, undefined).end().iovad;
      const others = candidateRanges(rcacheOrders, granule).map((b) => make(dev, b));
      // As replay's what-ifs: other ranges keep the trace's order of the calls.
      for (const r of others) r.keepTraceOrder();
      groups.push({ devices: members.length > 0 ? members : [dev], replayers: [make(dev, undefined), ...others] });
    }
    const all = groups.flatMap((g) => g.replayers);
    const rec = new Reconstructor({ machine: traceMachineOf(d.machine, d.device), file }, (c) => {
      for (const r of all) r.push(c);
    });
    rc = rec;
    const f = (e: TraceEvent) => {
      if (isKernelWorkEvent(e)) for (const r of all) r.pushWork(e);
      else rec.push(e);
    };
    return f;
  };
  await readTraceWithFacts(trace, reader, start);
  assert(rc !== null, "the replays started");
  (rc as Reconstructor).end();
  const bad = reader.stats.malformed;
  if (bad > 0) {
    process.stderr.write(
      `iovalab advise: warning: ${file}: ${bad} malformed trace line${bad === 1 ? "" : "s"} skipped:\n` +
        reader.diagnostics
          .slice(0, 5)
          .map((d) => `  ${d}\n`)
          .join(""),
    );
  }
  const lost = lossWarning(reader.stats);
  if (lost !== null) process.stderr.write(`iovalab advise: warning: ${file}: ${lost}\n`);
  const out: GroupAdvice[] = [];
  for (const g of groups) {
    const results = g.replayers.map((r) => r.end());
    if (results[0].allocations === 0) continue;
    const candidates = results.map((r) => candidateOf(r.iovad, null));
    const rec = recommend(candidates, formatBytes);
    out.push({
      group: results[0].domain,
      devices: g.devices,
      currentBytes: candidates[0].bytes,
      recommendedBytes: rec.bytes,
      reason: rec.reason,
      candidates,
    });
  }
  if (out.length === 0) throw new InputError(`${file}: expected DMA map events of ${primary} to advise on, found none`);
  return out.sort((a, b) => groupNumber(a.group) - groupNumber(b.group));
}
