/**
 * The `.iovaops` conformance script (docs/iovaops-format.md v1):
 * parses a script line by line and runs it on one `IovaDomain`, producing
 * exactly the kernel harness's output and `.walks` lines.
 *
 * Pure model code (no Node APIs): the CLI hands it lines and writes what it
 * returns. Bad input raises `InputError` with `FILE:LINE: expected ...,
 * found ...`; nothing is returned half, because output is only handed back
 * once the whole script ran.
 */

import { assert } from "../stdx/assert.ts";
import { ULONG_MAX_DECIMAL } from "../stdx/bits.ts";
import { ByteOut, NEWLINE, SPACE } from "../stdx/byteout.ts";
import { InputError, quote } from "../stdx/errors.ts";
import { NR_CPUS_MAX } from "../stdx/nr-cpus.ts";
import { ANCHOR_PFN, IovaDomain, MAX_RCACHE_ORDERS, type TreeSearch } from "./domain.ts";
import { getProfile, isProfileName, PROFILE_NAMES, type ProfileName } from "./profile.ts";

/**
 * The scanner reads a chunk in windows of this many bytes (about 160 lines),
 * each in a call of its own. A call that loops over a whole chunk (40,000
 * lines) gets its loop compiled on the fly, and then the function compiled
 * again for the next call: twice the compile work of one short function.
 */
const SCAN_WINDOW = 1 << 12;
const NO_CARRY = new Uint8Array(0);
/** Numbers at or above this are kept as BigInt (only `reserve` and `find` accept them). */
const SAFE_LIMIT = 2 ** 53;
/** The longest line read; a script's lines are tens of bytes. */
const MAX_OPS_LINE = 1 << 16;
const ULONG_MAX = (1n << 64n) - 1n;
const MS_NS = 1_000_000;
/** Decodes a line for the general parser (the format is ASCII; other bytes only reach error messages). */
const LATIN1 = new TextDecoder("latin1");

export interface OpsHeader {
  granule: number;
  startPfn: number;
  cpus: number;
  rcacheOrders: number;
  kernel: ProfileName;
}

export interface OpsOptions {
  /** Profile for a header without `kernel=`; an error where the header names another. */
  kernel?: ProfileName;
  /** Check the domain's invariants after every operation (slow; tests). */
  verify?: boolean;
  /** The tree search implementation (default augmented). */
  search?: TreeSearch;
}

export interface OpsResult {
  header: OpsHeader;
  /** Every printed line, each ending in "\n" (ASCII). */
  output: Uint8Array;
  /** The `.walks` lines, each ending in "\n" (ASCII). */
  walks: Uint8Array;
  /**
   * `output` in pieces, for writing out: made one at a time in one reused
   * buffer, so each is valid until the next is taken (write it first).
   */
  outputParts: Iterable<Uint8Array>;
  walksParts: Iterable<Uint8Array>;
  ops: number;
  domain: IovaDomain;
}

// The operations the scanner reads itself, and how many operands each takes.
const OP_OTHER = 0;
const OP_ALLOC_FAST = 1;
const OP_FREE_FAST = 2;
const OP_CPU = 3;
const OP_ALLOC = 4;
const OP_FREE = 5;
const OP_NAMES = ["", "alloc_fast", "free_fast", "cpu", "alloc", "free"];
const OP_ARGS = new Uint8Array([0, 3, 2, 1, 3, 1]);
const OP_LEN = Uint8Array.from(OP_NAMES, (name) => name.length);
/** Powers of ten by exponent, for joining a number's digit groups. */
const POW10 = Float64Array.from({ length: 16 }, (_, i) => 10 ** i);

/**
 * Which of the scanner's operations the line at `s` starts with, followed
 * by a space (OP_OTHER for anything else). Every byte is compared in order
 * and the first difference ends the search, so it never reads past the
 * line's newline (no operation name holds one). Written out byte by byte,
 * not as a loop over the names: this runs once a line.
 */
