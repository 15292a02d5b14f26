/**
 * Traces recorded with stack traces or the function tracer beside the DMA
 * events (`trace-cmd record -T`, `options/stacktrace`, `perf record -g`,
 * `-p function`), and traces whose clock counts instead of giving seconds.
 *
 * The stack lines are written here in each tool's own shape around real
 * lines of the 6.1 lazy-timers capture (test/fixtures/traces): the kernel's
 * `<stack trace>` then ` => SYMBOL` (with `sym-offset`: `+0x6e/0xe0`),
 * `<user stack trace>` then ` => <ADDRESS>` or ` => ??`, the function
 * tracer's `SYMBOL <-PARENT`; trace-cmd report's `kernel_stack:` with
 * `=> SYMBOL (ADDRESS)` frames and `function:` with `SYMBOL <-- PARENT`;
 * perf script's callchain frames, a tab, the address, the symbol and the
 * object, and a blank line after each sample. The expected events are those
 * of the same lines without the stack lines, and the expected counts those of
 * the lines this file added.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { TraceEvent } from "../../src/trace/events.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const FIXTURE = new URL("../fixtures/traces/linux-6.1-lazy-timers-head8000.txt.gz", import.meta.url).pathname;
const LINES = gunzipSync(readFileSync(FIXTURE)).toString("utf8").split("\n").slice(0, 3000);
/** An event line's columns up to and including its timestamp's colon. */
const COLUMNS = /^(.*\s\d+\.\d+:)\s/;
const DMA = /: (?:map|unmap): /;

/** The events without their line numbers (the stack lines move every line after them). */
function eventsOf(text: string): {
  events: Omit<TraceEvent, "line">[];
  malformed: number;
  skipped: Map<string, number>;
} {
  const { events, reader } = readTraceText(text, { file: "t.txt" });
  return {
    events: events.map(({ line: _, ...rest }) => rest),
    malformed: reader.stats.malformed,
    skipped: reader.stats.skipped,
  };
}

/** The lines with `add(columns)` written after each map and unmap event line; how many were written. */
function withStacks(add: (columns: string) => string[]): { text: string; events: number } {
  const out: string[] = [];
  let events = 0;
  for (const l of LINES) {
    out.push(l);
    const m = COLUMNS.exec(l);
    if (m === null || !DMA.test(l)) continue;
    out.push(...add(m[1]));
    events++;
  }
  return { text: out.join("\n"), events };
}

const PLAIN = eventsOf(LINES.join("\n"));

test("the kernel's own stack traces and function tracer lines are skipped events, not malformed lines", () => {
  assert.ok(PLAIN.events.length > 1000 && PLAIN.malformed === 0);
  const { text, events } = withStacks((cols) => [
    `${cols} <stack trace>`,
    " => iommu_map",
    " => __iommu_dma_map+0x6e/0xe0",
    " => iommu_dma_map_page+0x4b/0x1d0",
    `${cols} <user stack trace>`,
    " => <00007f3c8a2b1234>",
    " => ??",
    `${cols} iommu_map <-__iommu_dma_map`,
  ]);
  const r = eventsOf(text);
  assert.equal(r.malformed, 0);
  assert.deepEqual(r.events, PLAIN.events);
  assert.equal(r.skipped.get("kernel_stack"), events);
  assert.equal(r.skipped.get("user_stack"), events);
  assert.equal(r.skipped.get("function"), events);
});

test("trace-cmd report's kernel_stack frames and perf script's callchains are no malformed lines", () => {
  const tc = withStacks((cols) => [
    `${cols} kernel_stack:         <stack trace>`,
    "=> iommu_map (ffffffff8156c3a0)",
    "=> __iommu_dma_map (ffffffff8156d111)",
    "=> ffffffff8156e222",
    `${cols} function:             iommu_map <-- __iommu_dma_map`,
  ]);
  const a = eventsOf(tc.text);
  assert.equal(a.malformed, 0);
  assert.deepEqual(a.events, PLAIN.events);
  assert.equal(a.skipped.get("kernel_stack"), tc.events);
  assert.equal(a.skipped.get("function"), tc.events);
  // perf script: the sample's line, its frames, a blank line.
  const perf = withStacks(() => [
    "\tffffffff8156c3a0 iommu_map+0x0 ([kernel.kallsyms])",
    "\tffffffff8156d111 __iommu_dma_map+0x81 ([kernel.kallsyms])",
    "\t    7f3c8a2b1234 [unknown] (/usr/lib/x86_64-linux-gnu/libc.so.6)",
    // `perf script -F +srcline`: a frame's source line under it.
    "\tffffffff8156e333 iommu_dma_map_page+0x4b ([kernel.kallsyms])",
    "  drivers/iommu/dma-iommu.c:1123",
    "",
  ]);
  const b = eventsOf(perf.text);
  assert.equal(b.malformed, 0);
  assert.deepEqual(b.events, PLAIN.events);
});

test("a trace whose clock counts (counter, x86-tsc): the replay says which clocks to record with, exit 2, no output", () => {
  const dir = tempDir("iovalab-stack-");
  const file = join(dir, "tsc.txt");
  // The kernel prints such a clock's value as a whole number where a seconds clock prints SEC.USEC.
  writeFileSync(file, LINES.map((l) => l.replace(/ (\d+)\.(\d{6}): /, " $1$2: ")).join("\n"));
  const r = iovalab(["replay", file, "--json"]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /tsc\.txt:13: expected a timestamp in seconds .*a clock that counts \(counter, uptime, x86-tsc\)/,
  );
  assert.match(r.stderr, /no line of .*tsc\.txt is a trace event/);
});

test("a file of which no line is a trace event is an input error, not an empty replay", () => {
  const dir = tempDir("iovalab-stack-");
  const file = join(dir, "notes.txt");
  writeFileSync(file, "fio finished\nread: IOPS=120k\n");
  const r = iovalab(["replay", file]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(
    r.stderr,
    /notes\.txt:1: expected .*found "fio finished" \(no line of .*notes\.txt is a trace event: 2 of its 2 lines malformed\)/,
  );
  // An empty file is an empty trace, as before: nothing malformed in it.
  writeFileSync(file, "");
  assert.equal(iovalab(["replay", file]).status, 0);
});
