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

import { assert } from "../stdx/assert.ts";
import { InputError, quote } from "../stdx/errors.ts";
import { NR_CPUS_MAX } from "../stdx/nr-cpus.ts";
import { type DatPosition, type DatRecord, reportTimestampNs } from "./dat.ts";
import { DecodeError, decodeEvent, FQ_TIMER_FUNCTION, fastEvent, isKnownEvent, type TraceEvent } from "./events.ts";
import { asciiWord, FAST_EVENT_NAMES, fastBytesEvent, fastEventName, fastName } from "./fast-bytes.ts";
import { functionAddress } from "./kallsyms.ts";
import {
  EXACT_TIMESTAMP,
  LineScan,
  newLineHead,
  nonEventLine,
  SCAN_BAD_TIMESTAMP,
  SCAN_EVENT,
  SCAN_OTHER,
  type TraceLineHead,
} from "./line.ts";
import { ByteLineScan } from "./line-bytes.ts";
import { FAILED_TO_PARSE } from "./unparsed.ts";

const FQ_FUNCTION = `function=${FQ_TIMER_FUNCTION}`;
const GROUP = /groupID=(\d+) device=(\S+)/;
const ATTACH = /device=(\S+)/;
/** Devices whose first attach is remembered. */
const MAX_ATTACHED = 4096;

export interface TraceReaderOptions {
  /** The name used in messages (`trace.txt:12: ...`). */
  file: string;
  /** Stop at the first malformed line (throws `InputError`). */
  strictInput?: boolean;
  /** How many diagnostics to keep (default 100); the count is always exact. */
  maxDiagnostics?: number;
  /**
   * Told of each place the ring buffer lost events, as it is read (it may
   * throw to end the reading there: `cli/replay.ts` replays the trace in
   * spans between such places).
   */
  onLoss?: (loss: TraceLoss) => void;
  /**
   * The address the trace prints for `fq_flush_timeout` where its writer
   * could not read the kernel's symbols (`perf script` or `trace-cmd report`
   * without them print `function=0xffffffff...`): timer events of that
   * function are read as the flush-queue timer's.
   */
  fqTimerFunction?: string;
  /**
   * Names of functions the trace prints as addresses, by address as
   * `functionAddress` writes it (from the kernel's symbol table:
   * `kallsyms.ts`): timer and work events of those functions are read as
   * named (`fq_flush_timeout`, `iova_depot_work_func`).
   */
  functionNames?: ReadonlyMap<string, string>;
}

/**
 * A place where the ring buffer lost events of one CPU (an overrun: the
 * writer lapped the reader): `CPU:N [LOST M EVENTS]` in the kernel's text,
 * `CPU:N [M EVENTS DROPPED]` in trace-cmd's report, a page flagged
 * `RB_MISSED_EVENTS` in a trace.dat. The marker comes before that CPU's first
 * event after the loss; the events lost ran between that CPU's event before
 * the marker and that one.
 */
export interface TraceLoss {
  /** Every event after the loss has a line above this one (a text marker's own line). */
  afterLine: number;
  cpu: number;
  /** Events lost, or null where the trace only says that some were. */
  events: number | null;
}

/**
 * A header's CPU count: the kernel trace file's `#P:N`, trace-cmd report's
 * `cpus=N`, `perf script --header`'s `# nrcpus online : N`.
 */
const HEADER_CPUS = /#P:(\d+)|^cpus=(\d+)$|^# nrcpus online : (\d+)$/;

/** `perf script --header`'s line of the recording kernel's release. */
const HEADER_RELEASE = /^# os release : (\d+\.\d+\S*)\s*$/;

