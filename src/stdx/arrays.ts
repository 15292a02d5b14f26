/**
 * Arrays and fields born with the kind of number or reference they will hold.
 *
 * Arrays: born with the element kind they will hold. An engine keeps an
 * array's elements as small integers, doubles or references, and `[]` starts
 * as small integers: the first reference (or time above 2^31 ns) put in it
 * changes its kind, and code compiled for the arrays of an earlier run (a
 * simulation builds fresh ones each run) sees the new array as a stranger and
 * is thrown away and compiled again, about 40 times in the second run of a
 * process. These start as the kind they end as; lengths and contents are
 * those of `[]`.
 *
 * Each is a copy of an empty template of that kind: a literal made here
 * instead would share one allocation record among every caller, and an
 * engine learns from that record what kind to make next (one caller's holes
 * would make every later array holey).
 */

const REFS: unknown[] = [null];
REFS.length = 0;
const HOLEY_REFS: unknown[] = [];
HOLEY_REFS[1] = null;
HOLEY_REFS.length = 0;
const NUMS = [0.5];
NUMS.length = 0;

/** An empty array for references (objects, null), appended to in order. */
export function refArray<T>(): T[] {
  return REFS.slice() as T[];
}

/** An empty array for references written at any index (holes between). */
export function holeyRefArray<T>(): T[] {
  return HOLEY_REFS.slice() as T[];
}

/** An array of `n` zeros (none by default) for numbers that need not be small integers (times in ns, byte offsets, sums of counts read from typed arrays). */
export function numArray(n = 0): number[] {
  const a = NUMS.slice();
  for (let i = 0; i < n; i++) a.push(0);
  return a;
}

/**
 * Zero as a double: a field given this first is born keeping doubles. An engine keeps a field
 * that has only held small integers as one, and the first time or sum above 2^31 (or a double
 * read from a Float64Array) stored there changes the layout of its object's class: code compiled
 * for the old layout is thrown away then, and again in the next run, where every field that holds
 * one of these objects sees a new class. The same number as `0` (`Object.is(F64_ZERO, 0)`).
 */
export const F64_ZERO: number = new Float64Array(1)[0];