function opAt(buf: Uint8Array, s: number): number {
  const c0 = buf[s];
  if (c0 === 97) {
    // "alloc"
    if (buf[s + 1] !== 108 || buf[s + 2] !== 108 || buf[s + 3] !== 111 || buf[s + 4] !== 99) return OP_OTHER;
    if (buf[s + 5] === SPACE) return OP_ALLOC;
    return fastSuffixAt(buf, s + 5) ? OP_ALLOC_FAST : OP_OTHER;
  }
  if (c0 === 102) {
    // "free"
    if (buf[s + 1] !== 114 || buf[s + 2] !== 101 || buf[s + 3] !== 101) return OP_OTHER;
    if (buf[s + 4] === SPACE) return OP_FREE;
    return fastSuffixAt(buf, s + 4) ? OP_FREE_FAST : OP_OTHER;
  }
  // "cpu"
  if (c0 === 99 && buf[s + 1] === 112 && buf[s + 2] === 117 && buf[s + 3] === SPACE) return OP_CPU;
  return OP_OTHER;
}

/** Whether "_fast " stands at `p` (compared in order, as in `opAt`). */
function fastSuffixAt(buf: Uint8Array, p: number): boolean {
  return (
    buf[p] === 95 &&
    buf[p + 1] === 102 &&
    buf[p + 2] === 97 &&
    buf[p + 3] === 115 &&
    buf[p + 4] === 116 &&
    buf[p + 5] === SPACE
  );
}

// The names written out in `opAt` are checked against OP_NAMES once, at
// load: a byte wrong there would send every such line to the general
// parser, with the same output, and no test would see it.
for (let k = 1; k < OP_NAMES.length; k++) {
  const line = Uint8Array.from(`${OP_NAMES[k]} 1\n`, (ch) => ch.charCodeAt(0));
  assert(opAt(line, 0) === k, `opAt does not read ${OP_NAMES[k]}`);
}

const DEC = /^[0-9]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;

/** A parsed operand: a safe integer, or a BigInt for values at or above 2^53. */
type Operand = number | bigint;

export class OpsRunner {
  private readonly file: string;
  private readonly options: OpsOptions;
  private lineNo = 0;
  private header: OpsHeader | null = null;
  private domain: IovaDomain | null = null;
  private cpu = 0;
  private clockMs = 0;
  private ops = 0;
  private readonly out = new ByteOut();
  private readonly walks = new ByteOut();
  /**
   * The operands of `alloc_fast` (limit, size, flush) and `free_fast` (pfn,
   * size), handed to `allocFast` and `freeFast` here rather than as arguments: a pfn or limit above 2^31 is
   * a float64, and one passed to a call the compiler does not inline is a
   * heap allocation per operation (two of them a line on a perf vector).
   */
  private readonly operands = new Float64Array(3);

  constructor(file: string, options: OpsOptions = {}) {
    this.file = file;
    this.options = options;
  }

  /**
   * The start of a line cut by the end of the last chunk (empty: none). An
   * empty array rather than null, and written by every `feed`: V8 treats a
   * field that changes kind, or is written for the first time after being
   * set, as a change of the object's shape, and would undo the optimized
   * scanner when the first chunk ends.
   */
  private carry: Uint8Array = NO_CARRY;

