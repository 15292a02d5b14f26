/**
 * `iovalab worker --queue redis://HOST:PORT`: runs the jobs that
 * `iovalab sweep --queue` and `iovalab replay --queue` put on the queue, as
 * many at once as the machine has cores, until stopped.
 */

import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { InputError, quote } from "../face/allocator.ts";
import { runCommand } from "./io.ts";

interface WorkerOpts {
  queue: string;
  concurrency?: string;
  lockMs: string;
}

export function registerWorker(program: Command): void {
  program
    .command("worker")
    .description("run sweep points and trace replays from a Redis job queue, until stopped (Ctrl-C or SIGTERM)")
    .requiredOption("--queue <redis://host:port>", "the Redis the submitting `sweep --queue` or `replay --queue` uses")
    .option("--concurrency <n>", "jobs at once, each on a thread of its own (default: the CPUs available)")
    .option(
      "--lock-ms <ms>",
      "how long a job of a worker that stopped answering waits before another worker runs it again",
      "30000",
    )
    .addHelpText(
      "after",
      "\nSweep jobs carry their scenario: a worker needs no files. Replay jobs name their trace by path:\n" +
        "every worker must see the submitter's trace files at the same absolute path (shared storage).\n",
    )
    .action((opts: WorkerOpts) =>
      runCommand(async () => {
        const { serveQueue } = await import("./queue.ts");
        await serveQueue(opts.queue, {
          concurrency:
            opts.concurrency === undefined ? availableParallelism() : positive("--concurrency", opts.concurrency),
          lockMs: positive("--lock-ms", opts.lockMs),
        });
      }),
    );
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InputError(`${name}: expected a positive integer, found ${quote(v)}`);
  return n;
}
