/**
 * The piscina worker of `iovalab run` on worker threads (cli/run-pool.ts):
 * one task is one run, as the sweep's worker runs it, with the CPU time the
 * thread spent on it (for the progress lines; never in the results).
 */

import type { SweepTask } from "./sweep.ts";
import runTask from "./sweep-worker.ts";

export default function runTimed(task: SweepTask) {
  const t0 = process.threadCpuUsage();
  const result = runTask(task);
  const t1 = process.threadCpuUsage();
  return { result, cpuMs: (t1.user - t0.user + t1.system - t0.system) / 1000 };
}
