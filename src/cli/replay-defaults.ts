/**
 * Reading a trace file while holding its first events until they show what
 * the trace is (`replay/defaults.ts` turns those facts into the replay's
 * machine, kernel and mode).
 */

import { DEFAULTS_WINDOW, type TraceEvent, TraceFacts, type TraceReader } from "../face/kernel.ts";
import { readTraceInto } from "../node.ts";

/**
 * Reads `trace` into `reader`, holding its first events (up to
 * DEFAULTS_WINDOW) until they show what the trace is; `start` then sets the
 * replay up from those facts and returns where every event goes, the held
 * ones first.
 */
export async function readTraceWithFacts(
  trace: string,
  reader: TraceReader,
  start: (facts: TraceFacts) => (e: TraceEvent) => void,
): Promise<void> {
  const facts = new TraceFacts();
  const waiting: TraceEvent[] = [];
  let feed: ((e: TraceEvent) => void) | null = null;
  const begin = (): ((e: TraceEvent) => void) => {
    const f = start(facts);
    for (const e of waiting) f(e);
    waiting.length = 0;
    return f;
  };
  await readTraceInto(trace, reader, (e) => {
    if (feed !== null) {
      feed(e);
      return;
    }
    facts.observe(e);
    waiting.push(e);
    if (waiting.length >= DEFAULTS_WINDOW) feed = begin();
  });
  if (feed === null) begin();
}
