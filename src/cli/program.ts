/**
 * The `iovalab` program: the commands registered on one commander program,
 * parsed from an argv. `main.ts` runs it on the process's own argv; a caller
 * that already holds the model (the test suite's quick tier) runs it on
 * another argv in the same process.
 *
 * Only the command being run is loaded (all of them for the top-level help):
 * Node strips the TypeScript of every module it loads at start-up, and the
 * whole kernel model costs about half a second that `iovalab ops` on a
 * conformance vector should not pay.
 */

import { readFileSync } from "node:fs";
import { Command } from "commander";

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

/** Runs the command line `argv` (node's and the script's path first, as in `process.argv`). */
export async function main(argv: readonly string[]): Promise<void> {
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

  const wanted = argv[2];
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

  await program.parseAsync([...argv]);
}
