/**
 * The line shapes of the text renderings of a kernel trace, split into the
 * common columns (task, pid, CPU, flags, timestamp, event name) and the
 * event's printed text, which `events.ts` decodes.
 *
 * - `/sys/kernel/tracing/trace` and `trace_pipe` (ftrace's default output):
 *   `TASK-PID [CPU] FLAGS SEC.USEC: EVENT: TEXT`; the flags column (irq-info)
 *   is 4 or 5 characters on current kernels and absent with `noirq-info`,
 *   a `(TGID)` column follows the pid with `record-tgid`.
 * - `trace-cmd report`: `TASK-PID [CPU] SEC.USEC: EVENT: TEXT`, nanoseconds
 *   with `-t`, the event name padded with spaces; a preamble (`version = 6`,
 *   `cpus=2`, `CPU 3 is empty`).
 * - `trace-cmd report -l` (latency format): `TASK-PID CPUFLAGS SEC.USEC: ...`
 *   with the task name cut to 8 characters and the CPU number immediately
 *   followed by the flags, no brackets (`kworker/-10      0d.h1.`).
 * - `perf script`: `COMM PID[/TID] [CPU] SEC.USEC: [PERIOD] SYSTEM:EVENT: TEXT`.
 *
 * The scan is anchored on the timestamp (`SEC.FRACTION:` followed by a space
 * or the line's end), the one column every shape has, and reads the columns
 * before it backwards and the event name after it, by character codes: this
 * is the hottest code of a replay (a million lines a second), so it slices
 * no string and runs no regular expression for an event line. A task name
 * that itself contains `DIGITS.DIGITS: ` is not supported.
 *
 * Timestamps are kept exact: the seconds and the 1 to 9 fraction digits the
 * trace printed become integer nanoseconds (no float arithmetic on the
 * fraction), so `5.996695` is 5_996_695_000 ns.
 */

/** One trace line's common columns; `body` is the event's printed text. */
export interface TraceLineHead {
  comm: string;
  pid: number;
  cpu: number;
  /** The irq-info flags column (`d.h1.`), "" when the rendering has none. */
  flags: string;
  timestampNs: number;
  /** The event system where the line names it (`perf script`: `dma:dma_map_page`), else "". */
  system: string;
  event: string;
  body: string;
  shape: LineShape;
}

/** A blank `TraceLineHead`, for a scan to fill. */
export function newLineHead(): TraceLineHead {
  return { comm: "", pid: 0, cpu: 0, flags: "", timestampNs: 0, system: "", event: "", body: "", shape: "ftrace" };
}

/** `ftrace`: `TASK-PID` (the kernel's text and both trace-cmd reports); `perf`: `COMM PID`. */
export type LineShape = "ftrace" | "perf";

/** What a line is when it is not an event. */
export type NonEventLine =
  | { kind: "blank" }
  | { kind: "comment" }
  | { kind: "preamble" }
  | { kind: "lost"; cpu: number; events: number | null }
  /** A further line of a stack trace an event printed (` => iommu_map`, trace-cmd's `=> iommu_map (ffff...)`, a `perf script -g` frame). */
  | { kind: "frame" }
  /**
   * An event line the kernel prints with no event name: the first line of a
   * stack trace (`<stack trace>`, `<user stack trace>`) or a function
   * tracer's call (`iommu_map <-__iommu_dma_map`); `event` is the name
   * trace-cmd gives the same record (`kernel_stack`, `user_stack`, `function`).
   */
  | { kind: "unnamed"; event: string };

/** A line that is neither an event nor a known non-event line; `expected` names what was looked for. */
export interface LineError {
  kind: "error";
  expected: string;
  found: string;
}

const LOST = /^\s*CPU:\s*(\d+)\s+\[LOST (\d+) EVENTS\]\s*$/;
// trace-cmd prints the count where the ring buffer's page stored it, and none where it only flagged the loss.
const DROPPED = /^\s*CPU:\s*(\d+)\s+\[(?:(\d+) )?EVENTS DROPPED\]\s*$/;
// `perf script --show-lost-events`: the sample columns of the lost record (its CPU's buffer), then what it lost.
const PERF_LOST = /^(?:.*\s)?\[(\d+)\]\s+\d+\.\d+:\s+PERF_RECORD_LOST lost (\d+)\s*$/;
/**
 * Words one of which every loss marker line holds (LOST, DROPPED and
 * PERF_LOST each require one), so content without any has no loss: a
 * reading ahead for losses may skip it (`contentHolds`).
 */
