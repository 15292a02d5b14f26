/**
 * Calibration against the published figures (seed-thread.md): hisi_sas v3,
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
import type { Scenario } from "./scenario.ts";

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
  const runs = [
    runOne(sc, { name: "default-strict", mode: "strict", range: "default", bytes: null }),
    runOne(sc, { name: "default-lazy", mode: "lazy", range: "default", bytes: null }),
    runOne(sc, { name: "driver-strict", mode: "strict", range: "driver", bytes: null }),
  ];
  return { figures: { strictDefault: runs[0].iops, lazyDefault: runs[1].iops, strictFullRange: runs[2].iops }, runs };
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
