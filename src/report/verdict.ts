/**
 * The main job's verdict in words (issue 16 part 1): what the runs answer,
 * with their figures and the mechanism behind them, computed from the run
 * results alone. `iovalab run` prints it first, the HTML report opens with it
 * and `--json` carries it as "verdict".
 *
 * Per kernel and mode, the best run with a raised range is set against the
 * default range's run: first the answer (the IOPS gained), then why (the
 * tree path and its lock, the request cap sd applies from 6.0, the
 * storage's own ceiling: a SAS HBA's host link, or NVMe SSDs' PCIe links
 * and media), then the cost (IOVA space held by the caches against
 * what the device's domain can address and against the 32-bit window, and
 * the magazines' memory).
 */

import type { RunResult } from "../scenario/run.ts";
import { formatBytes, formatLatency, formatPercent } from "./table.ts";

/** A run as the verdict reads it: its figures and the kernel profile it ran. */
export type VerdictRun = RunResult & { kernel: string };

/** What the verdict needs of the scenario beyond its runs. */
export interface VerdictSetup {
  /** fio on the HBA's disks, or a NIC's rings / a trace (no HBA link to compare with). */
  workload: "fio" | "network" | "trace";
  /** The storage's host link: a SAS HBA's, or the NVMe controllers' PCIe links summed. */
  hbaLinkBytesPerSec: number;
  diskCount: number;
  diskIopsMax: number;
  /** The device kind (default: a SAS HBA), whose bottleneck the verdict names. */
  storage?: "sas" | "nvme";
  /** What each disk's media sustains (a ceiling of its own where the disks' sum is below the link). */
  diskBandwidthBytesPerSec?: number;
  /** What a kernel stands for, said after its name (the main job: 5.15 stands for 5.13). */
  kernelNotes?: Readonly<Record<string, string>>;
}

/** The 32-bit IOVA window dma-iommu tries first for PCI devices: 4 GiB. */
const WINDOW_32BIT = 2 ** 32;
/** A run at or above this share of a ceiling sits at it. */
const AT_CEILING = 0.95;
/** CPUs at least this busy are what limits a run below its device ceilings. */
const CPU_BOUND = 0.5;
/** A change in IOPS under this share is no change. */
const SAME_IOPS = 0.05;

export function iopsText(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
}

function signed(fraction: number): string {
  const text = (fraction * 100).toFixed(1);
  // -0.04% rounds to 0.0: no sign for what is no change.
  return Number(text) === 0 ? "+0.0%" : `${fraction > 0 ? "+" : ""}${text}%`;
}

