/**
 * The line scan of `line.ts` on the trace's bytes (UTF-8, as read from the
 * file) instead of a decoded string: the same columns, found by the same
 * steps, as byte offsets. A replay reads nearly every line this way, and
 * reading bytes is both quicker than reading a string's characters and far
 * cheaper for the JIT to compile (a string's character access is compiled
 * for every kind of string V8 has; a byte is one load).
 *
 * The structure characters (space, tab, digits, `[`, `]`, `:`, `.`, `-`,
 * `/`, `(`, `)`) are ASCII, and no byte of a multi-byte UTF-8 character is
 * ASCII, so the columns found are those the string scan finds. Making
 * strings of them is the caller's business (`reader.ts` makes them only
 * from ASCII bytes and leaves any other line to the string reader).
 *
 * Consecutive lines are mostly one task's on one CPU (87% of a 6.12 lazy
 * trace's event lines start with the bytes the event line before them
 * started with, up to the timestamp, and 91% with those of one of the last
 * two such heads): the scan keeps the last two heads and their columns, and
 * of a line that starts with one of them reads only the rest.
 */

import { exactNs, SCAN_BAD_TIMESTAMP, SCAN_EVENT, SCAN_OTHER } from "./line.ts";

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
/** The longest head (the bytes before the timestamp) kept for the next line; real ones are under 60. */
const MAX_HEAD = 128;

/** A view of the chunk being read, for reading four bytes at once; remade when the chunk changes. */
let viewOf: Uint8Array | null = null;
let view: DataView = new DataView(new ArrayBuffer(0));

