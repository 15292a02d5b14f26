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
 * strings of them is the caller's business (`read-bytes.ts` makes them only
 * from ASCII bytes and leaves any other line to the string reader).
 */

import { SCAN_BAD_TIMESTAMP, SCAN_EVENT, SCAN_OTHER } from "./line.ts";

const NS_PER_S = 1_000_000_000;
const MAX_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / NS_PER_S);
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

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

  /** Scans `b[start, end)` (one line, without its newline); returns `SCAN_EVENT`, `SCAN_OTHER` or `SCAN_BAD_TIMESTAMP`. */
  scan(b: Uint8Array, start: number, end: number): number {
    let c = b.indexOf(COLON, start);
    while (c >= 0 && c < end) {
      if (c + 1 === end || isSpace(b[c + 1])) {
        const r = this.scanAt(b, start, end, c);
        if (r !== SCAN_OTHER) return r;
      }
      c = b.indexOf(COLON, c + 1);
    }
    return SCAN_OTHER;
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
    let n = colon + 1;
    while (n < end && isSpace(b[n])) n++;
    if (n === end) return SCAN_OTHER;
    let nameEnd = wordEnd(b, n, end);
    if (b[nameEnd - 1] !== COLON) {
      if (ftrace) return SCAN_OTHER;
      n = nameEnd;
      while (n < end && isSpace(b[n])) n++;
      if (n === end) return SCAN_OTHER;
      nameEnd = wordEnd(b, n, end);
      if (b[nameEnd - 1] !== COLON) return SCAN_OTHER;
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
    if (n === nameEnd) return SCAN_OTHER;
    let body = nameEnd + 1;
    while (body < end && isSpace(b[body])) body++;
    this.commStart = cs;
    this.commEnd = ce;
    this.pid = pid;
    this.cpu = cpu;
    this.flagsStart = flagsStart;
    this.flagsEnd = flagsEnd;
    this.systemStart = systemStart;
    this.nameStart = n;
    this.nameEnd = nameEnd;
    this.bodyStart = body;
    this.bodyEnd = end;
    this.ftrace = ftrace;
    if (fracDigits > 9 || secDigits > 16) return SCAN_BAD_TIMESTAMP;
    let sec = 0;
    for (let k = tsStart; k < dot; k++) sec = sec * 10 + b[k] - 48;
    let frac = 0;
    for (let k = dot + 1; k < colon; k++) frac = frac * 10 + b[k] - 48;
    if (sec > MAX_SECONDS) return SCAN_BAD_TIMESTAMP;
    const ns = sec * NS_PER_S + frac * POW10[9 - fracDigits];
    if (!Number.isSafeInteger(ns)) return SCAN_BAD_TIMESTAMP;
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