  /**
   * Runs the next chunk of the script's bytes (a chunk may end mid-line; the
   * rest of that line comes with the next one). Lines of the common shape (an
   * operation and plain decimal operands separated by single spaces) take a
   * byte-level fast path; anything else, errors included, goes through the
   * general parser with the same result.
   */
  feed(chunk: Uint8Array): void {
    // One array type for the scanner (a Node Buffer is a subclass with
    // another map; mixing the two would make the hot loop polymorphic).
    const buf = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    const n = buf.length;
    let pos = 0;
    // Taken on every call (so the field is written from the first chunk on:
    // see `carry`).
    const carried = this.carry;
    this.carry = NO_CARRY;
    if (carried.length > 0) {
      const nl = buf.indexOf(NEWLINE);
      const take = nl < 0 ? n : nl;
      const joined = new Uint8Array(carried.length + take + 1);
      joined.set(carried);
      joined.set(buf.subarray(0, take), carried.length);
      if (nl < 0) {
        this.carry = joined.subarray(0, joined.length - 1);
        if (this.carry.length > MAX_OPS_LINE) this.lineTooLong();
        return;
      }
      // The joined line keeps its newline, as the scanner expects.
      joined[joined.length - 1] = NEWLINE;
      this.scan(joined, 0, joined.length);
      pos = nl + 1;
    }
    // In windows of SCAN_WINDOW bytes: see SCAN_WINDOW.
    while (pos < n) {
      const lim = n - pos > SCAN_WINDOW ? pos + SCAN_WINDOW : n;
      const next = this.scan(buf, pos, lim);
      if (next === pos) {
        // No whole line in the window: a longer line, or the chunk's cut one.
        if (lim < n) pos = this.scan(buf, pos, n);
        break;
      }
      pos = next;
    }
    if (pos < n) {
      // A copy: the caller may reuse the chunk's memory (and a Node Buffer's
      // slice() is a view, not a copy).
      this.carry = buf.slice(pos);
      if (this.carry.length > MAX_OPS_LINE) this.lineTooLong();
    }
  }

  /** A line over MAX_OPS_LINE bytes: bad input (a binary file, a runaway line), never held whole. */
  private lineTooLong(): never {
    this.lineNo++;
    return this.fail(`a line of at most ${MAX_OPS_LINE} bytes`, "a longer line");
  }

  /** A line without its newline (the last line of a script), through the general parser. */
  private oneLine(buf: Uint8Array, start: number, end: number): void {
    const line = new Uint8Array(end - start + 1);
    line.set(buf.subarray(start, end));
    line[end - start] = NEWLINE;
    this.scan(line, 0, line.length);
  }

  /**
   * Runs every whole line of `buf[pos, n)` and returns where the first line
   * without its newline starts (n when there is none): the scanner, and the
   * general parser for each line the scanner leaves to it.
   */
  private scan(buf: Uint8Array, pos: number, n: number): number {
    for (;;) {
      pos = this.scanRun(buf, pos, n);
      // The scanner stopped at a line it leaves to the general parser, or
      // after the last whole line (then no newline follows before n).
      let nl = pos;
      while (nl < n && buf[nl] !== NEWLINE) nl++;
      if (nl === n) return pos;
      pos = this.otherLine(buf, pos);
    }
  }

