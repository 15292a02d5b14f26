/**
 * The kernel's face: machines and their boot, the DMA API, sysfs, the
 * driver core, kernel traces and their replay.
 * One part of the library's face (src/index.ts is all of them): a command
 * imports only the part it needs, so it loads only that much of the model.
 */

export { COLLECT_SCRIPT } from "../machine/collect-script.ts";
export * from "../machine/index.ts";
export { type KernelVersion, kernelVersion } from "../machine/profile.ts";
export { releaseProfile, releasesBetween } from "../machine/release.ts";
export {
  type AdviceCandidate,
  candidateOf,
  candidateRanges,
  type GroupAdvice,
  groupNumber,
  recommend,
} from "../replay/advise.ts";
export {
  BusyTrials,
  type BusyWindow,
  type TrialAsk,
  type TrialPool,
  type TrialResult,
  trialKey,
} from "../replay/busy-trial.ts";
export { CAPTURE_HELP } from "../replay/capture.ts";
export { DEFAULTS_WINDOW, type ReplayDefaults, replayDefaults } from "../replay/defaults.ts";
export { capAgrees } from "../replay/learning.ts";
export type { LiveMapping } from "../replay/live-at-start.ts";
export {
  defaultReplayDevice,
  dmaDevices,
  domainOfDevice,
  type Mismatch,
  machineForDevice,
  Replayer,
  type ReplayOptions,
  type ReplayResult,
  sameKindDevices,
  traceMachineOf,
} from "../replay/replay.ts";
export { LearningWindow } from "../replay/start-search.ts";
export { describeStartState, emptyStartState, type StartState } from "../replay/start-state.ts";
export {
  deviceCounts,
  devicesTable,
  exactOfKnowable,
  midLifeMissed,
  orderSearchStops,
  type ReplaySummaryJson,
  type SpanSummary,
  spansJson,
  sumCounts,
  summaryJson,
  sumOver,
  totalFigures,
  traceLacks,
} from "../replay/summary-json.ts";
export {
  type DatPosition,
  DEPOT_WORK_FUNCTION,
  type DmaCall,
  FQ_TIMER_FUNCTION,
  isKernelWorkEvent,
  type KernelWorkEvent,
  kallsymsNames,
  lossWarning,
  lostText,
  Reconstructor,
  readTraceText,
  type TraceEvent,
  TraceFacts,
  type TraceLoss,
  TraceReader,
  type TraceReaderOptions,
  type TraceReaderState,
} from "../trace/index.ts";
