/**
 * One queue job, run on a worker thread of `iovalab worker` (piscina): the
 * job's kind picks what runs. Errors come back as values with the message a
 * person reads (bad input) or the stack (a bug), since error classes do not
 * survive the trip between threads.
 */

import { InputError, quote } from "../face/allocator.ts";
import type { JobData, JobReply } from "./queue.ts";

export default async function runJob(data: JobData): Promise<JobReply> {
  try {
    switch (data?.kind) {
      case "sweep": {
        const { runSweepTask, sweepLine } = await import("../face/simulation.ts");
        return { ok: true, text: sweepLine(data.task, runSweepTask(data.task)) };
      }
      case "replay": {
        const { replayJobText } = await import("./replay.ts");
        return { ok: true, text: await replayJobText(data.trace) };
      }
      default:
        return {
          ok: false,
          message: `job kind ${quote(String((data as { kind?: unknown })?.kind))}: this worker runs sweep and replay jobs only`,
        };
    }
  } catch (e) {
    return {
      ok: false,
      message: e instanceof InputError ? e.message : `internal error: ${(e as Error)?.stack ?? String(e)}`,
    };
  }
}
