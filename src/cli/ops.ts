/** `iovalab ops FILE`: runs an `.iovaops` script and prints exactly its output. */

import type { Command } from "commander";
import { InputError, isProfileName, OpsRunner, PROFILE_NAMES, type ProfileName } from "../face/allocator.ts";
import { checkOutput, readChunks, runCommand, writeOutput, writeStdout } from "./io.ts";

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
    .option("--walks <file>", "also write the tree-walk counts, one line per tree search (- for stdout)")
    .option("--kernel <profile>", `profile for a header without kernel= (${PROFILE_NAMES.join(", ")})`)
    .option("--verify", "check the allocator's invariants after every operation (slow)")
    .option("--search <how>", "tree search: augmented (O(log n), default) or walk (the kernel's own walk)", "augmented")
    .action((file: string, opts: { walks?: string; kernel?: string; verify?: boolean; search: string }) =>
      runCommand(async () => {
        const kernel = parseKernelOption(opts.kernel);
        if (opts.search !== "augmented" && opts.search !== "walk") {
          throw new InputError(`--search: expected augmented or walk, found ${JSON.stringify(opts.search)}`);
        }
        if (opts.walks !== undefined) checkOutput(opts.walks);
        const runner = new OpsRunner(file === "-" ? "<stdin>" : file, {
          kernel,
          verify: opts.verify,
          search: opts.search,
        });
        await readChunks(file, (chunk) => runner.feed(chunk));
        const result = runner.finish();
        if (opts.walks !== undefined) await writeOutput(opts.walks, result.walksParts);
        for (const part of result.outputParts) await writeStdout(part);
      }),
    );
}
