/**
 * The `iovalab` command line: thin commands that parse arguments, call the
 * model and print. Each command lives in its own file and registers here.
 *
 * Only the command being run is loaded (all of them for the top-level help):
 * Node strips the TypeScript of every module it loads at start-up, and the
 * whole kernel model costs about half a second that `iovalab ops` on a
 * conformance vector should not pay.
 */

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { guardStdout } from "./io.ts";

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  ops: async () => (await import("./ops.ts")).registerOps,
  demo: async () => (await import("./demo.ts")).registerDemo,
  kernels: async () => (await import("./kernels.ts")).registerKernels,
  shell: async () => (await import("./shell.ts")).registerShell,
  replay: async () => (await import("./replay.ts")).registerReplay,
  advise: async () => (await import("./advise.ts")).registerAdvise,
  run: async () => (await import("./run.ts")).registerRun,
  sweep: async () => (await import("./sweep.ts")).registerSweep,
  explore: async () => (await import("./explore.ts")).registerExplore,
  collect: async () => (await import("./collect.ts")).registerCollect,
  machine: async () => (await import("./machine.ts")).registerMachine,
  worker: async () => (await import("./worker.ts")).registerWorker,
};

guardStdout();

// `iovalab ops` with plain arguments runs without the option parser: loading
// it is a good part of the start-up of a short script (ops.ts says which
// command lines are plain; any other goes the usual way, with the same meaning).
const plainOps = process.argv[2] === "ops" ? (await import("./ops.ts")).plainOpsArgs(process.argv.slice(3)) : null;
if (plainOps !== null) {
  await (await import("./ops.ts")).runPlainOps(plainOps);
} else {
  await runProgram();
}

async function runProgram(): Promise<void> {
  const { Command } = await import("commander");

  const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };

  const program = new Command();
  program
    .name("iovalab")
    .version(version, "-V, --version", "print the version of iovalab")
    .description("what the Linux IOMMU DMA layer does with your DMA, and what it would do with another setting")
    .showHelpAfterError()
    .exitOverride((err) => {
      // Usage errors are bad input: exit status 2, as for a malformed file.
      process.exit(err.exitCode === 0 ? 0 : 2);
    });

  const wanted = process.argv[2];
  // `--version` needs no command; a command's name loads only that command; anything else (help) loads all.
  const names =
    wanted === "-V" || wanted === "--version"
      ? []
      : wanted !== undefined && Object.hasOwn(COMMANDS, wanted)
        ? [wanted]
        : Object.keys(COMMANDS);
  for (const name of names) (await COMMANDS[name]())(program);
  // Required options say so in --help.
  for (const command of program.commands) {
    for (const option of command.options) {
      if (option.mandatory && !option.description.endsWith("(required)")) option.description += " (required)";
    }
  }

  await program.parseAsync(process.argv);
}
