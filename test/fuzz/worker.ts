/** The worker side of `harness.ts`: runs one property and reports. */

import { parentPort, workerData } from "node:worker_threads";
import { PROPERTIES } from "./properties.ts";

const port = parentPort;
if (port === null) throw new Error("worker.ts runs as a worker");
try {
  PROPERTIES[(workerData as { name: string }).name](() => port.postMessage({ beat: true }));
  port.postMessage({ done: true });
} catch (e) {
  port.postMessage({ error: (e as Error)?.stack ?? String(e) });
}