/** `8000` → `8 s`, `500` → `500 ms`. */
export function durationText(ms: number): string {
  return ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

/** The comparison of one kernel and mode: the default range's run and the best raised one. */
interface Pair {
  kernel: string;
  mode: "strict" | "lazy";
  def: VerdictRun;
  best: VerdictRun;
  /** The raised runs with the best one's range (the routes to the same domain). */
  routes: VerdictRun[];
  gain: number;
}

function pairs(runs: readonly VerdictRun[]): Pair[] {
  const out: Pair[] = [];
  for (const kernel of kernelsOf(runs)) {
    for (const mode of ["strict", "lazy"] as const) {
      const rs = runs.filter((r) => r.kernel === kernel && r.mode === mode);
      const def = rs.find((r) => r.rangeSource === "default");
      const raised = rs.filter((r) => r !== def && r.rcacheOrders > (def?.rcacheOrders ?? 0));
      if (def === undefined || raised.length === 0) continue;
      const best = raised.reduce((a, b) => (b.iops > a.iops ? b : a));
      const routes = raised.filter((r) => r.rangeBytes === best.rangeBytes);
      out.push({ kernel, mode, def, best, routes, gain: def.iops === 0 ? 0 : (best.iops - def.iops) / def.iops });
    }
  }
  return out;
}

function kernelsOf(runs: readonly VerdictRun[]): string[] {
  return [...new Set(runs.map((r) => r.kernel))];
}

const ROUTE_WORDS: Record<RunResult["rangeSource"], string> = {
  default: "the default",
  cmdline: "the command line",
  driver: "the driver",
  sysfs: "sysfs",
};

/** The verdict's sentences, in order: the answer, the mechanism per kernel and mode, the ceiling, the costs. */
export function verdict(runs: readonly VerdictRun[], setup: VerdictSetup): string[] {
  if (runs.length === 0) return [];
  const out: string[] = [];
  const ps = pairs(runs);
  const note = (k: string) => (setup.kernelNotes?.[k] === undefined ? "" : ` (${setup.kernelNotes[k]})`);
  const age = (r: VerdictRun) =>
    r.warmupMs > 0
      ? `aged ${durationText(r.warmupMs)}, measured over the next ${durationText(r.simulatedMs)}`
      : `measured over ${durationText(r.simulatedMs)}`;
  if (ps.length > 0) {
    // The answer: the gain per kernel and mode.
    const ranges = [...new Set(ps.map((p) => p.best.rangeBytes))];
    const routes = [...new Set(ps.flatMap((p) => p.routes.map((r) => ROUTE_WORDS[r.rangeSource])))];
    const one = ranges.length === 1 ? ps[0].best : null;
    const rangeText =
      one === null
        ? "a larger range"
        : `the range to ${formatBytes(one.rangeBytes)} (${one.rcacheOrders} size classes, set through ${routes.join(" or ")}${routes.length > 1 ? ": the same domain, the same figures" : ""})`;
    kernelsOf(runs).forEach((k, i) => {
      const kp = ps.filter((p) => p.kernel === k);
      if (kp.length === 0) return;
      // Modes with the same answer and the same reason are said once.
      const said = new Map<string, Pair[]>();
      for (const p of kp) {
        const key = `${signed(p.gain)} ${iopsText(p.best.iops)} ${iopsText(p.def.iops)} ${because(p, setup)}`;
        said.set(key, [...(said.get(key) ?? []), p]);
      }
      const modes = [...said.values()].map((same) => {
        const p = same[0];
        const ms = same.map((x) => x.mode).join(" and ");
        return (
          `${signed(p.gain)} IOPS in ${ms} mode${same.length > 1 ? "s" : ""} (${iopsText(p.best.iops)} against ${iopsText(p.def.iops)}` +
          `${one === null ? ` with ${formatBytes(p.best.rangeBytes)}` : ""}) ${because(p, setup)}`
        );
      });
      const held = kp.reduce((a, b) => (b.best.cachedIovaBytes > a.best.cachedIovaBytes ? b : a)).best;
      out.push(
        `On ${k}${note(k)}, ${age(kp[0].def)}, raising ${i === 0 ? rangeText : "it"} gives ${modes.join("; and ")}. ` +
          `It costs up to ${formatBytes(held.cachedIovaBytes)} of IOVA space held in the caches ` +
          `(${formatBytes(held.cachedIovaBytesBelow4G)} of it in the 4 GiB 32-bit window, the rest above it in the ` +
          `${formatBytes(held.iovaSpaceBytes)} the domain addresses) and ${formatBytes(held.magazineBytes)} of magazines.`,
      );
    });
    for (const p of ps) out.push(mechanism(p, setup));
  }
  if (setup.workload === "fio") out.push(ceiling(runs, setup));
  out.push(...costs(runs, ps));
  const failing = runs.filter((r) => r.mapFailuresPerSec > 0);
  if (failing.length > 0) {
    // Said last and whatever else holds: every figure above is of a domain that ran out of space.
    const worst = failing.reduce((a, b) => (b.mapFailuresPerSec > a.mapFailuresPerSec ? b : a));
    out.push(
      `${failing.length} of the ${runs.length} runs ran their device's domain out of IOVA space: up to ${iopsText(worst.mapFailuresPerSec)} ` +
        `DMA maps failed per second (${worst.name}, a domain of ${formatBytes(worst.iovaSpaceBytes)}), each request then going back to its queue ` +
        "until a completion freed space (BLK_STS_RESOURCE); a wider DMA mask or less in flight would map them.",
    );
  }
  return out;
}

/** The mechanism in a clause, for the answer's first sentence. */
function because(p: Pair, setup: VerdictSetup): string {
  const { def, best } = p;
  if (p.gain >= SAME_IOPS) {
    return (
      `because with the default range the requests larger than ${formatBytes(def.rangeBytes)} go to the rbtree, where each allocation walks ` +
      `${def.walkStepsPerTreeAlloc.toFixed(0)} nodes under iova_rbtree_lock and keeps it busy ${formatPercent(def.rbtreeLockBusyShare)} of the time`
    );
  }
  if (def.maxSectorsKb > 0 && def.maxSectorsKb * 1024 <= def.rangeBytes && best.maxSectorsKb > def.maxSectorsKb) {
    return `because sd caps requests at ${def.maxSectorsKb} KiB, which the default range already caches, and the larger requests the range allows ${limitOf(best, setup).replace(/^sits/, "sit")}`;
  }
  if (p.gain > -SAME_IOPS)
    return `because the default range's tree allocations are too few to slow it: it ${limitOf(def, setup)}`;
  return "because the larger range's own work costs more than it saves";
}

/** Why one kernel and mode gain what they gain. */
function mechanism(p: Pair, setup: VerdictSetup): string {
  const { def, best } = p;
  const head = `${p.kernel} ${p.mode}, ${signed(p.gain)}`;
  const capped = def.maxSectorsKb > 0 && def.maxSectorsKb * 1024 <= def.rangeBytes;
  if (p.gain >= SAME_IOPS) {
    return (
      `${head}: with the default ${formatBytes(def.rangeBytes)} range, requests (up to ${def.maxSectorsKb} KiB, ${formatBytes(def.requestBytesMean)} on average) ` +
      `are larger than the caches hold, so ${iopsText(def.treeAllocsPerSec)} allocations/s go to the rbtree, each walking ` +
      `${def.walkStepsPerTreeAlloc.toFixed(0)} rb_prev steps under iova_rbtree_lock, which is busy ${formatPercent(def.rbtreeLockBusyShare)} of the time: ` +
      `the CPUs spend ${formatPercent(def.lockWaitShare)} of their time spinning on it and dma_map_sg's p99 is ${formatLatency(def.mapLatencyNs, "p99")}. ` +
      `With ${formatBytes(best.rangeBytes)}, ${iopsText(best.treeAllocsPerSec)} tree allocations/s of ${best.walkStepsPerTreeAlloc.toFixed(1)} steps, ` +
      `the lock ${formatPercent(best.rbtreeLockBusyShare)} busy, map p99 ${formatLatency(best.mapLatencyNs, "p99")}, and the run ${limitOf(best, setup)}.`
    );
  }
  if (capped && best.maxSectorsKb > def.maxSectorsKb) {
    return (
      `${head}: sd caps each request at dma_opt_mapping_size(), the largest size the caches hold, so with the default range ` +
      `requests stop at ${def.maxSectorsKb} KiB and every mapping fits a cached class (${iopsText(def.treeAllocsPerSec)} tree allocations/s, ` +
      `${formatPercent(def.cacheHitRate)} hit rate); the larger range lifts the cap to ${best.maxSectorsKb} KiB requests ` +
      `(${iopsText(best.treeAllocsPerSec)} tree allocations/s, ${formatPercent(best.cacheHitRate)} hit rate), and the run ${limitOf(best, setup)}.`
    );
  }
  if (p.gain > -SAME_IOPS) {
    return (
      `${head}: the default range's ${iopsText(def.treeAllocsPerSec)} tree allocations/s walk ${def.walkStepsPerTreeAlloc.toFixed(0)} steps each, ` +
      `the rbtree lock ${formatPercent(def.rbtreeLockBusyShare)} busy and ${formatPercent(def.lockWaitShare)} of CPU time spent waiting on it: ` +
      `too little to slow the run, which ${limitOf(def, setup)}; with ${formatBytes(best.rangeBytes)} it has ` +
      `${iopsText(best.treeAllocsPerSec)} tree allocations/s.`
    );
  }
  return (
    `${head}: the larger range loses IOPS (${iopsText(best.iops)} against ${iopsText(def.iops)}), with ` +
    `${iopsText(best.treeAllocsPerSec)} tree allocations/s against ${iopsText(def.treeAllocsPerSec)} and ` +
    `${formatPercent(best.lockWaitShare)} of CPU time waiting on locks against ${formatPercent(def.lockWaitShare)}.`
  );
}

/**
 * What one run moves across the storage's link, and the share of its
 * ceiling: the requests completed, not those mapped (more while the queues
 * fill, and no device moves more than its ceiling).
 */
function linkShare(r: VerdictRun, setup: VerdictSetup): number {
  return r.bytesPerSec / setup.hbaLinkBytesPerSec;
}

/** The words for the storage's ceilings: a SAS HBA's host link and disks, or NVMe SSDs' PCIe links and media. */
function words(setup: VerdictSetup) {
  const many = setup.diskCount > 1;
  if (setup.storage !== "nvme") {
    return {
      link: "the HBA link",
      disks: many ? "disks" : "disk",
      media: many ? "the disks' media" : "the disk's media",
    };
  }
  return {
    link: many ? "the SSDs' PCIe links" : "the SSD's PCIe link",
    disks: many ? "SSDs" : "SSD",
    media: many ? "the SSDs' media" : "the SSD's media",
  };
}

/** English possessive: "the HBA link's", "the SSDs' PCIe links'". */
function poss(noun: string): string {
  return noun.endsWith("s") ? `${noun}'` : `${noun}'s`;
}

/** The disks' media bandwidth summed, or null where unknown or above the link (the link binds first). */
function mediaBytesPerSec(setup: VerdictSetup): number | null {
  if (setup.diskBandwidthBytesPerSec === undefined) return null;
  const sum = setup.diskCount * setup.diskBandwidthBytesPerSec;
  return sum < setup.hbaLinkBytesPerSec ? sum : null;
}

/** The share of the media's bandwidth one run uses (0 where the link binds first). */
function mediaShare(r: VerdictRun, setup: VerdictSetup): number {
  const media = mediaBytesPerSec(setup);
  return media === null ? 0 : r.bytesPerSec / media;
}

/** What limits one run: a ceiling it sits at, or its CPUs. */
function limitOf(r: VerdictRun, setup: VerdictSetup): string {
  if (setup.workload !== "fio") {
    const n = r.network;
    if (n === undefined || n.rxDroppedPerSec + n.txDroppedPerSec === 0) return `runs at ${iopsText(r.iops)} IOPS`;
    return `runs at ${iopsText(r.iops)} packets/s, dropping ${iopsText(n.rxDroppedPerSec)} received and ${iopsText(n.txDroppedPerSec)} sent packets/s`;
  }
  const w = words(setup);
  if (linkShare(r, setup) >= AT_CEILING) return `sits at ${poss(w.link)} ceiling`;
  if (mediaShare(r, setup) >= AT_CEILING) return `sits at ${w.media} bandwidth`;
  if (r.requestsPerSec / (setup.diskCount * setup.diskIopsMax) >= AT_CEILING)
    return `sits at ${poss(`the ${w.disks}`)} IOPS ceiling`;
  if (setup.storage !== "nvme") {
    return (
      `is below both the link's and ${poss(`the ${w.disks}`)} ceilings (${formatPercent(linkShare(r, setup))} of the link): the CPUs limit it ` +
      `(${formatPercent(r.busyShare)} busy, ${formatPercent(r.lockWaitShare)} spinning on locks)`
    );
  }
  // Below every device ceiling: busy CPUs limit it, or else the jobs' I/O depth does (Little's law).
  const who = r.busyShare >= CPU_BOUND ? "the CPUs limit it" : "the jobs' iodepth limits it, not the CPUs";
  return (
    `is below ${poss(`the ${w.disks}`)} ceilings (${formatPercent(linkShare(r, setup))} of ${w.link}, ` +
    `${formatPercent(r.requestsPerSec / (setup.diskCount * setup.diskIopsMax))} of their IOPS): ${who} ` +
    `(${formatPercent(r.busyShare)} busy, ${formatPercent(r.lockWaitShare)} spinning on locks)`
  );
}

/** The busiest run against the storage's link (and media) and the disks. */
function ceiling(runs: readonly VerdictRun[], setup: VerdictSetup): string {
  const moved = (r: VerdictRun) => r.bytesPerSec;
  const top = runs.reduce((a, b) => (moved(b) > moved(a) ? b : a));
  const diskIops = setup.diskCount * setup.diskIopsMax;
  const w = words(setup);
  if (setup.storage !== "nvme") {
    const at = runs.filter((r) => linkShare(r, setup) >= AT_CEILING).length;
    return (
      `The busiest run, ${top.name}, moves ${formatBytes(moved(top))}/s, ${formatPercent(linkShare(top, setup))} of the HBA link's ` +
      `${formatBytes(setup.hbaLinkBytesPerSec)}/s, in ${iopsText(top.requestsPerSec)} requests/s, ${formatPercent(top.requestsPerSec / diskIops)} ` +
      `of ${poss(`the ${setup.diskCount} ${w.disks}`)} ${iopsText(diskIops)} commands/s; ${at} of the ${runs.length} runs sit at the link's ceiling, ` +
      "where no range can raise IOPS further."
    );
  }
  const media = mediaBytesPerSec(setup);
  const at = runs.filter(
    (r) =>
      linkShare(r, setup) >= AT_CEILING ||
      mediaShare(r, setup) >= AT_CEILING ||
      r.requestsPerSec / diskIops >= AT_CEILING,
  ).length;
  return (
    `The busiest run, ${top.name}, moves ${formatBytes(moved(top))}/s, ${formatPercent(linkShare(top, setup))} of ${poss(w.link)} ` +
    `${formatBytes(setup.hbaLinkBytesPerSec)}/s` +
    (media === null
      ? ""
      : ` and ${formatPercent(mediaShare(top, setup))} of ${w.media} bandwidth, ${formatBytes(media)}/s`) +
    `, in ${iopsText(top.requestsPerSec)} requests/s, ${formatPercent(top.requestsPerSec / diskIops)} of the ${poss(`${setup.diskCount} ${w.disks}`)} ` +
    `${iopsText(diskIops)} IOPS; ${at} of the ${runs.length} runs sit at one of these ceilings, where no range can raise IOPS further.`
  );
}

/** What the caches hold, per kernel: IOVA space against the domain's and the 32-bit window's size, and memory. */
function costs(runs: readonly VerdictRun[], ps: readonly Pair[]): string[] {
  const out: string[] = [];
  for (const k of kernelsOf(runs)) {
    const rs = runs.filter((r) => r.kernel === k);
    const kp = ps.filter((p) => p.kernel === k);
    const held = rs.reduce((a, b) => (b.cachedIovaBytes > a.cachedIovaBytes ? b : a));
    const space = held.iovaSpaceBytes;
    const bits = Math.log2(space);
    const spaceText = Number.isInteger(bits) ? `${formatBytes(space)} (${bits}-bit)` : formatBytes(space);
    const parts =
      kp.length > 0
        ? kp.map(
            (p) =>
              `${p.mode}: ${formatBytes(p.best.cachedIovaBytes)} with ${formatBytes(p.best.rangeBytes)} against ` +
              `${formatBytes(p.def.cachedIovaBytes)} with the default range, ${formatBytes(p.best.magazineBytes)} of magazines against ${formatBytes(p.def.magazineBytes)}`,
          )
        : [];
    out.push(
      `On ${k} the caches hold at most ${formatBytes(held.cachedIovaBytes)} of IOVA space (${held.name}), ` +
        `${formatPercent(held.cachedIovaBytes / space)} of the ${spaceText} its device's domain can address; ` +
        `${formatBytes(held.cachedIovaBytesBelow4G)} of it, ${formatPercent(held.cachedIovaBytesBelow4G / WINDOW_32BIT)} of the 4 GiB 32-bit window ` +
        `that allocations try first, and ${formatBytes(held.magazineBytes)} of magazine memory` +
        (held.magazineBytesMax === null ? "" : ` of the ${formatBytes(held.magazineBytesMax)} its caches can take`) +
        (parts.length > 0 ? ` (${parts.join("; ")}).` : "."),
    );
  }
  return out;
}
