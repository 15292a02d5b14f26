/**
 * Traces whose ring buffer lost events (an overrun: the writer lapped the
 * reader, so a span of one CPU's events is gone and a marker stands before
 * that CPU's next event). What the kernel's caches held after the loss is
 * unknown, so the replay starts over after it as a trace that starts
 * mid-life. Every trace here is real lines, one CPU's removed and the
 * marker the kernel or trace-cmd prints put in their place; every expected
 * IOVA is the trace's own.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import type { DatPosition } from "../../src/trace/dat.ts";
import { readTraceInto } from "../../src/trace/node-source.ts";
import { readTraceText, type TraceLoss, TraceReader } from "../../src/trace/reader.ts";
import { iovalab, iovalabProcess } from "../helpers/iovalab.ts";
import { quickSkip } from "../helpers/quick.ts";
import { type DatTestRecord, writeTraceDat } from "../helpers/trace-dat.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;
/** ../shared beside the repository (IOVALAB_SHARED names a copy elsewhere). */
const SHARED = process.env.IOVALAB_SHARED ?? new URL("../../../shared/", import.meta.url).pathname;

/** The CPU column of an event line (`[001]`), or -1 for any other line. */
function cpuOf(line: string): number {
  if (line.startsWith("#")) return -1;
  const m = /^\s*\S.*?\[(\d{3})\]/.exec(line);
  return m === null ? -1 : Number(m[1]);
}

interface Overrun {
  text: string;
  /** CPU `cpu`'s last line before the loss (1-based, in the text given). */
  lastBefore: number;
  /** The marker's line in the text made. */
  marker: number;
  removed: number;
}

/**
 * `text` with CPU `cpu`'s event lines `from` to `to` (1-based, inclusive)
 * removed, and the kernel's marker before that CPU's next event.
 */
function overrun(text: string, cpu: number, from: number, to: number, marker = "CPU:%d [LOST %n EVENTS]"): Overrun {
  const lines = text.split("\n");
  const out: string[] = [];
  let removed = 0;
  let lastBefore = 0;
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const c = cpuOf(lines[i]);
    if (c === cpu && n < from) lastBefore = n;
    if (c === cpu && n >= from && n <= to) {
      removed++;
      continue;
    }
    if (c === cpu && n > to && at === 0 && removed > 0) {
      out.push(marker.replace("%d", `${cpu}`).replace("%n", `${removed}`));
      at = out.length;
    }
    out.push(lines[i]);
  }
  assert.ok(at > 0 && removed > 0, "a loss made");
  return { text: out.join("\n"), lastBefore, marker: at, removed };
}

interface SpanFigures {
  afterLine: number;
  lastLine: number | null;
  loss: { afterLine: number; cpu: number; events: number | null } | null;
  total: { allocations: number; exactOfKnowable: number | null };
}

interface Summary {
  warnings: string[];
  total: { allocations: number; exact: number; exactOfKnowable: number | null };
  spans?: SpanFigures[];
}

