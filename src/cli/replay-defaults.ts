/**
 * Reading a trace file while holding its first events until they show what
 * the trace is (`replay/defaults.ts` turns those facts into the replay's
 * machine, kernel and mode).
 */

import { DEFAULTS_WINDOW, type TraceEvent, TraceFacts, type TraceLoss, type TraceReader } from "../face/kernel.ts";
import { readTraceInto } from "../node.ts";

/**
 * The lines of a trace one replay covers (`replay.ts`): those after line
 * `from`, up to line `until`, or with `endAtLoss` up to the first loss
 * after line `lossesAfter` (the loss that began the span is at or before it).
 */
export interface TraceSpan {
  from: number;
  until: number;
  lossesAfter: number;
  endAtLoss: boolean;
}

/** A loss that ended a reading, and the line of that CPU's last event before it: the events lost came after that. */
export interface SpanLoss extends TraceLoss {
  gapAfter: number;
}

/** The whole trace, in one span. */
export const WHOLE_TRACE: TraceSpan = { from: 0, until: Number.POSITIVE_INFINITY, lossesAfter: 0, endAtLoss: false };

/** Ends a reading at a loss as at the file's end. */
class SpanEnd extends Error {}
const SPAN_END = new SpanEnd("the span ends at a loss");

/**
 * Reads `trace` into `reader`, holding its first events (up to
 * DEFAULTS_WINDOW) until they show what the trace is; `start` then sets the
 * replay up from those facts and returns where every event goes, the held
 * ones first. With `span`, the facts are still those of the trace's first
 * events (every span of a trace replays on the same machine, kernel and
 * mode), but only the events after `span.from` go on; the reading ends at the
 * first loss after one of them, which it returns (else null).
 */
export async function readTraceWithFacts(
  trace: string,
  reader: TraceReader,
  start: (facts: TraceFacts) => (e: TraceEvent) => void,
  span: TraceSpan = WHOLE_TRACE,
): Promise<SpanLoss | null> {
  const facts = new TraceFacts();
  const waiting: TraceEvent[] = [];
  let observed = 0;
  let feed: ((e: TraceEvent) => void) | null = null;
  let inSpan = false;
  let end: SpanLoss | null = null;
  const { from, until } = span;
  // The line of each CPU's last event.
  const lastLine: number[] = [];
  const begin = (): ((e: TraceEvent) => void) => {
    const f = start(facts);
    for (const e of waiting) f(e);
    waiting.length = 0;
    return f;
  };
  // A loss before any of the span's events (the one it begins after, read again, or one at the trace's start)
  // ends nothing: the replay has not begun. One before the trace's first events have given the facts ends the
  // span there, but the reading goes on to give them (every span replays with the same).
  if (span.endAtLoss)
    reader.onLoss = (loss) => {
      if (!inSpan || loss.afterLine <= span.lossesAfter || end !== null) return;
      end = { ...loss, gapAfter: lastLine[loss.cpu] ?? 0 };
      if (feed !== null) throw SPAN_END;
    };
  try {
    await readTraceInto(trace, reader, (e) => {
      if (end !== null || e.line > until) {
        // Past the span: only the facts still wanted.
        if (feed !== null) throw SPAN_END;
        facts.observe(e);
        if (++observed >= DEFAULTS_WINDOW) {
          feed = begin();
          throw SPAN_END;
        }
        return;
      }
      lastLine[e.cpu] = e.line;
      if (e.line > from) inSpan = true;
      if (feed !== null) {
        if (e.line > from) feed(e);
        return;
      }
      facts.observe(e);
      if (e.line > from) waiting.push(e);
      if (++observed >= DEFAULTS_WINDOW) feed = begin();
    });
  } catch (err) {
    if (err !== SPAN_END) throw err;
  }
  if (feed === null) begin();
  return end;
}
