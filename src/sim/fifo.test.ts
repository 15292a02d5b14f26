import assert from "node:assert/strict";
import { test } from "node:test";
import { Fifo } from "./fifo.ts";

test("a fifo keeps order across wrap-around and growth; unshift puts an item back at the head", () => {
  const f = new Fifo<number>(2);
  const model: number[] = [];
  // A fixed pattern of pushes, shifts and unshifts checked against a plain array.
  for (let i = 0; i < 200; i++) {
    if (i % 3 === 0 && model.length > 0) {
      const a = f.shift();
      assert.equal(a, model.shift());
      if (i % 9 === 0) {
        f.unshift(a);
        model.unshift(a);
      }
    } else {
      f.push(i);
      model.push(i);
    }
    assert.equal(f.size, model.length);
    if (model.length > 0) assert.equal(f.peek(), model[0]);
  }
  const rest: number[] = [];
  while (f.size > 0) rest.push(f.shift());
  assert.deepEqual(rest, model);
});
