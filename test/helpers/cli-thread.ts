/**
 * The thread behind `iovalab()`'s in-process runs (see iovalab.ts): it keeps
 * the command line loaded, and runs one argv at a time with stdout, stderr
 * and the exit status captured, as the process would have printed them.
 *
 * `process.exit` ends the run (not the thread) with its status; otherwise the
 * status is `process.exitCode`, as the process would have exited with.
 */

import { type MessagePort, parentPort, workerData } from "node:worker_threads";

const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;
const { signal, replies } = workerData as { signal: Int32Array; replies: MessagePort };
// A command line that fails to load fails each run, rather than leaving the caller waiting.
const loaded = import("../../src/cli/program.ts").then(
  (m) => m.main,
  (e: unknown) => e,
);

class Exit {
  readonly status: number;
  constructor(status: number) {
    this.status = status;
  }
}

// Each run registers its own exit handlers (the output staging's clean-up).
process.setMaxListeners(0);

const port = parentPort as MessagePort;
port.on("message", async (args: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const capture =
    (into: string[]) =>
    (chunk: string | Uint8Array, enc?: unknown, cb?: unknown): boolean => {
      into.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
      const done = typeof enc === "function" ? enc : cb;
      if (typeof done === "function") queueMicrotask(() => (done as (e?: Error) => void)());
      return true;
    };
  const saved = { out: process.stdout.write, err: process.stderr.write, exit: process.exit };
  process.stdout.write = capture(out) as typeof process.stdout.write;
  process.stderr.write = capture(err) as typeof process.stderr.write;
  process.exit = ((code?: number) => {
    throw new Exit(code ?? Number(process.exitCode ?? 0));
  }) as typeof process.exit;
  process.exitCode = undefined;
  let status: number;
  try {
    const main = await loaded;
    if (typeof main !== "function") throw main;
    await main([process.execPath, MAIN, ...args]);
    status = Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof Exit) status = e.status;
    else {
      // What an uncaught error does to the process: its stack, status 1.
      err.push(`${(e as Error)?.stack ?? String(e)}\n`);
      status = 1;
    }
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    process.exit = saved.exit;
    process.exitCode = undefined;
  }
  replies.postMessage({ status, stdout: out.join(""), stderr: err.join("") });
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
