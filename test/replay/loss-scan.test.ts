/**
 * A trace that lost events is replayed in spans, one after each loss, and a
 * span ends at the last event before its loss of the CPU that lost them
 * (`cli/replay.ts`). The loss that ends a span used to be found by its own
 * replay, up to the marker, and the span was then replayed again up to that
 * CPU's last event: every span replayed twice. Once a span has ended at a
 * loss, the rest of the trace is now read for its markers alone
 * (`scanLosses`), and each later span is replayed once, to where its loss
 * says. These tests hold the scan to the readings it replaces: for every
 * span, the loss a span's own reading ends at, and the lost CPU's last
 * event before it as the trace's lines show it.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { scanLosses } from "../../src/cli/loss-scan.ts";
import {
  ResumePoints,
  readTraceWithFacts,
  type SpanLoss,
  spillAfter,
  type TraceSpan,
  WHOLE_TRACE,
} from "../../src/cli/replay-defaults.ts";
import { TraceReader } from "../../src/trace/reader.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);

/** 21,560 lines of `trace-cmd report -l` of a 6.1 machine up for a while: more events than the facts' window. */
function fixture(): string[] {
  return gunzipSync(readFileSync(new URL("linux-6.1-midlife-lazy-report-l-head21560.txt.gz", FIXTURES)))
    .toString("utf8")
    .split("\n");
}

/** The CPU of a `report -l` event line (`fio-235  0d.H..  31.297822: ...`), or -1. */
function cpuOf(line: string): number {
  const m = /^\s*\S+\s+(\d+)[^\s\d]/.exec(line);
  return m === null ? -1 : Number(m[1]);
}

/** `lines` with CPU `cpu`'s lines `from` to `to` (1-based) taken out and trace-cmd's marker before its next one. */
function overrun(lines: string[], cpu: number, from: number, to: number): string[] {
  const out: string[] = [];
  let removed = 0;
  let marked = false;
  lines.forEach((line, i) => {
    const n = i + 1;
    const c = cpuOf(line);
    if (c === cpu && n >= from && n <= to) {
      removed++;
      return;
    }
    if (c === cpu && n > to && !marked && removed > 0) {
      out.push(`CPU:${cpu} [${removed} EVENTS DROPPED]`);
      marked = true;
    }
    out.push(line);
  });
  assert.ok(marked);
  return out;
}

/** `lines` with `line` put in after line `after` (1-based). */
const insert = (lines: string[], after: number, line: string): string[] => [
  ...lines.slice(0, after),
  line,
  ...lines.slice(after),
];

/** The first event line of CPU `cpu` at or after line `from` (1-based). */
function nextOf(lines: string[], cpu: number, from: number): number {
  for (let n = from; n <= lines.length; n++) if (cpuOf(lines[n - 1]) === cpu) return n;
  throw new Error(`no line of CPU ${cpu} after ${from}`);
}

/**
 * The losses as the lines show them: each marker's line, its CPU, and that
 * CPU's last event line before it (0: none), and whether any event stands
 * between it and the marker before it.
 */
