/**
 * Reading a trace file while holding its first events until they show what
 * the trace is (`replay/defaults.ts` turns those facts into the replay's
 * machine, kernel and mode).
 */

import { join } from "node:path";
import {
  type DatPosition,
  DEFAULTS_WINDOW,
  type TraceEvent,
  TraceFacts,
  type TraceLoss,
  type TraceReader,
  type TraceReaderState,
} from "../face/kernel.ts";
import { readTraceInto, spillContent } from "../node.ts";
import { isPlainFile } from "../node-input.ts";
import type { PipeCopy } from "./pipe-copy.ts";
import { makeTempDir, type TempDir } from "./temp-dir.ts";

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

/** Where a reading may begin after a loss marker (`ResumePoints`). */
export interface ResumePoint {
  /** Where the next line starts in the trace's content (a text's); 0 for a trace.dat. */
  offset: number;
  /** A trace.dat's streams there (null for a text). */
  dat: DatPosition | null;
  /** The reader after the marker's line. */
  reader: TraceReaderState;
  /** The line of each CPU's last event before the marker. */
  lastLine: readonly number[];
}

/**
 * Where a later reading of the same trace file may begin instead of at its
 * first line (`readTraceWithFacts` records them as it reads): a span that
 * begins after a loss would otherwise read every line before it again, each
 * time it is read, so a trace with many losses cost readings that grow with
 * the square of its length.
 */
export class ResumePoints {
  /** The facts of the trace's first events, and the reader as it was when they were complete. */
  window: { facts: TraceFacts; reader: TraceReaderState } | null = null;
  /**
   * By the line of each loss marker read once the facts were complete: the
   * reader after that line, the line of each CPU's last event before it,
   * and where the next line starts in the trace's content.
   */
  readonly after = new Map<number, ResumePoint>();
  /**
   * A gzip trace's content from a resume point on, decompressed once into a
   * file of its own (`spillAfter`): readings that begin at or after `base`
   * read it, not the gzip from its start. `mayHoldLoss` as the copy found it.
   */
  spill: { path: string; base: number; mayHoldLoss: boolean; remove: () => void } | null = null;
  /**
   * A trace piped in: its first reading reads the pipe, writing its content
   * to this copy as it goes; every later reading reads the copy.
   */
  pipe: PipeCopy | null = null;
  /** Whether the trace can be read again: a regular file, or a pipe with a copy (`replayTrace` decides it once). */
  rereadable = true;

  /**
   * Leaves a point after the loss marker at `line`, just read by `reader`
   * (each CPU's last event line before it in `lastLine`), unless there is
   * one, or the reader cannot say where the next line starts.
   */
  record(line: number, reader: TraceReader, lastLine: readonly number[]): void {
    if (this.after.has(line)) return;
    const dat = reader.datPosition?.() ?? null;
    const offset = dat === null ? reader.offsetAfterLine() : 0;
    if (offset >= 0) this.after.set(line, { offset, dat, reader: reader.snapshot(), lastLine: [...lastLine] });
  }

  /** The line of the first loss marker with a point after it (undefined: none, or no facts yet). */
  firstLine(): number | undefined {
    if (this.window === null || this.after.size === 0) return undefined;
    return Math.min(...this.after.keys());
  }

  /** The point after the loss marker at `line`, taken once the facts were complete (none before). */
  at(line: number): ResumePoint | undefined {
    return this.window === null ? undefined : this.after.get(line);
  }

  /**
   * Where a reading that begins at byte `offset` of the trace's content reads: file, byte in it, and its base;
   * for a pipe's first reading, the pipe's chunks, copied as they are read.
   */
  source(
    trace: string,
    offset: number,
  ): { path: string; from: number; base: number; chunks?: AsyncIterable<Uint8Array> } {
    const p = this.pipe;
    if (p !== null) {
      if (!p.started) return { path: trace, from: 0, base: 0, chunks: p.chunks() };
      trace = p.whole();
    }
    const s = this.spill;
    return s !== null && offset >= s.base
      ? { path: s.path, from: offset - s.base, base: s.base }
      : { path: trace, from: offset, base: 0 };
  }

