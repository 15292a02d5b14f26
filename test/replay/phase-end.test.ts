/**
 * The allocation a mid-life trace's learning phase ends before: it is counted
 * after the phase, so it is replayed as every allocation after it is. It was
 * replayed with the phase's adopting (the rule was read when the allocation
 * was counted, after it had been applied), and where the kernel handed it an
 * IOVA cached before the trace it was the one mismatch of a cut the trace
 * could show: 95.00% of a 273-line cut, 99.99% of 60,000-line cuts of the
 * lazy-timers captures.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { LearningPhase } from "../../src/replay/learning.ts";
import { iovalab } from "../helpers/iovalab.ts";

const FIXTURE = fileURLToPath(
  new URL("../fixtures/traces/linux-6.12-midlife-lazy-report-l-lines37990-38262.txt.gz", import.meta.url),
);

test("the phase's rule, read from the allocations counted: it ends the phase before the allocation after them", () => {
  // Two CPUs, magazines of 2: each CPU that allocated must have made 4 allocations.
  const learn = new LearningPhase(2, 2);
  learn.first(false, true, 0);
  assert.ok(learn.learning);
  for (let i = 0; i < 4; i++) learn.count(0, true, false);
  for (let i = 0; i < 3; i++) learn.count(1, true, false);
  assert.ok(!learn.ending, "CPU 1 has made 3 of its 4");
  learn.count(1, true, false);
  // The next allocation is the first after the phase, and is applied as one: still learning until it is counted.
  assert.ok(learn.ending && learn.learning && learn.adopting);
  learn.next(40, 5);
  assert.ok(!learn.learning && !learn.adopting && !learn.ending);
  assert.equal(learn.stats.endLine, 40);
});

// 6.12 capture lines 37990-38262, a cut of 66 allocations: the phase learns the first 6 (CPU 0 and 1) and ends
// before the 7th, at the cut's line 32, where fio on CPU 0 maps 0xbba95000. The model's own IOVA for it is
// 0xbe705000 and 0xbba95000 is free in its tree: the kernel took it from a magazine filled before the trace.
test("6.12 cut at line 37990: the first allocation after the phase, from a cache filled before the trace, is adopted and not a mismatch", () => {
  const out = iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme"]);
  assert.equal(out.status, 0, out.stderr);
  const text = out.stdout;
  assert.match(text, /its first 6 allocations \(3\.326 ms, up to line 32\) learned the caches/);
  // 41 after the phase taken from such caches, the 7th among them (before: 40, and line 32 the first mismatch).
  assert.match(text, /exact after it: 19\/60 \(31\.67%\); 41 after it taken from a cache filled before the trace/);
  assert.match(text, /of the 19 the trace could show, 19 exact \(100\.00%\)/);
  assert.match(text, /^first mismatch: none$/m);
  // The phase's adopting, applied to it, had resynchronised the replay after a "mismatch".
  assert.doesNotMatch(text, /resynchronised/);
  const json = JSON.parse(iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme", "--json"]).stdout);
  assert.equal(json.total.exactOfKnowable, 1);
  assert.equal(json.total.exact, 19);
  assert.equal(json.total.learned, 6);
});

// The 6.1 strict mixed capture from its line 29,769: a strict cut whose calls the CPU-order search holds before it
// counts them. The phase, read from the calls counted, ended 7 allocations late, and those, applied as the phase's,
// took the trace's IOVAs where the model's tree had others: "resynchronised: after 7 of the mismatches" without
// --resync, and the first of them the summary's first mismatch. Read as the calls are taken, they are tree
// allocations of space held since before the trace, adopted as every other such allocation after the phase is.
test("a strict mid-life cut replayed with the CPU-order search: the phase ends where its rule says, and nothing after it resynchronises", () => {
  const cut = fileURLToPath(
    new URL("../fixtures/traces/linux-6.1-strict-mixed-lines29769-33768.txt.gz", import.meta.url),
  );
  const out = iovalab(["replay", cut]);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /its first 177 allocations \(11\.084 ms, up to line 397\) learned the caches/);
  assert.doesNotMatch(out.stdout, /resynchronised/);
  assert.match(
    out.stdout,
    /exact after it: 1572\/1596 \(98\.50%\); 24 after it taken from a cache filled before the trace/,
  );
  assert.match(out.stdout, /^first mismatch: none$/m);
});