  /**
   * The scanner: runs whole lines of `buf[pos, n)` from `pos` until a line of
   * another shape (or any line before the header) and returns where that
   * line starts, or, when every whole line ran, where the first line without
   * its newline starts (n when there is none). One pass over the bytes: the
   * operation's name and its operands are read where they stand. Only lines
   * up to the last newline are read, so no loop over a line's bytes needs a
   * check for the end of the buffer: each stops at that line's newline at
   * the latest.
   *
   * The lines of another shape are run by the caller, not here: they are
   * rare once the header is read (a vector's `advance` lines), so code here
   * that ran them would have no type feedback when this loop is optimized,
   * and reaching it would throw the optimized loop away. Returning a value
   * at hand needs no feedback (an arithmetic marker would).
   */
  private scanRun(buf: Uint8Array, pos: number, n: number): number {
    // A loop, not lastIndexOf: the builtin is a runtime call, costlier than
    // the few bytes it looks at.
    let end = n;
    while (end > pos && buf[end - 1] !== NEWLINE) end--;
    if (end === pos) return pos;
    const d = this.domain;
    if (d === null) return pos;
    const verify = this.options.verify === true;
    const operands = this.operands;
    while (pos < end) {
      const start = pos;
      const kind = opAt(buf, start);
      if (kind === OP_OTHER) return start;
      const nargs = OP_ARGS[kind];
      let p = start + OP_LEN[kind];
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let ok = true;
      // Operands: a space and 1 to 15 decimal digits each (so below 2^53).
      // The first nine digits are summed as an int32 (a short dependency
      // chain), any more as a second group joined in float64, exactly.
      for (let i = 0; i < nargs; i++) {
        if (buf[p] !== SPACE) {
          ok = false;
          break;
        }
        // A digit is `c >>> 0 <= 9` (one unsigned comparison: a byte below
        // "0" wraps to a large number). Never past the buffer, where c would
        // be NaN and NaN >>> 0 a digit: the line's newline stops it first.
        const first = ++p;
        const leadEnd = first + 9;
        let c = buf[p] - 48;
        let lead = 0;
        while (c >>> 0 <= 9 && p < leadEnd) {
          lead = (lead * 10 + c) | 0;
          c = buf[++p] - 48;
        }
        let v = lead;
        if (c >>> 0 <= 9) {
          const mid = p;
          const restEnd = mid + 7;
          let rest = 0;
          while (c >>> 0 <= 9 && p < restEnd) {
            rest = (rest * 10 + c) | 0;
            c = buf[++p] - 48;
          }
          v = lead * POW10[p - mid] + rest;
        }
        if (p === first || p - first > 15) {
          ok = false;
          break;
        }
        // Shifted in from the right: the last operand ends in a2, so a line
        // of n operands has them in the last n of a0, a1, a2 (no branch on i).
        a0 = a1;
        a1 = a2;
        a2 = v;
      }
      // Another shape: the whole line to the general parser.
      if (!ok || buf[p] !== NEWLINE) return start;
      pos = p + 1;
      let done = true;
      this.lineNo++;
      switch (kind) {
        case OP_ALLOC_FAST:
          if (a0 < 1) done = false;
          else {
            operands[0] = a1;
            operands[1] = a0;
            operands[2] = a2;
            this.allocFast(d);
          }
          break;
        case OP_FREE_FAST:
          if (a2 < 1) done = false;
          else {
            operands[0] = a1;
            operands[1] = a2;
            this.freeFast(d);
          }
          break;
        case OP_CPU:
          if (a2 >= d.cpus) done = false;
          else this.cpu = a2;
          break;
        case OP_ALLOC:
          if (a0 < 1) done = false;
          else this.alloc(d, a0, a1, a2 !== 0);
          break;
        default:
          // OP_FREE
          this.free(d, a2);
      }
      if (!done) {
        // An operand out of range: the general parser says why.
        this.lineBody(LATIN1.decode(buf.subarray(start, p)));
        continue;
      }
      this.ops++;
      if (verify) d.verifyInvariants();
    }
    return end;
  }

  /** The line at `start` (it has its newline) through the general parser; returns where the next starts. */
  private otherLine(buf: Uint8Array, start: number): number {
    const nl = buf.indexOf(NEWLINE, start);
    this.lineNo++;
    if (nl > start) this.lineBody(LATIN1.decode(buf.subarray(start, nl)));
    return nl + 1;
  }

  private lineBody(text: string): void {
    let s = text;
    if (s.endsWith("\r")) s = s.slice(0, -1);
    const trimmed = s.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const tokens = trimmed.split(/\s+/);
    if (this.domain === null) {
      this.parseHeader(tokens);
      return;
    }
    this.ops++;
    this.runOp(this.domain, tokens);
    if (this.options.verify) this.domain.verifyInvariants();
  }

