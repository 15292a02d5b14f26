/**
 * The line shapes of the three text renderings of a kernel trace, split into
 * the common columns (task, pid, CPU, timestamp, event name) and the event's
 * printed text, which `events.ts` decodes.
 *
 * - `/sys/kernel/tracing/trace` and `trace_pipe` (ftrace's default output):
 *   `TASK-PID [CPU] FLAGS SEC.USEC: EVENT: TEXT`; the flags column (irq-info)
 *   is 4 or 5 characters on current kernels and absent with `noirq-info`,
 *   a `(TGID)` column follows the pid with `record-tgid`.
 * - `trace-cmd report`: the same shape, flags only with `-l`, nanoseconds
 *   with `-t`, event names padded with spaces; a preamble (`version = 6`,
 *   `cpus=2`, `CPU 3 is empty`).
 * - `perf script`: `COMM PID[/TID] [CPU] SEC.USEC: SYSTEM:EVENT: TEXT`.
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

export type LineShape = "ftrace" | "perf";

/** What a line is when it is not an event. */
export type NonEventLine =
  | { kind: "blank" }
  | { kind: "comment" }
  | { kind: "preamble" }
  | { kind: "lost"; cpu: number; events: number };

/** A line that is neither an event nor a known non-event line; `expected` names what was looked for. */
export interface LineError {
  kind: "error";
  expected: string;
  found: string;
}

const LOST = /^\s*CPU:\s*(\d+)\s+\[LOST (\d+) EVENTS\]\s*$/;
const DROPPED = /^\s*CPU:\s*(\d+)\s+\[(\d+) EVENTS DROPPED\]\s*$/;
const PREAMBLE = /^(?:version = \d+|cpus=\d+|CPU \d+ is empty|trace-cmd: .*|\s*#.*)$/;

const NS_PER_S = 1_000_000_000;
const MAX_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / NS_PER_S);
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

/** Exact nanoseconds from the printed seconds and fraction digits, or -1 when they do not fit. */
export function timestampToNs(seconds: string, fraction: string): number {
  if (fraction.length > 9) return -1;
  const s = Number(seconds);
  if (s > MAX_SECONDS) return -1;
  const ns = s * NS_PER_S + Number(fraction) * POW10[9 - fraction.length];
  return Number.isSafeInteger(ns) ? ns : -1;
}

/** Splits one line (without its newline); never throws. */
export function parseLine(text: string): TraceLineHead | NonEventLine | LineError {
  if (text.length === 0) return { kind: "blank" };
  const first = text.charCodeAt(0);
  if (first === 35 /* # */) return { kind: "comment" };
  const head = parseHead(text);
  if (head !== null) return head;
  if (text.trim().length === 0) return { kind: "blank" };
  const m = LOST.exec(text) ?? DROPPED.exec(text);
  if (m !== null) return { kind: "lost", cpu: Number(m[1]), events: Number(m[2]) };
  if (PREAMBLE.test(text)) return { kind: "preamble" };
  if (badTimestamp !== "") {
    const found = badTimestamp;
    badTimestamp = "";
    return { kind: "error", expected: "a timestamp SEC.FRACTION below 2^53 ns", found };
  }
  return {
    kind: "error",
    expected: '"TASK-PID [CPU] FLAGS SECONDS: EVENT: ..." or "COMM PID [CPU] SECONDS: SYSTEM:EVENT: ..."',
    found: text.trim(),
  };
}

// A timestamp that had the right shape but did not fit, for parseLine's message.
let badTimestamp = "";

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * The event columns of a line, scanned by hand (this is the reader's hottest
 * function; a single regular expression with a greedy comm backtracks over
 * the whole line). Returns null when the line is not an event line.
 */
