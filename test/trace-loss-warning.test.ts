/**
 * What `iovalab advise` and the explorer say of a trace whose ring buffer
 * lost events (`src/trace/loss-warning.ts`): both replay past a loss (every
 * setting on the same calls), so both say so; `iovalab replay` splits such a
 * trace in spans instead (`test/replay/ring-buffer-loss.test.ts`). The trace
 * is the 6.12 lazy-timers fixture with the kernel's marker for 100 events
 * CPU 1 lost put before its line 5,000.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { traceSource } from "../src/explore/source.ts";
import { iovalab } from "./helpers/iovalab.ts";
import { tempDir } from "./helpers/temp-dir.ts";

const FIXTURE = join(import.meta.dirname, "fixtures", "traces", "linux-6.12-lazy-timers-head8000.txt.gz");
const TEXT = gunzipSync(readFileSync(FIXTURE)).toString("utf8");
const LINES = TEXT.split("\n");
const LOSSY = [...LINES.slice(0, 4999), "CPU:1 [LOST 100 EVENTS]", ...LINES.slice(4999)].join("\n");
const WARNING =
  /the ring buffer lost 100 events in one place \(an overrun\); the calls the trace kept are replayed past/;

test("advise: a trace that lost events says so on stderr; one that lost none does not", () => {
  const dir = tempDir("iovalab-loss-");
  const lossy = join(dir, "lossy.txt");
  writeFileSync(lossy, LOSSY);
  const r = iovalab(["advise", lossy]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`iovalab advise: warning: ${lossy}: ${WARNING.source}`));
  const whole = iovalab(["advise", FIXTURE]);
  assert.equal(whole.status, 0, whole.stderr);
  assert.doesNotMatch(whole.stderr, /lost/);
  // The advice itself is the same kind of table either way.
  assert.match(r.stdout, /^group1 \(0000:00:01\.0\): range now 128 KiB$/m);
});

test("the explorer: a trace that lost events has the warning among its notes", () => {
  const lossy = traceSource({ kind: "trace", name: "lossy.txt", data: "" }, LOSSY);
  const warned = lossy.notes.filter((n) => WARNING.test(n));
  assert.equal(warned.length, 1, lossy.notes.join("\n"));
  assert.match(warned[0], /^warning: /);
  const whole = traceSource({ kind: "trace", name: "whole.txt", data: "" }, TEXT);
  assert.equal(whole.notes.filter((n) => /lost/.test(n)).length, 0, whole.notes.join("\n"));
});
