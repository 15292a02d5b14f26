/**
 * `node bench/ageing-state.ts AGE [--fast-forward] [--run default-strict] [--seed N] [--measure MS]`:
 * the kernel model's state after the calibration scenario has aged AGE (ms),
 * timed or fast-forwarded, as JSON — the tree, the cached pfns and depot of
 * each size class, the allocator's counters since boot, and the stream's
 * composition (maps by size class, unmaps on a CPU other than the map's).
 * Two such dumps side by side say what a fast-forward does to the caches
 * that the timed run does not (docs/cost-model.md, "Ageing fast-forward").
 * The state is the one at the end of the measured window (1 ms by default).
 */

import { calibrationScenario } from "../src/scenario/calibrate.ts";
import { type RunContext, runOne } from "../src/scenario/run.ts";

const ageMs = Number(process.argv[2]);
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const ff = process.argv.includes("--fast-forward");
const runName = arg("--run", "default-strict");
const seed = Number(arg("--seed", "1"));
const measureMs = Number(arg("--measure", "1"));
const base = calibrationScenario();
const run = base.runs.find((r) => r.name === runName);
if (run === undefined || !(ageMs > 0)) throw new Error("usage: ageing-state.ts AGE_MS [--fast-forward] [--run NAME]");
let ctx: RunContext | null = null;
const c0 = process.cpuUsage();
const r = runOne({ ...base, seed, warmupMs: ageMs, durationMs: measureMs, fastForward: ff }, run, {
  observe: (c) => void (ctx = c),
});
const cpuS = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6;
const c = ctx as RunContext | null;
if (c === null) throw new Error("no context");
const iovad = c.seam.cookie.iovad;
const st = iovad.stats;
let below32 = 0;
let nodes = 0;
iovad.forEachIova((lo) => {
  nodes++;
  if (lo < iovad.dma32bitPfn) below32++;
});
const perClass = [];
for (let k = 0; k < iovad.rcacheOrders; k++) {
  const rc = iovad.rcaches[k];
  let cpusHolding = 0;
  let cpuFull = 0;
  for (const cr of rc.everyCpu) {
    const n = cr.loaded.size + cr.prev.size;
    if (n > 0) cpusHolding++;
    if (cr.loaded.isFull() && cr.prev.isFull()) cpuFull++;
  }
  perClass.push({
    class: k,
    cachedPfns: st.cachedPfns[k],
    depot: rc.depot.length,
    cpusHolding,
    cpusFull: cpuFull,
    hits: st.rcacheHits[k],
    misses: st.rcacheMisses[k],
    depotPushes: st.depotPushes[k],
    depotPops: st.depotPops[k],
    depotOverflows: st.depotOverflows[k],
  });
}
// The cached IOVA space below 4 GiB, and what of the tree above it is neither cached nor queued: live mappings.
let cachedBelow32Bytes = 0;
let cachedAbove32 = 0;
for (let k = 0; k < iovad.rcacheOrders; k++) {
  const rc = iovad.rcaches[k];
  const mags = [...rc.depot];
  for (const cr of rc.everyCpu) mags.push(cr.loaded, cr.prev);
  for (const m of mags) {
    for (let i = 0; i < m.size; i++) {
      if (m.pfns[i] < iovad.dma32bitPfn) cachedBelow32Bytes += 2 ** k * iovad.granule;
      else cachedAbove32++;
    }
  }
}
let queuedAbove32 = 0;
const fq = c.seam.cookie.fq;
if (fq !== null) {
  for (let cpu = 0; cpu < fq.cpus; cpu++) {
    for (let i = 0; i < fq.queued(cpu); i++) if (fq.queuedPfn(cpu, i) >= iovad.dma32bitPfn) queuedAbove32++;
  }
}
const tree = c.seam.cookie.iovad.tree;
console.log(
  JSON.stringify(
    {
      ageMs,
      fastForward: ff,
      seed,
      cpuS: Number(cpuS.toFixed(1)),
      kernelOffsetMs: c.seam.kernelOffsetNs / 1e6,
      nodes,
      nodesBelow4G: below32,
      cachedBelow4GMiB: Number((cachedBelow32Bytes / 2 ** 20).toFixed(1)),
      liveAbove4G: nodes - below32 - cachedAbove32 - queuedAbove32,
      live: c.seam.live,
      cached32NodePfn: tree.pfnLo(iovad.cached32Node),
      max32AllocSize: iovad.max32AllocSize,
      treeAllocs: st.treeAllocs,
      treeSearches: st.treeSearches,
      treeFailures: st.treeFailures,
      walkSteps: st.walkSteps,
      stepsPerSearch: Number((st.walkSteps / Math.max(1, st.treeSearches)).toFixed(1)),
      uncacheable: st.uncacheableAllocs,
      cachedMiB: Number((perClass.reduce((a, p) => a + iovad.cachedIovaBytes(p.class), 0) / 2 ** 20).toFixed(1)),
      perClass,
      measured: {
        ms: measureMs,
        iops: r.iops,
        walk: r.walkStepsPerTreeAlloc,
        treeAllocsPerSec: r.treeAllocsPerSec,
        hit: r.cacheHitRate,
        cachedMiB: Number((r.cachedIovaBytes / 2 ** 20).toFixed(1)),
      },
    },
    null,
    1,
  ),
);
