/**
 * The reader over whole texts: counting, skipping, malformed lines with and
 * without --strict-input, and chunk boundaries anywhere. The lines are
 * constructed from the documented shapes (line.test.ts says which).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { InputError } from "../stdx/errors.ts";
import type { TraceEvent } from "./events.ts";
import { readTraceText, TraceReader } from "./reader.ts";

const TEXT = [
  "# tracer: nop",
  "#",
  "kworker/u4:1-25 [000] ..... 5.996695: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
  "fio-300 [001] ..... 6.000001: sched_switch: prev_comm=fio prev_pid=300 ==> next_comm=swapper/1 next_pid=0",
  "fio-300 [001] d.h1. 6.000002: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
  "fio-300 [001] d.h1. 6.000003: unmap: IOMMU: iova=0x00000000zzzzzzzz - 0x0000000100000000 size=4096 unmapped_size=4096",
  "this is not a trace line",
  "CPU:1 [LOST 3 EVENTS]",
  "fio 300 [001] 6.000004: irq:irq_handler_entry: irq=11 name=nvme0q1",
  "fio-300 [000] ..... 6.000005: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 phys_addr=a0de000 attrs=",
  "",
].join("\n");

test("counts events by name, skips and counts others, keeps going past malformed lines", () => {
  const { events, reader } = readTraceText(TEXT, { file: "t.txt" });
  assert.deepEqual(
    events.map((e) => [e.line, e.name]),
    [
      [3, "map"],
      [5, "unmap"],
      [10, "dma_map_page"],
    ],
  );
  const s = reader.stats;
  assert.equal(s.lines, 10); // the final newline ends line 10; no empty 11th line
  assert.equal(s.eventsTotal, 3);
  assert.deepEqual(
    [...s.skipped],
    [
      ["sched_switch", 1],
      ["irq:irq_handler_entry", 1],
    ],
  );
  assert.equal(s.malformed, 2);
  assert.equal(s.lostEvents, 3);
  assert.equal(s.comments, 2);
  assert.deepEqual(reader.diagnostics, [
    't.txt:6: expected unmap: "iova=" a hexadecimal number, found "iova=0x00000000zzzzzzzz"',
    `t.txt:7: expected "TASK-PID [CPU] FLAGS SECONDS: EVENT: ...", "TASK-PID CPUFLAGS SECONDS: EVENT: ..." or "COMM PID [CPU] SECONDS: SYSTEM:EVENT: ...", found "this is not a trace line"`,
    "t.txt:8: CPU 1 lost 3 events: the trace is incomplete from here",
  ]);
});

test("--strict-input stops at the first malformed line with FILE:LINE", () => {
  assert.throws(
    () => readTraceText(TEXT, { file: "t.txt", strictInput: true }),
    (e: unknown) => e instanceof InputError && e.message.startsWith('t.txt:6: expected unmap: "iova="'),
  );
});

test("diagnostics are capped but counted exactly", () => {
  const bad = Array.from({ length: 50 }, () => "nonsense").join("\n");
  const { reader } = readTraceText(bad, { file: "b", maxDiagnostics: 5 });
  assert.equal(reader.diagnostics.length, 5);
  assert.equal(reader.stats.malformed, 50);
});

test("a timestamp going backwards is counted (the trace is then not in time order)", () => {
  const t = [
    "a-1 [000] 2.000000: map: IOMMU: iova=0x1000 - 0x2000 paddr=0x1000 size=4096",
    "a-1 [001] 1.999999: unmap: IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096",
  ].join("\n");
  assert.equal(readTraceText(t, { file: "x" }).reader.stats.timestampBackwards, 1);
});

test("CRLF line ends and a last line without newline are read", () => {
  const t =
    "a-1 [000] 2.000000: map: IOMMU: iova=0x1000 - 0x2000 paddr=0x1000 size=4096\r\na-1 [000] 2.000001: unmap: IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096";
  const { events, reader } = readTraceText(t, { file: "x" });
  assert.equal(events.length, 2);
  assert.equal(reader.stats.malformed, 0);
});

function strip(events: TraceEvent[]): string {
  return JSON.stringify(events);
}

test("any split of the text into chunks gives the same events", () => {
  const whole = strip(readTraceText(TEXT, { file: "t" }).events);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: TEXT.length }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const reader = new TraceReader({ file: "t" });
      const got: TraceEvent[] = [];
      let from = 0;
      for (const p of [...points, TEXT.length]) {
        reader.push(TEXT.slice(from, p), (e) => got.push(e));
        from = p;
      }
      reader.end((e) => got.push(e));
      assert.equal(strip(got), whole);
      assert.equal(reader.stats.lines, 10);
    }),
    { numRuns: 200, seed: 42 },
  );
});
