/**
 * Each command once as its own process, beside the same argv through
 * `iovalab()`: in the quick tier that runs in the test's process, so the two
 * must print the same bytes and end with the same status. The commands the
 * README's examples and the edge tests already start as processes (ops,
 * shell, replay, advise, run) are not repeated here.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { iovalab, iovalabProcess } from "./helpers/iovalab.ts";

const RUNS: [string[], number][] = [
  [["kernels"], 0],
  [["demo", "--mappings", "2000", "--seed", "7"], 0],
  [["collect"], 0],
  [["machine", "import", "/nonexistent/snap.json", "--out", "/nonexistent/m.yaml"], 2],
  [["explore", "--port", "http"], 2],
  [["sweep", "--help"], 0],
  [["worker", "--help"], 0],
];

for (const [args, status] of RUNS) {
  test(`iovalab ${args.join(" ")}: the process prints what the in-process run prints, status ${status}`, () => {
    const proc = iovalabProcess(args);
    assert.equal(proc.status, status, proc.stderr);
    assert.ok(proc.stdout.length + proc.stderr.length > 0);
    assert.deepEqual(iovalab(args), proc);
  });
}
