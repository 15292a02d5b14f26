/**
 * The settings a user reaches for, applied to a scenario's runs: the IOMMU
 * mode, the range in bytes and the way it is set (`iovalab run --mode
 * --range --range-via`, and sweep's `--over mode=...` / `--over range=...`).
 * One rule for both: each run keeps what is not given; a range given
 * without a way is set on the kernel command line (`iommu.max_opt_dma_size=`,
 * the way most users do); passthrough has no range. Runs that come out the
 * same are kept once, named `<range>-<mode>` (`passthrough` alone).
 */

import { InputError, quote } from "../stdx/errors.ts";
import { IOMMU_MODES, type IommuMode, type RunSpec } from "./scenario.ts";

export type RangeVia = "cmdline" | "sysfs" | "driver";
export const RANGE_VIAS: readonly RangeVia[] = ["cmdline", "sysfs", "driver"];

export interface RunSettings {
  mode?: IommuMode;
  /** Bytes. */
  range?: number;
  rangeVia?: RangeVia;
}

export function hasRunSettings(o: RunSettings): boolean {
  return o.mode !== undefined || o.range !== undefined || o.rangeVia !== undefined;
}

/** The runs with the settings laid over each; `where` names the flags in errors. */
export function overrideRuns(runs: readonly RunSpec[], o: RunSettings, where = "--range-via"): RunSpec[] {
  if (o.rangeVia !== undefined && o.rangeVia !== "driver" && o.range === undefined) {
    throw new InputError(`${where}: expected --range BYTES with range-via ${o.rangeVia}, found none`);
  }
  const out: RunSpec[] = [];
  for (const r of runs) {
    const mode = o.mode ?? r.mode;
    let range = r.range;
    let bytes = r.bytes;
    if (o.range !== undefined || o.rangeVia !== undefined) {
      range = o.rangeVia ?? "cmdline";
      bytes = o.range ?? null;
    }
    if (mode === "passthrough") {
      if (o.range !== undefined) {
        throw new InputError(
          `--range: expected none with mode passthrough (an identity domain has no IOVA allocator, so no range), found ${o.range}`,
        );
      }
      range = "default";
      bytes = null;
    }
    const name = mode === "passthrough" ? "passthrough" : `${range}-${mode}`;
    if (out.some((x) => x.name === name)) continue;
    out.push({ name, mode, range, bytes });
  }
  return out;
}

/** `--mode` / `mode=` text. */
export function parseMode(where: string, v: string): IommuMode {
  if (!(IOMMU_MODES as readonly string[]).includes(v)) {
    throw new InputError(`${where}: expected one of ${IOMMU_MODES.join(", ")}, found ${quote(v)}`);
  }
  return v as IommuMode;
}

/** `--range-via` text. */
export function parseRangeVia(where: string, v: string): RangeVia {
  if (!(RANGE_VIAS as readonly string[]).includes(v)) {
    throw new InputError(`${where}: expected one of ${RANGE_VIAS.join(", ")}, found ${quote(v)}`);
  }
  return v as RangeVia;
}

/**
 * The seed's fio job on a machine of `cpus` CPUs (4 KiB sequential reads
 * at iodepth 128, one thread per CPU, each on its own CPU), the job a run
 * with `--machine` and no `--fio` drives; the disks are taken in turn.
 */
export function defaultFioJob(cpus: number): string {
  return `; The seed's job on every CPU of the machine: one thread per CPU, thread i on CPU i.
[global]
rw=read
bs=4k
iodepth=128
direct=1
ioengine=libaio
cpus_allowed=0-${cpus - 1}
time_based
runtime=3600
[seq-read]
numjobs=${cpus}
`;
}
