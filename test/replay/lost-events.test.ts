/**
 * Traces that lost events. `trace-cmd record` without `--no-filter` adds
 * `common_pid != <its own pids>` to every event's filter, so whatever an
 * interrupt does while one of its reader threads runs is never recorded:
 * completion unmaps, flush-queue timer expiries and the `timer_start`s
 * inside unmaps. The mid-life captures were recorded with `--no-filter`;
 * their readers show as `cat-PID` and `exe-PID`, and removing those lines is
 * exactly what the default filter would have done. Every trace here is
 * real lines, so removed; every expected IOVA is the trace's own.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { LostUnmaps } from "../../src/replay/lost-unmaps.ts";
import { Q35_NVME_TRACE_MACHINE } from "../../src/trace/machine.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { type DmaCall, type Finding, reconstruct } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { quickSkip } from "../helpers/quick.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
/** ../shared beside the repository (IOVALAB_SHARED names a copy elsewhere). */
const SHARED = process.env.IOVALAB_SHARED ?? new URL("../../../shared/", import.meta.url).pathname;

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

/** The lines trace-cmd's default filter keeps: none of its readers' (`cat-PID`, `exe-PID` in these captures). */
function filtered(text: string): string {
  return without(text, /^\s*(cat|exe)-\d+\s/);
}

/** `text` without the lines `drop` matches. */
function without(text: string, drop: RegExp): string {
  return text
    .split("\n")
    .filter((l) => !drop.test(l))
    .join("\n");
}

