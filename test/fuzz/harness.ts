/**
 * Runs a fuzz property in a worker thread under a watchdog, so a case that
 * hangs fails its test (naming the case) instead of hanging `npm test`.
 * The worker runs `properties.ts`'s property `name`, posting a heartbeat
 * before each case; a case that posts no heartbeat for `caseMs` is a hang.
 */

import { Worker } from "node:worker_threads";

/** The most one case may take: generous (a loaded two-core machine), only hangs exceed it. */
export const CASE_MS = 30_000;
/** The most loading the worker may take, before its first case. */
const START_MS = 120_000;

export function runProperty(name: string, caseMs = CASE_MS): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), { workerData: { name } });
    let cases = 0;
    let timer: NodeJS.Timeout;
    const arm = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        void worker.terminate();
        reject(
          new Error(
            `${name}: ${cases === 0 ? "the worker did not start" : `case ${cases} did not finish`} within ${ms} ms`,
          ),
        );
      }, ms);
    };
    arm(START_MS);
    worker.on("message", (m: { beat?: true; done?: true; error?: string }) => {
      if (m.beat) {
        cases++;
        arm(caseMs);
      } else {
        clearTimeout(timer);
        void worker.terminate();
        if (m.error !== undefined) reject(new Error(m.error));
        else resolve();
      }
    });
    worker.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
