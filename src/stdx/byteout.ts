/**
 * A growable ASCII output, held until it is handed out: numbers and short
 * strings written as bytes, so that millions of output lines cost no string
 * building, and number lines held compactly (see below), so that holding
 * costs few pages. Used where output volume matters (the conformance runner
 * prints ~2M lines for a perf vector).
 */

export const NEWLINE = 10;
export const SPACE = 32;

/**
 * Held output is kept in chunks of up to this many bytes; the first is small
 * and each next one twice the last, so a short output (a test's, a small
 * script's) costs no megabyte of zeroed memory.
 */
const CHUNK = 1 << 20;
/**
 * The first chunk is small, so that its successor is made within the first
 * few hundred lines, while the code is still interpreted: code optimized
 * later has then seen a chunk change (V8 treats a field never written again
 * as a constant, and undoes every function that relied on that when it is).
 */
const FIRST_CHUNK = 1 << 12;
/** The text is handed out in pieces of this many bytes, one reused buffer (see `chunks`). */
const OUT_CHUNK = 1 << 18;

// How the output is held. Every page of held memory is a page fault when it
// is first written, and on a virtual machine a fault costs tens of
// microseconds: holding a perf vector's 11.7 MB of decimal lines costs more
// system time than all of the script's reading. So a line of one number
// (`numLine`, nearly all of the output) is held as its difference from the
// previous such number, two bytes when that is small, and the decimal text
// is made only when the output is handed out. Held bytes:
//   0x00-0x7F            the byte itself (the output is ASCII);
//   0x80-0xBF, 1 byte    a number line: 14 bits of (difference + DELTA_BIAS);
//   0xC0, 7 bytes        a number line: the number, 21 + 32 bits, big-endian;
//   0xFF, 1 byte         that byte itself (a byte above 0x7F).
const DELTA_BIAS = 1 << 13;
const TAG_FULL = 0xc0;
const TAG_BYTE = 0xff;
const TWO_32 = 2 ** 32;

/**
 * An empty list of chunks whose elements are already of the kind chunks
 * are: an empty array literal changes kind at its first push, and code
 * optimized on what that push saw would be undone at the next one.
 */
function emptyChunkList(): Uint8Array[] {
  const list = [new Uint8Array(0)];
  list.length = 0;
  return list;
}

export class ByteOut {
  /** Filled chunks of held bytes, in order; the output is these and then `buf[0..pos)`. */
  private readonly full: Uint8Array[] = emptyChunkList();
  private buf = new Uint8Array(FIRST_CHUNK);
  private pos = 0;
  /**
   * [0]: the number of the last `numLine` (0 before the first), which the
   * next is held against. A typed array's element, not a field: a float64
   * field was a new heap number at every store in the optimized callers,
   * as is a float64 handed to a call not inlined.
   */
  private readonly prev = new Float64Array(1);

