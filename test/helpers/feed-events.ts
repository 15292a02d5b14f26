/**
 * The events of a trace fed as `iovalab replay` feeds them: timer and
 * workqueue events to the replay, the DMA events to the reconstruction, whose
 * calls the replay takes; then both ended.
 */

import type { Replayer, ReplayResult } from "../../src/replay/replay.ts";
import { isKernelWorkEvent, type TraceEvent } from "../../src/trace/events.ts";
import type { Reconstructor } from "../../src/trace/reconstruct.ts";

export function feedEvents(events: readonly TraceEvent[], rp: Replayer, rc: Reconstructor): ReplayResult {
  for (const e of events) {
    if (isKernelWorkEvent(e)) rp.pushWork(e);
    else rc.push(e);
  }
  rc.end();
  return rp.end();
}
