import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ByteOut } from "./byteout.ts";

test("numbers print as String() prints them, below 2^53", () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.maxSafeNat()),
      (n) => {
        const o = new ByteOut();
        o.num(n);
        assert.equal(Buffer.from(o.bytes()).toString("latin1"), String(n));
      },
    ),
    { numRuns: 2000, seed: 3 },
  );
  for (const n of [
    0,
    9,
    10,
    99,
    100,
    99_999_999,
    100_000_000,
    100_000_001,
    999_999_999,
    1_000_000_000,
    1_000_000_001,
    10 ** 15,
    2 ** 53 - 1,
  ]) {
    const o = new ByteOut();
    o.num(n);
    o.line("x");
    o.numLine(n);
    assert.equal(Buffer.from(o.bytes()).toString("latin1"), `${n}x\n${n}\n`);
  }
});

test("output across chunks, past the largest chunk size, reads back whole, in order", () => {
  // Numbers, lines longer than the first chunks, and one line longer than the largest chunk.
  const o = new ByteOut();
  const want: string[] = [];
  for (let i = 0; i < 40_000; i++) {
    const n = (i * 2_654_435_761) % 2 ** 53;
    const s = i === 20_000 ? "y".repeat(3 << 19) : i % 100 === 0 ? "x".repeat(3000 + i / 100) : "";
    o.num(n);
    o.line(s);
    want.push(`${n}${s}\n`);
  }
  const text = want.join("");
  assert.ok(text.length > 3 << 20, "spans several of the largest chunks");
  assert.equal(o.length, text.length);
  assert.equal(Buffer.from(o.bytes()).toString("latin1"), text);
  assert.equal(Buffer.concat(o.parts()).toString("latin1"), text);
});

test("output across chunk changes (a small first chunk, then 1 MiB ones) is the whole text, in bytes() and in parts()", () => {
  const o = new ByteOut();
  const expected: string[] = [];
  for (let i = 0; i < 200_000; i++) {
    const n = i * 7_919_000_013 + 5;
    o.numLine(n);
    expected.push(`${n}\n`);
    if (i % 1000 === 0) {
      o.line("fail");
      expected.push("fail\n");
    }
  }
  const text = expected.join("");
  assert.ok(text.length > 2 << 20, "the output spans several chunks");
  assert.equal(o.length, text.length);
  assert.equal(Buffer.from(o.bytes()).toString("latin1"), text);
  assert.equal(Buffer.concat(o.parts()).toString("latin1"), text);
  assert.ok(o.parts().length > 2);
});

test("number lines held as differences read back exactly: both sides of the two-byte range, down, 0 and 2^53 - 1", () => {
  const o = new ByteOut();
  const want: string[] = [];
  let n = 68_719_476_735;
  const steps = [0, 1, -1, 8191, -8192, 8192, -8193, 16_383, -16_384, 2 ** 40, -(2 ** 40), 7, -7];
  for (let i = 0; i < 50_000; i++) {
    n = Math.min(2 ** 53 - 1, Math.max(0, n + steps[i % steps.length] * (1 + (i % 3))));
    if (i === 1000) n = 0;
    if (i === 2000) n = 2 ** 53 - 1;
    o.numLine(n);
    want.push(`${n}\n`);
  }
  const text = want.join("");
  assert.equal(Buffer.from(o.bytes()).toString("latin1"), text);
  assert.equal(o.length, text.length);
});

test("number lines held as differences carry across multiples of 10^8 both ways, down to 0 and up to 2^53 - 1", () => {
  // The decoder adds a difference to n mod 10^8 and carries into n / 10^8:
  // walk small steps back and forth across such boundaries, across the one
  // where n / 10^8 becomes 0 (fewer digits), and just below 2^53.
  const o = new ByteOut();
  const want: string[] = [];
  const starts = [100_000_000 - 20, 300_000_000 + 20, 2 ** 53 - 1 - 30_000];
  for (const start of starts) {
    let n = start;
    for (let i = 0; i < 200; i++) {
      const step = (i % 5) * (i < 100 ? 7 : -7) + (i % 2 === 0 ? -3 : 3);
      n = Math.min(2 ** 53 - 1, Math.max(0, n + step * 37));
      o.numLine(n);
      want.push(`${n}\n`);
    }
  }
  for (const n of [100_000_000, 99_999_999, 100_000_000, 200_000_000 - 1, 200_000_000, 0, 8191, 100_000_000 + 8000]) {
    o.numLine(n);
    want.push(`${n}\n`);
  }
  assert.equal(Buffer.from(o.bytes()).toString("latin1"), want.join(""));
});

test("bytes above 0x7F are held as themselves, between number lines", () => {
  const o = new ByteOut();
  o.numLine(5);
  o.text("\u00e9\u00ff\u0080x");
  o.byte(0xc0);
  o.numLine(6);
  o.byte(0x1ff);
  assert.deepEqual([...o.bytes()], [53, 10, 0xe9, 0xff, 0x80, 120, 0xc0, 54, 10, 0xff]);
});

test("chunks() hands out the output in pieces of one reused buffer, each whole when taken", () => {
  const o = new ByteOut();
  const want: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    o.numLine(1_000_000_000 + (i % 977) * 3);
    want.push(`${1_000_000_000 + (i % 977) * 3}\n`);
  }
  const seen: string[] = [];
  let buffers = new Set<ArrayBufferLike>();
  for (const part of o.chunks()) {
    seen.push(Buffer.from(part).toString("latin1"));
    buffers = buffers.add(part.buffer);
  }
  assert.ok(seen.length > 2, "several pieces");
  assert.equal(buffers.size, 1, "one buffer, reused");
  assert.equal(seen.join(""), want.join(""));
});
