/**
 * The `iovalab` command line: thin commands that parse arguments, call the
 * model and print. Each command lives in its own file and registers here.
 */

import { Command } from "commander";
import { registerDemo } from "./demo.ts";
import { registerKernels } from "./kernels.ts";
import { registerOps } from "./ops.ts";
import { registerReplay } from "./replay.ts";
import { registerShell } from "./shell.ts";

const program = new Command();
program
  .name("iovalab")
  .description("what the Linux IOMMU DMA layer does with your DMA, and what it would do with another setting")
  .showHelpAfterError()
  .exitOverride((err) => {
    // Usage errors are bad input: exit status 2, as for a malformed file.
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerOps(program);
registerDemo(program);
registerKernels(program);
registerShell(program);
registerReplay(program);

await program.parseAsync(process.argv);