function markersOf(lines: string[]): { line: number; cpu: number; gapAfter: number; eventBefore: boolean }[] {
  const out: { line: number; cpu: number; gapAfter: number; eventBefore: boolean }[] = [];
  const last: number[] = [];
  let event = false;
  lines.forEach((text, i) => {
    const m = /^CPU:(\d+) \[/.exec(text);
    if (m !== null) {
      const cpu = Number(m[1]);
      out.push({ line: i + 1, cpu, gapAfter: last[cpu] ?? 0, eventBefore: event });
      event = false;
      return;
    }
    const c = cpuOf(text);
    if (c >= 0 && / (unmap|map|dma_map_\w+|dma_unmap_\w+|timer_\w+):/.test(text)) {
      last[c] = i + 1;
      event = true;
    }
  });
  return out;
}

/** The loss a span's own reading ends at (the reading `replayTrace` did for every span before the scan). */
async function endOfSpan(path: string, from: number, strictInput = false): Promise<SpanLoss | null> {
  const span: TraceSpan = { from, until: Number.POSITIVE_INFINITY, lossesAfter: from, endAtLoss: true };
  return readTraceWithFacts(path, new TraceReader({ file: "t", strictInput }), () => () => {}, span);
}

/** `text` with every byte but the newlines made an `x`: no line reads as an event, or as a marker. */
function spoiled(text: string): Buffer {
  const b = Buffer.from(text);
  for (let i = 0; i < b.length; i++) if (b[i] !== 10) b[i] = 120;
  return b;
}

/** The first span's reading, as the replay's first: to the first loss, leaving resume points in `points`. */
function firstReading(path: string, points: ResumePoints, strictInput = false): Promise<SpanLoss | null> {
  const whole: TraceSpan = { ...WHOLE_TRACE, endAtLoss: true };
  return readTraceWithFacts(path, new TraceReader({ file: "t", strictInput }), () => () => {}, whole, points);
}

/** Writes `lines` to a file in a fresh directory and runs `f` on its path. */
async function withTrace(lines: string[], f: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "iovalab-scan-"));
  try {
    const path = join(dir, "trace.txt");
    writeFileSync(path, lines.join("\n"));
    await f(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Seven losses past the facts' window (16,384 events): two of the usual
 * kind, one of each CPU; one of CPU 1 one event after the first (CPU 1's
 * last event before it is before the first marker); a marker straight after another (no event between: it
 * ends no span); a marker straight after an event of the CPU that lost
 * (its span ends at the marker, with no lines left out); one just before
 * the trace's last line.
 */
function sevenLosses(): string[] {
  let t = overrun(fixture(), 0, 17001, 17300);
  // CPU 1's loss one event after CPU 0's: its last event before it is before the first marker.
  const first = markersOf(t)[0].line;
  assert.equal(cpuOf(t[first]), 0);
  t = insert(t, first + 1, "CPU:1 [4 EVENTS DROPPED]");
  t = overrun(t, 1, 18501, 18700);
  const second = markersOf(t)[2].line;
  t = insert(t, second, "CPU:0 [7 EVENTS DROPPED]");
  const own = nextOf(t, 1, 19600);
  t = insert(t, own, "CPU:1 [3 EVENTS DROPPED]");
  t = overrun(t, 0, 20001, 20100);
  const end = t.length - 3;
  t = insert(t, end, `CPU:${cpuOf(t[end - 1])} [2 EVENTS DROPPED]`);
  return t;
}

test("each span's loss, read ahead, is the one its own reading ends at, after the lost CPU's last event", async () => {
  const lines = sevenLosses();
  const markers = markersOf(lines);
  assert.equal(markers.length, 7);
  assert.deepEqual(
    markers.map((m) => m.eventBefore),
    [true, true, true, false, true, true, true],
  );
  assert.ok(markers[1].gapAfter < markers[0].line);
  // The fifth marker stands right after an event of its own CPU.
  assert.equal(markers[4].gapAfter, markers[4].line - 1);
  await withTrace(lines, async (path) => {
    // The first span ends at the first loss, and its reading leaves a resume point there.
    const points = new ResumePoints();
    const first = await firstReading(path, points);
    assert.equal(first?.afterLine, markers[0].line);
    assert.ok(points.after.has(markers[0].line));
    const scan = await scanLosses(path, new TraceReader({ file: "t" }), markers[0].line, points);
    // The scan leaves a resume point after every later marker.
    assert.deepEqual(
      [...points.after.keys()],
      markers.map((m) => m.line),
    );
    // Walk the spans as the replay does; the fourth marker begins no span of its own (no event before it).
    let from = markers[0].line;
    const ends: number[] = [];
    for (;;) {
      const own = await endOfSpan(path, from);
      const read = scan.endOf(from);
      assert.deepEqual(read, own, `the span after line ${from}`);
      if (own === null) break;
      const m = markers.find((x) => x.line === own.afterLine);
      assert.ok(m !== undefined);
      assert.equal(own.cpu, m.cpu);
      assert.equal(own.gapAfter, m.gapAfter, `the last event of CPU ${m.cpu} before line ${m.line}`);
      ends.push(own.afterLine);
      from = own.afterLine;
    }
    assert.deepEqual(
      ends,
      [markers[1], markers[2], markers[4], markers[5], markers[6]].map((m) => m.line),
    );
    // A span that begins at the adjacent marker ends where the one before it does.
    assert.deepEqual(scan.endOf(markers[3].line), await endOfSpan(path, markers[3].line));
    // Before the line it scanned from, the scan does not say.
    assert.equal(scan.endOf(markers[0].line - 1), undefined);
  });
});

test("a first loss inside the facts' window: the scan reads from the first line, says the same, and leaves a point at every marker", async () => {
  let lines = overrun(fixture(), 1, 3001, 3100);
  lines = overrun(lines, 0, 17001, 17300);
  const markers = markersOf(lines);
  await withTrace(lines, async (path) => {
    const points = new ResumePoints();
    const first = await firstReading(path, points);
    assert.equal(first?.afterLine, markers[0].line);
    // No point where the facts were not yet complete: the scan starts over.
    assert.equal(points.after.has(markers[0].line), false);
    const scan = await scanLosses(path, new TraceReader({ file: "t" }), markers[0].line, points);
    for (const from of [0, markers[0].line, markers[0].line + 500, markers[1].line])
      assert.deepEqual(scan.endOf(from), await endOfSpan(path, from), `the span after line ${from}`);
    assert.equal(scan.endOf(markers[0].line)?.afterLine, markers[1].line);
    // Its reader read what a span's does, so it leaves a point after each marker, and a span's reading begun
    // there gives what one from the first line gives: the same events, the same loss.
    assert.deepEqual(
      [...points.after.keys()],
      markers.map((m) => m.line),
    );
    assert.equal(points.firstLine(), markers[0].line);
    for (const m of markers) {
      const span: TraceSpan = { from: m.line, until: Number.POSITIVE_INFINITY, lossesAfter: m.line, endAtLoss: true };
      const got = (into: string[]) => () => (e: { line: number }) => {
        into.push(JSON.stringify(e));
      };
      const resumed: string[] = [];
      const whole: string[] = [];
      const a = await readTraceWithFacts(path, new TraceReader({ file: "t" }), got(resumed), span, points);
      const b = await readTraceWithFacts(path, new TraceReader({ file: "t" }), got(whole), span);
      assert.deepEqual(a, b, `the span after line ${m.line}`);
      assert.ok(resumed.length > 1000);
      assert.deepEqual(resumed, whole, `the span after line ${m.line}`);
    }
  });
});

test("--strict-input: a bad line stops the scan, and it says nothing of the spans that reach it", async () => {
  const lines = sevenLosses();
  const markers = markersOf(lines);
  const bad = markers[4].line + 200;
  lines[bad - 1] = lines[bad - 1].replace(/iova=0x[0-9a-f]+/, "iova=0xzz");
  await withTrace(lines, async (path) => {
    // The span that reaches the bad line stops there with its message.
    await assert.rejects(endOfSpan(path, markers[4].line, true), /expected/);
    const points = new ResumePoints();
    await firstReading(path, points, true);
    const scan = await scanLosses(path, new TraceReader({ file: "t", strictInput: true }), markers[0].line, points);
    // The spans that end before it, as their readings say; none after.
    for (const from of [markers[0].line, markers[1].line, markers[2].line])
      assert.deepEqual(scan.endOf(from), await endOfSpan(path, from, true));
    assert.equal(scan.endOf(markers[4].line), undefined);
    assert.equal(scan.endOf(markers[5].line), undefined);
    // No resume point past the bad line: a span's reading begun there would not meet it.
    assert.ok([...points.after.keys()].every((k) => k < bad));
  });
});

test("one loss: the scan finds no marker's words after it and reads no line there", async () => {
  const lines = overrun(fixture(), 0, 17001, 17300);
  const marker = markersOf(lines)[0].line;
  await withTrace(lines, async (path) => {
    const points = new ResumePoints();
    await firstReading(path, points, true);
    const offset = points.after.get(marker)?.offset ?? 0;
    assert.ok(offset > 0);
    // Every line after the point made unreadable: a strict reading of them would stop, and the scan would not say.
    writeFileSync(
      path,
      Buffer.concat([readFileSync(path).subarray(0, offset), spoiled(lines.slice(marker).join("\n"))]),
    );
    const scan = await scanLosses(path, new TraceReader({ file: "t", strictInput: true }), marker, points);
    assert.equal(scan.endOf(marker), null);
    await assert.rejects(endOfSpan(path, marker, true), /expected/);
    // With a marker's words in them, it reads them (and stops at the first).
    writeFileSync(path, `${readFileSync(path, "utf8")}\nCPU:0 [LOST 1 EVENTS]\n`);
    const again = await scanLosses(path, new TraceReader({ file: "t", strictInput: true }), marker, points);
    assert.equal(again.endOf(marker), undefined);
  });
});

test("gzip: the content after the first loss is decompressed once, and every later reading reads it there", async () => {
  const lines = sevenLosses();
  const markers = markersOf(lines);
  const text = lines.join("\n");
  await withTrace(lines, async (plain) => {
    const path = `${plain}.gz`;
    writeFileSync(path, gzipSync(text));
    const points = new ResumePoints();
    await firstReading(path, points);
    await spillAfter(path, points);
    const spill = points.spill;
    assert.ok(spill !== null);
    assert.equal(spill.mayHoldLoss, true);
    assert.equal(readFileSync(spill.path).length, Buffer.byteLength(text) - spill.base);
    // The gzip made unreadable: the readings from the first loss on read the spilt content alone.
    writeFileSync(path, gzipSync(spoiled(text)));
    const scan = await scanLosses(path, new TraceReader({ file: "t" }), markers[0].line, points);
    for (const m of markers) {
      const span: TraceSpan = { from: m.line, until: Number.POSITIVE_INFINITY, lossesAfter: m.line, endAtLoss: true };
      const resumed = await readTraceWithFacts(path, new TraceReader({ file: "t" }), () => () => {}, span, points);
      assert.deepEqual(resumed, await endOfSpan(plain, m.line), `the span after line ${m.line}`);
      assert.deepEqual(scan.endOf(m.line), resumed);
    }
    points.dispose();
    assert.equal(existsSync(spill.path), false);
    // A plain file is read from any byte: nothing is spilt.
    const again = new ResumePoints();
    await firstReading(plain, again);
    await spillAfter(plain, again);
    assert.equal(again.spill, null);
  });
});