export interface TraceReaderStats {
  lines: number;
  /** Decoded DMA events, by printed event name. */
  events: Map<string, number>;
  eventsTotal: number;
  /** Events this reader does not decode, by name (`sched_switch`, `perf:...`). */
  skipped: Map<string, number>;
  skippedTotal: number;
  /** Header, blank and trace-cmd preamble lines, and the frames of stack traces (counted with their events as skipped). */
  comments: number;
  /**
   * The CPUs the trace's header gives (the kernel's `#P:N`, its
   * `num_online_cpus()`, trace-cmd's `cpus=N`, perf's `nrcpus online`), or
   * 0 where it has none.
   */
  headerCpus: number;
  /**
   * The recording kernel's release (`uname -r`) where the trace names it: a
   * trace.dat's UNAME option, `perf script --header`'s `# os release :` line.
   */
  release: string | null;
  /** The trace clock a trace.dat was recorded with (its TRACECLOCK option's selected one), else null. */
  clock: string | null;
  malformed: number;
  /** Events the ring buffer lost (`CPU:N [LOST M EVENTS]`), as far as the markers count them. */
  lostEvents: number;
  /** Places where the ring buffer lost events (`TraceLoss`); the trace is incomplete when non-zero. */
  losses: number;
  /** Lines whose timestamp is below the previous event's: the trace is not in time order there. */
  timestampBackwards: number;
  /** Event lines per rendering, to tell which reader applied. */
  shapes: { ftrace: number; perf: number; dat: number };
  /**
   * Event lines trace-cmd could not format (`[FAILED TO PARSE]` and the raw
   * fields, e.g. 6.12's `dma_map_sg` in trace-cmd 3.1): decoded from those
   * fields where they give the event, skipped otherwise; never malformed.
   */
  unparsedLines: number;
  /** `timer_start` / `timer_expire_entry` lines of the flush-queue timer (`function=fq_flush_timeout`): the trace is lazy. */
  fqTimerEvents: number;
  /** IOMMU groups of devices, from `iommu:add_device_to_group` (`groupID=N device=BDF`). */
  deviceGroups: Map<string, string>;
  /**
   * Each device's first `iommu:attach_device_to_domain`, as the number of
   * events decoded before it: a group's boot-time direct mappings are made
   * just before its devices attach to the default domain, so they tell a
   * direct map's group (`cli/replay-defaults.ts`).
   */
  deviceAttached: Map<string, number>;
}

/** What a reader has read so far (`TraceReader.snapshot`). */
export interface TraceReaderState {
  readonly counts: TraceReaderStats;
  readonly diagnostics: readonly string[];
  readonly lastTimestampNs: number;
}

function copyStats(c: TraceReaderStats): TraceReaderStats {
  return {
    ...c,
    events: new Map(c.events),
    skipped: new Map(c.skipped),
    shapes: { ...c.shapes },
    deviceGroups: new Map(c.deviceGroups),
    deviceAttached: new Map(c.deviceAttached),
  };
}

/** A timer event of the dma-iommu flush queue's timer (`function=fq_flush_timeout` in `text[start, end)`). */
function isFqTimer(text: string, start: number, end: number): boolean {
  const at = text.indexOf(FQ_FUNCTION, start);
  if (at < 0 || at + FQ_FUNCTION.length > end) return false;
  const after = at + FQ_FUNCTION.length;
  return after === end || text.charCodeAt(after) === 32;
}

export type EventSink = (event: TraceEvent) => void;

/**
 * Lines longer than this many bytes are read as text (a real event line is a
 * few hundred bytes; the text reader applies the line limit).
 */
const MAX_BYTE_LINE = 4096;