  /** Ends the script and hands back everything it printed. */
  finish(): OpsResult {
    if (this.carry.length > 0) {
      // The last line had no newline.
      const last = this.carry;
      this.carry = NO_CARRY;
      this.oneLine(last, 0, last.length);
    }
    if (this.header === null || this.domain === null) {
      throw new InputError(
        `${this.file}:${this.lineNo}: expected the header line "domain granule=... start_pfn=... cpus=...", found end of file`,
      );
    }
    const out = this.out;
    const walks = this.walks;
    return {
      header: this.header,
      // One array on demand (a copy when the output spans chunks).
      get output() {
        return out.bytes();
      },
      get walks() {
        return walks.bytes();
      },
      outputParts: { [Symbol.iterator]: () => out.chunks() },
      walksParts: { [Symbol.iterator]: () => walks.chunks() },
      ops: this.ops,
      domain: this.domain,
    };
  }

  private fail(expected: string, found: string): never {
    throw new InputError(`${this.file}:${this.lineNo}: expected ${expected}, found ${quote(found)}`);
  }

  private parseHeader(tokens: string[]): void {
    if (tokens[0] !== "domain") {
      this.fail('the header line "domain granule=... start_pfn=... cpus=..."', tokens.join(" "));
    }
    const fields = new Map<string, string>();
    for (const tok of tokens.slice(1)) {
      const eq = tok.indexOf("=");
      const key = eq < 0 ? tok : tok.slice(0, eq);
      if (eq < 0 || !["granule", "start_pfn", "cpus", "rcache_orders", "kernel"].includes(key)) {
        this.fail("a header field granule=, start_pfn=, cpus=, rcache_orders= or kernel=", tok);
      }
      if (fields.has(key)) this.fail(`one ${key}= field`, tok);
      fields.set(key, tok.slice(eq + 1));
    }
    const need = (key: string): string => {
      const v = fields.get(key);
      if (v === undefined) this.fail(`a ${key}= field in the header`, tokens.join(" "));
      return v;
    };
    const granule = this.headerNumber("granule", need("granule"));
    if (!Number.isSafeInteger(granule) || granule < 1 || (granule & (granule - 1)) !== 0 || granule > 2 ** 30) {
      this.fail("granule= a power of two (the kernel BUGs otherwise)", need("granule"));
    }
    const startPfn = this.headerNumber("start_pfn", need("start_pfn"));
    const cpus = this.headerNumber("cpus", need("cpus"));
    if (cpus < 1 || cpus > NR_CPUS_MAX) this.fail(`cpus= from 1 to ${NR_CPUS_MAX}`, need("cpus"));
    let rcacheOrders = 6;
    const k = fields.get("rcache_orders");
    if (k !== undefined) {
      rcacheOrders = this.headerNumber("rcache_orders", k);
      if (rcacheOrders < 1 || rcacheOrders > MAX_RCACHE_ORDERS) {
        this.fail(`rcache_orders= from 1 to ${MAX_RCACHE_ORDERS}`, k);
      }
    }
    let kernel: ProfileName = this.options.kernel ?? "mainline";
    const kv = fields.get("kernel");
    if (kv !== undefined) {
      if (!isProfileName(kv)) this.fail(`kernel= one of ${PROFILE_NAMES.join(", ")}`, kv);
      if (this.options.kernel !== undefined && this.options.kernel !== kv) {
        this.fail(`kernel=${this.options.kernel} (as --kernel says)`, `kernel=${kv}`);
      }
      kernel = kv;
    }
    this.header = { granule, startPfn, cpus, rcacheOrders, kernel };
    this.domain = new IovaDomain({
      granule,
      startPfn,
      cpus,
      rcacheOrders,
      profile: getProfile(kernel),
      search: this.options.search,
    });
  }

  private headerNumber(key: string, text: string): number {
    const v = this.parseOperand(text, `${key}= a number`);
    if (typeof v !== "number") this.fail(`${key}= a number below 2^53`, text);
    return v;
  }

