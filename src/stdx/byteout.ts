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
    if (n < 10) {
      this.buf[this.pos++] = 48 + n;
      return;
    }
    let digits = 0;
    for (let x = n; x >= 1; x = Math.floor(x / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    const buf = this.buf;
    if (n < 0x8000_0000) {
      let x = n | 0;
      while (x > 0) {
        const q = (x / 10) | 0;
        buf[--p] = 48 + x - q * 10;
        x = q;
      }
    } else {
      let x = n;
      while (x > 0) {
        const q = Math.floor(x / 10);
        buf[--p] = 48 + x - q * 10;
        x = q;
      }
    }
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a view; copy before writing more). */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}
