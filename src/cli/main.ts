/**
 * The `iovalab` command line: thin commands that parse arguments, call the
 * model and print. Each command lives in its own file and registers in
 * `program.ts`; this entry runs it on the process's argv, with a closed
 * stdout ending it quietly.
 */

import { guardStdout } from "./io.ts";
import { main } from "./program.ts";

guardStdout();
await main(process.argv);
