/**
 * `iovalab advise SCENARIO.yaml`: the scenario's workload run once per
 * candidate range, in its first run's mode: the default range, then one more
 * size class each (`iommu.max_opt_dma_size=` on the command line) up to
 * 4 MiB. Each candidate is a full simulation, so the measured window is the
 * scenario's but at most 20 ms and the warm-up at most 10 ms unless
 * --duration says otherwise: enough for the rcaches to settle at fio depths.
 */

import { InputError, parseDurationMs } from "../face/allocator.ts";
import { type AdviceCandidate, candidateOf, candidateRanges, type GroupAdvice, recommend } from "../face/kernel.ts";
import { formatBytes, parseScenarioYaml, type RunSpec, runOne } from "../face/simulation.ts";
import { readText } from "./io.ts";
import { readTraceCalls } from "./run.ts";

/** Longest measured window and warm-up per candidate by default, ms. */
const ADVISE_DURATION_MS = 20;
const ADVISE_WARMUP_MS = 10;

export async function adviseScenario(file: string, duration: string | undefined): Promise<GroupAdvice[]> {
  const s = parseScenarioYaml(readText(file), file);
  if (duration !== undefined) s.durationMs = parseDurationMs("--duration", duration, true);
  else s.durationMs = Math.min(s.durationMs, ADVISE_DURATION_MS);
  s.warmupMs = Math.min(s.warmupMs, ADVISE_WARMUP_MS);
  if (s.runs.length === 0) throw new InputError(`${file}: runs: expected at least one run, found none`);
  const mode = s.runs[0].mode;
  const traceCalls = await readTraceCalls(s, file);
  let group = "";
  let devices: string[] = [];
  const one = (run: RunSpec): AdviceCandidate => {
    let got: AdviceCandidate | null = null;
    let finish: (() => AdviceCandidate) | null = null;
    runOne(s, run, {
      traceCalls,
      observe: (ctx) => {
        const g = ctx.kernel.groupOf(ctx.seam.dev);
        group = `group${g?.id ?? "?"}`;
        devices = g ? g.devices.map((d) => d.name) : [ctx.seam.dev.name];
        // The measured window's wait on iova_rbtree_lock (its statistics restart after the warm-up).
        finish = () => candidateOf(ctx.seam.cookie.iovad, ctx.seam.treeLock.stats().waitNs);
      },
    });
    if (finish !== null) got = (finish as () => AdviceCandidate)();
    if (got === null) throw new InputError(`${file}: the run exposed no DMA domain`);
    return got;
  };
  const base = one({ name: "advise-default", mode, range: "default", bytes: null });
  const candidates = [base];
  // The granule from the candidate itself: its range is granule << (classes - 1).
  const granule = base.bytes / 2 ** (base.rcacheOrders - 1);
  for (const b of candidateRanges(base.rcacheOrders, granule))
    candidates.push(one({ name: `advise-${b}`, mode, range: "cmdline", bytes: b }));
  const rec = recommend(candidates, formatBytes);
  return [
    {
      group,
      devices,
      currentBytes: base.bytes,
      recommendedBytes: rec.bytes,
      reason: rec.reason,
      candidates,
    },
  ];
}
