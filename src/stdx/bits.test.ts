import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { flsLong, orderBase2, orderBase2Small, roundupPowOfTwo } from "./bits.ts";

test("orderBase2 is ceil(log2 n): 2^k and 2^k + 1 on each side of every power up to 2^52", () => {
  assert.equal(orderBase2(0), 0);
  assert.equal(orderBase2(1), 0);
  for (let k = 1; k <= 52; k++) {
    assert.equal(orderBase2(2 ** k), k, `2^${k}`);
    assert.equal(orderBase2(2 ** k + 1), k + 1, `2^${k} + 1`);
    assert.equal(orderBase2(2 ** k - 1), k === 1 ? 0 : k, `2^${k} - 1`);
  }
  assert.equal(flsLong(2 ** 52), 53);
  assert.equal(roundupPowOfTwo(3), 4);
});

test("the hot paths' 32-bit order_base_2 agrees with the general one on 0..2^31", () => {
  for (const n of [0, 1, 2, 3, 4, 5, 2 ** 20, 2 ** 20 + 1, 2 ** 31 - 1, 2 ** 31]) {
    assert.equal(orderBase2Small(n), orderBase2(n), String(n));
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (n) => orderBase2Small(n) === orderBase2(n)),
    { numRuns: 2000 },
  );
});