export const LOSS_MARKER_WORDS: readonly string[] = ["LOST", "DROPPED"];
/**
 * The lines after an event that a stack trace adds: the kernel's ` => SYMBOL`
 * (`options/stacktrace`, `trace-cmd record -T`), trace-cmd report's
 * `=> SYMBOL (ADDRESS)`, and `perf script`'s callchain frames (`perf record
 * -g`: a tab, the address in hex padded to 16 columns, the symbol, the object;
 * with `-F +srcline`, each frame's `FILE:LINE` on a line of its own, two
 * spaces in).
 */
const FRAME = /^\s*=> \S|^ *(?: <-)?\t *[0-9a-f]+ \S|^ {2}\S+:\d+\s*$/;
/** The columns of an event line, then a body the kernel prints with no event name. */
const UNNAMED = /\s\d+\.\d+:\s+(?:<(stack trace|user stack trace)>|\S+ <-\S+)\s*$/;
/** The columns of an event line, with a whole number as the timestamp: a trace clock that counts. */
const COUNTED_TIMESTAMP = /\[\d+\]\s+(?:\S+\s+)?\d+:\s+\S+:/;
const PREAMBLE = /^(?:version = \d+|cpus=\d+|CPU \d+ is empty|trace-cmd: .*|\s*#.*)$/;

const NS_PER_S = 1_000_000_000;
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/**
 * Where a timestamp with d fraction digits stops being exact in a double, in
 * nanoseconds: 2^(62 - d). A fraction of d digits makes the count a multiple
 * of 10^(9-d), so of 2^(9-d), and a double holds every such multiple below
 * 2^(53 + 9 - d). With microseconds, as ftrace and `trace-cmd report` print
 * them, that is 2^56 ns (834 days of uptime); with nanoseconds (`report -t`,
 * `perf script --ns`) 2^53 ns (104 days). Below it the sum of the two exact
 * terms is exact too (a correctly rounded result that is representable).
 */
const EXACT_BELOW = POW10.map((_, d) => 2 ** (62 - d));

/** What a line whose timestamp `exactNs` refuses was expected to have. */
export const EXACT_TIMESTAMP =
  "a timestamp SEC.FRACTION a double holds exactly (below 2^56 ns with microseconds, 2^53 ns with nanoseconds)";

/**
 * Exact nanoseconds of a timestamp's seconds and fraction digits (`frac` has
 * `fracDigits` digits), or -1 where they do not fit (see `EXACT_BELOW`). A
 * machine up for months prints timestamps past 2^53 ns; in microseconds they
 * are still exact.
 */
export function exactNs(sec: number, frac: number, fracDigits: number): number {
  if (fracDigits < 1 || fracDigits > 9) return -1;
  // Monotonic rounding: a product or sum that truly reaches the limit rounds to at least it.
  const ns = sec * NS_PER_S + frac * POW10[9 - fracDigits];
  return ns < EXACT_BELOW[fracDigits] ? ns : -1;
}

/** Exact nanoseconds from the printed seconds and fraction digits, or -1 when they do not fit. */
export function timestampToNs(seconds: string, fraction: string): number {
  return exactNs(Number(seconds), Number(fraction), fraction.length);
}

/** `LineScan.scan` found an event line; its columns are in the scan's fields. */
export const SCAN_EVENT = 0;
/** Not an event line (a comment, a preamble, a lost-events marker, or garbage). */
export const SCAN_OTHER = 1;
/** An event line whose timestamp a double does not hold exactly (`exactNs`) or has more than 9 fraction digits. */
export const SCAN_BAD_TIMESTAMP = 2;

/** Slots of the task-name and flags cache (a direct-mapped table: a collision just makes a new string). */
const INTERN_SLOTS = 1024;

const SP = 32;
const TAB = 9;
const COLON = 58;
const DOT = 46;
const DASH = 45;
const SLASH = 47;
const LBRACKET = 91;
const RBRACKET = 93;
const LPAREN = 40;
const RPAREN = 41;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isSpace(c: number): boolean {
  return c === SP || c === TAB;
}

/**
 * The columns of one event line as positions in the text it was scanned in
 * (no strings made): one instance is reused for every line of a trace.
 */
export class LineScan {
  commStart = 0;
  commEnd = 0;
  pid = 0;
  cpu = 0;
  flagsStart = 0;
  flagsEnd = 0;
  timestampNs = 0;
  /** The timestamp's text, for the message when it does not fit. */
  tsStart = 0;
  tsEnd = 0;
  /** -1 when the line names no system. */
  systemStart = -1;
  nameStart = 0;
  nameEnd = 0;
  bodyStart = 0;
  bodyEnd = 0;
  shape: LineShape = "ftrace";

  /** Scans `text[start, end)` (one line, without its newline); returns `SCAN_EVENT`, `SCAN_OTHER` or `SCAN_BAD_TIMESTAMP`. */
  scan(text: string, start: number, end: number): number {
    let c = text.indexOf(":", start);
    while (c >= 0 && c < end) {
      if (c + 1 === end || isSpace(text.charCodeAt(c + 1))) {
        const r = this.scanAt(text, start, end, c);
        if (r !== SCAN_OTHER) return r;
      }
      c = text.indexOf(":", c + 1);
    }
    return SCAN_OTHER;
  }

  /** The line's columns if the colon at `colon` ends its timestamp. */
  private scanAt(text: string, start: number, end: number, colon: number): number {
    // SEC.FRACTION right before the colon, a space (or the line's start) before it.
    let i = colon - 1;
    while (i >= start && isDigit(text.charCodeAt(i))) i--;
    const fracDigits = colon - 1 - i;
    if (fracDigits === 0 || i < start || text.charCodeAt(i) !== DOT) return SCAN_OTHER;
    const dot = i;
    i--;
    let secDigits = 0;
    while (i >= start && isDigit(text.charCodeAt(i))) {
      secDigits++;
      i--;
    }
    if (secDigits === 0 || i < start || !isSpace(text.charCodeAt(i))) return SCAN_OTHER;
    const tsStart = i + 1;
    // The columns before the timestamp, backwards.
    while (i >= start && isSpace(text.charCodeAt(i))) i--;
    if (i < start) return SCAN_OTHER;
    const w1End = i + 1;
    while (i >= start && !isSpace(text.charCodeAt(i))) i--;
    const w1Start = i + 1;
    let cpu: number;
    let flagsStart = w1End;
    const flagsEnd = w1End;
    let bracketed = true;
    let cpuAt = this.bracketedCpu(text, w1Start, w1End);
    if (cpuAt >= 0) {
      cpu = cpuAt;
    } else if (isDigit(text.charCodeAt(w1Start))) {
      // trace-cmd report -l: the CPU number immediately followed by the flags.
      bracketed = false;
      let k = w1Start;
      cpu = 0;
      while (k < w1End && isDigit(text.charCodeAt(k))) {
        cpu = cpu * 10 + text.charCodeAt(k) - 48;
        k++;
      }
      if (k === w1End || k - w1Start > 6) return SCAN_OTHER;
      flagsStart = k;
    } else {
      flagsStart = w1Start;
      while (i >= start && isSpace(text.charCodeAt(i))) i--;
      if (i < start) return SCAN_OTHER;
      const w2End = i + 1;
      while (i >= start && !isSpace(text.charCodeAt(i))) i--;
      cpuAt = this.bracketedCpu(text, i + 1, w2End);
      if (cpuAt < 0) return SCAN_OTHER;
      cpu = cpuAt;
    }
    // Before the CPU column: an optional (TGID) column, then the pid.
    while (i >= start && isSpace(text.charCodeAt(i))) i--;
    if (bracketed && i >= start && text.charCodeAt(i) === RPAREN) {
      while (i >= start && text.charCodeAt(i) !== LPAREN) i--;
      i--;
      while (i >= start && isSpace(text.charCodeAt(i))) i--;
    }
    let pid = 0;
    let mult = 1;
    const pidEnd = i;
    while (i >= start && isDigit(text.charCodeAt(i))) {
      pid += (text.charCodeAt(i) - 48) * mult;
      mult *= 10;
      i--;
    }
    if (i === pidEnd || pidEnd - i > 15) return SCAN_OTHER;
    // Perf prints "comm pid/tid": the pid is then the number before the slash.
    if (i >= start && text.charCodeAt(i) === SLASH && bracketed) {
      const tidEnd = i - 1;
      i--;
      pid = 0;
      mult = 1;
      while (i >= start && isDigit(text.charCodeAt(i))) {
        pid += (text.charCodeAt(i) - 48) * mult;
        mult *= 10;
        i--;
      }
      if (i === tidEnd || tidEnd - i > 15) return SCAN_OTHER;
    }
    if (i < start) return SCAN_OTHER;
    const sep = text.charCodeAt(i);
    let shape: LineShape;
    if (sep === DASH) shape = "ftrace";
    else if (isSpace(sep) && bracketed) shape = "perf";
    else return SCAN_OTHER;
    let cs = start;
    while (cs < i && isSpace(text.charCodeAt(cs))) cs++;
    let ce = i;
    if (shape === "perf") while (ce > cs && isSpace(text.charCodeAt(ce - 1))) ce--;
    // Forwards from the timestamp: [period] [system:]event: body.
    let n = colon + 1;
    while (n < end && isSpace(text.charCodeAt(n))) n++;
    if (n === end) return SCAN_OTHER;
    let nameEnd = this.wordEnd(text, n, end);
    if (text.charCodeAt(nameEnd - 1) !== COLON) {
      if (shape !== "perf") return SCAN_OTHER;
      n = nameEnd;
      while (n < end && isSpace(text.charCodeAt(n))) n++;
      if (n === end) return SCAN_OTHER;
      nameEnd = this.wordEnd(text, n, end);
      if (text.charCodeAt(nameEnd - 1) !== COLON) return SCAN_OTHER;
    }
    nameEnd--;
    let systemStart = -1;
    for (let k = n; k < nameEnd; k++) {
      if (text.charCodeAt(k) === COLON) {
        systemStart = n;
        n = k + 1;
        break;
      }
    }
    if (n === nameEnd) return SCAN_OTHER;
    let b = nameEnd + 1;
    while (b < end && isSpace(text.charCodeAt(b))) b++;
    this.commStart = cs;
    this.commEnd = ce;
    this.pid = pid;
    this.cpu = cpu;
    this.flagsStart = flagsStart;
    this.flagsEnd = flagsEnd;
    this.tsStart = tsStart;
    this.tsEnd = colon;
    this.systemStart = systemStart;
    this.nameStart = n;
    this.nameEnd = nameEnd;
    this.bodyStart = b;
    this.bodyEnd = end;
    this.shape = shape;
    // The timestamp, exact: seconds * 1e9 + the fraction scaled to 9 digits.
    if (fracDigits > 9 || secDigits > 16) return SCAN_BAD_TIMESTAMP;
    let sec = 0;
    for (let k = tsStart; k < dot; k++) sec = sec * 10 + text.charCodeAt(k) - 48;
    let frac = 0;
    for (let k = dot + 1; k < colon; k++) frac = frac * 10 + text.charCodeAt(k) - 48;
    const ns = exactNs(sec, frac, fracDigits);
    if (ns < 0) return SCAN_BAD_TIMESTAMP;
    this.timestampNs = ns;
    return SCAN_EVENT;
  }

  /** The number of a `[digits]` word, else -1. */
  private bracketedCpu(text: string, s: number, e: number): number {
    if (e - s < 3 || e - s > 9 || text.charCodeAt(s) !== LBRACKET || text.charCodeAt(e - 1) !== RBRACKET) return -1;
    let n = 0;
    for (let k = s + 1; k < e - 1; k++) {
      const c = text.charCodeAt(k);
      if (!isDigit(c)) return -1;
      n = n * 10 + c - 48;
    }
    return n;
  }

  private wordEnd(text: string, from: number, end: number): number {
    let k = from;
    while (k < end && !isSpace(text.charCodeAt(k))) k++;
    return k;
  }

  /** The columns of the last `SCAN_EVENT` line of `text` as strings. */
  head(text: string): TraceLineHead {
    return this.fill(
      text,
      newLineHead(),
      this.systemStart < 0 ? "" : text.slice(this.systemStart, this.nameStart - 1),
      text.slice(this.nameStart, this.nameEnd),
    );
  }

  /** Fills `h` (reused line after line by the reader) with the last `SCAN_EVENT` line's columns; `system` and `event` already cut. */
  fill(text: string, h: TraceLineHead, system: string, event: string): TraceLineHead {
    this.fillColumns(text, h, system, event);
    h.body = text.slice(this.bodyStart, this.bodyEnd);
    return h;
  }

  /**
   * `fill` but for the body, left "": the reader reads the commonest events
   * from `text[bodyStart, bodyEnd)` in place and cuts the body only for the others.
   */
  fillColumns(text: string, h: TraceLineHead, system: string, event: string): TraceLineHead {
    h.comm = this.intern(text, this.commStart, this.commEnd);
    h.pid = this.pid;
    h.cpu = this.cpu;
    h.flags = this.intern(text, this.flagsStart, this.flagsEnd);
    h.timestampNs = this.timestampNs;
    h.system = system;
    h.event = event;
    h.body = "";
    h.shape = this.shape;
    return h;
  }

  /** The last `SCAN_EVENT` line's event name (`text[nameStart, nameEnd)`), a string shared with earlier lines. */
  eventName(text: string): string {
    return this.intern(text, this.nameStart, this.nameEnd);
  }

  /**
   * `text[start, end)` as a string shared with earlier lines that had the
   * same characters: task names, flags and event names repeat on nearly
   * every line, and one string each spares the collector a copy per line
   * (and the maps keyed by event name a hash).
   */
  private intern(text: string, start: number, end: number): string {
    if (end - start > 32) return text.slice(start, end);
    let h = end - start;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
    const slot = h & (INTERN_SLOTS - 1);
    const hit = this.interned[slot];
    if (hit !== undefined && hit.length === end - start && text.startsWith(hit, start)) return hit;
    const s = text.slice(start, end);
    this.interned[slot] = s;
    return s;
  }

  private readonly interned: (string | undefined)[] = new Array(INTERN_SLOTS);

  /** What a `SCAN_BAD_TIMESTAMP` line printed as its timestamp. */
  timestampText(text: string): string {
    return text.slice(this.tsStart, this.tsEnd);
  }
}

const SECONDS_TIMESTAMP =
  "a timestamp in seconds (SEC.FRACTION), as the trace clocks local, global, mono, boot and perf print it; a whole number is a clock that counts (counter, uptime, x86-tsc): record again with one of those (trace-cmd record -C mono)";

const EXPECTED_LINE =
  '"TASK-PID [CPU] FLAGS SECONDS: EVENT: ...", "TASK-PID CPUFLAGS SECONDS: EVENT: ..." or "COMM PID [CPU] SECONDS: SYSTEM:EVENT: ..."';

/** What a line that is no event line is (`SCAN_OTHER`), or the error naming what was expected. */
export function nonEventLine(text: string): NonEventLine | LineError {
  if (text.length === 0) return { kind: "blank" };
  if (text.charCodeAt(0) === 35 /* # */) return { kind: "comment" };
  if (text.trim().length === 0) return { kind: "blank" };
  const m = LOST.exec(text) ?? DROPPED.exec(text) ?? PERF_LOST.exec(text);
  if (m !== null) return { kind: "lost", cpu: Number(m[1]), events: m[2] === undefined ? null : Number(m[2]) };
  if (PREAMBLE.test(text)) return { kind: "preamble" };
  if (FRAME.test(text)) return { kind: "frame" };
  const u = UNNAMED.exec(text);
  if (u !== null) {
    const event = u[1] === undefined ? "function" : u[1] === "stack trace" ? "kernel_stack" : "user_stack";
    return { kind: "unnamed", event };
  }
  if (COUNTED_TIMESTAMP.test(text)) return { kind: "error", expected: SECONDS_TIMESTAMP, found: text.trim() };
  return { kind: "error", expected: EXPECTED_LINE, found: text.trim() };
}

const scratch = new LineScan();

/** Splits one line (without its newline); never throws. */
export function parseLine(text: string): TraceLineHead | NonEventLine | LineError {
  if (text.length === 0) return { kind: "blank" };
  if (text.charCodeAt(0) === 35 /* # */) return { kind: "comment" };
  const r = scratch.scan(text, 0, text.length);
  if (r === SCAN_EVENT) return scratch.head(text);
  if (r === SCAN_BAD_TIMESTAMP) {
    return { kind: "error", expected: EXACT_TIMESTAMP, found: scratch.timestampText(text) };
  }
  return nonEventLine(text);
}
