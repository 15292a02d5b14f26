/**
 * `iovalab run` on worker threads: the scenario's runs as tasks on a piscina
 * pool (one thread per core by default), each distinct simulation once.
 * Runs whose booted state is the same (`scenario/boot-key.ts`: the sysfs and
 * the driver routes to the same range) are one simulation; each keeps its own
 * name and range source. Results come back in the scenario's order whatever
 * finishes first, so the output is the same bytes as a run in one thread.
 * With one thread to use (one distinct simulation, `--workers 1`, one core,
 * or a short scenario and no `--workers`) the simulations run in this thread, as the same tasks: a pool's thread
 * would load the whole model again (about 0.4 s of CPU) to run them.
 */

import { availableParallelism } from "node:os";
import {
  bootKey,
  type RunResult,
  type RunSpec,
  runSweepTask,
  type Scenario,
  type SweepTask,
  scenarioOfRun,
  scenarioToData,
} from "../face/simulation.ts";
import { workerEntry } from "./worker-entry.ts";

/**
 * Simulated ms (warm-ups included, all simulations together) up to which a scenario runs in
 * one thread by default. The heaviest built-in machine's job (hisi-sas-128, 128 fio threads)
 * costs about 6 ms of CPU per simulated ms once warm: 100 ms is about 0.6 s, about what one
 * more thread costs to start.
 */
const SHORT_MS = 100;

export interface PoolOptions {
  workers?: number;
  progress: boolean;
}

/** One simulation and the runs that share it (the first is the one simulated). */
interface Sim {
  runs: { spec: RunSpec; rangeSource: RunResult["rangeSource"] }[];
  /** Simulated ms, warm-up included: the order of dispatch, longest first. */
  ms: number;
}

/** Groups the runs by the state they start from, in the scenario's order. */
export function planSims(s: Scenario): Sim[] {
  const byKey = new Map<string, Sim>();
  for (const spec of s.runs) {
    const { key, rangeSource } = bootKey(s, spec);
    const sr = scenarioOfRun(s, spec);
    let sim = byKey.get(key);
    if (sim === undefined) {
      sim = { runs: [], ms: sr.warmupMs + sr.durationMs };
      byKey.set(key, sim);
    }
    sim.runs.push({ spec, rangeSource });
  }
  return [...byKey.values()];
}

export async function runPooled(s: Scenario, o: PoolOptions): Promise<RunResult[]> {
  const t0 = performance.now();
  const sims = planSims(s);
  const total = sims.reduce((a, x) => a + x.ms, 0);
  // Unless threads are asked for, a short scenario runs in this thread: a pool's thread pays
  // about 0.5 s of CPU to load the model and warm it up, more than the whole of such a
  // scenario's simulations (seed-short's two of 30 ms: 0.70x the CPU and 0.81x the wall of
  // two threads, whole process, on 2 cores).
  const threads = o.workers ?? (total <= SHORT_MS ? 1 : availableParallelism());
  const workers = Math.max(1, Math.min(threads, sims.length));
  const data = scenarioToData(s);
  // The bar's module is loaded only when a bar is drawn, piscina's only when threads run.
  const cliProgress = o.progress && process.stderr.isTTY === true ? (await import("cli-progress")).default : null;
  const bar =
    cliProgress !== null
      ? new cliProgress.SingleBar(
          {
            format: "{bar} {percentage}% | {run} | {duration_formatted}",
            stream: process.stderr,
            hideCursor: true,
            // Redrawn every tick, so the time runs on while a simulation is under way.
            forceRedraw: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(total, 0, { run: `${sims.length} simulations on ${workers} threads` });
  // One thread: this one, running the task as a pool's thread would (the same data, validated again).
  const pool =
    workers === 1
      ? null
      : new (await import("piscina")).Piscina({
          filename: workerEntry(import.meta.url, "../scenario/run-worker.ts"),
          maxThreads: workers,
          minThreads: workers,
        });
  const runTask = async (task: SweepTask): Promise<{ result: RunResult; cpuMs: number }> => {
    if (pool !== null) return (await pool.run(task)) as { result: RunResult; cpuMs: number };
    const t0 = process.threadCpuUsage();
    const result = runSweepTask(task);
    const t1 = process.threadCpuUsage();
    return { result, cpuMs: (t1.user - t0.user + t1.system - t0.system) / 1000 };
  };
  const results = new Map<string, RunResult>();
  let doneMs = 0;
  let cpuTotalMs = 0;
  try {
    // Longest first, so the last to start is a short one (ties: the scenario's order).
    const order = sims.map((_x, i) => i).sort((a, b) => sims[b].ms - sims[a].ms || a - b);
    // Each lane takes the next simulation when its last one ends: the order is ours, not the pool's.
    let next = 0;
    const lane = async () => {
      while (next < order.length) {
        const sim = sims[order[next++]];
        const first = sim.runs[0].spec;
        const task: SweepTask = { id: first.name, point: {}, run: first.name, scenario: data };
        const tRun = performance.now();
        const { result: r, cpuMs } = await runTask(task);
        cpuTotalMs += cpuMs;
        for (const m of sim.runs) results.set(m.spec.name, { ...r, name: m.spec.name, rangeSource: m.rangeSource });
        doneMs += sim.ms;
        const names = sim.runs.map((m) => m.spec.name).join(" = ");
        if (bar !== null) bar.update(doneMs, { run: names });
        else if (o.progress) {
          const sr = scenarioOfRun(s, first);
          process.stderr.write(
            `${names}: ${sr.durationMs} ms simulated after ${sr.warmupMs} ms warm-up, ${((performance.now() - tRun) / 1000).toFixed(1)} s (${(cpuMs / 1000).toFixed(1)} s of CPU)\n`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, lane));
  } finally {
    bar?.stop();
    await pool?.destroy();
  }
  if (o.progress) {
    process.stderr.write(
      `${s.runs.length} runs (${sims.length} distinct simulations, ${workers} thread${workers === 1 ? "" : "s"}) in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(cpuTotalMs / 1000).toFixed(1)} s of CPU in the simulations\n`,
    );
  }
  return s.runs.map((r) => results.get(r.name) as RunResult);
}
