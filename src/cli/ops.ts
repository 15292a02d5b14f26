/** `iovalab ops FILE`: runs an `.iovaops` script and prints exactly its output. */

import type { Command } from "commander";
import { runOps } from "../iova/ops.ts";
import { isProfileName, PROFILE_NAMES, type ProfileName } from "../iova/profile.ts";
import { InputError } from "../stdx/errors.ts";
import { readBytes, runCommand, writeFileAtomic, writeStdout } from "./io.ts";

export function parseKernelOption(value: string | undefined): ProfileName | undefined {
  if (value === undefined) return undefined;
  if (!isProfileName(value)) {
    throw new InputError(`--kernel: expected one of ${PROFILE_NAMES.join(", ")}, found ${JSON.stringify(value)}`);
  }
  return value;
}

export function registerOps(program: Command): void {
  program
    .command("ops")
    .description("run an .iovaops script (- for stdin, .gz read decompressed) and print its output")
    .argument("<file>", "the script")
    .option("--walks <file>", "also write the tree-walk counts, one line per tree search")
    .option("--kernel <profile>", `profile for a header without kernel= (${PROFILE_NAMES.join(", ")})`)
    .option("--verify", "check the allocator's invariants after every operation (slow)")
    .action((file: string, opts: { walks?: string; kernel?: string; verify?: boolean }) =>
      runCommand(async () => {
        const kernel = parseKernelOption(opts.kernel);
        const bytes = readBytes(file);
        const result = runOps(file === "-" ? "<stdin>" : file, bytes, { kernel, verify: opts.verify });
        if (opts.walks !== undefined) writeFileAtomic(opts.walks, result.walks);
        await writeStdout(result.output);
      }),
    );
}
