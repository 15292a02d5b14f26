/**
 * iovalab's library API: the pieces a program or a browser page uses. The
 * command line (src/cli) is built on exactly these.
 */

export {
  ANCHOR_PFN,
  DEFAULT_RCACHE_ORDERS,
  IovaDomain,
  type IovaDomainOptions,
  type TreeSearch,
} from "./iova/domain.ts";
export { type OpsOptions, type OpsResult, runOps } from "./iova/ops.ts";
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
export * from "./machine/index.ts";
export { DEFAULTS_WINDOW, replayDefaults } from "./replay/defaults.ts";
export {
  defaultReplayDevice,
  type Mismatch,
  Replayer,
  type ReplayOptions,
  type ReplayResult,
  traceMachineOf,
} from "./replay/replay.ts";
export { type RunContext, runCmdline, runOne } from "./scenario/run.ts";
export { parseScenarioYaml, type RunSpec, type Scenario, seedScenario } from "./scenario/scenario.ts";
export { InputError } from "./stdx/errors.ts";
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