function withFile<T>(text: string, f: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "iovalab-overrun-"));
  try {
    const path = join(dir, "trace.txt.gz");
    writeFileSync(path, gzipSync(text));
    return f(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function replayed(text: string, args: string[] = ["--json"]): string {
  return withFile(text, (path) => {
    const r = iovalab(["replay", path, ...args]);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  });
}

const summary = (text: string): Summary => JSON.parse(replayed(text));

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

test("a loss marker of the kernel, of trace-cmd or of perf, its count given or not, is a loss, not a malformed line", () => {
  const body = "          fio-1  [000] ..... 1.000001: timer_expire_exit: timer=000000001\n";
  const perf = "             fio   150 [002]     1.000002: PERF_RECORD_LOST lost 5\n";
  const losses: TraceLoss[] = [];
  const { reader } = readTraceText(
    `${body}CPU:1 [LOST 7 EVENTS]\n${body}CPU:0 [12 EVENTS DROPPED]\n${body}CPU:3 [EVENTS DROPPED]\n${body}${perf}${body}`,
    { file: "t.txt", strictInput: true, onLoss: (l) => losses.push(l) },
  );
  assert.deepEqual(losses, [
    { afterLine: 2, cpu: 1, events: 7 },
    { afterLine: 4, cpu: 0, events: 12 },
    { afterLine: 6, cpu: 3, events: null },
    { afterLine: 8, cpu: 2, events: 5 },
  ]);
  const s = reader.stats;
  assert.equal(s.losses, 4);
  assert.equal(s.lostEvents, 24);
  assert.equal(s.malformed, 0);
  assert.deepEqual(reader.diagnostics, [
    "t.txt:2: CPU 1 lost 7 events: the trace is incomplete from here",
    "t.txt:4: CPU 0 lost 12 events: the trace is incomplete from here",
    "t.txt:6: CPU 3 lost some events: the trace is incomplete from here",
    "t.txt:8: CPU 2 lost 5 events: the trace is incomplete from here",
  ]);
});

/** An `iommu:map` record of 4 KiB at `iova` (36 bytes in its page; 44 with `long`, its payload padded). */
function mapRecord(cpu: number, timestampNs: number, iova: number, long = false): DatTestRecord {
  const payload = new Uint8Array(long ? 32 : 24);
  const dv = new DataView(payload.buffer);
  dv.setBigUint64(0, BigInt(iova), true);
  dv.setBigUint64(8, 0x1234000n, true);
  dv.setBigUint64(16, 4096n, true);
  return { cpu, timestampNs, event: "iommu-map", flags: 0, preemptCount: 0, pid: 7, payload };
}

test("trace.dat: a page whose commit word flags lost events tells of them before its first record, counted where the page stored the count", async () => {
  const records: DatTestRecord[] = [];
  // CPU 0: 3 records, then a page flagged with 1,234 lost events and its count stored, 2 records.
  // CPU 1: 2 records, then a page flagged with no room for the count (112 records of 36 bytes and one of 44 fill
  // 4,076 of its 4,080 data bytes, and a long needs 8), then the rest.
  for (let i = 0; i < 5; i++)
    records.push({
      ...mapRecord(0, 1_000_000 + i * 1000, 0xff000000 + i * 4096),
      ...(i === 3 ? { missedBefore: 1234 } : {}),
    });
  for (let i = 0; i < 152; i++)
    records.push({
      ...mapRecord(1, 1_000_500 + i * 1000, 0xfe000000 + i * 4096, i === 3),
      ...(i === 2 ? { missedBefore: 99 } : {}),
    });
  const dir = mkdtempSync(join(tmpdir(), "iovalab-dat-loss-"));
  try {
    const path = join(dir, "t.dat");
    writeFileSync(path, writeTraceDat({ records, cpus: 2, compress: true, kallsyms: "", cmdlines: "7 fio\n" }));
    const losses: TraceLoss[] = [];
    const reader = new TraceReader({ file: "t.dat", onLoss: (l) => losses.push(l) });
    const lines: number[] = [];
    await readTraceInto(path, reader, (e) => lines.push(e.line));
    assert.equal(lines.length, 157);
    // In time order: CPU 0 at 1.000, 1.001, ...; CPU 1 at 1.0005, 1.0015, ...: the third CPU 1 record is the
    // sixth record, the fourth CPU 0 record the seventh.
    assert.deepEqual(losses, [
      { afterLine: 5, cpu: 1, events: null },
      { afterLine: 6, cpu: 0, events: 1234 },
    ]);
    assert.equal(reader.stats.losses, 2);
    assert.equal(reader.stats.lostEvents, 1234);
    assert.deepEqual(reader.diagnostics, [
      "t.dat:6: CPU 1 lost some events: the trace is incomplete from here",
      "t.dat:7: CPU 0 lost 1234 events: the trace is incomplete from here",
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("trace.dat: a reading begun where another told of a loss reads on as that one did (the spans' resume points)", async () => {
  // Two CPUs of 3,000 4 KiB maps each (about 27 pages, three compressed chunks of ten pages), interleaved; losses
  // at both CPUs' first pages, inside a chunk and at a chunk's first page.
  const records: DatTestRecord[] = [];
  const lossAt = new Map([
    [0, new Set([1, 700, 1130, 2260])],
    [1, new Set([2, 1131, 2900])],
  ]);
  for (let i = 0; i < 3000; i++)
    for (const cpu of [0, 1])
      records.push({
        ...mapRecord(cpu, 1_000_000 + i * 1000 + cpu * 500, 0xf0000000 + cpu * 0x4000000 + i * 4096),
        ...(lossAt.get(cpu)?.has(i) ? { missedBefore: 10 + i } : {}),
      });
  const dir = mkdtempSync(join(tmpdir(), "iovalab-dat-resume-"));
  try {
    const path = join(dir, "t.dat");
    writeFileSync(path, writeTraceDat({ records, cpus: 2, compress: true, kallsyms: "", cmdlines: "7 fio\n" }));
    const seen = (into: string[]) => (e: { line: number; cpu: number; timestampNs: number }) =>
      into.push(`${e.line} ${e.cpu} ${e.timestampNs} ${JSON.stringify(e)}`);
    const events: string[] = [];
    const points: { at: number; dat: DatPosition; state: ReturnType<TraceReader["snapshot"]>; loss: TraceLoss }[] = [];
    const reader = new TraceReader({ file: "t.dat" });
    reader.onLoss = (loss) => {
      const dat = reader.datPosition?.();
      assert.ok(dat, "a trace.dat's reading says where it is when it tells of a loss");
      points.push({ at: events.length, dat, state: reader.snapshot(), loss });
    };
    await readTraceInto(path, reader, seen(events));
    assert.equal(events.length, 6000);
    assert.equal(points.length, 7);
    for (const p of points) {
      const again: string[] = [];
      const losses: TraceLoss[] = [];
      const r = new TraceReader({ file: "t.dat", onLoss: (l) => losses.push(l) });
      r.restore(p.state);
      await readTraceInto(path, r, seen(again), { dat: p.dat });
      assert.deepEqual(again, events.slice(p.at), `from the loss after line ${p.loss.afterLine}`);
      // The loss told where the point was taken is not told again; every later one is.
      assert.deepEqual(
        losses,
        points.slice(points.indexOf(p) + 1).map((q) => q.loss),
      );
      assert.deepEqual(r.snapshot(), reader.snapshot());
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the 6.12 lazy-timers head with 300 lines of CPU 1 lost: exact up to the loss, and after it as a trace that starts there", () => {
  const text = fixture("linux-6.12-lazy-timers-head8000.txt.gz");
  const o = overrun(text, 1, 3001, 3300);
  const j = summary(o.text);
  assert.ok(j.spans);
  assert.equal(j.spans.length, 2);
  const [a, b] = j.spans;
  assert.deepEqual(a.loss, { afterLine: o.marker, cpu: 1, events: o.removed });
  assert.equal(a.afterLine, 0);
  assert.equal(a.lastLine, o.lastBefore);
  assert.equal(b.afterLine, o.marker);
  assert.equal(b.lastLine, null);
  assert.equal(a.total.exactOfKnowable, 1);
  assert.equal(b.total.exactOfKnowable, 1);
  assert.equal(j.total.exactOfKnowable, 1);
  assert.equal(j.total.allocations, a.total.allocations + b.total.allocations);
  assert.match(j.warnings[0], /^the ring buffer lost events in 1 place/);
  // The same lines without the marker: the replay goes on from caches unlike the kernel's (58.23%).
  const silent = summary(o.text.replace(/^CPU:1 \[LOST \d+ EVENTS\]\n/m, ""));
  assert.equal(silent.spans, undefined);
  assert.ok((silent.total.exactOfKnowable ?? 1) < 0.6, `${silent.total.exactOfKnowable}`);
});

test("the 6.1 lazy-timers head with trace-cmd's count-less marker: each span's text, and the figures of both", () => {
  const text = fixture("linux-6.1-lazy-timers-head8000.txt.gz");
  const o = overrun(text, 1, 3001, 3300, "CPU:%d [EVENTS DROPPED]");
  const out = replayed(o.text, []);
  assert.match(out, /warning: the ring buffer lost events in 1 place/);
  assert.match(
    out,
    new RegExp(
      `^span 1 of 2, from the trace's start, to line ${o.lastBefore} \\(CPU 1 lost some events between lines ${o.lastBefore} and ${o.marker + 1};`,
      "m",
    ),
  );
  assert.match(
    out,
    new RegExp(`^span 2 of 2, after line ${o.marker}, as a trace that starts there, to the trace's end:$`, "m"),
  );
  assert.match(out, /^learning phase: the trace starts mid-life;/m);
  const all =
    /^all 2 spans: exact IOVA matches (\d+)\/(\d+) allocations .*of what the trace could show, ([\d.]+)% exact$/m.exec(
      out,
    );
  assert.ok(all, out);
  // One allocation of the second span is not: CPU 1's 16 KiB map at 3575, which the phase's last adoption moved.
  assert.ok(Number(all[3]) >= 99.9, all[0]);
  const silent = summary(o.text.replace(/^CPU:1 \[EVENTS DROPPED\]\n/m, ""));
  assert.ok((silent.total.exactOfKnowable ?? 1) < 0.7, `${silent.total.exactOfKnowable}`);
});

test("a pipe (stdin, /dev/stdin, a shell's <(...)) replays in spans as its file: later readings read its copy", (t) => {
  const text = fixture("linux-6.12-lazy-timers-head8000.txt.gz");
  const o = overrun(text, 1, 3001, 3300);
  // A shell's pipe (the test runner's own stdin is a socket, which /dev/stdin cannot open), and where the copy goes.
  const tmp = mkdtempSync(join(tmpdir(), "iovalab-pipe-test-"));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  // The replay's own files there (the command's compile cache goes there too).
  const copies = () => readdirSync(tmp).filter((f) => f.startsWith("iovalab-"));
  const piped = (name: string, env: Record<string, string> = {}) =>
    withFile(o.text, (path) => {
      const r = spawnSync(
        "sh",
        ["-c", `gzip -dc "$1" | "$2" "$3" replay ${name} --json`, "sh", path, process.execPath, MAIN],
        { encoding: "utf8", maxBuffer: 1 << 28, env: { ...process.env, TMPDIR: tmp, ...env } },
      );
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    });
  const file = withFile(o.text, (path) => {
    const r = iovalabProcess(["replay", path, "--json"]);
    return { ...r, stdout: r.stdout.replace(`"trace":${JSON.stringify(path)}`, '"trace":"<stdin>"') };
  });
  assert.equal(file.status, 0, file.stderr);
  assert.equal((JSON.parse(file.stdout) as Summary).spans?.length, 2);
  for (const name of ["/dev/stdin", "-"]) {
    const r = piped(name);
    assert.equal(r.status, 0, r.stderr);
    // The spans after the loss read the copy the first reading wrote (a pipe read again gives nothing, or the lines
    // after where the first reading stopped); the copy is gone with the replay.
    assert.equal(r.stdout.replace(`"trace":"${name}"`, '"trace":"<stdin>"'), file.stdout, name);
    assert.equal(r.stderr, file.stderr, name);
    assert.deepEqual(copies(), [], name);
  }
  // No copy can be made (TMPDIR a file): the pipe is read once, and replayed in one span.
  writeFileSync(join(tmp, "a-file"), "");
  const once = piped("-", { TMPDIR: join(tmp, "a-file") });
  assert.equal(once.status, 0, once.stderr);
  const j = JSON.parse(once.stdout) as Summary;
  assert.equal(j.spans, undefined);
  assert.ok(j.total.allocations > 1500, `${j.total.allocations}`);
  // A copy that cannot be written (here: a file-size limit, its signal ignored) stops a replay that needs it,
  // with what to do, and leaves no file behind.
  const limited = withFile(o.text, (path) =>
    spawnSync(
      "sh",
      [
        "-c",
        `trap '' XFSZ; ulimit -f 200; gzip -dc "$1" | "$2" "$3" replay - --json`,
        "sh",
        path,
        process.execPath,
        MAIN,
      ],
      { encoding: "utf8", maxBuffer: 1 << 28, env: { ...process.env, TMPDIR: tmp } },
    ),
  );
  assert.equal(limited.status, 2, limited.stderr);
  assert.match(
    limited.stderr,
    /^iovalab: <stdin>: this replay reads the trace again, and a piped trace is read again from a copy, which could not be written to \S+ \(file too large\): give the trace as a file, or set TMPDIR to a directory with room for it$/m,
  );
  assert.equal(limited.stdout, "");
  assert.deepEqual(copies(), []);
});

test("Ctrl-C ends a piped replay at once, and its copy goes with it", async (t) => {
  const text = fixture("linux-6.12-lazy-timers-head8000.txt.gz");
  const tmp = mkdtempSync(join(tmpdir(), "iovalab-pipe-test-"));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const copies = () => readdirSync(tmp).filter((f) => f.startsWith("iovalab-"));
  const child = spawn(process.execPath, [MAIN, "replay", "-", "--json"], {
    env: { ...process.env, TMPDIR: tmp },
    stdio: ["pipe", "ignore", "ignore"],
  });
  const ended = new Promise<string | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  // Half the trace, the pipe left open: the replay waits for the rest with its copy begun. (What it has not read
  // when it ends fails to be written: nothing to see.)
  child.stdin.on("error", () => {});
  child.stdin.write(text.slice(0, text.length >> 1));
  // Up to 15 s: on a loaded machine the reaper (a shell of its own) may wait seconds for a processor.
  const until = async (what: string, done: () => boolean) => {
    for (let i = 0; i < 600 && !done(); i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(done(), what);
  };
  // Ctrl-C as soon as the directory is there: the moment its remover was not yet started when the directory was made
  // before it (28 runs in 30 left it behind).
  for (const end = Date.now() + 15_000; Date.now() < end && copies().length === 0; )
    await new Promise((r) => setImmediate(r));
  assert.equal(copies().length, 1, "the copy is made");
  child.kill("SIGINT");
  // No handler holds Ctrl-C back: the default action ends the process; then the copy is removed behind it.
  assert.equal(await ended, "SIGINT");
  await until("the copy is removed", () => copies().length === 0);
});

test("--emit-iovas past a loss: one line per map event, those before the loss the trace's own", () => {
  const text = fixture("linux-6.12-lazy-timers-head8000.txt.gz");
  const o = overrun(text, 1, 3001, 3300);
  const lossy = replayed(o.text, ["--emit-iovas"]).split("\n");
  const silent = replayed(o.text.replace(/^CPU:1 \[LOST \d+ EVENTS\]\n/m, ""), ["--emit-iovas"]).split("\n");
  assert.equal(lossy.length, silent.length);
  // The map events of the lines up to the loss's start, in trace order, are the replay's first lines (but the boot's
  // direct mapping at IOVA 0, which no replay gives a line).
  const traced = o.text
    .split("\n")
    .slice(0, o.lastBefore)
    .filter((l) => / map: IOMMU: /.test(l) && !l.includes("iova=0x0000000000000000 "))
    .map((l) => /iova=(0x[0-9a-f]+)/.exec(l)?.[1]);
  assert.ok(traced.length > 500);
  assert.deepEqual(lossy.slice(0, traced.length), traced);
});

/** The options of a test that reads full trace `name` of `../shared`: skipped without it, or in the quick tier. */
function withShared(name: string): { skip: string | false } {
  return {
    skip: existsSync(`${SHARED}${name}`) ? quickSkip("the full traces of ../shared") : `${SHARED} is not present`,
  };
}

for (const [name, cpu, from, before] of [
  // Lines 200001-203000 of CPU 1 (1,588 events), and lines 100001-101500 of CPU 0 (703 events): before, 50.43% and
  // 43.94% of the trace's allocations exact, the rest of each trace replayed from caches unlike the kernel's.
  ["kernel-timers/trace-6.12-lazy-timers.txt.gz", 1, 200001, 0.5043],
  ["kernel-timers/trace-6.1-lazy-timers.txt.gz", 0, 100001, 0.4394],
] as const) {
  test(
    `${name}, an overrun of CPU ${cpu} in its middle: every allocation the trace could show exact`,
    withShared(name),
    () => {
      const text = gunzipSync(readFileSync(`${SHARED}${name}`)).toString("utf8");
      const o = overrun(text, cpu, from, from + (cpu === 1 ? 2999 : 1499));
      const j = summary(o.text);
      assert.equal(j.spans?.length, 2);
      for (const s of j.spans ?? []) assert.equal(s.total.exactOfKnowable, 1);
      const silent = summary(o.text.replace(/^CPU:\d \[LOST \d+ EVENTS\]\n/m, ""));
      assert.ok(silent.total.exact / silent.total.allocations < before + 0.01);
    },
  );
}