function parseHead(text: string): TraceLineHead | null {
  // The CPU column: the first "[digits]" (a comm with such text inside is not supported).
  let open = text.indexOf("[");
  let close = -1;
  while (open >= 0) {
    let i = open + 1;
    while (i < text.length && isDigit(text.charCodeAt(i))) i++;
    if (i > open + 1 && text.charCodeAt(i) === 93 /* ] */) {
      close = i;
      break;
    }
    open = text.indexOf("[", open + 1);
  }
  if (close < 0 || open === 0) return null;
  // Backwards from the CPU column: spaces, an optional "(tgid)", spaces, the pid.
  let e = open - 1;
  while (e >= 0 && text.charCodeAt(e) === 32) e--;
  if (e >= 0 && text.charCodeAt(e) === 41 /* ) */) {
    const lp = text.lastIndexOf("(", e);
    if (lp < 0) return null;
    e = lp - 1;
    while (e >= 0 && text.charCodeAt(e) === 32) e--;
  }
  const pidEnd = e + 1;
  while (e >= 0 && isDigit(text.charCodeAt(e))) e--;
  if (e + 1 === pidEnd) return null;
  // Perf prints "comm pid/tid": the pid is then the number before the slash.
  let pidText = text.slice(e + 1, pidEnd);
  if (e >= 0 && text.charCodeAt(e) === 47 /* / */) {
    const tidEnd = e;
    e--;
    while (e >= 0 && isDigit(text.charCodeAt(e))) e--;
    if (e + 1 === tidEnd) return null;
    pidText = text.slice(e + 1, tidEnd);
  }
  const sep = e >= 0 ? text.charCodeAt(e) : -1;
  let shape: LineShape;
  if (sep === 45 /* - */) shape = "ftrace";
  else if (sep === 32) shape = "perf";
  else return null;
  let cs = 0;
  while (cs < e && text.charCodeAt(cs) === 32) cs++;
  let ce = e;
  if (shape === "perf") while (ce > cs && text.charCodeAt(ce - 1) === 32) ce--;
  const comm = text.slice(cs, ce);
  // Forwards from the CPU column: [flags] SEC.FRACTION: [period] [system:]event: body.
  let i = close + 1;
  let word = nextWord(text, i);
  if (word < 0) return null;
  let wordEnd = wordEndAt(text, word);
  let flags = "";
  if (text.charCodeAt(wordEnd - 1) !== 58 /* : */) {
    flags = text.slice(word, wordEnd);
    word = nextWord(text, wordEnd);
    if (word < 0) return null;
    wordEnd = wordEndAt(text, word);
    if (text.charCodeAt(wordEnd - 1) !== 58) return null;
  }
  const dot = text.indexOf(".", word);
  if (dot < 0 || dot >= wordEnd - 1) return null;
  for (let k = word; k < wordEnd - 1; k++) if (k !== dot && !isDigit(text.charCodeAt(k))) return null;
  const seconds = text.slice(word, dot);
  const fraction = text.slice(dot + 1, wordEnd - 1);
  if (seconds === "" || fraction === "") return null;
  const ts = timestampToNs(seconds, fraction);
  if (ts < 0) {
    badTimestamp = `${seconds}.${fraction}`;
    return null;
  }
  i = nextWord(text, wordEnd);
  if (i < 0) return null;
  let nameEnd = wordEndAt(text, i);
  // perf script may print the sample period before the event name.
  if (shape === "perf" && text.charCodeAt(nameEnd - 1) !== 58) {
    i = nextWord(text, nameEnd);
    if (i < 0) return null;
    nameEnd = wordEndAt(text, i);
  }
  if (text.charCodeAt(nameEnd - 1) !== 58) return null;
  const name = text.slice(i, nameEnd - 1);
  let system = "";
  let event = name;
  const colon = name.indexOf(":");
  if (colon >= 0) {
    system = name.slice(0, colon);
    event = name.slice(colon + 1);
  }
  if (event === "") return null;
  let b = nameEnd;
  while (b < text.length && text.charCodeAt(b) === 32) b++;
  return {
    comm,
    pid: Number(pidText),
    cpu: Number(text.slice(open + 1, close)),
    flags,
    timestampNs: ts,
    system,
    event,
    body: text.slice(b),
    shape,
  };
}

/** Index of the next non-space character at or after `from`, or -1. */
function nextWord(text: string, from: number): number {
  let i = from;
  while (i < text.length && text.charCodeAt(i) === 32) i++;
  return i < text.length ? i : -1;
}

/** Index just past the word starting at `from`. */
function wordEndAt(text: string, from: number): number {
  const sp = text.indexOf(" ", from);
  return sp < 0 ? text.length : sp;
}
