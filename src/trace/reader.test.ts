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

test("a CPU no kernel has (NR_CPUS is 8192 at most) is a malformed line, not a machine to build", () => {
  // Lines of the sample trace with the CPU column, the header's count and a loss marker's CPU
  // corrupted: taken as CPUs, each would have the replay make per-CPU state for millions.
  const map = (cpu: string, t: string) =>
    `kworker/u4:1-25 [${cpu}] ..... ${t}: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096`;
  const text = [
    "# entries-in-buffer/entries-written: 3/3   #P:2000000000",
    map("8191", "5.996695"),
    map("8192", "5.996696"),
    map("999999", "5.996697"),
    "CPU:8192 [LOST 3 EVENTS]",
    "CPU:8191 [LOST 3 EVENTS]",
    "",
  ].join("\n");
  const expected = [
    't.txt:1: expected a CPU count of at most 8192 (NR_CPUS at most), found "#P:2000000000"',
    't.txt:3: expected a CPU below 8192 (NR_CPUS at most), found "CPU 8192"',
    't.txt:4: expected a CPU below 8192 (NR_CPUS at most), found "CPU 999999"',
    't.txt:5: expected a CPU below 8192 (NR_CPUS at most), found "CPU:8192 [LOST 3 EVENTS]"',
    "t.txt:6: CPU 8191 lost 3 events: the trace is incomplete from here",
  ];
  // The same from the text and from its bytes (the reader's fast path).
  const { events, reader } = readTraceText(text, { file: "t.txt" });
  const bytes = new TraceReader({ file: "t.txt" });
  const fromBytes: TraceEvent[] = [];
  bytes.pushBytes(new TextEncoder().encode(text), (e) => fromBytes.push(e));
  bytes.end((e) => fromBytes.push(e));
  for (const [got, r] of [
    [events, reader],
    [fromBytes, bytes],
  ] as const) {
    assert.deepEqual(
      got.map((e) => [e.line, e.cpu]),
      [[2, 8191]],
    );
    assert.deepEqual(r.diagnostics, expected);
    assert.equal(r.stats.malformed, 4);
    assert.equal(r.stats.headerCpus, 0);
    assert.equal(r.stats.losses, 1);
  }
  assert.throws(
    () => readTraceText(text, { file: "t.txt", strictInput: true }),
    (e: unknown) => e instanceof InputError && e.message === expected[0],
  );
});
