/**
 * The explorer's trace source, in Node (the page runs the same code): a
 * trace replays in the page as `iovalab replay` replays it, with the
 * kernel, capture mode and machine the trace shows and its flush-queue
 * timer events among the calls. A lazy trace whose flushes came from the
 * model's own timer instead would part from the kernel within its first
 * flushes.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { analyse } from "../src/explore/lane.ts";
import { traceSource } from "../src/explore/source.ts";
import { iovalab } from "./helpers/iovalab.ts";

const TRACES = join(import.meta.dirname, "fixtures", "traces");

for (const file of ["linux-6.12-lazy-timers-head8000.txt.gz", "linux-6.1-lazy-timers-head8000.txt.gz"]) {
  test(`${file}: the page's replay, with no flag, is the command line's (timer events, defaults from the trace)`, () => {
    const path = join(TRACES, file);
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const source = traceSource({ kind: "trace", name: file, data: "" }, text);
    assert.equal(source.baseline.strict, false, "the timer events say lazy");
    const spec = source.lane(source.baseline, "baseline");
    assert.ok(spec.work.length > 0, "the trace's timer events reach the lane");
    const info = analyse(spec, 50);
    const page = /IOVAs as recorded: (\d+)\/(\d+) allocations/.exec(info.summary.join("\n"));
    assert.ok(page, info.summary.join("\n"));
    const cli = iovalab(["replay", path, "--json"]);
    assert.equal(cli.status, 0, cli.stderr);
    const total = JSON.parse(cli.stdout).total as { allocations: number; exact: number };
    assert.deepEqual([Number(page[1]), Number(page[2])], [total.exact, total.allocations]);
    // Without the work events the same calls part from the kernel.
    const noTimer = analyse({ ...spec, work: [] }, 50);
    const m = /IOVAs as recorded: (\d+)\//.exec(noTimer.summary.join("\n"));
    assert.ok(m !== null && Number(m[1]) < total.exact, noTimer.summary.join("\n"));
  });
}
