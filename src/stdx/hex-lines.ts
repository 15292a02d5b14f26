/**
 * Lines of 64-bit addresses as `hex16` prints them (`0x%016lx`), or a word
 * such as `fail`, written as bytes into one growable buffer: a replay's
 * `--emit-iovas` prints one line per map event (hundreds of thousands), and
 * a string per line (`hex16`, then a join) cost about as much as the
 * replay's reading of the trace.
 */

/** "00" to "ff", two ASCII hex digits per byte value. */
const PAIRS = new Uint8Array(512);
for (let i = 0; i < 256; i++) {
  PAIRS[2 * i] = "0123456789abcdef".charCodeAt(i >> 4);
  PAIRS[2 * i + 1] = "0123456789abcdef".charCodeAt(i & 15);
}

const TWO_32 = 2 ** 32;
/** "0x", 16 digits and "\n". */
const LINE_BYTES = 19;

export class HexLines {
  private buf = new Uint8Array(1 << 12);
  private pos = 0;
  /** Lines held. */
  count = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(2 * this.buf.length, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** A line `0x%016x` of an address 0 <= a < 2^53. */
  hex(a: number): void {
    this.ensure(LINE_BYTES);
    const b = this.buf;
    const p = this.pos;
    const hi = Math.floor(a / TWO_32);
    const lo = a - hi * TWO_32;
    b[p] = 48;
    b[p + 1] = 120;
    pair(b, p + 2, (hi >>> 24) & 0xff);
    pair(b, p + 4, (hi >>> 16) & 0xff);
    pair(b, p + 6, (hi >>> 8) & 0xff);
    pair(b, p + 8, hi & 0xff);
    // `lo` may be 2^31 or more: divisions, not int32 shifts.
    pair(b, p + 10, Math.floor(lo / 16777216));
    pair(b, p + 12, Math.floor(lo / 65536) & 0xff);
    pair(b, p + 14, Math.floor(lo / 256) & 0xff);
    pair(b, p + 16, lo & 0xff);
    b[p + 18] = 10;
    this.pos = p + LINE_BYTES;
    this.count++;
  }

  /** A line of ASCII text. */
  line(s: string): void {
    this.ensure(s.length + 1);
    for (let i = 0; i < s.length; i++) this.buf[this.pos++] = s.charCodeAt(i) & 0x7f;
    this.buf[this.pos++] = 10;
    this.count++;
  }

  /** The lines held, as a copy of their bytes, and none held after. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.pos);
    this.clear();
    return out;
  }

  /** Drops the lines held. */
  clear(): void {
    this.pos = 0;
    this.count = 0;
  }
}

function pair(b: Uint8Array, p: number, v: number): void {
  b[p] = PAIRS[2 * v];
  b[p + 1] = PAIRS[2 * v + 1];
}
