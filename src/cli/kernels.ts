/** `iovalab kernels`: the kernel profiles, what differs between them and why. */

import type { Command } from "commander";
import { PROFILE_NAMES, PROFILES } from "../iova/profile.ts";
import { runCommand, writeStdout } from "./io.ts";

export function registerKernels(program: Command): void {
  program
    .command("kernels")
    .description("list the kernel profiles and the switches that differ between them")
    .action(() =>
      runCommand(async () => {
        const lines: string[] = [];
        for (const name of PROFILE_NAMES) {
          const p = PROFILES[name];
          lines.push(`${name}: ${p.title}`);
          const show: [string, string][] = [
            ["magazineSize", `IOVA_MAG_SIZE ${p.magazineSize}`],
            [
              "depotMax",
              p.depotMax === Number.POSITIVE_INFINITY
                ? "depot: unbounded list"
                : `depot: ${p.depotMax} magazines per class, overflow frees to the tree`,
            ],
            ["depotTrimWork", p.depotTrimWork ? "depot trim work every 100 ms" : "no depot trim work"],
            ["depotDrainOrder", `depot drains ${p.depotDrainOrder}`],
            [
              "flushDrainsDepot",
              p.flushDrainsDepot ? "flushes drain the depot" : "flushes leave the depot (no free_global_cached_iovas)",
            ],
            [
              "retryAboveCachedNode",
              p.retryAboveCachedNode ? "failed search retries above the cached node" : "no retry above the cached node",
            ],
            ["roundUpIn", `power-of-two round-up in ${p.roundUpIn}`],
            ["sacFirst", `SAC-first: ${p.sacFirst}`],
            ["flushQueueIn", `flush queue in ${p.flushQueueIn}`],
            ["groupTypeRules", `group type writes: ${p.groupTypeRules}`],
          ];
          for (const [key, text] of show) {
            const src = p.sources[key];
            lines.push(`  ${text}${src ? `  [${src}]` : ""}`);
          }
          lines.push("");
        }
        await writeStdout(lines.join("\n"));
      }),
    );
}