  private parseOperand(text: string, what: string): Operand {
    if (DEC.test(text) && text.length < 16) return Number(text);
    if (DEC.test(text) || HEX.test(text)) {
      const b = BigInt(text);
      // Operands are the kernel's unsigned long: 2^64 and above is no value of it.
      if (b > ULONG_MAX) this.fail(`${what} below 2^64`, text);
      return b < BigInt(SAFE_LIMIT) ? Number(b) : b;
    }
    return this.fail(what, text);
  }

  /** An operand that must be a safe integer (everything but reserve and find). */
  private num(tokens: string[], i: number, what: string): number {
    const text = tokens[i];
    if (text === undefined) this.fail(what, "");
    const v = this.parseOperand(text, what);
    if (typeof v !== "number") this.fail(`${what} below 2^53`, text);
    return v;
  }

  private arity(tokens: string[], n: number, usage: string): void {
    if (tokens.length !== n + 1) {
      this.fail(`"${usage}"`, tokens.join(" "));
    }
  }

  private size(tokens: string[], i: number): number {
    const v = this.num(tokens, i, "a size in granules");
    if (v < 1) this.fail("a size of at least 1 granule", tokens[i]);
    return v;
  }

  private cpuArg(tokens: string[], i: number, d: IovaDomain): number {
    const v = this.num(tokens, i, "a CPU number");
    if (v >= d.cpus) this.fail(`a CPU number below cpus=${d.cpus}`, tokens[i]);
    return v;
  }

  private flag(tokens: string[], i: number): boolean {
    return this.num(tokens, i, "a flag (0 or 1)") !== 0;
  }

  // The hot operations, once: both the byte-level fast path and the general
  // parser call these with the operands they read, so the two paths differ
  // only in how they parse a line, never in what an operation does or prints.

  private alloc(d: IovaDomain, size: number, limitPfn: number, aligned: boolean): void {
    const stats = d.stats;
    const searches = stats.treeSearches;
    const steps = stats.walkSteps;
    const pfn = d.allocIova(size, limitPfn, aligned);
    if (pfn < 0) this.out.line("fail");
    else this.out.numLine(pfn);
    if (stats.treeSearches !== searches) this.walkLine(stats.walkSteps - steps);
  }

  private allocFast(d: IovaDomain): void {
    // [0] the limit pfn, then the pfn allocated (see allocIovaFastIo).
    const operands = this.operands;
    const size = operands[1];
    const flush = operands[2] !== 0;
    const stats = d.stats;
    const searches = stats.treeSearches;
    const steps = stats.walkSteps;
    // The op means what a DMA-API allocation does: on kernels that round
    // cacheable sizes in dma-iommu, that round-up comes first (VER-3).
    d.allocIovaFastIo(this.cpu, d.roundUpForDmaApi(size), flush, operands);
    this.out.numLine(operands[0]);
    if (stats.treeSearches !== searches) this.walkLine(stats.walkSteps - steps);
  }

  private free(d: IovaDomain, pfn: number): void {
    d.freeIova(pfn);
  }

  private freeFast(d: IovaDomain): void {
    const operands = this.operands;
    d.freeIovaFast(this.cpu, operands[0], operands[1]);
  }

  private walkLine(steps: number): void {
    this.walks.numLine(steps);
  }

