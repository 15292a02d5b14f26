import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { hex16 } from "./hex.ts";
import { HexLines } from "./hex-lines.ts";

test("an address line is hex16's text and a newline, below 2^53", () => {
  fc.assert(
    fc.property(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 5 }), fc.maxSafeNat()), (n) => {
      const o = new HexLines();
      o.hex(n);
      assert.equal(Buffer.from(o.take()).toString("latin1"), `${hex16(n)}\n`);
    }),
    { numRuns: 2000, seed: 5 },
  );
  for (const n of [0, 1, 0xff, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 0xfffff000, 0xffff_ffff_f000, 2 ** 53 - 1]) {
    const o = new HexLines();
    o.hex(n);
    assert.equal(Buffer.from(o.take()).toString("latin1"), `${hex16(n)}\n`);
  }
});

test("lines come out in order across growth, and take() empties", () => {
  const o = new HexLines();
  const want: string[] = [];
  for (let i = 0; i < 5000; i++) {
    if (i % 97 === 0) {
      o.line("fail");
      want.push("fail");
    } else {
      o.hex(i * 4096 + 0xfff00000);
      want.push(hex16(i * 4096 + 0xfff00000));
    }
  }
  assert.equal(o.count, 5000);
  const first = o.take();
  assert.equal(Buffer.from(first).toString("latin1"), `${want.join("\n")}\n`);
  assert.equal(o.count, 0);
  assert.equal(o.take().length, 0);
  // The bytes handed out are a copy: later lines do not change them.
  o.hex(0);
  assert.equal(Buffer.from(first).toString("latin1"), `${want.join("\n")}\n`);
});
