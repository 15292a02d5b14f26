/**
 * Each command once as its own process, beside the same argv through
 * `iovalab()`: in the quick tier that runs in the test's process, so the two
 * must print the same bytes and end with the same status. The commands the
 * README's examples and the edge tests already start as processes (ops,
 * shell, replay, advise, run) are not repeated here.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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

test("under a Node older than 24 (a system's own, run as `node bin/iovalab.js`) the command says so and exits 2", (t) => {
  // Before the check it ended at once, silent, with status 0: `import.meta.main` is undefined before Node 24.
  const main = new URL("../bin/iovalab.js", import.meta.url).pathname;
  const older = (process.env.PATH ?? "")
    .split(":")
    .concat(["/usr/bin", "/usr/local/bin"])
    .map((dir) => `${dir}/node`)
    .find((node) => {
      const v = spawnSync(node, ["-p", "process.versions.node"], { encoding: "utf8" });
      return v.status === 0 && Number(v.stdout.split(".")[0]) < 24;
    });
  if (older === undefined) {
    t.skip("no Node older than 24 on this machine");
    return;
  }
  const r = spawnSync(older, [main, "replay", "samples/trace-6.1-strict-4k.txt.gz"], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^iovalab: expected Node 24 or later, found v\d+\.\d+\.\d+ \(.*\): run it as `npx iovalab/);
});
