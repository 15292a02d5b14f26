/** Test helper: `fn` must throw the bad-input error type, with a message matching `message`. */

import assert from "node:assert/strict";
import { InputError } from "../../src/stdx/errors.ts";

export function assertInputError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InputError, `expected an InputError, got ${e}`);
    assert.match(e.message, message);
    return true;
  });
}
