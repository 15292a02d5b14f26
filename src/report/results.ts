/**
 * The main job's results as data: the JSON document `iovalab run --json`
 * prints (keys in the issue's order), and the terminal comparison table.
 */

import type { RunResult } from "../scenario/run.ts";
import type { Scenario } from "../scenario/scenario.ts";
import type { ReportSetup } from "../scenario/storage.ts";
import { formatBytes, formatLatency, formatNs, formatPercent, formatTable } from "./table.ts";
import { verdict } from "./verdict.ts";

/** One run as the report carries it: its figures and the kernel it ran. */
export type ReportRun = RunResult & { kernel: string };

export interface ScenarioReport {
  scenario: string;
  seed: number;
  runs: ReportRun[];
  // After the fixed keys: what each run simulated, and the machine's set-up.
  simulatedMsPerRun: number;
  warmupMsPerRun: number;
  kernel: string;
  machine: string;
  /** The answer in words with its figures and mechanism (`verdict.ts`). */
  verdict: string[];
  /** What the runs drive, and the HBA link's bytes/s (the IOPS ceiling of a fio job). */
  workload: "fio" | "network" | "trace";
  hbaLinkBytesPerSec: number;
}

export function makeReport(
  scenario: Pick<Scenario, "name" | "seed" | "durationMs" | "warmupMs" | "kernel" | "machine" | "workload" | "runs"> &
    ReportSetup,
  runs: RunResult[],
  kernelNotes?: Readonly<Record<string, string>>,
): ScenarioReport {
  // Each run's kernel: its own where it names one (the main job runs two), else the scenario's.
  const kernelOf = (r: RunResult) => scenario.runs.find((x) => x.name === r.name)?.kernel ?? scenario.kernel;
  const withKernel = runs.map((r) => ({ ...r, kernel: kernelOf(r) }));
  const kernels = [...new Set(withKernel.map((r) => r.kernel))];
  return {
    scenario: scenario.name,
    seed: scenario.seed,
    runs: withKernel,
    // The first run's (each run carries its own simulatedMs and warmupMs).
    simulatedMsPerRun: runs[0]?.simulatedMs ?? scenario.durationMs,
    warmupMsPerRun: runs[0]?.warmupMs ?? scenario.warmupMs,
    kernel: kernels.length === 0 ? scenario.kernel : kernels.join(", "),
    machine: scenario.machine,
    verdict: verdict(withKernel, {
      workload: scenario.workload.kind,
      hbaLinkBytesPerSec: scenario.hba.linkBytesPerSec,
      diskCount: scenario.disks.count,
      diskIopsMax: scenario.disks.iopsMax,
      storage: scenario.storage,
      diskBandwidthBytesPerSec: scenario.disks.bandwidthBytesPerSec,
      kernelNotes,
    }),
    workload: scenario.workload.kind,
    hbaLinkBytesPerSec: scenario.hba.linkBytesPerSec,
  };
}

