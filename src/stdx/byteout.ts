/**
 * A growable ASCII output buffer: numbers and short strings written as bytes,
 * so that millions of output lines cost no string building. Used where output
 * volume matters (the conformance runner prints ~2M lines for a perf vector).
 */

export const NEWLINE = 10;
export const SPACE = 32;

/** Output is kept in chunks of this many bytes. */
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
    this.buf = new Uint8Array(Math.max(CHUNK, n));
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
    this.pos = writeNum(this.buf, this.pos, n);
  }

  /** A line of one number: `num(n)` and "\n" with one room check. */
  numLine(n: number): void {
    this.ensure(17);
    const p = writeNum(this.buf, this.pos, n);
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

/** Writes x (0 <= x < 10^8) at p; returns the position after it. */
function writeSmall(buf: Uint8Array, p: number, x: number): number {
  const end = p + digits8(x);
  let q = end;
  // Quotients as truncated int32 divisions by constants (a multiply, not a
  // division), the remainder by a multiply and a subtraction.
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

/** Writes exactly eight digits of x (0 <= x < 10^8), zero-padded, at p. */
function writePadded8(buf: Uint8Array, p: number, x: number): void {
  const hi = (x / 10000) | 0;
  const lo = x - hi * 10000;
  const a = (hi / 100) | 0;
  const b = hi - a * 100;
  const c = (lo / 100) | 0;
  const d = lo - c * 100;
  buf[p] = PAIRS[2 * a];
  buf[p + 1] = PAIRS[2 * a + 1];
  buf[p + 2] = PAIRS[2 * b];
  buf[p + 3] = PAIRS[2 * b + 1];
  buf[p + 4] = PAIRS[2 * c];
  buf[p + 5] = PAIRS[2 * c + 1];
  buf[p + 6] = PAIRS[2 * d];
  buf[p + 7] = PAIRS[2 * d + 1];
}

/** Writes n (0 <= n < 2^53) at p; returns the position after it. */
function writeNum(buf: Uint8Array, p: number, n: number): number {
  if (n < 100_000_000) return writeSmall(buf, p, n | 0);
  // Two int32-safe parts: the high digits, then eight low digits padded.
  const high = Math.floor(n / 100_000_000);
  const low = (n - high * 100_000_000) | 0;
  const q = high < 100_000_000 ? writeSmall(buf, p, high | 0) : writeBig(buf, p, high);
  writePadded8(buf, q, low);
  return q + 8;
}

/** Writes x (10^8 <= x < 2^53 / 10^8) at p; returns the position after it. */
function writeBig(buf: Uint8Array, p: number, x: number): number {
  const high = Math.floor(x / 100_000_000);
  const q = writeSmall(buf, p, high);
  writePadded8(buf, q, (x - high * 100_000_000) | 0);
  return q + 8;
}