  private runOp(d: IovaDomain, tokens: string[]): void {
    switch (tokens[0]) {
      case "alloc": {
        this.arity(tokens, 3, "alloc <size> <limit_pfn> <aligned>");
        const size = this.size(tokens, 1);
        const limit = this.num(tokens, 2, "a limit pfn");
        this.alloc(d, size, limit, this.flag(tokens, 3));
        return;
      }
      case "alloc_fast": {
        this.arity(tokens, 3, "alloc_fast <size> <limit_pfn> <flush>");
        const size = this.size(tokens, 1);
        const limit = this.num(tokens, 2, "a limit pfn");
        const flush = this.flag(tokens, 3) ? 1 : 0;
        this.operands[0] = limit;
        this.operands[1] = size;
        this.operands[2] = flush;
        this.allocFast(d);
        return;
      }
      case "free": {
        this.arity(tokens, 1, "free <pfn>");
        this.free(d, this.num(tokens, 1, "a pfn"));
        return;
      }
      case "free_fast": {
        this.arity(tokens, 2, "free_fast <pfn> <size>");
        const pfn = this.num(tokens, 1, "a pfn");
        this.operands[0] = pfn;
        this.operands[1] = this.size(tokens, 2);
        this.freeFast(d);
        return;
      }
      case "reserve": {
        this.arity(tokens, 2, "reserve <pfn_lo> <pfn_hi>");
        const lo = this.parseOperand(tokens[1], "a pfn");
        const hi = this.parseOperand(tokens[2], "a pfn");
        if (typeof lo !== "number" || typeof hi !== "number") {
          // At or above 2^53: either above ULONG_MAX >> shift, which the
          // kernel refuses (IOVA-4.1), or a range iovalab cannot hold exactly.
          const limit = ULONG_MAX >> BigInt(d.iovaShift);
          if (BigInt(lo) > limit || BigInt(hi) > limit) {
            this.out.line("fail");
            return;
          }
          this.fail("a pfn below 2^53", String(typeof lo === "number" ? hi : lo));
        }
        if (lo > hi) this.fail(`pfn_hi at least pfn_lo (${lo})`, tokens[2]);
        this.out.line(d.reserveIova(lo, hi) ? "ok" : "fail");
        return;
      }
      case "find": {
        this.arity(tokens, 1, "find <pfn>");
        const pfn = this.parseOperand(tokens[1], "a pfn");
        if (typeof pfn !== "number") {
          // Only the anchor lives up there (IOVA-3.1).
          this.out.line(pfn === ULONG_MAX ? `${ULONG_MAX_DECIMAL} ${ULONG_MAX_DECIMAL}` : "none");
          return;
        }
        const r = d.findIova(pfn);
        if (r === null) this.out.line("none");
        else this.out.line(`${pfnText(r[0])} ${pfnText(r[1])}`);
        return;
      }
      case "cpu": {
        this.arity(tokens, 1, "cpu <n>");
        this.cpu = this.cpuArg(tokens, 1, d);
        return;
      }
      case "cpu_dead": {
        this.arity(tokens, 1, "cpu_dead <n>");
        d.freeCpuCachedIovas(this.cpuArg(tokens, 1, d));
        return;
      }
      case "flush_all": {
        this.arity(tokens, 0, "flush_all");
        for (let c = 0; c < d.cpus; c++) d.freeCpuCachedIovas(c);
        if (d.profile.flushDrainsDepot) d.freeGlobalCachedIovas();
        return;
      }
      case "advance": {
        this.arity(tokens, 1, "advance <ms>");
        this.clockMs += this.num(tokens, 1, "a number of milliseconds");
        d.advanceTo(this.clockMs * MS_NS);
        return;
      }
      case "dump": {
        this.arity(tokens, 0, "dump");
        this.out.line(`tree ${d.liveIovas}`);
        d.forEachIova((lo, hi) => {
          this.out.num(lo);
          this.out.byte(SPACE);
          this.out.num(hi);
          this.out.byte(NEWLINE);
        });
        return;
      }
      default:
        this.fail(
          "an operation (alloc, free, reserve, find, cpu, alloc_fast, free_fast, cpu_dead, flush_all, advance, dump)",
          tokens[0],
        );
    }
  }
}

function pfnText(pfn: number): string {
  return pfn === ANCHOR_PFN ? ULONG_MAX_DECIMAL : String(pfn);
}

/** Runs a whole script given as text or bytes. */
export function runOps(file: string, input: string | Uint8Array, options: OpsOptions = {}): OpsResult {
  const runner = new OpsRunner(file, options);
  runner.feed(typeof input === "string" ? new TextEncoder().encode(input) : input);
  return runner.finish();
}
