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
  for (const n of [0, 9, 10, 999_999_999, 1_000_000_000, 1_000_000_001, 2 ** 53 - 1]) {
    const o = new ByteOut();
    o.num(n);
    o.line("x");
    assert.equal(Buffer.from(o.bytes()).toString("latin1"), `${n}x\n`);
  }
});
