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
    if (n < 1_000_000_000) {
      this.small(n);
      return;
    }
    // Two 32-bit-safe halves: the high digits, then nine low digits padded.
    const high = Math.floor(n / 1_000_000_000);
    let low = n - high * 1_000_000_000;
    this.small(high);
    const buf = this.buf;
    let p = this.pos + 9;
    this.pos = p;
    for (let i = 0; i < 9; i++) {
      const q = (low / 10) | 0;
      buf[--p] = 48 + low - q * 10;
      low = q;
    }
  }

  /** An integer below 10^9 (int32 arithmetic). */
  private small(n: number): void {
    let x = n | 0;
    const digits =
      x < 10
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
                    : x < 100000000
                      ? 8
                      : 9;
    const buf = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = (x / 10) | 0;
      buf[--p] = 48 + x - q * 10;
      x = q;
    } while (x > 0);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a view; copy before writing more). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
