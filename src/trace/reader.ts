/**
 * The trace reader: turns the text of a kernel trace (any of the shapes in
 * `line.ts`, in chunks of any size) into typed DMA events (`events.ts`), in
 * constant memory. Pure model code: the caller hands it text; the Node
 * adapter that opens plain or gzip files is `node-source.ts`.
 *
 * Other events are skipped and counted by name. A malformed line is
 * reported as `FILE:LINE: expected ..., found ...`: with `strictInput` the
 * reader throws it as an `InputError`, otherwise it keeps the first
 * `maxDiagnostics` messages, counts the rest and goes on.
 */

import { InputError, quote } from "../stdx/errors.ts";
import { DecodeError, decodeEvent, isKnownEvent, type TraceEvent } from "./events.ts";
import { parseLine } from "./line.ts";

export interface TraceReaderOptions {
  /** The name used in messages (`trace.txt:12: ...`). */
  file: string;
  /** Stop at the first malformed line (throws `InputError`). */
  strictInput?: boolean;
  /** How many diagnostics to keep (default 100); the count is always exact. */
  maxDiagnostics?: number;
}

export interface TraceReaderStats {
  lines: number;
  /** Decoded DMA events, by printed event name. */
  events: Map<string, number>;
  eventsTotal: number;
  /** Events this reader does not decode, by name (`sched_switch`, `perf:...`). */
  skipped: Map<string, number>;
  skippedTotal: number;
  /** Header, blank and trace-cmd preamble lines. */
  comments: number;
  malformed: number;
  /** Events the ring buffer lost (`CPU:N [LOST M EVENTS]`); the trace is incomplete when non-zero. */
  lostEvents: number;
  /** Lines whose timestamp is below the previous event's: the trace is not in time order there. */
  timestampBackwards: number;
  /** Event lines per rendering, to tell which reader applied. */
  shapes: { ftrace: number; perf: number };
}

export type EventSink = (event: TraceEvent) => void;

/**
 * The longest line read (characters). Real trace lines are a few hundred
 * characters; a longer one (a binary file, a runaway line) is malformed,
 * and is skipped to its end without being held.
 */
export const MAX_TRACE_LINE = 1 << 20;

export class TraceReader {
  readonly file: string;
  readonly strictInput: boolean;
  readonly maxDiagnostics: number;
  readonly stats: TraceReaderStats = {
    lines: 0,
    events: new Map(),
    eventsTotal: 0,
    skipped: new Map(),
    skippedTotal: 0,
    comments: 0,
    malformed: 0,
    lostEvents: 0,
    timestampBackwards: 0,
    shapes: { ftrace: 0, perf: 0 },
  };
  /** `FILE:LINE: ...` messages: malformed lines and lost-event markers, the first `maxDiagnostics`. */
  readonly diagnostics: string[] = [];
  private partial = "";
  /** Inside a line longer than MAX_TRACE_LINE: its characters are dropped up to its newline. */
  private overlong = false;
  private lastTimestampNs = -1;

  constructor(options: TraceReaderOptions) {
    this.file = options.file;
    this.strictInput = options.strictInput ?? false;
    this.maxDiagnostics = options.maxDiagnostics ?? 100;
  }

  /** Reads one line (without its newline) and returns its event, or null for any other line. */
  line(text: string): TraceEvent | null {
    const lineNo = ++this.stats.lines;
    if (text.length > 0 && text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
    const head = parseLine(text);
    if ("kind" in head) {
      switch (head.kind) {
        case "blank":
        case "comment":
        case "preamble":
          this.stats.comments++;
          return null;
        case "lost":
          this.stats.lostEvents += head.events;
          this.note(lineNo, `CPU ${head.cpu} lost ${head.events} events: the trace is incomplete from here`);
          return null;
        case "error":
          this.malformed(lineNo, head.expected, head.found);
          return null;
      }
    }
    this.stats.shapes[head.shape]++;
    if (!isKnownEvent(head.system, head.event)) {
      const name = head.system === "" ? head.event : `${head.system}:${head.event}`;
      this.stats.skipped.set(name, (this.stats.skipped.get(name) ?? 0) + 1);
      this.stats.skippedTotal++;
      return null;
    }
    let event: TraceEvent;
    try {
      event = decodeEvent(lineNo, head);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.malformed(lineNo, `${head.event}: ${e.expected}`, e.found);
      return null;
    }
    if (event.timestampNs < this.lastTimestampNs) this.stats.timestampBackwards++;
    this.lastTimestampNs = event.timestampNs;
    this.stats.events.set(event.name, (this.stats.events.get(event.name) ?? 0) + 1);
    this.stats.eventsTotal++;
    return event;
  }

  /** Reads a chunk of text; a line cut at the chunk's end waits for the next chunk. */
  push(chunk: string, sink: EventSink): void {
    let start = 0;
    let nl = chunk.indexOf("\n");
    if (this.overlong) {
      if (nl < 0) return;
      this.overlong = false;
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    } else if (nl < 0) {
      this.partial += chunk;
      if (this.partial.length > MAX_TRACE_LINE) this.tooLong();
      return;
    } else if (this.partial !== "") {
      const ev = this.line(this.partial + chunk.slice(0, nl));
      this.partial = "";
      if (ev !== null) sink(ev);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    while (nl >= 0) {
      const ev = this.line(chunk.slice(start, nl));
      if (ev !== null) sink(ev);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    this.partial = chunk.slice(start);
    if (this.partial.length > MAX_TRACE_LINE) this.tooLong();
  }

  /** The line in `partial` is over the limit: malformed, and the rest of it is skipped. */
  private tooLong(): void {
    const lineNo = ++this.stats.lines;
    this.partial = "";
    this.overlong = true;
    this.malformed(lineNo, `a line of at most ${MAX_TRACE_LINE} characters`, "a longer line");
  }

  /** Reads the last line when the text did not end in a newline. */
  end(sink: EventSink): void {
    this.overlong = false;
    if (this.partial !== "") {
      const ev = this.line(this.partial);
      this.partial = "";
      if (ev !== null) sink(ev);
    }
  }

  private malformed(lineNo: number, expected: string, found: string): void {
    this.stats.malformed++;
    const message = `${this.file}:${lineNo}: expected ${expected}, found ${quote(found)}`;
    if (this.strictInput) throw new InputError(message);
    if (this.diagnostics.length < this.maxDiagnostics) this.diagnostics.push(message);
  }

  private note(lineNo: number, message: string): void {
    if (this.diagnostics.length < this.maxDiagnostics) this.diagnostics.push(`${this.file}:${lineNo}: ${message}`);
  }
}

/** Reads a whole text (tests, small traces) and returns its events in trace order. */
export function readTraceText(
  text: string,
  options: TraceReaderOptions,
): { events: TraceEvent[]; reader: TraceReader } {
  const reader = new TraceReader(options);
  const events: TraceEvent[] = [];
  const sink = (e: TraceEvent) => events.push(e);
  reader.push(text, sink);
  reader.end(sink);
  return { events, reader };
}
