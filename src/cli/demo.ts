/**
 * `iovalab demo` (what `npm start` runs until the simulation lands): a seeded
 * churn of DMA-like mappings, 4 KiB to 512 KiB on 32 CPUs, under the default
 * rcache range and under a 512 KiB range, and what the caches caught.
 */

import type { Command } from "commander";
import {
  getProfile,
  InputError,
  IovaDomain,
  maxCachedBytes,
  NR_CPUS_MAX,
  rcacheOrdersForBytes,
} from "../face/allocator.ts";
import { churn, formatBytes, formatPercent, formatTable, runChurn } from "../face/simulation.ts";
import { runCommand, writeStdout } from "./io.ts";
import { parseKernelOption } from "./ops.ts";

const GRANULE = 4096;
/** A 48-bit DMA mask: DMA_BIT_MASK(48) >> 12. */
const LIMIT_PFN = 2 ** 36 - 1;

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("a seeded DMA churn under the default and a 512 KiB rcache range")
    .option("--seed <n>", "seed of the churn", "1")
    .option("--cpus <n>", "CPUs", "32")
    .option("--mappings <n>", "mappings to make", "200000")
    .option("--kernel <profile>", "kernel profile", "mainline")
    .action((opts: { seed: string; cpus: string; mappings: string; kernel: string }) =>
      runCommand(async () => {
        const seed = positiveInt("--seed", opts.seed, 0);
        // The machine descriptions' CPU limit; a churn of more than 100M mappings runs for hours.
        const cpus = positiveInt("--cpus", opts.cpus, 1, NR_CPUS_MAX);
        const mappings = positiveInt("--mappings", opts.mappings, 1, 100_000_000);
        const profile = getProfile(parseKernelOption(opts.kernel) ?? "mainline");
        const rows: string[][] = [];
        const classRows: string[] = [];
        for (const rangeBytes of [0, 512 * 1024]) {
          const k = rcacheOrdersForBytes(rangeBytes, GRANULE);
          const d = new IovaDomain({ granule: GRANULE, startPfn: 1, cpus, rcacheOrders: k, profile });
          const steps = churn({ seed, cpus, mappings, inFlight: cpus * 32 });
          const r = runChurn(d, steps, LIMIT_PFN);
          const s = d.stats;
          const hits = s.rcacheHitsTotal;
          let cached = 0;
          let magBytes = 0;
          for (let c = 0; c < k; c++) {
            cached += d.cachedIovaBytes(c);
            magBytes += d.magazineMemoryBytes(c);
          }
          const label = rangeBytes === 0 ? "default" : formatBytes(rangeBytes);
          rows.push([
            label,
            String(k),
            formatBytes(maxCachedBytes(k, GRANULE)),
            String(r.mappings),
            `${hits} (${formatPercent(hits / r.mappings)})`,
            String(s.treeAllocs),
            String(s.walkSteps),
            (s.walkSteps / Math.max(1, s.treeSearches)).toFixed(1),
            formatBytes(cached),
            formatBytes(magBytes),
            String(r.failures),
          ]);
          const perClass: string[] = [];
          for (let c = 0; c < k; c++) {
            const tries = s.rcacheHits[c] + s.rcacheMisses[c];
            perClass.push(
              `${formatBytes(GRANULE * 2 ** c)} ${tries === 0 ? "-" : formatPercent(s.rcacheHits[c] / tries)}`,
            );
          }
          classRows.push(`  ${label}: ${perClass.join(", ")}`);
        }
        const text =
          `iovalab demo: ${mappings} DMA mappings of 4 KiB to 512 KiB on ${cpus} CPUs, ` +
          `seed ${seed}, kernel ${profile.name}, 4 KiB granule, 48-bit DMA mask\n\n` +
          formatTable(
            [
              "range",
              "K",
              "cached up to",
              "mappings",
              "cache hits",
              "tree allocs",
              "walk steps",
              "steps/search",
              "IOVA in caches",
              "magazines",
              "failures",
            ],
            rows,
          ) +
          `\ncache hit rate per size class:\n${classRows.join("\n")}\n`;
        await writeStdout(text);
      }),
    );
}

function positiveInt(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InputError(
      `${flag}: expected a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}, found ${JSON.stringify(text)}`,
    );
  }
  return v;
}
