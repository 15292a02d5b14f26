/**
 * A lazy trace begun while the disk was busy (README, "Where it still
 * fails"): the flush-queue timer was armed before the trace, so the rings
 * held unmaps from before it that it cannot count, and the replay after the
 * learning phase is mostly unlike the kernel's. The summary says so, from
 * the trace's own evidence (its first `fq_flush_timeout` event an expiry)
 * and the replay's own counts; a trace begun with the rings empty, or one
 * replayed well, gets no such warning.
 *
 * Fixtures (test/fixtures/traces/README.md): 6,000 lines of the 6.1
 * mid-life capture from its line 237,251 on, where 4 KiB reads ran at about
 * 16,000 a second, and the first 6,450 lines of the same capture, begun
 * after an idle moment.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { iovalab } from "../helpers/iovalab.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url).pathname;
const BUSY = `${FIXTURES}linux-6.1-midlife-lazy-report-l-lines237251-243250.txt.gz`;
const IDLE = `${FIXTURES}linux-6.1-midlife-lazy-report-l-head6450.txt.gz`;
const FROM_BOOT = `${FIXTURES}linux-6.1-lazy-timers-head8000.txt.gz`;

const WARNING = /the trace starts mid-life with the flush-queue timer armed/;

interface Figures {
  learned: number;
  afterLearning: number;
  exactAfterLearning: number;
  exactOfKnowable: number | null;
}

function json(path: string, ...more: string[]): { total: Figures; warnings: string[] } {
  const out = iovalab(["replay", path, "--machine", "qemu-q35-nvme", "--json", ...more]);
  assert.equal(out.status, 0, out.stderr);
  return JSON.parse(out.stdout);
}

test("a lazy trace begun while the rings held unmaps from before it: the summary warns, with the replay's own counts", () => {
  // The trace's first flush-queue timer line is an expiry (line 852); its first timer_start comes after it (859).
  // Not searched (the replay searches such a start unasked: test/replay/busy-start.test.ts).
  const text = iovalab(["replay", BUSY, "--machine", "qemu-q35-nvme", "--no-search-start"]);
  assert.equal(text.status, 0, text.stderr);
  const learning = /of the (\d+) the trace could show, (\d+) exact/.exec(text.stdout);
  assert.ok(learning, text.stdout);
  const [knowable, exact] = [Number(learning[1]), Number(learning[2])];
  // Measured 2026-12-05: 154 of the 2,317 it could show (6.65%); from the kernel's state at the cut, with its rings'
  // 25 and 35 entries, the same cut replays 99.88% (docs/mid-life-replay.md, "Busy cuts").
  assert.ok(knowable >= 1000 && exact < knowable / 2, `${exact}/${knowable}`);
  const warning = text.stdout.split("\n").find((l) => WARNING.test(l)) ?? "";
  assert.ok(warning.startsWith("warning: "), text.stdout);
  assert.ok(warning.includes(`${exact} of the ${knowable} allocations after the learning phase`), warning);
  assert.ok(warning.includes("--search-start searches"), warning);
  const j = json(BUSY, "--no-search-start");
  assert.equal(j.warnings.filter((w) => WARNING.test(w)).length, 1);
  assert.equal(j.total.exactOfKnowable, exact / knowable);
});

test("no such warning for a trace begun with the rings empty, nor for one from boot; neither is searched", () => {
  for (const path of [IDLE, FROM_BOOT]) {
    const out = iovalab(["replay", path, "--machine", "qemu-q35-nvme"]);
    assert.equal(out.status, 0, out.stderr);
    assert.doesNotMatch(out.stderr, /searched|--search-start/, path);
    const j = json(path);
    assert.deepEqual(
      j.warnings.filter((w) => WARNING.test(w)),
      [],
      path,
    );
  }
  // The idle start is mid-life and replays well: what it could show after the phase is exact.
  const idle = json(IDLE);
  assert.ok((idle.total.exactOfKnowable ?? 0) > 0.99, String(idle.total.exactOfKnowable));
});
