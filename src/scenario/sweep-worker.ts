/**
 * The piscina worker of `iovalab sweep`: one task is one run of one grid
 * point. The scenario arrives as plain data and is validated again here.
 */

import { InputError } from "../stdx/errors.ts";
import { runOne } from "./run.ts";
import { validateScenarioData } from "./scenario.ts";
import type { SweepTask } from "./sweep.ts";

export default function runTask(task: SweepTask) {
  const s = validateScenarioData(task.scenario, task.id);
  const run = s.runs.find((r) => r.name === task.run);
  if (run === undefined) throw new Error(`${task.id}: no run ${task.run}`);
  try {
    return runOne(s, run);
  } catch (e) {
    // Which of the grid's points (or the scenario's runs) the figures that stopped it are from.
    if (e instanceof InputError) throw new InputError(`${task.id}: ${e.message}`);
    throw e;
  }
}
