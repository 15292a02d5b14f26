/**
 * The `iovalab` command line: thin commands that parse arguments, call the
 * model and print. Each command lives in its own file and registers in
 * `program.ts`; this entry runs it on the process's argv, with a closed
 * stdout ending it quietly.
 */

import { guardStdout } from "./io.ts";

// `iovalab ops` with plain arguments runs without the option parser: loading
// it is a good part of the start-up of a short script (ops.ts says which
// command lines are plain; any other goes the usual way, with the same meaning).
// So program.ts, which loads commander, is imported only when it is needed.
// The plain command writes its output to fd 1 itself and never makes
// `process.stdout` (whose stream on a pipe loads the network modules), so
// the guard is installed only on the other path (or by `writeStdout`).
const plainOps = process.argv[2] === "ops" ? (await import("./ops.ts")).plainOpsArgs(process.argv.slice(3)) : null;
if (plainOps !== null) {
  await (await import("./ops.ts")).runPlainOps(plainOps);
  // Everything is written (synchronously, or awaited until flushed): ending
  // here skips tearing down the environment and the heap, a few
  // milliseconds of a short script's CPU. The status is the command's.
  process.exit();
} else {
  guardStdout();
  await (await import("./program.ts")).main(process.argv);
}
