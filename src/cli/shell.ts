/**
 * `iovalab shell`: boots a machine and runs shell commands over its /sys and
 * DMA API, from a terminal or from stdin (see src/machine/shell.ts for the
 * commands). stdout carries only what the commands print; errors go to
 * stderr in bash's words.
 */

import { createInterface } from "node:readline";
import type { Command } from "commander";
import { InputError, NR_CPUS_MAX } from "../face/allocator.ts";
import { BUILTIN_MACHINES, bootMachine, Shell } from "../face/kernel.ts";
import { runCommand } from "./io.ts";
import { loadMachineOption } from "./machine-option.ts";
import { parseKernelOption } from "./ops.ts";

export function registerShell(program: Command): void {
  program
    .command("shell")
    .description("boot a machine and run cat/echo/ls/dmesg/dma-info/map commands against its /sys and DMA API")
    .option(
      "--machine <name|file>",
      `built-in machine (${BUILTIN_MACHINES.join(", ")}) or a YAML/JSON file`,
      "qemu-q35-nvme",
    )
    .option("--kernel <profile>", "kernel profile: mainline, 6.1, 5.15, 5.10 (default: the machine's)")
    .option("--cmdline <words>", "kernel command-line words, appended to the machine's (later words win)", "")
    .option("--cpus <n>", "number of CPUs (default: the machine's)")
    .action((opts: { machine: string; kernel?: string; cmdline: string; cpus?: string }) =>
      runCommand(async () => {
        const desc = loadMachineOption(opts.machine);
        const kernelProfile = parseKernelOption(opts.kernel);
        let cpus: number | undefined;
        if (opts.cpus !== undefined) {
          if (!/^[1-9][0-9]*$/.test(opts.cpus) || Number(opts.cpus) > NR_CPUS_MAX) {
            throw new InputError(
              `--cpus: expected a number of CPUs from 1 to ${NR_CPUS_MAX}, found ${JSON.stringify(opts.cpus)}`,
            );
          }
          cpus = Number(opts.cpus);
        }
        const kernel = bootMachine(desc, {
          kernel: kernelProfile,
          cmdline: opts.cmdline,
          cpus,
        });
        const shell = new Shell(kernel);
        // On a terminal: a banner, a prompt, and Ctrl-C clears the line as in bash.
        // From a pipe or file: only what the commands print.
        const tty = process.stdin.isTTY === true;
        const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty });
        if (tty) {
          process.stdout.write(
            `iovalab shell: ${desc.name}, kernel ${kernel.profile.name}, ${kernel.cpus} CPUs; ` +
              "help lists the commands, exit or Ctrl-D leaves\n",
          );
          rl.setPrompt("# ");
          rl.on("SIGINT", () => {
            process.stdout.write("^C\n");
            rl.write(null, { ctrl: true, name: "u" });
            rl.prompt();
          });
          rl.prompt();
        }
        let lineNo = 0;
        for await (const line of rl) {
          const r = shell.runLine(line, ++lineNo);
          if (r.stdout) process.stdout.write(r.stdout);
          if (r.stderr) process.stderr.write(r.stderr);
          if (shell.exitStatus !== null) break;
          if (tty) rl.prompt();
        }
        rl.close();
        if (tty && shell.exitStatus === null) process.stdout.write("\n");
        process.exitCode = shell.exitStatus ?? 0;
      }),
    );
}
