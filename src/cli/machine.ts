/**
 * `iovalab machine import SNAPSHOT.json [--out FILE]`: turns what the
 * `iovalab collect` script printed into a machine description (YAML) with
 * every assumption marked, ready for `iovalab shell --machine FILE`.
 */

import type { Command } from "commander";
import { importSnapshot, parseSnapshot } from "../face/machine-file.ts";
import { readText, runCommand, writeOutput, writeStdout } from "./io.ts";

export function registerMachine(program: Command): void {
  const machine = program.command("machine").description("machine descriptions");
  machine
    .command("import")
    .description("turn the JSON of iovalab collect into a machine description (YAML, assumptions marked)")
    .argument("<snapshot>", "the JSON the collect script printed (- for stdin)")
    .option("--out <file>", "write the YAML to a file instead of stdout")
    .action((file: string, opts: { out?: string }) =>
      runCommand(async () => {
        const r = importSnapshot(parseSnapshot(readText(file), file), file);
        if (opts.out !== undefined) await writeOutput(opts.out, r.yaml);
        else await writeStdout(r.yaml);
      }),
    );
}
