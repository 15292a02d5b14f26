/**
 * `iovalab kernels`: the kernel profiles, what differs between them and why,
 * layer by layer from where each switch lives.
 */

import type { Command } from "commander";
import { PROFILE_NAMES } from "../face/allocator.ts";
import { type KernelVersion, kernelVersion, releaseProfile, releasesBetween } from "../face/kernel.ts";
import { runCommand, writeStdout } from "./io.ts";

/** One printed switch: its text and where its value comes from, if recorded. */
type Shown = readonly [text: string, source: string | undefined];

function iovaLines(k: KernelVersion): Shown[] {
  const p = k.iova;
  const s = p.sources;
  return [
    [`IOVA_MAG_SIZE ${p.magazineSize}`, s.magazineSize],
    [
      p.depotMax === Number.POSITIVE_INFINITY
        ? "depot: unbounded list"
        : `depot: ${p.depotMax} magazines per class${p.depotOverflowFreesToTree ? ", overflow frees to the tree" : ""}`,
      s.depotMax ?? s.depotOverflowFreesToTree,
    ],
    [p.depotTrimWork ? "depot trim work every 100 ms" : "no depot trim work", s.depotTrimWork],
    [`depot drains ${p.depotDrainOrder}`, s.depotDrainOrder],
    [
      p.flushDrainsDepot ? "flushes drain the depot" : "flushes leave the depot (no free_global_cached_iovas)",
      s.flushDrainsDepot,
    ],
    [
      p.retryAboveCachedNode ? "failed search retries above the cached node" : "no retry above the cached node",
      s.retryAboveCachedNode,
    ],
    [
      p.walkStopsAtLowBound ? "backwards walk stops at the low bound" : "backwards walk ignores the low bound",
      s.walkStopsAtLowBound,
    ],
    [`power-of-two round-up in ${p.roundUpIn}`, s.roundUpIn],
  ];
}

function iommuLines(k: KernelVersion): Shown[] {
  const p = k.iommu;
  const s = p.sources;
  return [
    [p.hasDmaFqType ? "DMA-FQ domain type" : "no DMA-FQ type (lazy domains are DMA)", s.hasDmaFqType],
    [`group type writes: ${p.groupTypeRules}`, s.groupTypeRules],
    [p.typeWritable ? "group type writable" : "group type read-only", s.typeWritable],
    [
      p.defaultTypeTrailingSpace
        ? "default domain log line ends in a space"
        : "default domain log line: no trailing space",
      s.defaultTypeTrailingSpace,
    ],
  ];
}

function dmaLines(k: KernelVersion): Shown[] {
  return [
    [`SAC-first: ${k.dma.sacFirst}`, k.dma.sources.sacFirst],
    [`flush-queue timer: ${k.dma.fqTimer}`, k.dma.sources.fqTimer],
  ];
}

function driverLines(k: KernelVersion): Shown[] {
  const p = k.driver;
  return [
    [
      `nvme: max_hw_sectors ${p.nvmeClampsToOptMappingSize ? "capped at dma_opt_mapping_size()" : "not capped at dma_opt_mapping_size()"}, max_segments ${p.nvmeMaxSegsFromSectors ? "from max_hw_sectors" : "127"}; sd: ${p.sdCapsAtOptSectors ? "max_sectors capped at opt_sectors" : "no opt_sectors cap"}`,
      p.source,
    ],
    [
      `deferred probe timeout ${p.deferredProbeTimeoutS === 0 ? "off" : `${p.deferredProbeTimeoutS} s`}, pending line ${p.pendingLineHasReason ? "with" : "without"} reason`,
      p.timeoutSource,
    ],
  ];
}

/**
 * The versions between the profiles' own (5.11 to 6.11), which have none: the
 * one a trace that names such a release replays with (`machine/release.ts`),
 * runs of versions that take it alike on one line.
 */
function betweenLines(): string[] {
  const lines = ["releases between the profiles (a trace's uname; machine/release.ts):"];
  let run: { first: string; last: string; said: string } | null = null;
  const flush = () => {
    if (run !== null)
      lines.push(`  ${run.first === run.last ? run.first : `${run.first} to ${run.last}`}: ${run.said}`);
  };
  for (const v of releasesBetween()) {
    const r = releaseProfile(v);
    if (r === null) continue;
    const said = `the ${r.profile} profile (its allocator)${r.differs.length > 0 ? `; differs in ${r.differs.map((d) => d.what).join(", and in ")}` : ""}`;
    if (run !== null && run.said === said) run.last = v;
    else {
      flush();
      run = { first: v, last: v, said };
    }
  }
  flush();
  lines.push("");
  return lines;
}

export function registerKernels(program: Command): void {
  program
    .command("kernels")
    .description("list the kernel profiles and the switches that differ between them, layer by layer")
    .action(() =>
      runCommand(async () => {
        const lines: string[] = [];
        for (const name of PROFILE_NAMES) {
          const k = kernelVersion(name);
          lines.push(`${name}: ${k.iova.title}`);
          const layers: [string, Shown[]][] = [
            ["iova (iova/profile.ts)", iovaLines(k)],
            ["iommu (iommu/policy.ts)", iommuLines(k)],
            ["dma (dma/policy.ts)", dmaLines(k)],
            ["driver (driver/policy.ts)", driverLines(k)],
          ];
          for (const [layer, shown] of layers) {
            lines.push(`  ${layer}:`);
            for (const [text, src] of shown) lines.push(`    ${text}${src ? `  [${src}]` : ""}`);
          }
          lines.push("");
        }
        lines.push(...betweenLines());
        await writeStdout(lines.join("\n"));
      }),
    );
}
