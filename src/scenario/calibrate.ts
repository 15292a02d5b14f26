/**
 * Calibration against the published figures (docs/seed-thread.md): hisi_sas v3,
 * 12 SAS SSDs, 128 CPUs, fio sequential 4 KiB reads; strict with the
 * default range ≈1200K IOPS, lazy ≈1800K, strict with a range covering every
 * mapping ≈1800K. The free parameters are fitted on the first two; the
 * third is the model's prediction, checked within ±15% (issue 5 item 2).
 *
 * Runs are the seed scenario's own (same machine, kernel profile, workload,
 * cost table): `default-strict`, `default-lazy` and `driver-strict` (the
 * driver's request, 507904 bytes, covers every mapping the HBA makes). No
 * per-scenario factor exists anywhere: a figure can only move through what
 * the model does.
 */

import { type CostParamName, defaultCostModel } from "../sim/cost.ts";
import { type RunResult, runOne } from "./run.ts";
import { type RunSpec, type Scenario, seedScenario } from "./scenario.ts";

/**
 * The published set-up as a scenario: the seed scenario's machine (with
 * hisi_sas v3's managed interrupt affinity, so IOVAs are freed on other
 * CPUs than the ones that allocated them), workload and cost table, with the
 * one fact of the measurement the main job does not share — the kernel
 * (v5.13-rc1: no sd cap at dma_opt_mapping_size, round-up in
 * iommu_dma_alloc_iova, as the 5.15 profile has them) — and a long warm-up:
 * the caches age until the 32-bit IOVA window is crowded, about 8 s of
 * simulated time at these rates (docs/cost-model.md, "Calibration").
 * Measured: the second from 8 s to 9 s.
 */
export function calibrationScenario(): Scenario {
  return {
    ...seedScenario(),
    name: "calibration",
    kernel: "5.15",
    warmupMs: 8000,
    durationMs: 1000,
    runs: CALIBRATION_RUNS,
  };
}

/** strict/default, lazy/default, strict with the driver's 507904-byte range (it covers every mapping). */
export const CALIBRATION_RUNS: RunSpec[] = [
  { name: "default-strict", mode: "strict", range: "default", bytes: null },
  { name: "default-lazy", mode: "lazy", range: "default", bytes: null },
  { name: "driver-strict", mode: "strict", range: "driver", bytes: null },
];

/** The figures from the three calibration runs' results, in CALIBRATION_RUNS order. */
export function figuresOf(runs: readonly RunResult[]): CalibrationFigures {
  const by = (name: string) => runs.find((r) => r.name === name)?.iops ?? 0;
  return { strictDefault: by("default-strict"), lazyDefault: by("default-lazy"), strictFullRange: by("driver-strict") };
}

export const PUBLISHED = {
  strictDefault: 1_200_000,
  lazyDefault: 1_800_000,
  strictFullRange: 1_800_000,
} as const;

export const CALIBRATION_TOLERANCE = 0.15;

export interface CalibrationFigures {
  strictDefault: number;
  lazyDefault: number;
  strictFullRange: number;
}

/** The three calibration runs of `s` (its runs list is ignored), with `cost` laid over its overrides. */
export function calibrationFigures(
  s: Scenario,
  cost: Partial<Record<CostParamName, number>> = {},
): { figures: CalibrationFigures; runs: RunResult[] } {
  const sc: Scenario = { ...s, cost: { ...s.cost, ...cost } };
  const runs = CALIBRATION_RUNS.map((r) => runOne(sc, r));
  return { figures: figuresOf(runs), runs };
}

/** Relative error of each figure against the published one. */
export function calibrationErrors(f: CalibrationFigures): CalibrationFigures {
  return {
    strictDefault: f.strictDefault / PUBLISHED.strictDefault - 1,
    lazyDefault: f.lazyDefault / PUBLISHED.lazyDefault - 1,
    strictFullRange: f.strictFullRange / PUBLISHED.strictFullRange - 1,
  };
}

export interface SensitivityRow {
  param: string;
  factor: number;
  ns: number;
  figures: CalibrationFigures;
}

/**
 * The sensitivity table: each named parameter at `factors` times its value,
 * the others at their defaults, and the three figures each time.
 */
export function sensitivity(
  s: Scenario,
  params: readonly CostParamName[],
  factors: readonly number[] = [0.5, 2],
  onRow?: (row: SensitivityRow) => void,
): SensitivityRow[] {
  const base = defaultCostModel();
  const rows: SensitivityRow[] = [];
  for (const p of params) {
    for (const f of factors) {
      const ns = Math.round((s.cost[p] ?? base[p].ns) * f);
      const row = { param: p, factor: f, ns, figures: calibrationFigures(s, { [p]: ns }).figures };
      rows.push(row);
      onRow?.(row);
    }
  }
  return rows;
}
