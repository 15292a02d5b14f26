import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDurationMs } from "../stdx/duration.ts";
import { InputError } from "../stdx/errors.ts";

test("parseDurationMs: units ns to h, a bare number is ms, whole nanoseconds only", () => {
  assert.equal(parseDurationMs("--warmup", "500ms"), 500);
  assert.equal(parseDurationMs("--warmup", "10"), 10);
  assert.equal(parseDurationMs("--warmup", "1.5s"), 1500);
  assert.equal(parseDurationMs("--warmup", "30min"), 1_800_000);
  assert.equal(parseDurationMs("--warmup", "2h"), 7_200_000);
  assert.equal(parseDurationMs("--warmup", "250us"), 0.25);
  assert.equal(parseDurationMs("--warmup", "7ns"), 0.000007);
  for (const bad of ["", "h", "-1s", "1 d", "0.5ns", "1e3ms"]) {
    assert.throws(() => parseDurationMs("--warmup", bad), InputError, bad);
  }
});
