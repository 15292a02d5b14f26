/**
 * A trace that lost events is replayed in spans, one after each loss
 * (`cli/replay.ts`), and every span is read more than once. Each reading
 * of a span read every line before it again, so a trace with k losses cost
 * about k times its length: 10 losses in the 6.12 lazy-timers trace took
 * 4.7 s where none take 1.1 s. A reading that passed a loss now leaves a
 * resume point (`ResumePoints`): where the next line starts in the trace's
 * content, and the reader's counts and messages then. A span's reading
 * begins there. These tests hold it to the reading it replaces: the same
 * events, counts, messages and facts, from a file whose lines before the
 * point are made unreadable (so a reading that read them again would say so).
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { ResumePoints, readTraceWithFacts, type TraceSpan, WHOLE_TRACE } from "../../src/cli/replay-defaults.ts";
import type { TraceFacts } from "../../src/trace/facts.ts";
import { TraceReader } from "../../src/trace/reader.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);

/** 21,560 lines of `trace-cmd report -l` of a 6.1 machine up for a while: more events than the facts' window. */
function fixture(): string {
  return gunzipSync(readFileSync(new URL("linux-6.1-midlife-lazy-report-l-head21560.txt.gz", FIXTURES))).toString(
    "utf8",
  );
}

/** The CPU of a `report -l` event line (`fio-235  0d.H..  31.297822: ...`), or -1. */
function cpuOf(line: string): number {
  const m = /^\s*\S+\s+(\d+)[^\s\d]/.exec(line);
  return m === null ? -1 : Number(m[1]);
}

/** `text` with CPU `cpu`'s lines `from` to `to` (1-based) taken out and trace-cmd's marker before its next one. */
function overrun(text: string, cpu: number, from: number, to: number): { text: string; marker: number } {
  const out: string[] = [];
  let removed = 0;
  let marker = 0;
  text.split("\n").forEach((line, i) => {
    const n = i + 1;
    const c = cpuOf(line);
    if (c === cpu && n >= from && n <= to) {
      removed++;
      return;
    }
    if (c === cpu && n > to && marker === 0 && removed > 0) {
      out.push(`CPU:${cpu} [${removed} EVENTS DROPPED]`);
      marker = out.length;
    }
    out.push(line);
  });
  assert.ok(marker > 0);
  return { text: out.join("\n"), marker };
}

/** What a reading gave: its events, the reader's counts and messages at its end and when the facts were complete. */
interface Reading {
  events: string[];
  stats: string;
  diagnostics: string[];
  atFacts: string;
  facts: string;
  end: string;
}

const json = (x: unknown): string =>
  JSON.stringify(x, (_, v) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v));

async function read(path: string, span: TraceSpan, points?: ResumePoints): Promise<Reading> {
  const reader = new TraceReader({ file: "trace.txt" });
  const events: string[] = [];
  let atFacts = "";
  let facts = "";
  const end = await readTraceWithFacts(
    path,
    reader,
    (f: TraceFacts) => {
      atFacts = json(reader.stats);
      facts = json(f);
      return (e) => events.push(json(e));
    },
    span,
    points,
  );
  return { events, stats: json(reader.stats), diagnostics: [...reader.diagnostics], atFacts, facts, end: json(end) };
}

/** `text` with every byte of its first `bytes` but the newlines made an `x`: no line there reads as an event. */
function spoiled(text: string, bytes: number): Buffer {
  const b = Buffer.from(text);
  for (let i = 0; i < bytes; i++) if (b[i] !== 10) b[i] = 120;
  return b;
}

for (const gzip of [false, true]) {
  test(`${gzip ? "gzip" : "plain"}: a span's reading begins after the loss it follows, and gives what reading every line gave`, async () => {
    // Two losses past the facts' window (16,384 events), one of each CPU.
    const one = overrun(fixture(), 0, 17001, 17300);
    const two = overrun(one.text, 1, 19501, 19800);
    const markers = [one.marker, two.marker];
    const dir = mkdtempSync(join(tmpdir(), "iovalab-resume-"));
    try {
      const path = join(dir, gzip ? "trace.txt.gz" : "trace.txt");
      const write = (text: string | Buffer) => writeFileSync(path, gzip ? gzipSync(text) : text);
      write(two.text);
      const spans = markers.map((m) => ({ from: m, until: Number.POSITIVE_INFINITY, lossesAfter: m, endAtLoss: true }));
      // Read every line, as before: the first span, then each span after a loss (the last one also to a line).
      const whole = [
        await read(path, { ...WHOLE_TRACE, endAtLoss: true }),
        ...(await Promise.all(spans.map((s) => read(path, s)))),
        await read(path, { ...spans[0], until: two.marker - 10, endAtLoss: false }),
      ];
      assert.equal(whole[0].end.includes(`"afterLine":${one.marker}`), true, whole[0].end);
      assert.equal(whole[1].end.includes(`"afterLine":${two.marker}`), true, whole[1].end);
      // One reading of the whole trace leaves a point after each loss.
      const points = new ResumePoints();
      await read(path, WHOLE_TRACE, points);
      assert.deepEqual([...points.after.keys()], markers);
      // The lines before the first point unreadable: a reading that read them would count no event there.
      const first = points.after.get(one.marker)?.offset ?? 0;
      assert.ok(first > 2_000_000, `${first}`);
      write(spoiled(two.text, first));
      const resumed = [
        ...(await Promise.all(spans.map((s) => read(path, s, points)))),
        await read(path, { ...spans[0], until: two.marker - 10, endAtLoss: false }, points),
      ];
      for (let k = 0; k < resumed.length; k++) {
        const [a, b] = [whole[k + 1], resumed[k]];
        assert.ok(a.events.length > 500, `${a.events.length}`);
        assert.deepEqual(b.events, a.events);
        assert.equal(b.stats, a.stats);
        assert.deepEqual(b.diagnostics, a.diagnostics);
        assert.equal(b.atFacts, a.atFacts);
        assert.equal(b.facts, a.facts);
        assert.equal(b.end, a.end);
      }
      // Without the points, the spoiled lines are read: the counts differ (the check above can fail).
      const spoiledWhole = await read(path, spans[0]);
      assert.notEqual(spoiledWhole.stats, whole[1].stats);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