/** The JSON text, two-space indented, one trailing newline: byte-identical for one seed. */
export function reportJson(r: ScenarioReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

function k(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}

/** The comparison table for the terminal. */
export function comparisonTable(r: ScenarioReport): string {
  const kernels = new Set(r.runs.map((x) => x.kernel)).size;
  const header = [
    "run",
    "range",
    "classes",
    "IOPS",
    "map p50",
    "map p99",
    "tree allocs/s",
    "steps/alloc",
    "lock wait",
    "hit rate",
    "IOVA cached",
    "magazines",
  ];
  const rows = r.runs.map((x) => [
    x.name,
    formatBytes(x.rangeBytes),
    String(x.rcacheOrders),
    k(x.iops),
    formatLatency(x.mapLatencyNs, "p50"),
    formatLatency(x.mapLatencyNs, "p99"),
    k(x.treeAllocsPerSec),
    x.walkStepsPerTreeAlloc.toFixed(1),
    formatPercent(x.lockWaitShare),
    formatPercent(x.cacheHitRate),
    formatBytes(x.cachedIovaBytes),
    formatBytes(x.magazineBytes),
  ]);
  const classes = Math.max(...r.runs.map((x) => x.cacheHitRateByClass.length));
  const classHeader = ["run", ...Array.from({ length: classes }, (_, c) => `${4 << c}K`)];
  const classRows = r.runs.map((x) => [
    x.name,
    ...Array.from({ length: classes }, (_, c) => {
      const v = x.cacheHitRateByClass[c];
      return v === undefined || v === null ? "-" : formatPercent(v);
    }),
  ]);
  const extraHeader = [
    "run",
    "max_sectors",
    "mean request",
    "maps/s",
    "I/O p50",
    "I/O p99",
    "CPU busy",
    "sync wait",
    "rbtree lock busy",
    "cmdq busy",
  ];
  const extraRows = r.runs.map((x) => [
    x.name,
    // A NIC has no block queue: max_sectors means nothing there.
    x.network === undefined ? `${x.maxSectorsKb} KiB` : "-",
    formatBytes(x.requestBytesMean),
    k(x.mapsPerSec),
    formatLatency(x.ioLatencyNs, "p50"),
    formatLatency(x.ioLatencyNs, "p99"),
    formatPercent(x.busyShare),
    formatPercent(x.syncWaitShare),
    formatPercent(x.rbtreeLockBusyShare),
    formatPercent(x.cmdqBusyShare),
  ]);
  // As /proc/lock_stat gives them: one line per lock class, its locks summed (the depot's over its size
  // classes; the invalidation queue's over the IOMMU units, where the kind has such a lock).
  const lockHeader = ["run", "lock class", "acquisitions", "contentions", "wait max", "wait total", "hold avg"];
  const lockRows = r.runs.flatMap((x) =>
    (["rbtree", "depot", "invalidationQueue"] as const).flatMap((cls) => {
      const l = x.lockStats[cls];
      if (l === undefined) return [];
      return [
        [
          x.name,
          cls === "invalidationQueue" ? "inv. queue" : cls,
          String(l.acquisitions),
          String(l.contentions),
          formatNs(l.waitNsMax),
          formatNs(l.waitNsTotal),
          formatNs(l.holdNsAvg),
        ],
      ];
    }),
  );
  // A network run's packets: what the NIC and the sender dropped shows an overloaded stage.
  const netRuns = r.runs.filter((x) => x.network !== undefined);
  const netHeader = ["run", "RX packets/s", "TX packets/s", "RX dropped/s", "TX dropped/s"];
  const netRows = netRuns.map((x) => {
    const n = x.network as NonNullable<typeof x.network>;
    return [x.name, k(n.rxPacketsPerSec), k(n.txPacketsPerSec), k(n.rxDroppedPerSec), k(n.txDroppedPerSec)];
  });
  // Each kernel's runs with their measured window and warm-up (the main job ages its two kernels differently).
  const timing = [
    ...new Set(
      r.runs.map((x) => `${x.simulatedMs} ms after ${x.warmupMs} ms of warm-up${kernels > 1 ? ` (${x.kernel})` : ""}`),
    ),
  ];
  return [
    `scenario ${r.scenario} on ${r.machine} (kernel ${r.kernel}), seed ${r.seed}: each run simulates ${timing.join("; ")}`,
    "",
    formatTable(header, rows),
    "rcache hit rate by size class (allocations of that class that the caches served; - = none made)",
    formatTable(classHeader, classRows),
    formatTable(extraHeader, extraRows),
    "lock statistics per lock class, as /proc/lock_stat gives them (waits are those of contended acquisitions)",
    formatTable(lockHeader, lockRows),
    ...(netRuns.length === 0
      ? []
      : [
          "network packets, carried and dropped (RX: the NIC found too few posted buffers; TX: the ring or the sender was full)",
          formatTable(netHeader, netRows),
        ]),
  ].join("\n");
}
