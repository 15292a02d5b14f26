/**
 * `iovalab advise SCENARIO.yaml`: the scenario's workload run once per
 * candidate range, in its first run's mode (and kernel), and every IOMMU
 * group whose domain maps during the run advised from those runs' figures:
 * the default range, then one more
 * size class each (`iommu.max_opt_dma_size=` on the command line) up to
 * 4 MiB. Each candidate is a full simulation, so the measured window is the
 * scenario's but at most 20 ms and the warm-up at most 10 ms unless
 * --duration says otherwise: enough for the rcaches to settle at fio depths.
 */

import { InputError, parseDurationMs } from "../face/allocator.ts";
import {
  type AdviceCandidate,
  candidateOf,
  candidateRanges,
  type GroupAdvice,
  groupNumber,
  recommend,
} from "../face/kernel.ts";
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
  // Every run at the scenario's own age: a run's own warm-up or window gives way to the above.
  s.runs = s.runs.map(({ warmupMs: _w, durationMs: _d, ...r }) => r);
  if (s.runs.length === 0) throw new InputError(`${file}: runs: expected at least one run, found none`);
  const mode = s.runs[0].mode;
  const kernel = s.runs[0].kernel;
  const traceCalls = await readTraceCalls(s, file);
  /** Per candidate run: each group's figures, for the groups whose domain mapped during the run. */
  const one = (run: RunSpec): Map<string, { devices: string[]; candidate: AdviceCandidate }> => {
    let finish: (() => Map<string, { devices: string[]; candidate: AdviceCandidate }>) | null = null;
    runOne(
      s,
      { ...run, kernel },
      {
        traceCalls,
        observe: (ctx) => {
          const k = ctx.kernel;
          const groups = [...k.iommu.groups.values()].flatMap((g) => {
            const dev = g.devices.find((d) => k.dma.cookieOf(d) !== null);
            const cookie = dev === undefined ? null : k.dma.cookieOf(dev);
            return cookie === null ? [] : [{ g, cookie, before: activity(cookie.iovad) }];
          });
          const seamGroup = k.groupOf(ctx.seam.dev);
          finish = () => {
            const out = new Map<string, { devices: string[]; candidate: AdviceCandidate }>();
            for (const { g, cookie, before } of groups) {
              if (activity(cookie.iovad) === before) continue;
              // The simulation models the rbtree lock of the workload's domain: its wait over the measured window.
              const wait = g === seamGroup ? ctx.seam.treeLock.stats().waitNs : 0;
              out.set(`group${g.id}`, {
                devices: g.devices.map((d) => d.name),
                candidate: candidateOf(cookie.iovad, wait),
              });
            }
            return out;
          };
        },
      },
    );
    if (finish === null) throw new InputError(`${file}: the run exposed no DMA domain`);
    return (finish as () => Map<string, { devices: string[]; candidate: AdviceCandidate }>)();
  };
  const base = one({ name: "advise-default", mode, range: "default", bytes: null });
  if (base.size === 0) throw new InputError(`${file}: the scenario's workload made no DMA map to advise on`);
  // One range for all groups per candidate run (iommu.max_opt_dma_size= on the command line):
  // the candidates follow the first group's classes; each group keeps those past its own range.
  const first = [...base.values()][0].candidate;
  const granule = first.bytes / 2 ** (first.rcacheOrders - 1);
  const runs = candidateRanges(first.rcacheOrders, granule).map((b) =>
    one({ name: `advise-${b}`, mode, range: "cmdline", bytes: b }),
  );
  const out: GroupAdvice[] = [];
  for (const [group, { devices, candidate }] of base) {
    const candidates = [
      candidate,
      ...runs.flatMap((r) => {
        const c = r.get(group)?.candidate;
        return c !== undefined && c.rcacheOrders > candidate.rcacheOrders ? [c] : [];
      }),
    ];
    const rec = recommend(candidates, formatBytes);
    out.push({
      group,
      devices,
      currentBytes: candidate.bytes,
      recommendedBytes: rec.bytes,
      reason: rec.reason,
      candidates,
    });
  }
  return out.sort((a, b) => groupNumber(a.group) - groupNumber(b.group));
}

/** Allocations a domain has served: tree searches and rcache hits. */
function activity(iovad: AdviceDomain): number {
  let n = iovad.stats.treeSearches;
  for (const h of iovad.stats.rcacheHits) n += h;
  return n;
}

type AdviceDomain = Parameters<typeof candidateOf>[0];
