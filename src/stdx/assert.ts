/**
 * Assertions for programming errors (house style, failure kind 1): they throw
 * and are never caught. Kernel outcomes are values, bad user input is
 * `InputError`; neither goes through here.
 */

export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: boolean, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError(message);
}