/** Decodes the lines the byte reading leaves to the text reading, as Node decodes a file's UTF-8 (a BOM kept). */
const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

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
  /** `TraceReaderOptions.functionNames` and `fqTimerFunction` together, null without either. */
  private readonly functionNames: ReadonlyMap<string, string> | null;
  /** The counts as they are kept while reading: `stats` adds the fast events' counts to `events`. */
  private readonly counts: TraceReaderStats = {
    lines: 0,
    events: new Map(),
    eventsTotal: 0,
    skipped: new Map(),
    skippedTotal: 0,
    comments: 0,
    headerCpus: 0,
    release: null,
    clock: null,
    malformed: 0,
    lostEvents: 0,
    losses: 0,
    timestampBackwards: 0,
    shapes: { ftrace: 0, perf: 0, dat: 0 },
    unparsedLines: 0,
    fqTimerEvents: 0,
    deviceGroups: new Map(),
    deviceAttached: new Map(),
  };
  /**
   * Events read from the bytes, by their index in `fast-bytes.ts`'s names,
   * not yet added to `counts.events` (a map update per event cost a tenth
   * of the reading); `inEvents` says the name has its place in the map's
   * order, which is the order names were first read.
   */
  private readonly fastCounts = new Float64Array(FAST_EVENT_NAMES);
  private readonly inEvents = new Uint8Array(FAST_EVENT_NAMES);

  /** The reader's counts so far. */
  get stats(): TraceReaderStats {
    const events = this.counts.events;
    for (let k = 0; k < FAST_EVENT_NAMES; k++) {
      if (this.fastCounts[k] === 0) continue;
      const name = fastEventName(k);
      events.set(name, (events.get(name) ?? 0) + this.fastCounts[k]);
      this.fastCounts[k] = 0;
    }
    return this.counts;
  }

  /** `FILE:LINE: ...` messages: malformed lines and lost-event markers, the first `maxDiagnostics`. */
  readonly diagnostics: string[] = [];
  private partial = "";
  /** Inside a line longer than MAX_TRACE_LINE: its characters are dropped up to its newline. */
  private overlong = false;
  private readonly scan = new LineScan();
  private readonly byteScan = new ByteLineScan();
  /** The columns of the line being decoded (the decoders copy what they keep). */
  private readonly head: TraceLineHead = newLineHead();
  private lastTimestampNs = -1;

  /**
   * Where the chunk `byteLines` reads starts in the trace's content (-1:
   * unknown, as for text), and the end of the line it reads in that chunk:
   * `offsetAfterLine` for a reading that will begin after this line.
   */
  private chunkOffset = -1;
  private lineEnd = 0;

  /** Told of each loss as it is read (`TraceReaderOptions.onLoss`); set before the reading begins. */
  onLoss: ((loss: TraceLoss) => void) | undefined;

  /**
   * While a trace.dat's reading tells of a loss (`onLoss`): where that
   * reading is, for a later one to begin there (`DatPosition`); null
   * otherwise. A text's is `offsetAfterLine`.
   */
  datPosition: (() => DatPosition) | null = null;

  constructor(options: TraceReaderOptions) {
    this.onLoss = options.onLoss;
    this.file = options.file;
    this.strictInput = options.strictInput ?? false;
    this.maxDiagnostics = options.maxDiagnostics ?? 100;
    const names = new Map(options.functionNames);
    if (options.fqTimerFunction !== undefined) names.set(functionAddress(options.fqTimerFunction), FQ_TIMER_FUNCTION);
    this.functionNames = names.size > 0 ? names : null;
  }

  /** Reads one line (without its newline) and returns its event, or null for any other line. */
  line(text: string): TraceEvent | null {
    return this.lineAt(text, 0, text.length);
  }

  /** Reads the line `text[start, end)` (without its newline). */
  private lineAt(text: string, start: number, end: number): TraceEvent | null {
    const lineNo = ++this.counts.lines;
    if (end - start > MAX_TRACE_LINE) {
      this.lineTooLong(lineNo);
      return null;
    }
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    const scan = this.scan;
    const r = start === end ? SCAN_OTHER : scan.scan(text, start, end);
    if (r !== SCAN_EVENT) {
      if (r === SCAN_BAD_TIMESTAMP) {
        this.malformed(lineNo, EXACT_TIMESTAMP, scan.timestampText(text));
        return null;
      }
      const other = nonEventLine(text.slice(start, end));
      switch (other.kind) {
        case "blank":
          this.counts.comments++;
          return null;
        case "comment":
        case "preamble":
          this.counts.comments++;
          if (this.counts.headerCpus === 0) this.headerCpus(lineNo, text, start, end);
          if (this.counts.release === null) this.headerRelease(text, start, end);
          return null;
        case "lost":
          if (other.cpu < NR_CPUS_MAX) this.lost({ afterLine: lineNo, cpu: other.cpu, events: other.events }, lineNo);
          else this.malformed(lineNo, `a CPU below ${NR_CPUS_MAX} (NR_CPUS at most)`, text.slice(start, end));
          return null;
        case "frame":
          this.counts.comments++;
          return null;
        case "unnamed":
          this.known("", other.event);
          return null;
        case "error":
          this.malformed(lineNo, other.expected, other.found);
          return null;
      }
    }
    this.counts.shapes[scan.shape]++;
    const system = scan.systemStart < 0 ? "" : text.slice(scan.systemStart, scan.nameStart - 1);
    const name = scan.eventName(text);
    return this.event(lineNo, scan.fillColumns(text, this.head, system, name), text, scan.bodyStart, scan.bodyEnd);
  }

  /**
   * The event of an event line whose columns are in `head` (the body left
   * "") and whose text is `text[bs, be)`: counted, skipped or decoded.
   */
  private event(lineNo: number, head: TraceLineHead, text: string, bs: number, be: number): TraceEvent | null {
    const name = head.event;
    const unparsed = text.startsWith(FAILED_TO_PARSE, bs);
    if (unparsed) this.counts.unparsedLines++;
    if ((name === "timer_start" || name === "timer_expire_entry") && isFqTimer(text, bs, be)) {
      this.counts.fqTimerEvents++;
    }
    if (name === "add_device_to_group") this.deviceGroup(text.slice(bs, be));
    else if (name === "attach_device_to_domain") this.deviceAttach(text.slice(bs, be));
    if (!this.known(head.system, name)) return null;
    if (!unparsed) {
      const fast = fastEvent(lineNo, head, text, bs, be);
      if (fast !== null) return this.counted(fast);
    }
    head.body = be - bs === text.length ? text : text.slice(bs, be);
    return this.decoded(lineNo, head, unparsed);
  }

  /**
   * Reads one record of a binary trace (`dat.ts`): the same counting and
   * decoding as a text line with those columns; its number stands for the line.
   */
  record(r: DatRecord): TraceEvent | null {
    const lineNo = ++this.counts.lines;
    this.counts.shapes.dat++;
    if ((r.event === "timer_start" || r.event === "timer_expire_entry") && isFqTimer(r.body, 0, r.body.length)) {
      this.counts.fqTimerEvents++;
    }
    if (r.event === "add_device_to_group") this.deviceGroup(r.body);
    else if (r.event === "attach_device_to_domain") this.deviceAttach(r.body);
    // As `trace-cmd report` prints it: the event name alone (the names do not
    // collide) and the time in microseconds (`reportTimestampNs`).
    if (!this.known("", r.event)) return null;
    const timestampNs = reportTimestampNs(r.timestampNs);
    return this.decoded(lineNo, { ...r, timestampNs, system: "", shape: "ftrace" }, false);
  }

  /** The number the next line or record gets. */
  nextLine(): number {
    return this.counts.lines + 1;
  }

  /**
   * Counts a record of a binary trace that `dat-events.ts` decoded straight
   * from its fields (numbered `nextLine()`): as `record` counts the text of
   * the same record, whose event it is.
   */
  recordEvent(event: TraceEvent): TraceEvent {
    assert(event.line === this.counts.lines + 1, "a decoded record numbered as the next line");
    this.counts.lines++;
    this.counts.shapes.dat++;
    if ((event.type === "timer_start" || event.type === "timer_expire_entry") && event.function === FQ_TIMER_FUNCTION) {
      this.counts.fqTimerEvents++;
    }
    // A trace.dat's CPUs were checked where its header lists their buffers (`dat.ts`).
    return this.tallied(event);
  }

  private deviceGroup(body: string): void {
    const m = GROUP.exec(body);
    if (m !== null) this.counts.deviceGroups.set(m[2], m[1]);
  }

  private deviceAttach(body: string): void {
    const m = ATTACH.exec(body);
    const seen = this.counts.deviceAttached;
    // Only the first attach counts; the cap keeps a long trace's memory constant.
    if (m !== null && !seen.has(m[1]) && seen.size < MAX_ATTACHED) seen.set(m[1], this.counts.eventsTotal);
  }

  /** Whether the event is one `events.ts` decodes; others are counted by name. */
  private known(system: string, name: string): boolean {
    if (isKnownEvent(system, name)) return true;
    const key = system === "" ? name : `${system}:${name}`;
    this.counts.skipped.set(key, (this.counts.skipped.get(key) ?? 0) + 1);
    this.counts.skippedTotal++;
    return false;
  }

  private decoded(lineNo: number, head: TraceLineHead, unparsed: boolean): TraceEvent | null {
    let event: TraceEvent;
    try {
      event = decodeEvent(lineNo, head);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      // What trace-cmd could not format is no malformed line: the raw fields it
      // printed instead are used where they decode, the line skipped otherwise.
      if (unparsed) return null;
      this.malformed(lineNo, `${head.event}: ${e.expected}`, e.found);
      return null;
    }
    return this.counted(event);
  }

  /** Counts an event read from the bytes, `which` of the names `fast-bytes.ts` reads. */
  private countedFast(event: TraceEvent, which: number): TraceEvent | null {
    if (event.cpu >= NR_CPUS_MAX) return this.noSuchCpu(event);
    if (event.timestampNs < this.lastTimestampNs) this.counts.timestampBackwards++;
    this.lastTimestampNs = event.timestampNs;
    if (this.inEvents[which] === 0) {
      this.inEvents[which] = 1;
      if (!this.counts.events.has(event.name)) this.counts.events.set(event.name, 0);
    }
    this.fastCounts[which]++;
    this.counts.eventsTotal++;
    return event;
  }

  /** Counts a decoded event of a text line. */
  private counted(event: TraceEvent): TraceEvent | null {
    return event.cpu >= NR_CPUS_MAX ? this.noSuchCpu(event) : this.tallied(event);
  }

  /**
   * An event line whose CPU no kernel has: a corrupt line, not a machine of
   * that many CPUs to build (its per-CPU state would exhaust memory).
   */
  private noSuchCpu(event: TraceEvent): null {
    this.malformed(event.line, `a CPU below ${NR_CPUS_MAX} (NR_CPUS at most)`, `CPU ${event.cpu}`);
    return null;
  }

  /** Counts an event. */
  private tallied(event: TraceEvent): TraceEvent {
    if (
      this.functionNames !== null &&
      (event.type === "timer_start" || event.type === "timer_expire_entry" || event.type === "workqueue_execute") &&
      event.function.startsWith("0x")
    ) {
      const named = this.functionNames.get(functionAddress(event.function));
      if (named !== undefined) {
        // Named as the kernel's symbols would have named it; counted here, as the name is where the text is read.
        event.function = named;
        if (named === FQ_TIMER_FUNCTION && event.type !== "workqueue_execute") this.counts.fqTimerEvents++;
      }
    }
    if (event.timestampNs < this.lastTimestampNs) this.counts.timestampBackwards++;
    this.lastTimestampNs = event.timestampNs;
    this.counts.events.set(event.name, (this.counts.events.get(event.name) ?? 0) + 1);
    this.counts.eventsTotal++;
    return event;
  }

  /**
   * Reads a chunk of the trace's bytes (UTF-8) that starts at a line's start
   * (or goes on with the text `push` left waiting). The commonest event lines
   * are read from the bytes (`fast-bytes.ts`); any other line is decoded and
   * read as text, so the events, counts and messages are those `push` gives
   * for the same text. A line cut at the chunk's end waits for the next chunk.
   */
  pushBytes(chunk: Uint8Array, sink: EventSink, offset = -1): void {
    if (this.partial !== "" || this.overlong) {
      this.push(UTF8.decode(chunk), sink);
      return;
    }
    this.chunkOffset = offset;
    const start = this.byteLines(chunk, sink);
    if (start < chunk.length) this.push(UTF8.decode(chunk.subarray(start)), sink);
  }

  /**
   * Where the line just read ends in the trace's content (its newline
   * included), when it came from a chunk `pushBytes` was told the offset of
   * and no line is pending; else -1. A reading begun there with this
   * reader's `snapshot` goes on as this one does.
   */
  offsetAfterLine(): number {
    return this.chunkOffset < 0 || this.partial !== "" || this.overlong ? -1 : this.chunkOffset + this.lineEnd;
  }

  /** The reader's counts, messages and clock as they are now, for `restore` (a copy). */
  snapshot(): TraceReaderState {
    return { counts: copyStats(this.stats), diagnostics: [...this.diagnostics], lastTimestampNs: this.lastTimestampNs };
  }

  /**
   * Puts back a `snapshot`, as if the lines it was taken after had just been
   * read (the next line is numbered after them); the snapshot stays as it was.
   */
  restore(state: TraceReaderState): void {
    Object.assign(this.counts, copyStats(state.counts));
    this.fastCounts.fill(0);
    for (let k = 0; k < FAST_EVENT_NAMES; k++) this.inEvents[k] = this.counts.events.has(fastEventName(k)) ? 1 : 0;
    this.diagnostics.length = 0;
    this.diagnostics.push(...state.diagnostics);
    this.lastTimestampNs = state.lastTimestampNs;
    this.partial = "";
    this.overlong = false;
    this.chunkOffset = -1;
  }

  /** The whole lines of a byte chunk; returns where the rest begins (see `lines` for why a method of its own). */
  private byteLines(chunk: Uint8Array, sink: EventSink): number {
    let start = 0;
    let nl = chunk.indexOf(10);
    while (nl >= 0) {
      this.lineEnd = nl + 1;
      const ev = this.byteLine(chunk, start, nl);
      if (ev !== null) sink(ev);
      start = nl + 1;
      nl = chunk.indexOf(10, start);
    }
    return start;
  }

  /** Reads the line `b[start, end)` (without its newline): from the bytes where `fast-bytes.ts` takes it, else as text. */
  private byteLine(b: Uint8Array, start: number, end: number): TraceEvent | null {
    let e = end;
    if (e > start && b[e - 1] === 13) e--;
    const scan = this.byteScan;
    if (e - start <= MAX_BYTE_LINE && scan.scan(b, start, e) === SCAN_EVENT) {
      // The task and flags words of a line that starts as a kept head are the head's.
      const head = scan.head;
      let comm: string | null;
      let flags: string | null;
      if (scan.repeat && head !== null) {
        comm = head.comm;
        flags = head.flags;
      } else {
        comm = asciiWord(b, scan.commStart, scan.commEnd);
        flags = asciiWord(b, scan.flagsStart, scan.flagsEnd);
        if (head !== null) {
          head.comm = comm;
          head.flags = flags;
        }
      }
      if (comm !== null && flags !== null) {
        const which = scan.systemStart < 0 ? fastName(b, scan.nameStart, scan.nameEnd) : -1;
        if (which >= 0) {
          const ev = fastBytesEvent(this.counts.lines + 1, which, scan, b, comm, flags);
          if (ev !== null) {
            this.counts.lines++;
            if (scan.ftrace) this.counts.shapes.ftrace++;
            else this.counts.shapes.perf++;
            return this.countedFast(ev, which);
          }
        }
        // Any other event line: its columns from the bytes, its body decoded (the line scan of text is not needed).
        const name = asciiWord(b, scan.nameStart, scan.nameEnd);
        const system = scan.systemStart < 0 ? "" : asciiWord(b, scan.systemStart, scan.nameStart - 1);
        if (name !== null && system !== null) {
          const lineNo = ++this.counts.lines;
          if (scan.ftrace) this.counts.shapes.ftrace++;
          else this.counts.shapes.perf++;
          const h = this.head;
          h.comm = comm;
          h.pid = scan.pid;
          h.cpu = scan.cpu;
          h.flags = flags;
          h.timestampNs = scan.timestampNs;
          h.system = system;
          h.event = name;
          h.body = "";
          h.shape = scan.ftrace ? "ftrace" : "perf";
          const body = UTF8.decode(b.subarray(scan.bodyStart, scan.bodyEnd));
          return this.event(lineNo, h, body, 0, body.length);
        }
      }
    }
    const text = UTF8.decode(b.subarray(start, end));
    return this.lineAt(text, 0, text.length);
  }

  /** Reads a chunk of text; a line cut at the chunk's end waits for the next chunk. */
  push(chunk: string, sink: EventSink): void {
    this.chunkOffset = -1;
    const length = chunk.length;
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
      const text = this.partial + chunk.slice(0, nl);
      this.partial = "";
      const ev = this.lineAt(text, 0, text.length);
      if (ev !== null) sink(ev);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    if (nl >= 0) start = this.lines(chunk, start, nl, sink);
    this.partial = start < length ? chunk.slice(start) : "";
    if (this.partial.length > MAX_TRACE_LINE) this.tooLong();
  }

  /**
   * The whole lines of a chunk from `start` (the first ends at `nl`);
   * returns where the rest begins. A method of its own so that nothing runs
   * after its loop: V8 optimises the loop while it runs, and code first
   * reached after it has no type feedback and would throw the optimised code
   * away at the end of every chunk.
   */
  private lines(chunk: string, start: number, nl: number, sink: EventSink): number {
    while (nl >= 0) {
      const ev = this.lineAt(chunk, start, nl);
      if (ev !== null) sink(ev);
      start = nl + 1;
      nl = chunk.indexOf("\n", start);
    }
    return start;
  }

  /** The line in `partial` is over the limit: malformed, and the rest of it is skipped. */
  private tooLong(): void {
    const lineNo = ++this.counts.lines;
    this.partial = "";
    this.overlong = true;
    this.lineTooLong(lineNo);
  }

  private lineTooLong(lineNo: number): void {
    this.malformed(lineNo, `a line of at most ${MAX_TRACE_LINE} characters`, "a longer line");
  }

  /** Reads the last line when the text did not end in a newline. */
  end(sink: EventSink): void {
    this.overlong = false;
    if (this.partial !== "") {
      const text = this.partial;
      this.partial = "";
      const ev = this.lineAt(text, 0, text.length);
      if (ev !== null) sink(ev);
    }
  }

  /** The CPU count of a binary trace's header (`dat.ts`), as a text header's line gives it. */
  headerCpusAre(n: number): void {
    if (this.counts.headerCpus === 0) this.counts.headerCpus = n;
  }

  /** The kernel release a binary trace's options give (`dat.ts`). */
  releaseIs(release: string): void {
    this.counts.release = release;
  }

  /** The trace clock a binary trace's options give (`dat.ts`). */
  clockIs(clock: string): void {
    this.counts.clock = clock;
  }

  /** Reads the CPU count of a header line (`#P:N`, `cpus=N`, perf's `# nrcpus online : N`); the first one counts. */
  private headerCpus(lineNo: number, text: string, start: number, end: number): void {
    const m = HEADER_CPUS.exec(text.slice(start, end));
    if (m === null) return;
    const n = Number(m[1] ?? m[2] ?? m[3]);
    if (n <= NR_CPUS_MAX) this.counts.headerCpus = n;
    else this.malformed(lineNo, `a CPU count of at most ${NR_CPUS_MAX} (NR_CPUS at most)`, m[0]);
  }

  /** Reads the kernel release of a header line (`# os release : 6.1.0-56-amd64`). */
  private headerRelease(text: string, start: number, end: number): void {
    if (text.charCodeAt(start) !== 35 /* # */) return;
    const m = HEADER_RELEASE.exec(text.slice(start, end));
    if (m !== null) this.counts.release = m[1];
  }

  private malformed(lineNo: number, expected: string, found: string): void {
    this.counts.malformed++;
    const message = `${this.file}:${lineNo}: expected ${expected}, found ${quote(found)}`;
    if (this.strictInput) throw new InputError(message);
    if (this.diagnostics.length < this.maxDiagnostics) this.diagnostics.push(message);
  }

  /**
   * The ring buffer lost events at `loss`; the marker is at `lineNo` (a
   * text line), or the next record is (a trace.dat page flagged so).
   */
  lost(loss: TraceLoss, lineNo = this.counts.lines + 1): void {
    this.counts.losses++;
    if (loss.events !== null) this.counts.lostEvents += loss.events;
    const n = loss.events === null ? "some" : `${loss.events}`;
    this.note(lineNo, `CPU ${loss.cpu} lost ${n} events: the trace is incomplete from here`);
    this.onLoss?.(loss);
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