  /**
   * Room for `n` more held bytes in the current chunk. Output grows by whole
   * new chunks, never by copying what was written: growing one large buffer
   * by doubling cost more than formatting the numbers.
   */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.full.push(this.buf.subarray(0, this.pos));
    this.buf = new Uint8Array(Math.max(Math.min(CHUNK, 2 * this.buf.length), n));
    this.pos = 0;
  }

  byte(b: number): void {
    this.ensure(2);
    const v = b & 0xff;
    if (v >= 0x80) this.buf[this.pos++] = TAG_BYTE;
    this.buf[this.pos++] = v;
  }

  /** A string of bytes (each character's low 8 bits; the output is ASCII). */
  text(s: string): void {
    this.ensure(2 * s.length);
    for (let i = 0; i < s.length; i++) {
      const v = s.charCodeAt(i) & 0xff;
      if (v >= 0x80) this.buf[this.pos++] = TAG_BYTE;
      this.buf[this.pos++] = v;
    }
  }

  /** A line: the ASCII string and "\n". */
  line(s: string): void {
    this.text(s);
    this.byte(NEWLINE);
  }

  /** A non-negative integer below 2^53 in decimal (held as its digits). */
  num(n: number): void {
    this.ensure(16);
    // Split into two int32s here (see writeNum).
    const high = n < E8 ? n : Math.floor(n / E8);
    this.pos = writeNum(this.buf, this.pos, high | 0, n < E8 ? -1 : (n - high * E8) | 0);
  }

  /** A line of one number below 2^53: `num(n)` and "\n", held as described above. */
  numLine(n: number): void {
    this.ensure(8);
    const prev = this.prev;
    const d = n - prev[0];
    prev[0] = n;
    if (d >= -DELTA_BIAS && d < DELTA_BIAS) {
      const p = this.pos;
      const e = (d + DELTA_BIAS) | 0;
      this.buf[p] = 0x80 | (e >> 8);
      this.buf[p + 1] = e;
      this.pos = p + 2;
    } else this.fullNumLine();
  }

  /**
   * `numLine` of a number too far from the last: the number itself (in
   * `prev[0]`, not an argument: see `prev`). Apart, so that `numLine` is
   * small enough for the compiler to take into its callers.
   */
  private fullNumLine(): void {
    const n = this.prev[0];
    const buf = this.buf;
    const p = this.pos;
    const hi = Math.floor(n / TWO_32);
    const lo = n - hi * TWO_32;
    buf[p] = TAG_FULL;
    buf[p + 1] = hi >> 16;
    buf[p + 2] = hi >> 8;
    buf[p + 3] = hi;
    buf[p + 4] = lo / 16777216;
    buf[p + 5] = lo / 65536;
    buf[p + 6] = lo / 256;
    buf[p + 7] = lo;
    this.pos = p + 8;
  }

  /** The output's length in bytes (made by reading the held bytes: for tests). */
  get length(): number {
    let n = 0;
    for (const part of this.chunks()) n += part.length;
    return n;
  }

  /**
   * The output as pieces in order, made one at a time in one reused buffer:
   * each piece is valid until the next is asked for (write it before that).
   */
  *chunks(): Generator<Uint8Array, void, undefined> {
    const out = new Uint8Array(OUT_CHUNK);
    // [0, 1] the previous number line's number (see `decode`), [2] the bytes in `out`.
    const state = new Int32Array(3);
    const held = [...this.full, this.buf.subarray(0, this.pos)];
    for (const src of held) {
      let i = 0;
      while (i < src.length) {
        i = decode(src, i, out, state);
        if (state[2] > OUT_CHUNK - MAX_ITEM) {
          yield out.subarray(0, state[2]);
          state[2] = 0;
        }
      }
    }
    if (state[2] > 0) yield out.subarray(0, state[2]);
  }

  /** The output as its pieces, in order, each a copy. */
  parts(): Uint8Array[] {
    const list: Uint8Array[] = [];
    for (const part of this.chunks()) list.push(part.slice());
    return list;
  }

  /** The output as one array. */
  bytes(): Uint8Array {
    const parts = this.parts();
    if (parts.length === 1) return parts[0];
    let total = 0;
    for (const part of parts) total += part.length;
    const all = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      all.set(part, at);
      at += part.length;
    }
    return all;
  }
}

/** The most bytes one held item decodes to: 16 digits and a newline. */
const MAX_ITEM = 17;

/**
 * Decodes held bytes from `src[i..]` into `out` at `state[2]` until the
 * chunk ends or `out` has less than MAX_ITEM bytes of room; returns where
 * it stopped. The previous number line's number n is `state[0]` * 10^8 +
 * `state[1]` (n / 10^8 and n mod 10^8). An item is never split across held
 * chunks (`ensure` keeps each whole).
 *
 * The number is carried as those two int32 parts, a difference added to the
 * low part with a carry, never as one float64: a float64 this loop carries
 * was a heap allocation per line once the loop had been optimized on the
 * stack, and the parts are what `writeNum` takes anyway.
 */