  /**
   * Reads `trace` into `reader` from the point `resume` (its `restore`d state there is the caller's to put back),
   * or from its first line: a pipe's first reading from the pipe, a later one from its copy, a gzip past the
   * spill's base from the spill.
   */
  read(trace: string, reader: TraceReader, sink: (e: TraceEvent) => void, resume?: ResumePoint): Promise<void> {
    const src = this.source(trace, resume?.offset ?? 0);
    const dat = resume?.dat ?? undefined;
    return readTraceInto(src.path, reader, sink, { from: src.from, base: src.base, source: src.chunks, dat });
  }

  /** Removes the spill's file and the pipe's copy (the replay of every span is over). */
  dispose(): void {
    this.spill?.remove();
    this.spill = null;
    this.pipe?.remove();
    this.pipe = null;
  }
}

/**
 * A gzip trace that lost events is read again from each loss after the
 * first, and each reading would decompress it from its start: its content
 * from the first resume point on (`ResumePoints.firstLine`) is decompressed
 * once into the OS's temporary directory instead (`ResumePoints.spill`), as
 * many bytes as that part of the trace holds. Nothing for a plain file (read
 * from any byte, a pipe's copy among them), stdin, no resume point yet, or a
 * spill made already; where the copy cannot be written (no space left, say)
 * the readings decompress as before.
 */
export async function spillAfter(trace: string, points: ResumePoints): Promise<void> {
  const first = points.firstLine();
  const resume = first === undefined ? undefined : points.at(first);
  if (resume === undefined || points.spill !== null || trace === "-" || isPlainFile(trace)) return;
  let dir: TempDir;
  try {
    dir = makeTempDir("replay");
  } catch {
    return;
  }
  const path = join(dir.path, "content");
  const remove = dir.remove;
  try {
    const holds = await spillContent(trace, resume.offset, path);
    points.spill = { path, base: resume.offset, mayHoldLoss: holds, remove };
  } catch {
    remove();
  }
}

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
  points?: ResumePoints,
): Promise<SpanLoss | null> {
  let facts = new TraceFacts();
  const waiting: TraceEvent[] = [];
  let observed = 0;
  let feed: ((e: TraceEvent) => void) | null = null;
  let inSpan = false;
  let end: SpanLoss | null = null;
  const { from, until } = span;
  // The line of each CPU's last event.
  let lastLine: number[] = [];
  const begin = (): ((e: TraceEvent) => void) => {
    const f = start(facts);
    for (const e of waiting) f(e);
    waiting.length = 0;
    return f;
  };
  // The facts are complete: a later reading may begin where this one passes a loss.
  const complete = (): ((e: TraceEvent) => void) => {
    if (points !== undefined && points.window === null) points.window = { facts, reader: reader.snapshot() };
    return begin();
  };
  // A span after a loss this trace's reading passed before: its reading begins there, the facts and the reader as
  // the lines before left them (the replay begun with the reader as it was when the facts were complete).
  const resume = from > 0 ? points?.at(from) : undefined;
  const window = points?.window ?? null;
  if (window !== null && resume !== undefined) {
    facts = window.facts;
    observed = DEFAULTS_WINDOW;
    reader.restore(window.reader);
    feed = begin();
    reader.restore(resume.reader);
    lastLine = [...resume.lastLine];
  }
  // A loss before any of the span's events (the one it begins after, read again, or one at the trace's start)
  // ends nothing: the replay has not begun. One before the trace's first events have given the facts ends the
  // span there, but the reading goes on to give them (every span replays with the same).
  if (span.endAtLoss || points !== undefined)
    reader.onLoss = (loss) => {
      if (points !== undefined && feed !== null) points.record(loss.afterLine, reader, lastLine);
      if (!span.endAtLoss || !inSpan || loss.afterLine <= span.lossesAfter || end !== null) return;
      end = { ...loss, gapAfter: lastLine[loss.cpu] ?? 0 };
      if (feed !== null) throw SPAN_END;
    };
  try {
    const sink = (e: TraceEvent) => {
      if (end !== null || e.line > until) {
        // Past the span: only the facts still wanted.
        if (feed !== null) throw SPAN_END;
        facts.observe(e);
        if (++observed >= DEFAULTS_WINDOW) {
          feed = complete();
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
      if (++observed >= DEFAULTS_WINDOW) feed = complete();
    };
    await (points === undefined ? readTraceInto(trace, reader, sink) : points.read(trace, reader, sink, resume));
  } catch (err) {
    if (err !== SPAN_END) throw err;
  }
  if (feed === null) begin();
  return end;
}
