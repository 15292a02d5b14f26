/**
 * Kernel DMA trace readers and the reconstruction of DMA allocations
 * (issue 4 parts 1, 2 and 6). Pure model code; the Node file adapter is
 * `./node-source.ts`, imported separately so that browser and worker builds
 * do not pull in `node:fs`.
 */

export {
  bytesSource,
  DatError,
  type DatInto,
  type DatPosition,
  type DatRecord,
  type DatSource,
  type Decompress,
  isTraceDat,
  TraceDat,
} from "./dat.ts";
export type {
  DmaAllocEvent,
  DmaErrorEvent,
  DmaFreeEvent,
  DmaMapEvent,
  DmaMapSgEvent,
  DmaSyncEvent,
  DmaUnmapEvent,
  DmaUnmapSgEvent,
  EventHead,
  IommuMapEvent,
  IommuUnmapEvent,
  KernelWorkEvent,
  TimerExpireEntryEvent,
  TimerExpireExitEvent,
  TimerStartEvent,
  TraceEvent,
  WorkqueueExecuteEvent,
} from "./events.ts";
export { DEPOT_WORK_FUNCTION, FQ_TIMER_FUNCTION, isKernelWorkEvent } from "./events.ts";
export { TraceFacts } from "./facts.ts";
export { functionAddress, kallsymsNames } from "./kallsyms.ts";
export { LineScan, type LineShape, parseLine, type TraceLineHead, timestampToNs } from "./line.ts";
export { lossWarning, lostText } from "./loss-warning.ts";
export { type IovaRange, Q35_NVME_TRACE_MACHINE, type TraceDomainSpec, type TraceMachine } from "./machine.ts";
export {
  type EventSink,
  readTraceText,
  type TraceLoss,
  TraceReader,
  type TraceReaderOptions,
  type TraceReaderState,
  type TraceReaderStats,
} from "./reader.ts";
export {
  type CallSink,
  type DmaCall,
  type Finding,
  type FindingKind,
  type ReconstructOptions,
  Reconstructor,
  type ReconstructStats,
  reconstruct,
} from "./reconstruct.ts";
