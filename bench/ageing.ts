/**
 * `node bench/ageing.ts`: how the seed's figures move with age. The
 * calibration scenario (hisi-sas-128, 5.15 profile, the published fio job)
 * aged 1 s to 1 h, then measured for 1 s, for strict with the default range,
 * strict with the range raised (the driver's 507904-byte request) and lazy
 * with the default range. Every warm-up is fast-forwarded
 * (src/scenario/fast-forward.ts). Prints a Markdown table with each run's wall
 * and CPU time (docs/cost-model.md, "Ageing" keeps one); on a shared machine
 * the CPU time is the figure to compare.
 *
 *   node bench/ageing.ts [--ages 1s,10s,1min,10min,1h] [--measure 1000] [--runs default-strict,...] [--timed]
 */

import { calibrationScenario } from "../src/scenario/calibrate.ts";
import { runOne } from "../src/scenario/run.ts";
import type { RunSpec } from "../src/scenario/scenario.ts";

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, min: 60_000, h: 3_600_000 };
const ages = arg("--ages", "1s,10s,1min,10min,1h")
  .split(",")
  .map((a) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|min|h)$/.exec(a);
    if (m === null) throw new Error(`--ages: expected durations such as 10s or 1h, found ${a}`);
    return { label: a, ms: Number(m[1]) * UNIT_MS[m[2]] };
  });
const measureMs = Number(arg("--measure", "1000"));
const RUNS: RunSpec[] = [
  { name: "default-strict", mode: "strict", range: "default", bytes: null },
  { name: "driver-strict", mode: "strict", range: "driver", bytes: null },
  { name: "default-lazy", mode: "lazy", range: "default", bytes: null },
];
/** `--timed`: the whole warm-up in time (no fast-forward): the reference on spans it can do. */
const timed = process.argv.includes("--timed");
const want = arg("--runs", RUNS.map((r) => r.name).join(",")).split(",");

console.log(`measured ${measureMs} ms after each age; seed 1; ${timed ? "timed warm-up" : "fast-forwarded warm-up"}`);
console.log("");
console.log(
  "| run | age | IOPS | walk steps per tree alloc | tree allocs/s | cache hit rate | cached IOVA MiB | wall s | CPU s |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const run of RUNS.filter((r) => want.includes(r.name))) {
  for (const age of ages) {
    const s = { ...calibrationScenario(), warmupMs: age.ms, durationMs: measureMs, fastForward: !timed };
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = runOne(s, run);
    const wall = (performance.now() - t0) / 1000;
    const c1 = process.cpuUsage(c0);
    const cpu = (c1.user + c1.system) / 1e6;
    console.log(
      `| ${run.name} | ${age.label} | ${r.iops} | ${r.walkStepsPerTreeAlloc} | ${r.treeAllocsPerSec} | ${r.cacheHitRate} | ${(r.cachedIovaBytes / 2 ** 20).toFixed(1)} | ${wall.toFixed(1)} | ${cpu.toFixed(1)} |`,
    );
  }
}
