/**
 * A growable ASCII output buffer: numbers and short strings written as bytes,
 * so that millions of output lines cost no string building. Used where output
 * volume matters (the conformance runner prints ~2M lines for a perf vector).
 */

export const NEWLINE = 10;
export const SPACE = 32;

export class ByteOut {
  private buf = new Uint8Array(1 << 16);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
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
    if (n < 100_000_000) {
      this.pos = writeSmall(this.buf, this.pos, n | 0);
      return;
    }
    // Two int32-safe parts: the high digits, then eight low digits padded.
    const high = Math.floor(n / 100_000_000);
    const low = (n - high * 100_000_000) | 0;
    const p = high < 100_000_000 ? writeSmall(this.buf, this.pos, high) : writeBig(this.buf, this.pos, high);
    writePadded8(this.buf, p, low);
    this.pos = p + 8;
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a view; copy before writing more). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
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
  while (x >= 100) {
    const r = x % 100;
    x = (x / 100) | 0;
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
  for (let q = p + 8; q > p; ) {
    const r = x % 100;
    x = (x / 100) | 0;
    buf[--q] = PAIRS[2 * r + 1];
    buf[--q] = PAIRS[2 * r];
  }
}

/** Writes x (10^8 <= x < 2^53 / 10^8) at p; returns the position after it. */
function writeBig(buf: Uint8Array, p: number, x: number): number {
  const high = Math.floor(x / 100_000_000);
  const q = writeSmall(buf, p, high);
  writePadded8(buf, q, (x - high * 100_000_000) | 0);
  return q + 8;
}
