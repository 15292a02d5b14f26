/** `iovalab ops FILE`: runs an `.iovaops` script and prints exactly its output. */

import type { Command } from "commander";
import { InputError } from "../face/errors.ts";
import { isProfileName, OpsRunner, PROFILE_NAMES, type ProfileName } from "../face/ops.ts";
import { checkOutput, readChunks, runCommand, writeOutput, writeStdout, writeStdoutSync } from "./io.ts";

interface OpsCliOptions {
  walks?: string;
  kernel?: string;
  verify?: boolean;
  search: string;
}

export function parseKernelOption(value: string | undefined): ProfileName | undefined {
  if (value === undefined) return undefined;
  if (!isProfileName(value)) {
    // A release is not taken as its profile here: one between the profiles differs from the nearest in
    // switches a run or a script would then follow without a word (`iovalab kernels` says which).
    const release = /^\d+\.\d+/.test(value)
      ? ": a release; `iovalab kernels` lists the profile each release from 5.11 to 6.11 has the allocator of, and the switches it differs in"
      : "";
    throw new InputError(
      `--kernel: expected one of ${PROFILE_NAMES.join(", ")}, found ${JSON.stringify(value)}${release}`,
    );
  }
  return value;
}

/**
 * Runs the script and writes its output with `write`: the plain command
 * writes to fd 1 itself (`writeStdoutSync`: it never makes `process.stdout`);
 * through the option parser, `process.stdout` exists already and is the
 * stream to write to (a caller running the command line in process, such
 * as the test suite's quick tier, captures it).
 */
function runOpsCommand(
  file: string,
  opts: OpsCliOptions,
  write: (part: Uint8Array) => void | Promise<void>,
): Promise<void> {
  return runCommand(async () => {
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
    for (const part of result.outputParts) await write(part);
  });
}

/**
 * The arguments after `ops` when they are of the plain forms (one script,
 * `--walks F`, `--kernel K`, `--search S`, `--verify`, each at most once and
 * no value that looks like an option), or null for anything else. A plain
 * command line runs without loading the option parser (a good part of the
 * start-up of a short script); everything else, help and usage errors
 * included, goes through `registerOps` and means the same.
 */
export function plainOpsArgs(args: readonly string[]): { file: string; opts: OpsCliOptions } | null {
  let file: string | undefined;
  const opts: OpsCliOptions = { search: "augmented" };
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-" || !a.startsWith("-")) {
      if (file !== undefined) return null;
      file = a;
      continue;
    }
    if (seen.has(a)) return null;
    seen.add(a);
    if (a === "--verify") {
      opts.verify = true;
      continue;
    }
    if (a !== "--walks" && a !== "--kernel" && a !== "--search") return null;
    const v = args[++i];
    if (v === undefined || (v.startsWith("-") && v !== "-")) return null;
    if (a === "--walks") opts.walks = v;
    else if (a === "--kernel") opts.kernel = v;
    else opts.search = v;
  }
  return file === undefined ? null : { file, opts };
}

/** Runs `iovalab ops` from plain arguments (see `plainOpsArgs`). */
export function runPlainOps(plain: { file: string; opts: OpsCliOptions }): Promise<void> {
  return runOpsCommand(plain.file, plain.opts, writeStdoutSync);
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
    .action((file: string, opts: OpsCliOptions) => runOpsCommand(file, opts, writeStdout));
}
