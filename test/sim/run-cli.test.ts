/**
 * `iovalab run` and `iovalab sweep` end to end, with short simulated
 * durations: JSON on stdout byte-identical for one seed, the report files,
 * the Perfetto file, and a sweep that resumes after losing its last result.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { iovalab } from "../helpers/iovalab.ts";
import { quickSkip } from "../helpers/quick.ts";
import { tempDir } from "../helpers/temp-dir.ts";

test("iovalab run --json: byte-identical for one seed; report, PNG and Perfetto files written", {
  skip: quickSkip("simulations run end to end"),
}, () => {
  const dir = tempDir("iovalab-run-");
  const args = [
    "run",
    "--json",
    "--duration",
    "2",
    "--warmup",
    "1",
    "--runs",
    "6.1-default-strict,6.1-sysfs-lazy,6.1-driver-lazy",
    "--out",
    dir,
  ];
  const a = iovalab([...args, "--perfetto", join(dir, "trace.json")]);
  assert.equal(a.status, 0, a.stderr);
  // Threads asked for: so short a scenario would otherwise run in this process too.
  const b = iovalab([...args, "--workers", "2"]);
  assert.equal(b.status, 0, b.stderr);
  // The traced runs ran one by one in this process, the untraced ones on worker threads, the
  // sysfs and driver routes as one simulation there: the same bytes.
  assert.equal(a.stdout, b.stdout, "a traced run has the figures of the untraced one");
  const j = JSON.parse(a.stdout);
  assert.equal(j.scenario, "main-job");
  assert.equal(typeof j.seed, "number");
  assert.deepEqual(
    j.runs.map((r: { name: string; kernel: string }) => [r.name, r.kernel]),
    [
      ["6.1-default-strict", "6.1"],
      ["6.1-sysfs-lazy", "6.1"],
      ["6.1-driver-lazy", "6.1"],
    ],
  );
  assert.deepEqual(
    j.runs.map((r: { rangeSource: string }) => r.rangeSource),
    ["default", "sysfs", "driver"],
  );
  assert.equal(readFileSync(join(dir, "report.json"), "utf8"), a.stdout);
  const png = readFileSync(join(dir, "report.png"));
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
  const html = readFileSync(join(dir, "report.html"), "utf8");
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script/);
  const trace = JSON.parse(readFileSync(join(dir, "trace.json"), "utf8"));
  const phases = new Set(trace.traceEvents.map((e: { ph: string }) => e.ph));
  for (const ph of ["M", "C", "i"]) assert.ok(phases.has(ph), `trace has ${ph} events`);
});

test("iovalab run with bad input: exit status 2 and one line naming the problem", () => {
  const dir = tempDir("iovalab-bad-");
  const f = join(dir, "bad.yaml");
  writeFileSync(f, "seed: 1\nruns:\n  - { name: x, mode: strict, range: sideways }\n");
  const r = iovalab(["run", f, "--out", dir]);
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    `iovalab: ${f}:3: runs.0.range: expected one of default, cmdline, driver, sysfs, found "sideways"\n`,
  );
  const d = iovalab(["run", "--duration", "soon"]);
  assert.equal(d.status, 2);
  assert.equal(
    d.stderr,
    'iovalab: --duration: expected positive milliseconds from 0 to 86400000 (24 h), in whole nanoseconds, or with a unit such as 500ms, 10s, 30min or 2h, found "soon"\n',
  );
  // One limit however the duration is given: a flag of 1e30 ms is refused as the YAML field is.
  const big = iovalab(["run", "--duration", "1e30"]);
  assert.equal(big.status, 2);
  assert.match(big.stderr, /^iovalab: --duration: expected positive milliseconds from 0 to 86400000 \(24 h\)/);
});

test("iovalab sweep appends each result; a rerun resumes and runs only what is missing", {
  skip: quickSkip("simulations run end to end"),
}, () => {
  const dir = tempDir("iovalab-sweep-");
  const f = join(dir, "s.yaml");
  writeFileSync(
    f,
    "durationMs: 1\nwarmupMs: 1\nruns:\n  - { name: d, mode: strict, range: default }\n  - { name: v, mode: strict, range: driver }\n",
  );
  const args = ["sweep", f, "--over", "disks.queueDepth=16,32", "--out", dir, "--workers", "2"];
  const first = iovalab(args);
  assert.equal(first.status, 0, first.stderr);
  const results = join(dir, "sweep.jsonl");
  const lines = readFileSync(results, "utf8").trimEnd().split("\n");
  assert.equal(lines.length, 4);
  assert.ok(existsSync(join(dir, "sweep.png")) && existsSync(join(dir, "sweep.html")));
  // A crash mid-write: one whole result lost, the one before it torn.
  writeFileSync(results, `${lines.slice(0, 2).join("\n")}\n${lines[2].slice(0, 40)}`);
  const second = iovalab(args);
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, /4 tasks, 2 already in .*, 2 to run/);
  const after = readFileSync(results, "utf8");
  const ids = after
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .flatMap((l) => {
      try {
        return [JSON.parse(l).id as string];
      } catch {
        return [];
      }
    });
  assert.deepEqual([...new Set(ids)].sort(), [
    "disks.queueDepth=16|d",
    "disks.queueDepth=16|v",
    "disks.queueDepth=32|d",
    "disks.queueDepth=32|v",
  ]);
  assert.match(second.stdout, /disks\.queueDepth/);
});