function decode(src: Uint8Array, i: number, out: Uint8Array, state: Int32Array): number {
  let high = state[0];
  let low = state[1];
  let o = state[2];
  const end = src.length;
  const limit = OUT_CHUNK - MAX_ITEM;
  for (;;) {
    // Kept up to date at every item rather than stored once after the loop:
    // the first call is optimized in its loop, and a store it has not yet
    // run has no type feedback, so reaching it would undo that code.
    state[0] = high;
    state[1] = low;
    state[2] = o;
    if (i >= end || o > limit) return i;
    const b = src[i];
    if (b < 0x80) {
      out[o++] = b;
      i++;
      continue;
    }
    if (b === TAG_BYTE) {
      out[o++] = src[i + 1];
      i += 2;
      continue;
    }
    if (b < TAG_FULL) {
      // |difference| < 2^13 < 10^8: at most one carry either way.
      low += (((b & 0x3f) << 8) | src[i + 1]) - DELTA_BIAS;
      const carry = low >= E8 ? 1 : low < 0 ? -1 : 0;
      low -= carry * E8;
      high += carry;
      i += 2;
    } else {
      const hi = (src[i + 1] << 16) | (src[i + 2] << 8) | src[i + 3];
      const lo = src[i + 4] * 16777216 + ((src[i + 5] << 16) | (src[i + 6] << 8) | src[i + 7]);
      const n = hi * TWO_32 + lo;
      high = Math.floor(n / E8) | 0;
      low = (n - high * E8) | 0;
      i += 8;
    }
    o = high === 0 ? writeNum(out, o, low, -1) : writeNum(out, o, high, low);
    out[o++] = NEWLINE;
  }
}

/** 10^8: numbers are written as two parts below it. */
const E8 = 100_000_000;

/** "00" to "99", two ASCII digits per entry: halves the divisions. */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + ((i / 10) | 0);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}

function digits8(x: number): number {
  return x < 10
    ? 1
    : x < 100
      ? 2
      : x < 1000
        ? 3
        : x < 10000
          ? 4
          : x < 100000
            ? 5
            : x < 1000000
              ? 6
              : x < 10000000
                ? 7
                : 8;
}

/**
 * Writes a number n (0 <= n < 2^53) given as two int32s, `high` = n / 10^8
 * and `low` = n mod 10^8, or `high` = n and `low` = -1 below 10^8 (n < 2^53
 * keeps `high` below 10^8), at p and returns the position after it, from the
 * right in pairs of digits. The callers split n: a float64 handed to a call
 * the compiler does not inline is a heap allocation per number, and n is
 * one above 2^31. Quotients are truncated int32 divisions by
 * constants (a multiply, not a division), remainders a multiply and a
 * subtraction.
 */
function writeNum(buf: Uint8Array, p: number, high: number, low: number): number {
  let x = high;
  const end = p + digits8(x) + (low < 0 ? 0 : 8);
  let q = end;
  if (low >= 0) {
    const hi = (low / 10000) | 0;
    const lo = low - hi * 10000;
    const a = (hi / 100) | 0;
    const b = hi - a * 100;
    const c = (lo / 100) | 0;
    const d = lo - c * 100;
    buf[q - 8] = PAIRS[2 * a];
    buf[q - 7] = PAIRS[2 * a + 1];
    buf[q - 6] = PAIRS[2 * b];
    buf[q - 5] = PAIRS[2 * b + 1];
    buf[q - 4] = PAIRS[2 * c];
    buf[q - 3] = PAIRS[2 * c + 1];
    buf[q - 2] = PAIRS[2 * d];
    buf[q - 1] = PAIRS[2 * d + 1];
    q -= 8;
  }
  while (x >= 100) {
    const y = (x / 100) | 0;
    const r = x - y * 100;
    x = y;
    buf[--q] = PAIRS[2 * r + 1];
    buf[--q] = PAIRS[2 * r];
  }
  // The last one or two digits (x < 100), without a branch that stores: a
  // store on a branch the data seldom takes has no type feedback when the
  // caller is optimized, and reaching it throws the optimized code away. A
  // one-digit x writes its digit twice in the same place.
  const wide = x >= 10 ? 1 : 0;
  buf[q - 1] = PAIRS[2 * x + 1];
  buf[q - 1 - wide] = PAIRS[2 * x + 1 - wide];
  return end;
}
