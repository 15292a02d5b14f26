/**
 * The `iovalab` command line: thin commands that parse arguments, call the
 * model and print. Each command lives in its own file and registers in
 * `program.ts`; this entry runs it on the process's argv, with a closed
 * stdout ending it quietly.
 */

import { guardStdout } from "./io.ts";

guardStdout();

// `iovalab ops` with plain arguments runs without the option parser: loading
// it is a good part of the start-up of a short script (ops.ts says which
// command lines are plain; any other goes the usual way, with the same meaning).
// So program.ts, which loads commander, is imported only when it is needed.
const plainOps = process.argv[2] === "ops" ? (await import("./ops.ts")).plainOpsArgs(process.argv.slice(3)) : null;
if (plainOps !== null) {
  await (await import("./ops.ts")).runPlainOps(plainOps);
} else {
  await (await import("./program.ts")).main(process.argv);
}
