/**
 * The line shapes of line.ts. Lines marked "real" are copied from the
 * ../shared kernel traces; lines marked "constructed" are built from the
 * documented formats (../shared/spec/trace-events.md §3, trace-cmd-report(1),
 * perf-script(1)) because no real sample exists here.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { LOSS_MARKER_WORDS, parseLine, type TraceLineHead, timestampToNs } from "./line.ts";

function head(text: string): TraceLineHead {
  const h = parseLine(text);
  assert.ok(!("kind" in h), `not an event line: ${JSON.stringify(h)}`);
  return h;
}

test("real 6.1 ftrace line: kworker comm with a dash-free pid split, 5-char flags", () => {
  const h = head(
    "    kworker/u4:1-25      [000] .....     5.996695: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
  );
  assert.equal(h.comm, "kworker/u4:1");
  assert.equal(h.pid, 25);
  assert.equal(h.cpu, 0);
  assert.equal(h.flags, ".....");
  assert.equal(h.timestampNs, 5_996_695_000);
  assert.equal(h.event, "map");
  assert.equal(h.system, "");
  assert.ok(h.body.startsWith("IOMMU: iova="));
  assert.equal(h.shape, "ftrace");
});

test("real 6.12 ftrace lines: <idle>-0 with softirq flags, dma event with device first", () => {
  const h = head(
    "          <idle>-0       [001] ..s1.     4.363706: unmap: IOMMU: iova=0x00000000ffffd000 - 0x00000000ffffe000 size=4096 unmapped_size=4096",
  );
  assert.equal(h.comm, "<idle>");
  assert.equal(h.pid, 0);
  assert.equal(h.cpu, 1);
  assert.equal(h.flags, "..s1.");
  const d = head(
    "             fio-396     [000] d.H..     8.068638: dma_unmap_sg: 0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x106c6000} attrs=",
  );
  assert.equal(d.event, "dma_unmap_sg");
  assert.equal(d.body, "0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x106c6000} attrs=");
});

test("constructed ftrace variants: 4-char flags, no flags (noirq-info), record-tgid column, comm with dash and space", () => {
  const four = head("bash-1977 [003] d..1 17284.993652: map: IOMMU: iova=0x1000 - 0x2000 paddr=0x5000 size=4096");
  assert.equal(four.flags, "d..1");
  assert.equal(four.cpu, 3);
  const none = head("bash-1977 [003] 17284.993652: map: IOMMU: iova=0x1000 - 0x2000 paddr=0x5000 size=4096");
  assert.equal(none.flags, "");
  assert.equal(none.timestampNs, 17_284_993_652_000);
  const tgid = head(
    "bash-1977  (   1970) [002] .... 1.000001: unmap: IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096",
  );
  assert.equal(tgid.pid, 1977);
  assert.equal(tgid.cpu, 2);
  const odd = head("Web Content-my-12 [000] .... 2.5: map: IOMMU: iova=0x1000 - 0x2000 paddr=0x5000 size=4096");
  assert.equal(odd.comm, "Web Content-my");
  assert.equal(odd.pid, 12);
  assert.equal(odd.timestampNs, 2_500_000_000);
});

test("constructed trace-cmd report lines: padded event name, -t nanoseconds, -l flags, preamble", () => {
  const h = head(
    "             fio-396   [000]  8.062003: dma_map_page:         0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 phys_addr=a0de000 attrs=",
  );
  assert.equal(h.event, "dma_map_page");
  assert.ok(h.body.startsWith("0000:00:01.0 dir="));
  const t = head("fio-396 [001] 8.062003123: unmap: IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096");
  assert.equal(t.timestampNs, 8_062_003_123);
  const l = head("fio-396 [001] d.h1. 8.062003123: unmap: IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096");
  assert.equal(l.flags, "d.h1.");
  for (const pre of ["version = 6", "cpus=2", "CPU 1 is empty"]) assert.deepEqual(parseLine(pre), { kind: "preamble" });
});

test("constructed perf script lines: system:event, pid/tid, a sample period", () => {
  const h = head(
    "             fio   396 [000]     8.062003: dma:dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 phys_addr=a0de000 attrs=",
  );
  assert.equal(h.shape, "perf");
  assert.equal(h.comm, "fio");
  assert.equal(h.pid, 396);
  assert.equal(h.system, "dma");
  assert.equal(h.event, "dma_map_page");
  const tid = head("kworker/u8:2 36/36 [001] 4.353495: iommu:map: IOMMU: iova=0x1000 - 0x2000 paddr=0x5000 size=4096");
  assert.equal(tid.comm, "kworker/u8:2");
  assert.equal(tid.pid, 36);
  assert.equal(tid.system, "iommu");
  const period = head(
    "Web Content 2020 [001] 4.353495:          1 iommu:unmap: IOMMU: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096",
  );
  assert.equal(period.comm, "Web Content");
  assert.equal(period.event, "unmap");
});

test("non-event lines: header comments, blank, lost events; anything else is an error naming what was expected", () => {
  assert.deepEqual(parseLine("# tracer: nop"), { kind: "comment" });
  assert.deepEqual(parseLine(""), { kind: "blank" });
  assert.deepEqual(parseLine("   "), { kind: "blank" });
  assert.deepEqual(parseLine("CPU:1 [LOST 4242 EVENTS]"), { kind: "lost", cpu: 1, events: 4242 });
  assert.deepEqual(parseLine("CPU:0 [17 EVENTS DROPPED]"), { kind: "lost", cpu: 0, events: 17 });
  // perf script --show-lost-events: the lost record's sample columns, then its count.
  assert.deepEqual(parseLine("             fio   150 [001]    18.187243: PERF_RECORD_LOST lost 42"), {
    kind: "lost",
    cpu: 1,
    events: 42,
  });
  assert.deepEqual(parseLine("  kworker/0:1H    31/31    [000]  1.000000001: PERF_RECORD_LOST lost 7"), {
    kind: "lost",
    cpu: 0,
    events: 7,
  });
  const bad = parseLine("garbage here");
  assert.ok("kind" in bad && bad.kind === "error");
  assert.match(bad.expected, /TASK-PID \[CPU\]/);
  assert.equal(bad.found, "garbage here");
  const ts = parseLine("a-1 [000] 99999999999.5: map: x");
  assert.ok("kind" in ts && ts.kind === "error");
  assert.match(ts.expected, /timestamp/);
});

test("every loss marker holds one of LOSS_MARKER_WORDS, and is no marker without it", () => {
  const markers = [
    "CPU:1 [LOST 4242 EVENTS]",
    "  CPU: 3  [LOST 1 EVENTS]",
    "CPU:0 [17 EVENTS DROPPED]",
    "CPU:0 [EVENTS DROPPED]",
    "             fio   150 [001]    18.187243: PERF_RECORD_LOST lost 42",
  ];
  for (const m of markers) {
    const lost = parseLine(m);
    assert.ok("kind" in lost && lost.kind === "lost", m);
    assert.ok(
      LOSS_MARKER_WORDS.some((w) => m.includes(w)),
      m,
    );
    // Each word changed by one letter: the line is no marker (the reading ahead skips content without the words).
    const changed = LOSS_MARKER_WORDS.reduce((t, w) => t.replaceAll(w, w.replace("O", "0")), m);
    const other = parseLine(changed);
    assert.ok(!("kind" in other) || other.kind !== "lost", changed);
  }
});

test("timestamps are exact integer nanoseconds for any number of fraction digits", () => {
  assert.equal(timestampToNs("0", "000001"), 1000);
  assert.equal(timestampToNs("5", "996695"), 5_996_695_000);
  assert.equal(timestampToNs("5", "9"), 5_900_000_000);
  assert.equal(timestampToNs("123456", "123456789"), 123_456_123_456_789);
  assert.equal(timestampToNs("1", "1234567890"), -1);
  // Float arithmetic would drift here: 0.1 + 0.2 style sums never enter.
  for (let us = 0; us < 2000; us += 7) {
    const frac = String(us).padStart(6, "0");
    assert.equal(timestampToNs("8", frac), 8_000_000_000 + us * 1000);
  }
});
