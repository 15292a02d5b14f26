/**
 * The main job's verdict in words (issue 16 part 1): what the runs answer,
 * with their figures and the mechanism behind them, computed from the run
 * results alone. `iovalab run` prints it first, the HTML report opens with it
 * and `--json` carries it as "verdict".
 */

import type { RunResult } from "../scenario/run.ts";
import { formatBytes, formatPercent } from "./table.ts";

/** What the verdict needs of the scenario beyond its runs. */
export interface VerdictSetup {
  kernel: string;
  /** fio on the HBA's disks, or a NIC's rings / a trace (no HBA link to compare with). */
  workload: "fio" | "network" | "trace";
  hbaLinkBytesPerSec: number;
  diskCount: number;
  diskIopsMax: number;
}

/** The 32-bit IOVA window dma-iommu tries first for PCI devices: 4 GiB. */
const WINDOW_32BIT = 2 ** 32;
/** A run at or above this share of a ceiling sits at it. */
const AT_CEILING = 0.95;

function iopsText(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}

function signed(fraction: number): string {
  return `${fraction >= 0 ? "+" : ""}${(fraction * 100).toFixed(1)}%`;
}

/** The verdict's sentences, in order: the answer per mode, the ceiling, the request cap, the IOVA space held. */
export function verdict(runs: readonly RunResult[], setup: VerdictSetup): string[] {
  const out: string[] = [];
  if (runs.length === 0) return out;
  // The answer: per mode, the best run by IOPS against the default range's.
  for (const mode of ["strict", "lazy"] as const) {
    const rs = runs.filter((r) => r.mode === mode);
    const def = rs.find((r) => r.rangeSource === "default");
    if (def === undefined || rs.length < 2) continue;
    const best = rs.filter((r) => r !== def).reduce((a, b) => (b.iops > a.iops ? b : a));
    const gain = def.iops === 0 ? 0 : (best.iops - def.iops) / def.iops;
    out.push(
      `${mode}: ${best.name} (${best.rcacheOrders} size classes) reaches ${iopsText(best.iops)} IOPS against ` +
        `${def.name}'s ${iopsText(def.iops)} (${def.rcacheOrders} classes; ${signed(gain)}), with ${iopsText(best.treeAllocsPerSec)} tree allocations/s against ` +
        `${iopsText(def.treeAllocsPerSec)} and ${formatPercent(best.lockWaitShare)} of CPU time waiting on locks against ${formatPercent(def.lockWaitShare)}.`,
    );
  }
  if (setup.workload === "fio") {
    // What crosses the link: each request (one DMA mapping) of its mean size;
    // what the disks start: one command per request.
    const moved = (r: RunResult) => r.mapsPerSec * r.requestBytesMean;
    const top = runs.reduce((a, b) => (moved(b) > moved(a) ? b : a));
    const bytesPerSec = moved(top);
    const linkShare = bytesPerSec / setup.hbaLinkBytesPerSec;
    const diskIops = setup.diskCount * setup.diskIopsMax;
    const diskShare = top.mapsPerSec / diskIops;
    const limit =
      linkShare >= AT_CEILING
        ? "it sits at the HBA link's ceiling, so no range can raise IOPS further"
        : diskShare >= AT_CEILING
          ? "it sits at the disks' IOPS ceiling, so no range can raise IOPS further"
          : `it is below both ceilings: the CPUs limit it (${formatPercent(top.busyShare)} busy, ` +
            `${formatPercent(top.lockWaitShare)} waiting on locks)`;
    out.push(
      `The busiest run, ${top.name}, moves ${formatBytes(bytesPerSec)}/s, ${formatPercent(linkShare)} of the HBA link's ` +
        `${formatBytes(setup.hbaLinkBytesPerSec)}/s, in ${iopsText(top.mapsPerSec)} requests/s, ${formatPercent(diskShare)} ` +
        `of the ${setup.diskCount} disks' ${iopsText(diskIops)} commands/s: ${limit}.`,
    );
    // sd caps max_sectors at dma_opt_mapping_size() (6.0 on): the range sets the request size.
    const caps = [...new Set(runs.map((r) => r.maxSectorsKb))].sort((a, b) => a - b);
    if (caps.length > 1) {
      const at = (kb: number) =>
        runs
          .filter((r) => r.maxSectorsKb === kb)
          .map((r) => r.name)
          .join(", ");
      out.push(
        `On ${setup.kernel}, sd caps each request at dma_opt_mapping_size(), the largest size the rcaches hold: ` +
          caps.map((kb) => `${kb} KiB in ${at(kb)}`).join("; ") +
          "; a larger range makes larger requests, not only cached ones.",
      );
    }
  }
  const held = runs.reduce((a, b) => (b.cachedIovaBytes > a.cachedIovaBytes ? b : a));
  out.push(
    `The caches hold at most ${formatBytes(held.cachedIovaBytes)} of IOVA space (${held.name}), ` +
      `${formatPercent(held.cachedIovaBytes / WINDOW_32BIT)} of the 4 GiB 32-bit window, and ${formatBytes(held.magazineBytes)} of magazines.`,
  );
  return out;
}
