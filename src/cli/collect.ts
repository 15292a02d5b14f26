/**
 * `iovalab collect [--out FILE]`: writes the snapshot script (a POSIX sh
 * script, src/machine/collect-script.ts) to stdout or a file. Run it on the
 * Linux machine to describe; `iovalab machine import` reads what it prints.
 */

import type { Command } from "commander";
import { COLLECT_SCRIPT } from "../face/kernel.ts";
import { runCommand, writeOutput, writeStdout } from "./io.ts";

export function registerCollect(program: Command): void {
  program
    .command("collect")
    .description(
      "write a sh script that snapshots a Linux machine's IOMMU groups, PCI devices and queue limits as JSON (run it there, then: iovalab machine import)",
    )
    .option("--out <file>", "write the script to a file instead of stdout")
    .action((opts: { out?: string }) =>
      runCommand(async () => {
        if (opts.out !== undefined) await writeOutput(opts.out, COLLECT_SCRIPT);
        else await writeStdout(COLLECT_SCRIPT);
      }),
    );
}