/** `iovalab replay --json` of `text`, written gzip'd to a temporary file. */
function replayedJson(text: string): {
  warnings: string[];
  devices: { exactOfKnowable: number }[];
} {
  const dir = mkdtempSync(join(tmpdir(), "iovalab-lost-"));
  try {
    const f = join(dir, "trace.txt.gz");
    writeFileSync(f, gzipSync(text));
    const r = iovalab(["replay", f, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A full trace of `../shared`, decompressed. */
function sharedText(name: string): string {
  return gunzipSync(readFileSync(`${SHARED}${name}`)).toString("utf8");
}

/** The options of a test that reads full trace `name` of `../shared`: skipped without it, or in the quick tier. */
function withShared(name: string): { skip: string | false } {
  return {
    skip: existsSync(`${SHARED}${name}`) ? quickSkip("the full traces of ../shared") : `${SHARED} is not present`,
  };
}

/** The replay's warning that the trace lost events, or "". */
function lostWarning(j: { warnings: string[] }): string {
  return j.warnings.find((x) => x.startsWith("the trace lost events")) ?? "";
}

function calls(text: string): { calls: DmaCall[]; findings: Finding[] } {
  const { events } = readTraceText(text, { file: "t", strictInput: true });
  const r = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: "t" });
  return { calls: r.calls, findings: r.reconstructor.findings };
}

/** The map call whose first map event is the `n`-th line that maps `iova` (1-based). */
function mapOf(cs: DmaCall[], text: string, iova: string, n: number): DmaCall {
  const lines = text.split("\n");
  const at: number[] = [];
  lines.forEach((l, i) => {
    if (l.includes(` map: `) && l.includes(`iova=${iova} `)) at.push(i + 1);
  });
  const c = cs.find((x) => x.kind === "map" && x.line === at[n - 1]);
  assert.ok(c, `map ${n} of ${iova}`);
  return c;
}

// 6.12 capture lines 37996-38259: fio-272 maps 0xbf2ff000 on CPU 1 (37996, its dma_map_page right after), a
// completion interrupt stops trace-cmd's reader cat-274 and unmaps it (38003), fio-273 maps it again on CPU 0
// (38253) and unmaps it (38259).
test("6.12, a completion unmap the filter drops: the next map of its IOVA reuses the allocation whose unmap was lost", () => {
  const text = fixture("linux-6.12-midlife-lazy-report-l-lines37990-38262.txt.gz");
  const whole = calls(text);
  assert.ok(whole.calls.every((c) => c.kind === "unmap" || c.reuses === 0));
  assert.equal(whole.findings.filter((f) => f.kind === "map-overlap").length, 0);
  const cut = filtered(text);
  assert.equal(cut.split("\n").length, text.split("\n").length - 2);
  const r = calls(cut);
  const first = mapOf(r.calls, cut, "0x00000000bf2ff000", 1);
  const again = mapOf(r.calls, cut, "0x00000000bf2ff000", 2);
  assert.equal(first.cpu, 1);
  assert.equal(again.cpu, 0);
  assert.equal(again.reuses, first.allocation);
  assert.equal(again.reusesCpu, 1);
  // With dma:* events a map's grouping is decided at once; a mapping still live waits for its unmap all the same,
  // so the reuse marks it before it goes out.
  assert.ok(first.unmapLost);
  assert.ok(!again.unmapLost);
  // Its own unmap (38259) frees the new allocation, not the old one.
  const unmaps = r.calls.filter((c) => c.kind === "unmap" && c.iova === 0xbf2ff000);
  assert.equal(unmaps.at(-1)?.allocation, again.allocation);
  const overlaps = r.findings.filter((f) => f.kind === "map-overlap");
  assert.equal(overlaps.length, 1);
  assert.deepEqual(overlaps[0].relatedLines, [first.line]);
});

// 6.1 capture lines 15167-15233 (no dma:* events, so a map event waits for its unmap to be grouped): fio-235 maps
// 0xbed1f000 on CPU 1 (15167); a hardirq that stopped cat-237 unmaps it with 31 others (15168-15199); fio-235 maps it
// again on CPU 1 (15202) and the interrupt at 15233 unmaps that.
test("6.1, a map event still ungrouped when its IOVA is mapped again on its CPU: its unmap was lost, and the later unmap is the new map's", () => {
  const text = fixture("linux-6.1-midlife-lazy-report-l-lines15160-15240.txt.gz");
  const cut = filtered(text);
  const r = calls(cut);
  const first = mapOf(r.calls, cut, "0x00000000bed1f000", 1);
  const again = mapOf(r.calls, cut, "0x00000000bed1f000", 2);
  assert.equal(again.reuses, first.allocation);
  const unmaps = r.calls.filter((c) => c.kind === "unmap" && c.iova === 0xbed1f000);
  assert.equal(unmaps.length, 1);
  assert.equal(unmaps[0].allocation, again.allocation);
  // Unfiltered, the same lines group as the kernel made them: each map its own unmap.
  const whole = calls(text);
  assert.ok(whole.calls.every((c) => c.kind === "unmap" || c.reuses === 0));
  assert.equal(whole.calls.filter((c) => c.kind === "unmap" && c.iova === 0xbed1f000).length, 2);
});

// 6.1 capture lines 1-21560. While trace-cmd's readers ran, the capture shows 97 unmaps in four hardirqs:
// cat-237 on CPU 1 (15168-15199, 32), exe-238 on CPU 0 (15838, one), exe-239 on CPU 0 (16338-16369 and
// 16463-16494, 32 each), and two flush-queue expiries on CPU 1 (15200, 16110).
const LOST_61 = "linux-6.1-midlife-lazy-report-l-head21560.txt.gz";

test("6.1, an unmap lost on one CPU and its range mapped again on the other: the reuse marks the lost one", () => {
  const text = fixture(LOST_61);
  const cut = filtered(text);
  const r = calls(cut);
  // fio-234 maps 0xbec1e000 on CPU 0 (15837), exe-238's interrupt unmaps it (15838), fio-234 maps it again on CPU 1
  // (21488), 5,650 lines on: with no dma:* events every range is in one domain, so its unmap was lost.
  const lines = cut.split("\n");
  const at = (stamp: string) => {
    const line = lines.findIndex((l) => l.includes(`${stamp}: map:`)) + 1;
    const c = r.calls.find((x) => x.kind === "map" && x.line === line);
    assert.ok(c, stamp);
    return c;
  };
  const first = at("31.237898");
  const again = at("31.630615");
  assert.equal(first.iova, 0xbec1e000);
  assert.equal(again.iova, 0xbec1e000);
  assert.equal(first.cpu, 0);
  assert.equal(again.cpu, 1);
  assert.equal(again.reuses, first.allocation);
  assert.equal(again.reusesCpu, 0);
  assert.ok(first.unmapLost);
  // The later unmap (21556) is the new mapping's.
  const unmaps = r.calls.filter((c) => c.kind === "unmap" && c.iova === 0xbec1e000);
  assert.equal(unmaps.at(-1)?.allocation, again.allocation);
  // Unfiltered, nothing is lost.
  assert.ok(calls(text).calls.every((c) => !c.unmapLost && (c.kind === "unmap" || c.reuses === 0)));
});

test("6.1, an interrupt's unmaps come in the order of their CPU's maps: the lost ones are queued so", () => {
  const text = fixture(LOST_61);
  const lines = text.split("\n");
  const whole = calls(text).calls;
  // exe-239's first interrupt on CPU 0 (capture lines 16338-16369): the allocations it frees, in its order.
  const freed = whole.filter((c) => c.kind === "unmap" && c.line >= 16338 && c.line <= 16369);
  assert.equal(freed.length, 32);
  assert.ok(freed.every((c) => c.cpu === 0 && /^\s*exe-239\s/.test(lines[c.line - 1])));
  const order = freed.map((c) => c.allocation);
  // Ascending: the device completed CPU 0's requests in the order fio-234 submitted them (16274-16337).
  assert.deepEqual(
    order,
    order.slice().sort((a, b) => a - b),
  );
  const maps = whole.filter((c) => c.kind === "map" && order.includes(c.allocation));
  assert.ok(maps.every((c) => c.cpu === 0 && c.line >= 16274 && c.line <= 16337));
  // Filtered, each of those maps is marked lost. (A map is known by its time and IOVA: the filter shifts lines, and
  // with no unmap to group them, map events of consecutive IOVAs on one CPU may make one call.)
  const from = Math.min(...maps.map((c) => c.timestampNs));
  const cut = calls(filtered(text)).calls.filter((c) => c.kind === "map" && c.timestampNs >= from);
  for (const m of maps) {
    const f = cut.find((c) => c.iova <= m.iova && m.iova < c.iova + c.sizeBytes && c.timestampNs <= m.timestampNs);
    assert.ok(f?.unmapLost, `${m.iova.toString(16)}`);
  }
  const made: number[] = [];
  const q = new LostUnmaps((allocation) => {
    made.push(allocation);
    return true;
  });
  for (const a of order.slice().reverse()) q.add(a, 0);
  q.add(order[0] + 1_000_000, 1);
  // Not before an unmap of an earlier map, nor another CPU's.
  q.before(0, order[0]);
  q.before(1, order.at(-1) as number);
  assert.deepEqual(made, []);
  // Before CPU 0's traced unmap of a later map: all 32, in the interrupt's order; the other CPU's at the flush.
  q.before(0, (order.at(-1) as number) + 1);
  assert.deepEqual(made, order);
  q.all();
  assert.deepEqual(made, [...order, order[0] + 1_000_000]);
  assert.equal(q.size, 0);
});

test("6.1, the lines trace-cmd's default filter keeps: every allocation the trace can show is exact, the lost unmaps queued on their CPUs", () => {
  const text = fixture(LOST_61);
  const j = replayedJson(filtered(text));
  // Before the lost unmaps were queued: 76.47% (each burst's ranges taken over one by one, the magazines' fill
  // shifted from the first flush on).
  assert.equal(j.devices[0].exactOfKnowable, 1);
  const w = lostWarning(j);
  assert.match(w, /: 93 maps took IOVA ranges/);
  assert.match(w, /3 flush-queue expiries missing/);
  // Unfiltered: exact as well, nothing lost.
  const k = replayedJson(text);
  assert.equal(k.devices[0].exactOfKnowable, 1);
  assert.ok(!k.warnings.some((x: string) => x.startsWith("the trace lost events")));
});

const MID_612 = "kernel-more/trace-6.12-midlife-lazy.txt.gz";

test(
  "the 6.12 mid-life capture as the default filter would have recorded it: lost events counted and bridged",
  withShared(MID_612),
  () => {
    const text = sharedText(MID_612);
    // Only the unmaps of trace-cmd's readers dropped (with their dma_unmap_page): the five are bridged.
    const ja = replayedJson(without(text, /^\s*(cat|exe)-\d+\s.* (unmap|dma_unmap_page): /));
    const da = ja.devices[0];
    assert.ok(da.exactOfKnowable > 0.9999, `${da.exactOfKnowable}`);
    assert.ok(ja.warnings.some((w: string) => /^the trace lost events: 5 maps took IOVA ranges/.test(w)));
    // Everything of theirs dropped: one expiry lost too, told by the timer_start after it.
    const jb = replayedJson(filtered(text));
    const w = lostWarning(jb);
    assert.ok(w);
    assert.match(w, /5 maps took IOVA ranges .* 1 flush-queue expiry missing/);
    assert.match(w, /--no-filter/);
    // The expiry (line 38642, on CPU 0, the base its timer_start named) ran before fio-273's next map on CPU 0
    // took 0xbf2be000 from it (38644): every allocation the trace could show is exact again.
    assert.ok(jb.devices[0].exactOfKnowable > 0.9999, `${jb.devices[0].exactOfKnowable}`);
    // The capture itself lost nothing.
    const rc = iovalab(["replay", `${SHARED}${MID_612}`, "--json"]);
    assert.equal(rc.status, 0, rc.stderr);
    assert.ok(!JSON.parse(rc.stdout).warnings.some((x: string) => x.startsWith("the trace lost events")));
  },
);

const MID_61 = "kernel-more/trace-6.1-midlife-lazy.txt.gz";

test(
  "the 6.1 mid-life capture without trace-cmd's readers' timer events: its three lost expiries run where the evidence puts them",
  withShared(MID_61),
  () => {
    // Lines 15200, 16110 and 18935: expiries on CPU 1 in softirqs that stopped cat-237, exe-239 and cat-246, each on
    // the base (cpu=1) its timer_start named.
    const text = sharedText(MID_61);
    const j = replayedJson(without(text, /^\s*(cat|exe)-\d+\s.* timer_(start|expire_entry|expire_exit): /));
    assert.match(lostWarning(j), /: 3 flush-queue expiries missing/);
    assert.equal(j.devices[0].exactOfKnowable, 1);
    // Everything of the readers' dropped: 97 unmaps in four interrupts as well. Each lost unmap is queued on the CPU
    // that mapped it, in map order, before that CPU's traced unmap of a later map or the next flush (3.11% before).
    const f = replayedJson(filtered(text));
    assert.match(lostWarning(f), /: 93 maps took IOVA/);
    assert.equal(f.devices[0].exactOfKnowable, 1);
  },
);

/** `iovalab replay --json` of full trace `name` of `../shared` without the lines of `drop` (1-based, inclusive ranges). */
function replayedWithout(name: string, drop: readonly [number, number][]) {
  const kept = sharedText(name)
    .split("\n")
    .filter((_, i) => !drop.some(([a, b]) => i + 1 >= a && i + 1 <= b));
  return replayedJson(kept.join("\n"));
}

const TIMERS_612 = "kernel-timers/trace-6.12-lazy-timers.txt.gz";

test(
  "the 6.12 lazy-timers trace with five interrupts' unmaps removed: each lost unmap queued where the trace's order puts it",
  withShared(TIMERS_612),
  () => {
    // Five hardirqs' unmaps with their dma_unmap_page lines (1-based, inclusive): CPU 0 at 66604, 133130 and 332890,
    // CPU 1 at 200004 (16 unmaps of sizes 4 KiB to 84 KiB, of fio-196's maps at 199972-200002, in their order) and
    // 266306. With dma:* events a map goes out at once; a live streaming one now waits for its unmap, so the reuse marks it
    // (77.76% before).
    const j = replayedWithout(TIMERS_612, [
      [66604, 66609],
      [133130, 133133],
      [200004, 200035],
      [266306, 266311],
      [332890, 332911],
    ]);
    assert.match(lostWarning(j), /: 35 maps took IOVA/);
    assert.equal(j.devices[0].exactOfKnowable, 1);
  },
);

const TIMERS_61 = "kernel-timers/trace-6.1-lazy-timers.txt.gz";

test(
  "the 6.1 lazy-timers trace with five interrupts' unmaps removed: ranges freed out of map order taken from lower in the magazine",
  withShared(TIMERS_61),
  () => {
    // The hardirq at 37462-37477 on CPU 1 unmaps fio-155's maps of 37362-37413 (4 KiB to 88 KiB) in another order
    // than their maps' (37389, 37411, 37412, 37413, 37410, ...): the flush frees them into CPU 0's magazines in that
    // order, and fio-155 takes the 4 KiB ones back last freed first at 37912-37951 (fecbb000, bf09f000, ...). Queued
    // by map order, each of those finds its range lower in the magazine (29.65% before; 97.19% queued by map order
    // alone).
    const j = replayedWithout(TIMERS_61, [
      [37462, 37477],
      [75018, 75033],
      [112560, 112562],
      [150071, 150073],
      [187554, 187569],
    ]);
    const w = lostWarning(j);
    assert.match(w, /: 54 maps took IOVA/);
    assert.match(w, /\(19: requests completed out of order\)/);
    assert.equal(j.devices[0].exactOfKnowable, 1);
  },
);
