/**
 * Where a strict replay's search for the order of two CPUs' calls stops
 * (`src/replay/cpu-order.ts`): after a run of searches that found none, a
 * trace of another mode (a lazy head replayed as strict), never on a
 * from-boot strict capture nor inside a mid-life cut's learning phase; and
 * stopping changes no IOVA the replay reports. Expected IOVAs are the full search's own.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { CpuOrder, FAILED_RUN, type OrderHost } from "../../src/replay/cpu-order.ts";
import type { DmaCall } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { replayStrict } from "../helpers/strict-replay.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

const replay = replayStrict;

test("a 6.12 lazy head replayed as strict: the order search stops after a run of failed searches, and no IOVA changes", () => {
  // The head's lazy frees are reused from the flush queue's order, which no order of two CPUs' calls gives.
  const text = fixture("linux-6.12-lazy-mixed-head600.txt.gz");
  const stops = replay(text, "mainline");
  const full = replay(text, "mainline", { cpuOrderStops: false });
  const s = stops.result.cpuOrderStopped;
  assert.ok(s !== null);
  assert.equal(s.reason, "failed-run");
  assert.ok(s.failed >= FAILED_RUN && s.searches > s.failed, JSON.stringify(s));
  assert.equal(full.result.cpuOrderStopped, null);
  // What the full search found, the stopped one found before it stopped.
  assert.ok(full.result.cpuOrderMoves > 0);
  assert.equal(stops.result.cpuOrderMoves, full.result.cpuOrderMoves);
  assert.deepEqual(stops.emitted, full.emitted);
  assert.equal(stops.result.exact, full.result.exact);
  assert.deepEqual([...stops.result.mismatchCauses], [...full.result.mismatchCauses]);
  assert.deepEqual(stops.result.firstMismatch, full.result.firstMismatch);
});

test("a 6.12 strict trace cut at line 26254: the searches of its learning phase do not stop the search, and no IOVA changes", () => {
  // Its phase (to the cut's line 2273) adopts the kernel's IOVAs where the model's, from a state it is still
  // learning, differ: the first 16 searches, to line 61, found no order, and the search used to stop there.
  const text = fixture("linux-6.12-strict-mixed-lines26254-29253.txt.gz");
  const stops = replay(text, "mainline");
  const full = replay(text, "mainline", { cpuOrderStops: false });
  assert.equal(stops.result.learning.endLine, 2273);
  assert.equal(stops.result.cpuOrderStopped, null);
  assert.deepEqual(stops.emitted, full.emitted);
  assert.equal(stops.result.exact, full.result.exact);
});

test("from-boot strict heads never stop searching: the 6.1 head's order (line 3005 after 3014) is still found", () => {
  const r = replay(fixture("linux-6.1-strict-mixed-head3200.txt.gz"), "6.1");
  assert.equal(r.result.cpuOrderStopped, null);
  assert.ok(r.result.cpuOrderMoves >= 1);
  assert.equal(r.result.exact, r.result.allocations);
  assert.equal(replay(fixture("linux-6.12-strict-mixed-head3000.txt.gz"), "mainline").result.cpuOrderStopped, null);
});

test("the summary says where and why the search stopped: a warning in the text and --json, none for a strict head", () => {
  const head = new URL("linux-6.12-lazy-mixed-head600.txt.gz", FIXTURES).pathname;
  const text = iovalab(["replay", head, "--machine", "qemu-q35-nvme", "--captured", "strict"]);
  assert.equal(text.status, 0, text.stderr);
  const line = new RegExp(
    `^warning: the replay stopped searching for the order of two CPUs' calls at ${head.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:(\\d+), ` +
      `after (\\d+) searches \\((\\d+) found none\\): ${FAILED_RUN} searches in a row found no order`,
    "m",
  );
  const m = line.exec(text.stdout);
  assert.ok(m, text.stdout);
  // The line is a map event of the trace.
  assert.match(fixture("linux-6.12-lazy-mixed-head600.txt.gz").split("\n")[Number(m[1]) - 1], / map: IOMMU: iova=/);
  const json = JSON.parse(
    iovalab(["replay", head, "--machine", "qemu-q35-nvme", "--captured", "strict", "--json"]).stdout,
  );
  assert.ok(json.warnings.some((w: string) => w.includes("stopped searching for the order")));
  const strict = new URL("linux-6.1-strict-4k-head600.txt.gz", FIXTURES).pathname;
  const ok = JSON.parse(iovalab(["replay", strict, "--machine", "qemu-q35-nvme", "--json"]).stdout);
  assert.ok(!ok.warnings.some((w: string) => w.includes("stopped searching")));
});

test("CpuOrder on a host still learning a trace's start state: its searches that find none count after it only", () => {
  // As the host below, learning up to the trace's line 20: the failed searches of those lines do not stop it.
  let furthest = 0;
  const host: OrderHost<number, { addr: number }> = {
    apply: (c) => {
      furthest = Math.max(furthest, c.line);
      return { addr: 1 };
    },
    save: () => 0,
    restore: () => {},
    finalize: () => {},
    learning: () => furthest <= 20,
  };
  const o = new CpuOrder(host, true);
  for (let i = 0; i < 400; i++)
    o.push({ kind: "map", cpu: i % 2, pid: 100 + (i % 2), iova: 2, line: i + 1, timestampNs: i } as DmaCall);
  o.end();
  const s = o.stopped;
  assert.ok(s !== null);
  assert.equal(s.reason, "failed-run");
  // Every search found none; FAILED_RUN of them after the phase stopped it, past the phase's own.
  assert.ok(s.failed > FAILED_RUN && s.searches === s.failed, JSON.stringify(s));
  assert.ok(s.line > 20, JSON.stringify(s));
});

test("CpuOrder on a host whose maps never land where the trace says: FAILED_RUN searches, then none", () => {
  // Two CPUs alternating maps: every map has candidate orders, and none gives the trace's IOVA.
  let applied = 0;
  const host: OrderHost<number, { addr: number }> = {
    apply: () => {
      applied++;
      return { addr: 1 };
    },
    save: () => 0,
    restore: () => {},
    finalize: () => {},
  };
  const calls: DmaCall[] = [];
  for (let i = 0; i < 400; i++)
    calls.push({ kind: "map", cpu: i % 2, pid: 100 + (i % 2), iova: 2, line: i + 1, timestampNs: i } as DmaCall);
  const o = new CpuOrder(host, true);
  for (const c of calls) o.push(c);
  o.end();
  assert.equal(o.failed, FAILED_RUN);
  assert.equal(o.stopped?.reason, "failed-run");
  assert.equal(o.stopped?.searches, FAILED_RUN);
  const stoppedAt = applied;
  applied = 0;
  const all = new CpuOrder(host, false);
  for (const c of calls) all.push(c);
  all.end();
  // Without stopping, every map searches (up to the 256 failed searches); stopping costs a fraction of it.
  assert.ok(all.failed > 10 * FAILED_RUN, String(all.failed));
  assert.ok(stoppedAt * 5 < applied, `${stoppedAt} vs ${applied}`);
});
