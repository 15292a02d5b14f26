/**
 * Another CPU's magazine taken in the learning phase (`src/replay/apply.ts`
 * with `magazine-cut.ts`'s `crossCut`) and the slot of a placeholder
 * (`src/replay/placeholder-slot.ts`): the 6.12 lazy-timers trace cut at 67%
 * of its lines (line 267638 on, its comment header kept), read from
 * ../shared when present; its own `iova=` fields are the truth.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { ReplayOptions } from "../../src/replay/replay.ts";
import type { TraceEvent } from "../../src/trace/events.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { cutFrom, qemuNvme, windowReplay } from "../helpers/window-replay.ts";

const FULL = new URL("../../../shared/kernel-timers/trace-6.12-lazy-timers.txt.gz", import.meta.url).pathname;

test("6.12 lazy timers cut at 67% (line 267638): a depot pop in the phase, and IOVAs from before the trace above the trace's", {
  skip: sharedSkip(FULL),
}, () => {
  const { machine, rcOpts } = qemuNvme();
  const lines = gunzipSync(readFileSync(FULL)).toString("utf8").split("\n");
  // As `tail -n +N` of `wc -l` lines: the file ends with a newline.
  const at = Math.floor(((lines.length - 1) * 67) / 100);
  assert.equal(at, 267638);
  // The comment header kept: cut line L is full line L + 267625.
  const mid = cutFrom(lines.join("\n"), at);
  const evs: TraceEvent[] = readTraceText(mid, { file: "t", strictInput: true }).events;
  const maps = evs.filter((e) => e.type === "iommu_map");
  const mapLines = maps.map((e) => e.line);
  const traceAt = new Map(maps.map((e) => [e.line, `0x${e.iova.toString(16).padStart(16, "0")}`]));
  const event = (line: number) => {
    const e = evs.find((x) => x.line === line);
    return e ? [e.type, e.cpu, "iova" in e ? e.iova.toString(16) : "function" in e ? e.function : ""] : null;
  };
  const seen = (iova: number, before: number) =>
    evs.some((e) => e.line < before && (e.type === "iommu_map" || e.type === "iommu_unmap") && e.iova === iova);
  const run = (more: Partial<ReplayOptions>) => {
    const { r, emitted } = windowReplay(evs, {
      machine,
      kernel: "mainline",
      rcOpts,
      replay: { timerEvents: true, ...more },
    });
    assert.equal(emitted.length, mapLines.length);
    return { r, at: (line: number) => emitted[mapLines.indexOf(line)] };
  };
  // In the phase (it ends at line 3152): CPU 1 unmaps 0xbcc80000 (128 KiB) at line 731, the timer flush on CPU 0 at
  // line 881 frees it into CPU 0's loaded magazine, and at line 999 CPU 1 maps it. Only the depot carries it there:
  // CPU 0's loaded magazine, full, went on the depot from a full prev, and CPU 1, its magazines empty, popped it.
  assert.deepEqual([731, 881, 999].map(event), [
    ["iommu_unmap", 1, "bcc80000"],
    ["timer_expire_entry", 0, "fq_flush_timeout"],
    ["iommu_map", 1, "bcc80000"],
  ]);
  // CPU 0 unmapped 0xff1c0000 at line 91, before the first timer flush (line 222), which freed it with the rings'
  // entries queued before the trace. CPU 1 later maps IOVAs the trace never showed where the model's top is
  // 0xff1c0000 (lines 1739 and 1747 in the phase, 3611 and 3625 after it), then 0xff1c0000 itself (line 3870).
  assert.deepEqual([91, 222].map(event), [
    ["iommu_unmap", 0, "ff1c0000"],
    ["timer_expire_entry", 0, "fq_flush_timeout"],
  ]);
  assert.ok(!evs.some((e) => e.type === "timer_expire_entry" && e.line < 222));
  const hidden = [
    [1739, 0xffb80000],
    [1747, 0xff520000],
    [3611, 0xbf920000],
    [3625, 0xfede0000],
  ];
  for (const [line, iova] of hidden) {
    assert.deepEqual(event(line), ["iommu_map", 1, iova.toString(16)]);
    assert.ok(!seen(iova, line), `line ${line}`);
  }
  assert.deepEqual(event(3870), ["iommu_map", 1, "ff1c0000"]);
  // Line 9431: CPU 0, its magazines empty since line 9429, pops the depot's top magazine (0xbfde0000 on top), and
  // hands out deeper IOVAs of it at lines 12796 and 12798; line 21844: CPU 1.
  const proof = [9431, 12796, 12798, 21844];
  const both = run({});
  const noPhase = run({ phaseCrossCuts: false });
  const noSlots = run({ placeholderSlots: false });
  assert.equal(both.r.learning.endLine, 3152);
  for (const l of [3870, ...proof]) assert.equal(both.at(l), traceAt.get(l), `line ${l}`);
  for (const l of proof) {
    assert.notEqual(noPhase.at(l), traceAt.get(l), `line ${l} without the cut in the phase`);
    assert.notEqual(noSlots.at(l), traceAt.get(l), `line ${l} without the slots`);
  }
  // Without the cut in the phase, CPU 1's magazines stay empty and line 3611 is a tree allocation: 0xff1c0000
  // stays in CPU 0's magazine, and at line 3870 the cross-CPU cut after the phase takes it as the top of a magazine
  // of placeholders. Without the slots, the model's 0xff1c0000 stays above as many placeholders as the kernel's
  // magazine had IOVAs from before the trace in all, and CPU 1 pops placeholders after the kernel's ran out.
  assert.notEqual(noPhase.at(3870), traceAt.get(3870));
  // One map event the replay without either rule gave as the kernel did is lost (line 10257, a tree allocation
  // placed from another cached node).
  const none = run({ phaseCrossCuts: false, placeholderSlots: false });
  const lost = mapLines.filter((l) => l > 3152 && none.at(l) === traceAt.get(l) && both.at(l) !== traceAt.get(l));
  assert.deepEqual(lost, [10257]);
  // Measured 2026-12-05: 30112/30945 after the phase (97.31%, all of the 30112 the trace could show); 26288
  // (84.95%) without either rule or without the cut in the phase, 24957 (80.65%) without the slots.
  assert.equal(both.r.exactAfterLearning, 30112);
  assert.equal(noPhase.r.exactAfterLearning, 26288);
  assert.equal(noSlots.r.exactAfterLearning, 24957);
  assert.equal(none.r.exactAfterLearning, 26288);
});
