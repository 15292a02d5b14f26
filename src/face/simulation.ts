/**
 * The simulation's face: scenarios, sweeps, workloads and reports.
 * One part of the library's face (src/index.ts is all of them): a command
 * imports only the part it needs, so it loads only that much of the model.
 */

export { renderSvg, reportFigure, reportHtml } from "../report/html.ts";
export { writePerfetto } from "../report/perfetto.ts";
export { comparisonTable, makeReport, reportJson } from "../report/results.ts";
export { formatBytes, formatNs, formatPercent, formatTable } from "../report/table.ts";
export { bootKey } from "../scenario/boot-key.ts";
export { MAIN_JOB_KERNEL_NOTES, mainJobScenario } from "../scenario/main-job.ts";
export {
  defaultFioJob,
  hasRunSettings,
  overrideRuns,
  parseMode,
  parseRangeVia,
  type RunSettings,
} from "../scenario/overrides.ts";
export { machineOf, type RunContext, type RunResult, runCmdline, runOne } from "../scenario/run.ts";
export {
  parseScenarioYaml,
  type RunSpec,
  type Scenario,
  scenarioOfRun,
  scenarioToData,
  seedScenario,
} from "../scenario/scenario.ts";
export { reportSetup } from "../scenario/storage.ts";
export {
  parseOver,
  planSweep,
  readSweepLines,
  type SweepLine,
  type SweepTask,
  sweepFigure,
  sweepLine,
} from "../scenario/sweep.ts";
export { default as runSweepTask } from "../scenario/sweep-worker.ts";
export { churn } from "../workload/churn.ts";
export { runChurn } from "../workload/churn-run.ts";
