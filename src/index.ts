/**
 * iovalab's library API: the pieces a program or a browser page uses. The
 * command line (src/cli) is built on exactly these, with the Node adapters
 * of src/node.ts; the explorer's page on these alone.
 */

export {
  ANCHOR_PFN,
  DEFAULT_RCACHE_ORDERS,
  IovaDomain,
  type IovaDomainOptions,
  type TreeSearch,
} from "./iova/domain.ts";
export { type OpsOptions, type OpsResult, OpsRunner, runOps } from "./iova/ops.ts";
export {
  getProfile,
  isProfileName,
  type KernelProfile,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
} from "./iova/profile.ts";
export { maxCachedBytes, rcacheOrdersForBytes } from "./iova/range.ts";
export { IovaStats } from "./iova/stats.ts";
export { COLLECT_SCRIPT } from "./machine/collect-script.ts";
export { importSnapshot, parseSnapshot } from "./machine/import.ts";
export * from "./machine/index.ts";
export { type KernelVersion, kernelVersion } from "./machine/profile.ts";
export { type AdviceCandidate, candidateOf, candidateRanges, type GroupAdvice, recommend } from "./replay/advise.ts";
export { CAPTURE_HELP } from "./replay/capture.ts";
export { DEFAULTS_WINDOW, replayDefaults } from "./replay/defaults.ts";
export {
  defaultReplayDevice,
  dmaDevices,
  type Mismatch,
  Replayer,
  type ReplayOptions,
  type ReplayResult,
  sameKindDevices,
  traceMachineOf,
} from "./replay/replay.ts";
export { devicesTable, summaryJson, traceLacks } from "./replay/summary-json.ts";
export { renderSvg, reportFigure, reportHtml } from "./report/html.ts";
export { writePerfetto } from "./report/perfetto.ts";
export { comparisonTable, makeReport, reportJson } from "./report/results.ts";
export { formatBytes, formatPercent, formatTable } from "./report/table.ts";
export { type RunContext, type RunResult, runCmdline, runOne } from "./scenario/run.ts";
export { parseScenarioYaml, type RunSpec, type Scenario, seedScenario } from "./scenario/scenario.ts";
export {
  parseOver,
  planSweep,
  readSweepLines,
  type SweepLine,
  type SweepTask,
  sweepFigure,
  sweepLine,
} from "./scenario/sweep.ts";
export { default as runSweepTask } from "./scenario/sweep-worker.ts";
export { assert } from "./stdx/assert.ts";
export { parseDurationMs } from "./stdx/duration.ts";
export { InputError, quote } from "./stdx/errors.ts";
export { hex16 } from "./stdx/hex.ts";
export { memparse } from "./stdx/kstr.ts";
export { Prng } from "./stdx/prng.ts";
export {
  type DmaCall,
  isKernelWorkEvent,
  type KernelWorkEvent,
  Reconstructor,
  readTraceText,
  type TraceEvent,
  TraceFacts,
  TraceReader,
} from "./trace/index.ts";
export { churn } from "./workload/churn.ts";
export { runChurn } from "./workload/churn-run.ts";
