/**
 * `IovaStats.snapshot()` names its counters one by one: every counter an
 * instance has must be in it, in declaration order (a boot key serializes
 * it), and `restore()` must put each one back.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { IovaStats } from "./stats.ts";

test("a snapshot holds every counter of the instance, in its order, and restore puts each back", () => {
  const s = new IovaStats(3);
  const fields = s as unknown as Record<string, number | Float64Array>;
  const snap = s.snapshot() as unknown as Record<string, number | Float64Array>;
  assert.deepEqual(Object.keys(snap), Object.keys(s));
  // Every counter moved to a distinct value, then back by restore.
  let v = 1;
  for (const k of Object.keys(s)) {
    const f = fields[k];
    if (f instanceof Float64Array) f.fill(v++);
    else fields[k] = v++;
  }
  const moved = s.snapshot() as unknown as Record<string, number | Float64Array>;
  s.restore(snap as never);
  for (const k of Object.keys(s)) {
    const f = fields[k];
    if (f instanceof Float64Array) assert.deepEqual([...f], [0, 0, 0], k);
    else assert.equal(f, 0, k);
  }
  s.restore(moved as never);
  for (const k of Object.keys(s)) assert.deepEqual(fields[k], moved[k], k);
});
