/**
 * Reading ahead for a trace's losses (`cli/replay.ts`): once a span has
 * ended at a loss, the rest of the trace is read for its markers alone, so
 * that every later span is replayed once, up to the lost CPU's last event
 * before its loss, instead of first up to the marker to find it.
 */

import type { TraceLoss, TraceReader } from "../face/kernel.ts";
import { mayHoldLoss } from "../node.ts";
import type { ResumePoints, SpanLoss } from "./replay-defaults.ts";

/** A loss marker a reading of the rest of a trace passed (`scanLosses`). */
interface ScannedLoss {
  loss: TraceLoss;
  /** The line of each CPU's last event before the marker. */
  lastLine: readonly number[];
  /** The line of the last event before the marker, of any CPU (0: none). */
  lastEvent: number;
}

/**
 * The loss markers of a trace from one of them on, read without a replay
 * (`scanLosses`), so that each span's replay can end where its own loss says
 * without first replaying up to that loss to find it.
 */
export class LossScan {
  private readonly losses: readonly ScannedLoss[];
  /** The scan read every line after `from` (nothing stopped it). */
  private readonly complete: boolean;
  private readonly from: number;

  constructor(losses: readonly ScannedLoss[], complete: boolean, from: number) {
    this.losses = losses;
    this.complete = complete;
    this.from = from;
  }

  /**
   * The loss that ends the span of the lines after `from` (with
   * `TraceSpan.endAtLoss`: the first loss after one of its events), as that
   * span's reading would return it; undefined where the scan cannot say.
   */
  endOf(from: number): SpanLoss | null | undefined {
    if (from < this.from) return undefined;
    for (const s of this.losses)
      if (s.loss.afterLine > from && s.lastEvent > from) return { ...s.loss, gapAfter: s.lastLine[s.loss.cpu] ?? 0 };
    return this.complete ? null : undefined;
  }
}

/**
 * Reads the rest of `trace` after the loss marker at line `from`, which an
 * earlier reading passed, for its loss markers alone (no reconstruction, no
 * replay), and leaves a resume point at each. `reader` is fresh, made as the
 * replay's readers are. Read from the trace's first line where `points` has
 * no resume point at `from` (a loss before the trace's facts were complete):
 * its reader then reads the lines a span's reading does, so the points it
 * leaves are as good. A line the replay's reader refuses
 * (--strict-input) ends the scan there: the spans' readings meet it as
 * before.
 */
export async function scanLosses(
  trace: string,
  reader: TraceReader,
  from: number,
  points: ResumePoints,
): Promise<LossScan> {
  const resume = points.at(from);
  const losses: ScannedLoss[] = [];
  let lastLine: number[] = [];
  let lastEvent = 0;
  if (resume !== undefined) {
    // No marker's words after the point: no loss, and nothing to read for one (a trace.dat's losses are no words).
    const holds =
      resume.dat !== null ||
      (points.spill !== null && points.spill.base === resume.offset
        ? points.spill.mayHoldLoss
        : await mayHoldLoss(trace, resume.offset));
    if (!holds) return new LossScan([], true, from);
    reader.restore(resume.reader);
    lastLine = [...resume.lastLine];
  }
  reader.onLoss = (loss) => {
    losses.push({ loss, lastLine: [...lastLine], lastEvent });
    points.record(loss.afterLine, reader, lastLine);
  };
  let complete = true;
  try {
    await points.read(
      trace,
      reader,
      (e) => {
        lastLine[e.cpu] = e.line;
        lastEvent = e.line;
      },
      resume,
    );
  } catch {
    // Whatever stopped the scan stops the span that reaches it, with its own message.
    complete = false;
  }
  return new LossScan(losses, complete, resume === undefined ? 0 : from);
}
