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
