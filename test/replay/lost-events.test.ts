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

const MID_612 = "kernel-more/trace-6.12-midlife-lazy.txt.gz";

test("the 6.12 mid-life capture as the default filter would have recorded it: lost events counted and bridged", {
  skip: existsSync(`${SHARED}${MID_612}`) ? quickSkip("the full captures of ../shared") : `${SHARED} is not present`,
}, () => {
  const text = gunzipSync(readFileSync(`${SHARED}${MID_612}`)).toString("utf8");
  // Only the unmaps of trace-cmd's readers dropped (with their dma_unmap_page): the five are bridged.
  const ja = replayedJson(without(text, /^\s*(cat|exe)-\d+\s.* (unmap|dma_unmap_page): /));
  const da = ja.devices[0];
  assert.ok(da.exactOfKnowable > 0.9999, `${da.exactOfKnowable}`);
  assert.ok(ja.warnings.some((w: string) => /^the trace lost events: 5 maps took IOVA ranges/.test(w)));
  // Everything of theirs dropped: one expiry lost too, told by the timer_start after it.
  const jb = replayedJson(filtered(text));
  const w = jb.warnings.find((x: string) => x.startsWith("the trace lost events"));
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
});

const MID_61 = "kernel-more/trace-6.1-midlife-lazy.txt.gz";

test("the 6.1 mid-life capture without trace-cmd's readers' timer events: its three lost expiries run where the evidence puts them", {
  skip: existsSync(`${SHARED}${MID_61}`) ? quickSkip("the full captures of ../shared") : `${SHARED} is not present`,
}, () => {
  // Lines 15200, 16110 and 18935: expiries on CPU 1 in softirqs that stopped cat-237, exe-239 and cat-246, each on
  // the base (cpu=1) its timer_start named.
  const text = gunzipSync(readFileSync(`${SHARED}${MID_61}`)).toString("utf8");
  const j = replayedJson(without(text, /^\s*(cat|exe)-\d+\s.* timer_(start|expire_entry|expire_exit): /));
  assert.match(
    j.warnings.find((x: string) => x.startsWith("the trace lost events")) ?? "",
    /: 3 flush-queue expiries missing/,
  );
  assert.equal(j.devices[0].exactOfKnowable, 1);
});
