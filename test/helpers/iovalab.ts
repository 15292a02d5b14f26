/**
 * Test helper: runs the `iovalab` command (bin/iovalab.js, with its compile
 * cache) as a person would, and returns what it printed.
 *
 * In the quick tier (IOVALAB_QUICK=1) a run whose process buys the test
 * nothing (no stdin, no device path as an argument) goes to one thread per
 * test file that keeps the command line loaded: the same argv through the
 * same `main`, stdout, stderr and exit status captured. `npm test` runs every
 * call as its own process; `iovalabProcess` always does, for the tests of
 * the process itself.
 */

import { spawnSync } from "node:child_process";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { QUICK } from "./quick.ts";

const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `iovalab ARGS` as its own process, `input` on its stdin. */
export function iovalabProcess(args: string[], input?: string | Uint8Array): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, encoding: "utf8", maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `iovalab ARGS`: in the quick tier in process where it can, else as a process. */
export function iovalab(args: string[], input?: string | Uint8Array): Run {
  if (!QUICK || input !== undefined || !inProcessable(args)) return iovalabProcess(args, input);
  return inThread(args);
}

/** Whether a run needs nothing of a process: no stdin, no path to the process's own files, not the shell. */
function inProcessable(args: string[]): boolean {
  return args[0] !== "shell" && args[0] !== "worker" && args.every((a) => a !== "-" && !/^\/(dev|proc)\//.test(a));
}

let thread: { worker: Worker; signal: Int32Array; replies: MessagePort } | null = null;

function inThread(args: string[]): Run {
  if (thread === null) {
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL("./cli-thread.ts", import.meta.url), {
      workerData: { signal, replies: port2 },
      transferList: [port2],
    });
    worker.unref();
    port1.unref();
    thread = { worker, signal, replies: port1 };
  }
  const { worker, signal, replies } = thread;
  Atomics.store(signal, 0, 0);
  worker.postMessage(args);
  if (Atomics.wait(signal, 0, 0, 600_000) === "timed-out")
    throw new Error(`iovalab ${args.join(" ")}: no end in 600 s`);
  const reply = receiveMessageOnPort(replies);
  if (reply === undefined) throw new Error(`iovalab ${args.join(" ")}: the thread ended without a reply`);
  return reply.message as Run;
}
