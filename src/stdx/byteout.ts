/**
 * A growable ASCII output buffer: numbers and short strings written as bytes,
 * so that millions of output lines cost no string building. Used where output
 * volume matters (the conformance runner prints ~2M lines for a perf vector).
 */

export const NEWLINE = 10;
export const SPACE = 32;

/**
 * Output is kept in chunks of up to this many bytes; the first is small and
 * each next one twice the last, so a short output (a test's, a small
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
  /** Filled chunks, in order; the output is these and then `buf[0..pos)`. */
  private readonly full: Uint8Array[] = emptyChunkList();
  private fullBytes = 0;
  private buf = new Uint8Array(FIRST_CHUNK);
  private pos = 0;

  /**
   * Room for `n` more bytes in the current chunk. Output grows by whole new
   * chunks, never by copying what was written: growing one large buffer by
   * doubling cost more than formatting the numbers.
   */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.full.push(this.buf.subarray(0, this.pos));
    this.fullBytes += this.pos;
    this.buf = new Uint8Array(Math.max(Math.min(CHUNK, 2 * this.buf.length), n));
    this.pos = 0;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** An ASCII string. */
  text(s: string): void {
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i);
  }

  /** A line: the ASCII string and "\n". */
  line(s: string): void {
    this.text(s);
    this.byte(NEWLINE);
  }

  /** A non-negative integer below 2^53 in decimal. */
  num(n: number): void {
    this.ensure(16);
    // Split into two int32s here (see writeNum).
    const high = n < E8 ? n : Math.floor(n / E8);
    this.pos = writeNum(this.buf, this.pos, high | 0, n < E8 ? -1 : (n - high * E8) | 0);
  }

  /** A line of one number: `num(n)` and "\n" with one room check. */
  numLine(n: number): void {
    this.ensure(17);
    const high = n < E8 ? n : Math.floor(n / E8);
    const p = writeNum(this.buf, this.pos, high | 0, n < E8 ? -1 : (n - high * E8) | 0);
    this.buf[p] = NEWLINE;
    this.pos = p + 1;
  }

  get length(): number {
    return this.fullBytes + this.pos;
  }

  /** The output as its chunks, in order (views; write them before writing more). */
  parts(): Uint8Array[] {
    return [...this.full, this.buf.subarray(0, this.pos)];
  }

  /** The output as one array (a copy when it spans chunks). */
  bytes(): Uint8Array {
    if (this.full.length === 0) return this.buf.subarray(0, this.pos);
    const all = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts()) {
      all.set(part, at);
      at += part.length;
    }
    return all;
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
  if (x >= 10) {
    buf[--q] = PAIRS[2 * x + 1];
    buf[--q] = PAIRS[2 * x];
  } else buf[--q] = 48 + x;
  return end;
}