/** A view of `b`'s bytes (the one made for the last chunk while the chunk is the same). */
export function viewFor(b: Uint8Array): DataView {
  if (viewOf !== b) {
    viewOf = b;
    view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  return view;
}

/**
 * Whether `b` holds, at `at`, the first `n` bytes of `held` (whose `view`
 * is over its `bytes`): four bytes a comparison, then the rest one by one.
 * The caller checks that `b` has `n` bytes from `at`.
 */
export function heldAt(b: Uint8Array, at: number, held: { bytes: Uint8Array; view: DataView }, n: number): boolean {
  const v = viewFor(b);
  const hv = held.view;
  let i = 0;
  for (; i + 4 <= n; i += 4) if (v.getUint32(at + i) !== hv.getUint32(i)) return false;
  const bytes = held.bytes;
  for (; i < n; i++) if (b[at + i] !== bytes[i]) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isSpace(c: number): boolean {
  return c === SP || c === TAB;
}

/**
 * The bytes before an event line's timestamp, their columns (from the
 * line's start), and the task and flags strings the reader made of them.
 */
export class LineHead {
  readonly bytes = new Uint8Array(MAX_HEAD);
  readonly view = new DataView(this.bytes.buffer);
  /** -1: none kept. */
  length = -1;
  commStart = 0;
  commEnd = 0;
  flagsStart = 0;
  flagsEnd = 0;
  pid = 0;
  cpu = 0;
  ftrace = true;
  /** Set by the reader (null: not ASCII, or not made yet). */
  comm: string | null = null;
  flags: string | null = null;
}

/** The columns of one event line as byte offsets; one instance is reused for every line. */
export class ByteLineScan {
  commStart = 0;
  commEnd = 0;
  pid = 0;
  cpu = 0;
  flagsStart = 0;
  flagsEnd = 0;
  timestampNs = 0;
  /** -1 when the line names no system. */
  systemStart = -1;
  nameStart = 0;
  nameEnd = 0;
  bodyStart = 0;
  bodyEnd = 0;
  /** `TASK-PID` (true) or perf's `COMM PID` (false). */
  ftrace = true;
  /** Where the timestamp starts. */
  tsStart = 0;

  /**
   * Whether the columns before the timestamp (task, pid, CPU, flags) are
   * those of an earlier event line (`head`): its bytes up to the timestamp
   * were the same, so the reader may keep the strings it made of them.
   */
  repeat = false;
  /** The kept head the line starts with, or the one its head was just kept as (null: not kept). */
  head: LineHead | null = null;
  /** The two heads kept: the last one matched or kept, and the one before it. */
  private recent = new LineHead();
  private older = new LineHead();

  /** Scans `b[start, end)` (one line, without its newline); returns `SCAN_EVENT`, `SCAN_OTHER` or `SCAN_BAD_TIMESTAMP`. */
  scan(b: Uint8Array, start: number, end: number): number {
    const recent = this.recent;
    if (this.fromHead(b, start, end, recent)) {
      this.repeat = true;
      this.head = recent;
      return SCAN_EVENT;
    }
    const older = this.older;
    if (this.fromHead(b, start, end, older)) {
      this.recent = older;
      this.older = recent;
      this.repeat = true;
      this.head = older;
      return SCAN_EVENT;
    }
    this.repeat = false;
    let c = b.indexOf(COLON, start);
    while (c >= 0 && c < end) {
      if (c + 1 === end || isSpace(b[c + 1])) {
        const r = this.scanAt(b, start, end, c);
        if (r === SCAN_EVENT) {
          // Kept in place of the older head.
          if (this.keepHead(b, start, older)) {
            this.recent = older;
            this.older = recent;
            this.head = older;
          } else this.head = null;
        }
        if (r !== SCAN_OTHER) return r;
      }
      c = b.indexOf(COLON, c + 1);
    }
    return SCAN_OTHER;
  }

  /** Whether the line starts with `h`'s bytes and the rest reads after them (`scanAfterHead`). */
  private fromHead(b: Uint8Array, start: number, end: number, h: LineHead): boolean {
    const n = h.length;
    if (n <= 0 || end - start <= n || !heldAt(b, start, h, n)) return false;
    return this.scanAfterHead(b, start, end, start + n, h);
  }

  /**
   * Keeps the bytes before the timestamp of the event line just scanned
   * (`tsStart`) in `h`, when a line that starts with them is sure to scan to
   * the same columns: none of them is a colon before a blank, so the first
   * colon `scan` tries in such a line is its timestamp's, and `scanAt`'s
   * walk back from it reads only these bytes. False when not kept.
   */
  private keepHead(b: Uint8Array, start: number, h: LineHead): boolean {
    const n = this.tsStart - start;
    h.length = -1;
    if (n > MAX_HEAD) return false;
    for (let i = start; i + 1 < this.tsStart; i++) if (b[i] === COLON && isSpace(b[i + 1])) return false;
    for (let i = 0; i < n; i++) h.bytes[i] = b[start + i];
    h.length = n;
    h.commStart = this.commStart - start;
    h.commEnd = this.commEnd - start;
    h.flagsStart = this.flagsStart - start;
    h.flagsEnd = this.flagsEnd - start;
    h.pid = this.pid;
    h.cpu = this.cpu;
    h.ftrace = this.ftrace;
    h.comm = null;
    h.flags = null;
    return true;
  }

  /**
   * The rest of a line that starts with the kept head: its timestamp at
   * `ts` (`SEC.FRACTION:` then a blank or the end) and what follows, as
   * `scanAt` reads them. False for anything else (a long or missing
   * timestamp, no event name): the full scan then says what the line is.
   */
  private scanAfterHead(b: Uint8Array, start: number, end: number, ts: number, h: LineHead): boolean {
    let i = ts;
    let sec = 0;
    while (i < end && isDigit(b[i])) sec = sec * 10 + b[i++] - 48;
    const secDigits = i - ts;
    if (secDigits === 0 || secDigits > 16 || i === end || b[i] !== DOT) return false;
    const dot = i++;
    let frac = 0;
    while (i < end && isDigit(b[i])) frac = frac * 10 + b[i++] - 48;
    const fracDigits = i - dot - 1;
    if (fracDigits === 0 || fracDigits > 9 || i === end || b[i] !== COLON) return false;
    const colon = i;
    if (colon + 1 < end && !isSpace(b[colon + 1])) return false;
    const ns = exactNs(sec, frac, fracDigits);
    if (ns < 0) return false;
    if (!this.scanName(b, colon, end, h.ftrace)) return false;
    this.commStart = start + h.commStart;
    this.commEnd = start + h.commEnd;
    this.flagsStart = start + h.flagsStart;
    this.flagsEnd = start + h.flagsEnd;
    this.pid = h.pid;
    this.cpu = h.cpu;
    this.ftrace = h.ftrace;
    this.tsStart = ts;
    this.timestampNs = ns;
    return true;
  }

  /** The event name after the timestamp's colon and where the body starts (`scanAt`'s last steps); false when there is none. */
  private scanName(b: Uint8Array, colon: number, end: number, ftrace: boolean): boolean {
    let n = colon + 1;
    while (n < end && isSpace(b[n])) n++;
    if (n === end) return false;
    let nameEnd = wordEnd(b, n, end);
    if (b[nameEnd - 1] !== COLON) {
      if (ftrace) return false;
      n = nameEnd;
      while (n < end && isSpace(b[n])) n++;
      if (n === end) return false;
      nameEnd = wordEnd(b, n, end);
      if (b[nameEnd - 1] !== COLON) return false;
    }
    nameEnd--;
    let systemStart = -1;
    for (let k = n; k < nameEnd; k++) {
      if (b[k] === COLON) {
        systemStart = n;
        n = k + 1;
        break;
      }
    }
    if (n === nameEnd) return false;
    let body = nameEnd + 1;
    while (body < end && isSpace(b[body])) body++;
    this.systemStart = systemStart;
    this.nameStart = n;
    this.nameEnd = nameEnd;
    this.bodyStart = body;
    this.bodyEnd = end;
    return true;
  }

  /** The line's columns if the colon at `colon` ends its timestamp (`LineScan.scanAt`, step for step). */
  private scanAt(b: Uint8Array, start: number, end: number, colon: number): number {
    let i = colon - 1;
    while (i >= start && isDigit(b[i])) i--;
    const fracDigits = colon - 1 - i;
    if (fracDigits === 0 || i < start || b[i] !== DOT) return SCAN_OTHER;
    const dot = i;
    i--;
    let secDigits = 0;
    while (i >= start && isDigit(b[i])) {
      secDigits++;
      i--;
    }
    if (secDigits === 0 || i < start || !isSpace(b[i])) return SCAN_OTHER;
    const tsStart = i + 1;
    while (i >= start && isSpace(b[i])) i--;
    if (i < start) return SCAN_OTHER;
    const w1End = i + 1;
    while (i >= start && !isSpace(b[i])) i--;
    const w1Start = i + 1;
    let cpu: number;
    let flagsStart = w1End;
    const flagsEnd = w1End;
    let bracketed = true;
    let cpuAt = bracketedCpu(b, w1Start, w1End);
    if (cpuAt >= 0) {
      cpu = cpuAt;
    } else if (isDigit(b[w1Start])) {
      bracketed = false;
      let k = w1Start;
      cpu = 0;
      while (k < w1End && isDigit(b[k])) {
        cpu = cpu * 10 + b[k] - 48;
        k++;
      }
      if (k === w1End || k - w1Start > 6) return SCAN_OTHER;
      flagsStart = k;
    } else {
      flagsStart = w1Start;
      while (i >= start && isSpace(b[i])) i--;
      if (i < start) return SCAN_OTHER;
      const w2End = i + 1;
      while (i >= start && !isSpace(b[i])) i--;
      cpuAt = bracketedCpu(b, i + 1, w2End);
      if (cpuAt < 0) return SCAN_OTHER;
      cpu = cpuAt;
    }
    while (i >= start && isSpace(b[i])) i--;
    if (bracketed && i >= start && b[i] === RPAREN) {
      while (i >= start && b[i] !== LPAREN) i--;
      i--;
      while (i >= start && isSpace(b[i])) i--;
    }
    let pid = 0;
    let mult = 1;
    const pidEnd = i;
    while (i >= start && isDigit(b[i])) {
      pid += (b[i] - 48) * mult;
      mult *= 10;
      i--;
    }
    if (i === pidEnd || pidEnd - i > 15) return SCAN_OTHER;
    if (i >= start && b[i] === SLASH && bracketed) {
      const tidEnd = i - 1;
      i--;
      pid = 0;
      mult = 1;
      while (i >= start && isDigit(b[i])) {
        pid += (b[i] - 48) * mult;
        mult *= 10;
        i--;
      }
      if (i === tidEnd || tidEnd - i > 15) return SCAN_OTHER;
    }
    if (i < start) return SCAN_OTHER;
    const sep = b[i];
    let ftrace: boolean;
    if (sep === DASH) ftrace = true;
    else if (isSpace(sep) && bracketed) ftrace = false;
    else return SCAN_OTHER;
    let cs = start;
    while (cs < i && isSpace(b[cs])) cs++;
    let ce = i;
    if (!ftrace) while (ce > cs && isSpace(b[ce - 1])) ce--;
    if (!this.scanName(b, colon, end, ftrace)) return SCAN_OTHER;
    this.commStart = cs;
    this.commEnd = ce;
    this.pid = pid;
    this.cpu = cpu;
    this.flagsStart = flagsStart;
    this.flagsEnd = flagsEnd;
    this.ftrace = ftrace;
    this.tsStart = tsStart;
    if (fracDigits > 9 || secDigits > 16) return SCAN_BAD_TIMESTAMP;
    let sec = 0;
    for (let k = tsStart; k < dot; k++) sec = sec * 10 + b[k] - 48;
    let frac = 0;
    for (let k = dot + 1; k < colon; k++) frac = frac * 10 + b[k] - 48;
    const ns = exactNs(sec, frac, fracDigits);
    if (ns < 0) return SCAN_BAD_TIMESTAMP;
    this.timestampNs = ns;
    return SCAN_EVENT;
  }
}

/** The number of a `[digits]` word, else -1. */
function bracketedCpu(b: Uint8Array, s: number, e: number): number {
  if (e - s < 3 || e - s > 9 || b[s] !== LBRACKET || b[e - 1] !== RBRACKET) return -1;
  let n = 0;
  for (let k = s + 1; k < e - 1; k++) {
    const c = b[k];
    if (!isDigit(c)) return -1;
    n = n * 10 + c - 48;
  }
  return n;
}

function wordEnd(b: Uint8Array, from: number, end: number): number {
  let k = from;
  while (k < end && !isSpace(b[k])) k++;
  return k;
}
