/**
 * The trace readers on real tool output: `trace-cmd report` (with and
 * without `-l`), `perf script`, trace-cmd's `[FAILED TO PARSE]` lines and its
 * binary trace.dat. The verbatim excerpts of test/fixtures/traces/ are read
 * always; the full files of ../shared/kernel-timers and ../shared/kernel-more
 * when that folder is present. Expected counts come from the files' READMEs
 * or from matching the lines here with plain string tests, never from the
 * reader's own output.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { bytesSource, DatError, TraceDat } from "../../src/trace/dat.ts";
import type { DmaMapSgEvent, TraceEvent } from "../../src/trace/events.ts";
import { parseLine } from "../../src/trace/line.ts";
import { Q35_NVME_TRACE_MACHINE } from "../../src/trace/machine.ts";
import { nodeDecompress, readTraceFile } from "../../src/trace/node-source.ts";
import { readTraceText, TraceReader } from "../../src/trace/reader.ts";
import { reconstruct } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { quickSkip } from "../helpers/quick.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { type DatTestRecord, payload, writeTraceDat } from "../helpers/trace-dat.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url).pathname;
/** ../shared beside the repository (IOVALAB_SHARED names a copy elsewhere). */
const SHARED = process.env.IOVALAB_SHARED ?? new URL("../../../shared/", import.meta.url).pathname;

function fixture(name: string): string {
  return gunzipSync(readFileSync(`${FIXTURES}${name}`)).toString("utf8");
}

/** Lines that print `NAME:` as the event column (any of the three renderings), counted with a plain regex. */
function countEvent(text: string, name: string): number {
  const re = new RegExp(`\\d\\.\\d+: +(?:\\w+:)?${name}: `);
  return text.split("\n").filter((l) => re.test(l)).length;
}

const TEXT_FIXTURES = [
  "linux-6.1-trace-cmd-report-head41.txt.gz",
  "linux-6.1-trace-cmd-report-l-head41.txt.gz",
  "linux-6.1-perf-script-head40.txt.gz",
  "linux-6.12-trace-cmd-failed-to-parse-sample.txt.gz",
  "linux-6.1-midlife-lazy-report-l-head400.txt.gz",
  "linux-6.12-midlife-lazy-report-l-head600.txt.gz",
  "linux-6.12-midlife-lazy-report-l-lines8270-8280.txt.gz",
];

test("verbatim trace-cmd report, report -l and perf script excerpts: every line read, 0 malformed", () => {
  for (const name of TEXT_FIXTURES) {
    const text = fixture(name);
    const { reader } = readTraceText(text, { file: name, strictInput: true });
    const s = reader.stats;
    assert.equal(s.malformed, 0, name);
    const eventLines = text.split("\n").filter((l) => /\d\.\d{6}: /.test(l)).length;
    assert.equal(s.eventsTotal + s.skippedTotal, eventLines, `${name}: every event line is an event`);
    assert.equal(s.events.get("map") ?? 0, countEvent(text, "map"), `${name}: map`);
    assert.equal(s.events.get("unmap") ?? 0, countEvent(text, "unmap"), `${name}: unmap`);
    assert.equal(s.events.get("dma_map_page") ?? 0, countEvent(text, "dma_map_page"), `${name}: dma_map_page`);
    const fq = text
      .split("\n")
      .filter((l) => /(timer_start|timer_expire_entry): +timer=\S+ function=fq_flush_timeout /.test(l));
    assert.equal(s.fqTimerEvents, fq.length, `${name}: flush-queue timer events`);
  }
});

test("trace-cmd report -l columns: COMM cut to 8, the CPU number run into the latency flags", () => {
  const line = fixture("linux-6.12-midlife-lazy-report-l-lines8270-8280.txt.gz")
    .split("\n")
    .find((l) => l.includes("workqueue_execute_start"));
  assert.ok(line);
  const h = parseLine(line);
  assert.ok(!("kind" in h));
  assert.equal(h.comm, "kworker/");
  assert.equal(h.pid, 10);
  assert.equal(h.cpu, 0);
  assert.equal(h.flags, ".....");
  assert.equal(h.timestampNs, 31_819_219_000);
  assert.equal(h.event, "workqueue_execute_start");
  assert.equal(h.body, "work struct 0xff404cb90abb6420: function iova_depot_work_func");
  const t = parseLine(
    "     fio-234     0d.h2.    30.662503: timer_start:          timer=0xff22527a46f436a0 function=fq_flush_timeout expires=4294899904 [timeout=3] cpu=0 idx=1 flags=D|P|I",
  );
  assert.ok(!("kind" in t));
  assert.equal(t.cpu, 0);
  assert.equal(t.flags, "d.h2.");
  assert.equal(t.comm, "fio");
  assert.equal(t.pid, 234);
  const one = parseLine(
    "     fio-273     1dNH1.    31.715386: unmap:                IOMMU: iova=0x00000000be76f000 - 0x00000000be770000 size=4096 unmapped_size=4096",
  );
  assert.ok(!("kind" in one));
  assert.equal(one.cpu, 1);
  assert.equal(one.flags, "dNH1.");
});

test("[FAILED TO PARSE] dma_map_sg/dma_unmap_sg: the raw byte arrays give the event; never malformed, never a stop", () => {
  const name = "linux-6.12-trace-cmd-failed-to-parse-sample.txt.gz";
  const text = fixture(name);
  const lines = text.split("\n");
  const { events, reader } = readTraceText(text, { file: name, strictInput: true });
  assert.equal(reader.stats.unparsedLines, lines.filter((l) => l.includes("[FAILED TO PARSE]")).length);
  assert.equal(reader.stats.malformed, 0);
  // Line 96 (1-based; line 1 is "cpus=2"): dma_addrs=ARRAY[00, 00, 96, ff, 00, 00, 00, 00] lengths=ARRAY[00, 00, 02, 00].
  assert.ok(lines[95].includes("dma_addrs=ARRAY[00, 00, 96, ff, 00, 00, 00, 00] lengths=ARRAY[00, 00, 02, 00]"));
  const sg = events.find((e) => e.line === 96) as DmaMapSgEvent;
  assert.equal(sg.type, "dma_map_sg");
  assert.equal(sg.device, "0000:00:01.0");
  assert.equal(sg.dir, "FROM_DEVICE"); // dir=2
  assert.equal(sg.attrs, "NO_WARN"); // attrs=0x100
  assert.deepEqual(sg.dmaAddrs, [0xff960000]);
  assert.deepEqual(sg.sizes, [0x20000]);
  assert.equal(sg.nents, 32);
  assert.equal(sg.ents, 1);
  assert.equal(sg.physAddrs.length, 32);
  assert.equal(sg.physAddrs[0], 0x09d9d000); // 00, d0, d9, 09, 00, 00, 00, 00
  const unsg = events.find((e) => e.line === 99);
  assert.equal(unsg?.type, "dma_unmap_sg");
  // What the line proves joins the 32 map events before it into one 128 KiB mapping.
  const { calls } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: name });
  const call = calls.find((c) => c.kind === "map" && c.lines.includes(96));
  assert.ok(call);
  assert.equal(call.api, "dma_map_sg");
  assert.equal(call.iova, 0xff960000);
  assert.equal(call.sizeBytes, 0x20000);
  assert.equal(call.pieces, 32);
  // A raw line cut short is skipped and counted, not malformed, even with --strict-input.
  const cut = `${lines[95].slice(0, 200)}\n${lines[98]}\n`;
  const r = readTraceText(cut, { file: "cut.txt", strictInput: true });
  assert.equal(r.reader.stats.unparsedLines, 2);
  assert.equal(r.reader.stats.malformed, 0);
  assert.equal(r.events.length, 1);
});

test("fast-check: mutated [FAILED TO PARSE] lines are read, skipped as unparsed, or malformed; never an internal error", () => {
  const failed = fixture("linux-6.12-trace-cmd-failed-to-parse-sample.txt.gz")
    .split("\n")
    .filter((l) => l.includes("[FAILED TO PARSE]"));
  assert.equal(failed.length, 5);
  fc.assert(
    fc.property(
      fc.constantFrom(...failed),
      fc.array(fc.tuple(fc.nat(), fc.constantFrom("", " ", ",", "[", "]", "=", "0", "ff", "x", "ARRAY[")), {
        maxLength: 6,
      }),
      (line, edits) => {
        let s = line;
        for (const [at, ch] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + ch + s.slice(i + (ch === "" ? 1 : 0));
        }
        const { reader } = readTraceText(`${s}\n`, { file: "f.txt" });
        assert.equal(reader.stats.lines, 1);
      },
    ),
    { numRuns: 1500, seed: 1500 },
  );
});

// ---- trace.dat ----

const KALLSYMS = "ffffffffa5a2c1f0 t fq_flush_timeout\nffffffffa5000000 T _stext\n";
const FQ = 0xffffffffa5a2c1f0n;
const TIMER = 0xff22527a46f436a0n;

function rec(
  cpu: number,
  ts: number,
  event: string,
  pid: number,
  flags: number,
  pc: number,
  fields: [number | bigint, 4 | 8][],
): DatTestRecord {
  return { cpu, timestampNs: ts, event, pid, flags, preemptCount: pc, payload: payload(fields) };
}

/** Records of the real formats, and the `trace-cmd report -l` lines that show them (written from the TP_printk formats). */
const DAT_RECORDS: DatTestRecord[] = [
  rec(0, 30_661_861_600, "iommu-map", 234, 0, 0, [
    [0xbfc86000, 8],
    [0x969b000, 8],
    [4096, 8],
  ]),
  rec(0, 30_662_268_400, "iommu-unmap", 234, 0x09, 1, [
    [0xbfc86000, 8],
    [4096, 8],
    [4096, 8],
  ]),
  rec(0, 30_662_503_000, "timer-timer_start", 234, 0x09, 2, [
    [TIMER, 8],
    [FQ, 8],
    [4294899904, 8],
    [4294899901, 8],
    [(1 << 22) | 0, 4],
  ]),
  // Same microsecond on two CPUs: the lower CPU first.
  rec(1, 30_662_600_000, "iommu-map", 235, 0, 0, [
    [0xbfc85000, 8],
    [0x9000000, 8],
    [8192, 8],
  ]),
  rec(0, 30_662_600_000, "iommu-map", 234, 0x04, 0, [
    [0xbfc84000, 8],
    [0x9002000, 8],
    [4096, 8],
  ]),
  // 0.2 s later: more than 27 bits of nanoseconds, a time extend.
  rec(0, 30_876_346_000, "timer-timer_expire_entry", 0, 0x14, 1, [
    [TIMER, 8],
    [4294899905, 8],
    [FQ, 8],
    [4294899905, 8],
  ]),
  rec(0, 30_876_452_000, "timer-timer_expire_exit", 0, 0x14, 1, [[TIMER, 8]]),
];

const DAT_TEXT = [
  "cpus=2",
  "     fio-234     0.....    30.661862: map:                  IOMMU: iova=0x00000000bfc86000 - 0x00000000bfc87000 paddr=0x000000000969b000 size=4096",
  "     fio-234     0d.h1.    30.662268: unmap:                IOMMU: iova=0x00000000bfc86000 - 0x00000000bfc87000 size=4096 unmapped_size=4096",
  "     fio-234     0d.h2.    30.662503: timer_start:          timer=0xff22527a46f436a0 function=fq_flush_timeout expires=4294899904 [timeout=3] cpu=0 idx=1 flags=",
  "     fio-234     0.N...    30.662600: map:                  IOMMU: iova=0x00000000bfc84000 - 0x00000000bfc85000 paddr=0x0000000009002000 size=4096",
  "     fio-235     1.....    30.662600: map:                  IOMMU: iova=0x00000000bfc85000 - 0x00000000bfc87000 paddr=0x0000000009000000 size=8192",
  "  <idle>-0       0.Ns1.    30.876346: timer_expire_entry:   timer=0xff22527a46f436a0 function=fq_flush_timeout now=4294899905 baseclk=4294899905",
  "  <idle>-0       0.Ns1.    30.876452: timer_expire_exit:    timer=0xff22527a46f436a0",
  "",
].join("\n");

function datEvents(bytes: Uint8Array): { events: TraceEvent[]; reader: TraceReader; dat: TraceDat } {
  const dat = new TraceDat(bytesSource(bytes), nodeDecompress);
  const reader = new TraceReader({ file: "t.dat", strictInput: true });
  const events: TraceEvent[] = [];
  for (const r of dat.records()) {
    const e = reader.record(r);
    if (e !== null) events.push(e);
  }
  return { events, reader, dat };
}

/** Events without their line numbers (a trace.dat has records, its report a `cpus=` line first). */
function stripLines(events: TraceEvent[]): unknown[] {
  return events.map(({ line: _line, ...rest }) => rest);
}

test("trace.dat, compressed and not: the records read as trace-cmd report -l prints them", () => {
  const text = readTraceText(DAT_TEXT, { file: "t.txt", strictInput: true });
  const cmdlines = "234 fio\n235 fio\n";
  for (const compress of [true, false]) {
    const bytes = writeTraceDat({ records: DAT_RECORDS, cpus: 2, compress, kallsyms: KALLSYMS, cmdlines });
    const { events, reader, dat } = datEvents(bytes);
    assert.equal(dat.compression, compress ? "zstd" : "none");
    assert.deepEqual(stripLines(events), stripLines(text.events));
    assert.equal(reader.stats.fqTimerEvents, text.reader.stats.fqTimerEvents);
    assert.deepEqual([...reader.stats.skipped], [...text.reader.stats.skipped]);
    const bodies = [...dat.records()].map((r) => r.body);
    assert.deepEqual(
      bodies,
      DAT_TEXT.split("\n")
        .slice(1, -1)
        .map((l) => l.slice(l.indexOf(": ", l.indexOf(".")) + 2).replace(/^\S+: +/, "")),
    );
  }
});

/** A record's payload laid out by its format: fixed fields at their offsets, `__data_loc` data after `fixedEnd`. */
function laidOut(
  fixedEnd: number,
  fixed: [number, number | bigint, 1 | 4 | 8][],
  dynamic: [number, Uint8Array][],
): Uint8Array {
  let len = fixedEnd;
  for (const [, d] of dynamic) len += d.length;
  const rec = new Uint8Array(len);
  const dv = new DataView(rec.buffer);
  for (const [off, v, w] of fixed) {
    if (w === 8) dv.setBigUint64(off, BigInt(v), true);
    else if (w === 4) dv.setUint32(off, Number(v), true);
    else dv.setUint8(off, Number(v));
  }
  let at = fixedEnd;
  for (const [off, d] of dynamic) {
    dv.setUint32(off, (d.length << 16) | at, true);
    rec.set(d, at);
    at += d.length;
  }
  return rec.subarray(8); // the 8 common bytes are the writer's
}

function u64s(xs: number[]): Uint8Array {
  const b = new Uint8Array(xs.length * 8);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < xs.length; i++) dv.setBigUint64(i * 8, BigInt(xs[i]), true);
  return b;
}

test("trace.dat with 6.12's dma:* formats: records print as the kernel's own text of those events", () => {
  const dev = new Uint8Array([...Buffer.from("0000:00:01.0", "latin1"), 0]);
  const lengths = new Uint8Array(4);
  new DataView(lengths.buffer).setUint32(0, 0x20000, true);
  const records: DatTestRecord[] = [
    {
      ...rec(0, 7_408_431_000, "dma-dma_map_page", 32, 0, 0, []),
      payload: laidOut(
        56,
        [
          [16, 0xa308000, 8],
          [24, 0xffffd000, 8],
          [32, 4096, 8],
          [40, 2, 4],
          [48, 0, 8],
        ],
        [[8, dev]],
      ),
    },
    {
      ...rec(0, 9_242_710_000, "dma-dma_map_sg", 255, 0, 0, []),
      payload: laidOut(
        48,
        [
          [12, 2, 4],
          [16, 1, 4],
          [20, 0, 1],
          [36, 2, 4],
          [40, 0x100, 8],
        ],
        [
          [8, dev],
          [24, u64s([0x129ea000, 0x11ae7000])],
          [28, u64s([0xfff60000])],
          [32, lengths],
        ],
      ),
    },
    {
      ...rec(0, 9_257_008_000, "dma-dma_unmap_sg", 255, 0x0d, 0, []),
      payload: laidOut(
        32,
        [
          [16, 2, 4],
          [24, 0, 8],
        ],
        [
          [8, dev],
          [12, u64s([0x129ea000, 0x11ae7000])],
        ],
      ),
    },
  ];
  const bytes = writeTraceDat({ records, cpus: 1, compress: true, kallsyms: "", cmdlines: "" });
  // The kernel's text of these events (../shared/kernel-more/trace-6.12-strict-mixed.txt.gz, first dma_map_page,
  // dma_map_sg and dma_unmap_sg lines).
  assert.deepEqual(
    [...new TraceDat(bytesSource(bytes), nodeDecompress).records()].map((r) => r.body),
    [
      "0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 phys_addr=a308000 attrs=",
      "0000:00:01.0 dir=FROM_DEVICE nents=2/2 ents=1/1 dma_addrs={0xfff60000} sizes={0x20000} phys_addrs={0x129ea000,0x11ae7000} attrs=NO_WARN",
      "0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x129ea000,0x11ae7000} attrs=",
    ],
  );
});

test("trace.dat: a bad magic, version or truncated file is a DatError naming what was expected", () => {
  const good = writeTraceDat({ records: DAT_RECORDS, cpus: 2, compress: true, kallsyms: KALLSYMS, cmdlines: "" });
  assert.throws(() => new TraceDat(bytesSource(new Uint8Array(8)), nodeDecompress), DatError);
  const v6 = good.slice();
  v6[10] = 0x36; // "6"
  assert.throws(() => new TraceDat(bytesSource(v6), nodeDecompress), /file version 7.*found version 6/);
  assert.throws(() => datEvents(good.subarray(0, good.length - 40)), DatError);
});

test("iovalab replay reads a trace.dat file as its text, and refuses one on stdin", () => {
  const bytes = writeTraceDat({
    records: DAT_RECORDS,
    cpus: 2,
    compress: true,
    kallsyms: KALLSYMS,
    cmdlines: "234 fio\n235 fio\n",
  });
  const dir = tempDir("iovalab-dat-");
  const dat = join(dir, "trace.dat");
  const txt = join(dir, "report.txt");
  writeFileSync(dat, bytes);
  writeFileSync(txt, DAT_TEXT);
  const args = ["--machine", "qemu-q35-nvme", "--kernel", "6.1", "--captured", "lazy", "--emit-iovas"];
  const a = iovalab(["replay", dat, ...args]);
  const b = iovalab(["replay", txt, ...args]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.equal(a.stdout.split("\n").length - 1, 3);
  const piped = iovalab(["replay", "-", ...args], Buffer.from(bytes).toString("latin1"));
  assert.equal(piped.status, 2);
  assert.match(piped.stderr, /<stdin>: expected trace text, found a trace\.dat/);
});

test("fast-check: records written to a trace.dat come back with the same columns, in time order", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          cpu: fc.integer({ min: 0, max: 2 }),
          gapNs: fc.integer({ min: 0, max: 400_000_000 }),
          pid: fc.integer({ min: 0, max: 40000 }),
          flags: fc.integer({ min: 0, max: 0x1f }),
          pc: fc.integer({ min: 0, max: 0x22 }),
          iova: fc.integer({ min: 0, max: 0xfffff }),
          pages: fc.integer({ min: 1, max: 64 }),
        }),
        { maxLength: 300 },
      ),
      fc.boolean(),
      (specs, compress) => {
        let ts = 1_000_000_000;
        const perCpu = [ts, ts, ts];
        const records = specs.map((s) => {
          perCpu[s.cpu] += s.gapNs;
          ts = perCpu[s.cpu];
          return rec(s.cpu, ts, "iommu-map", s.pid, s.flags, s.pc, [
            [s.iova * 4096, 8],
            [s.iova * 8192, 8],
            [s.pages * 4096, 8],
          ]);
        });
        const bytes = writeTraceDat({ records, cpus: 3, compress, kallsyms: "", cmdlines: "" });
        const got = [...new TraceDat(bytesSource(bytes), nodeDecompress).records()];
        const want = records
          .map((r, i) => ({ r, i }))
          .sort((a, b) => a.r.timestampNs - b.r.timestampNs || a.r.cpu - b.r.cpu || a.i - b.i)
          .map(({ r }) => r);
        assert.equal(got.length, want.length);
        for (let k = 0; k < got.length; k++) {
          assert.equal(got[k].cpu, want[k].cpu);
          assert.equal(got[k].timestampNs, want[k].timestampNs);
          assert.equal(got[k].pid, want[k].pid);
          assert.equal(got[k].event, "map");
        }
      },
    ),
    { numRuns: 60, seed: 60 },
  );
});

test("fast-check: a corrupted trace.dat gives records or a DatError, never another error", () => {
  const good = writeTraceDat({ records: DAT_RECORDS, cpus: 2, compress: true, kallsyms: KALLSYMS, cmdlines: "1 a\n" });
  const plain = writeTraceDat({ records: DAT_RECORDS, cpus: 2, compress: false, kallsyms: KALLSYMS, cmdlines: "" });
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.nat(),
      (zst, edits, cutAt) => {
        const bytes = (zst ? good : plain).slice();
        for (const [at, v] of edits) bytes[at % bytes.length] = v;
        const cut = bytes.subarray(0, Math.max(12, bytes.length - (cutAt % 64)));
        try {
          datEvents(cut);
        } catch (e) {
          if (!(e instanceof DatError)) throw e;
        }
      },
    ),
    { numRuns: 400, seed: 400 },
  );
});

test("fast-check: mutated real lines never make the line scan or the reader throw", () => {
  const real = TEXT_FIXTURES.flatMap((n) => fixture(n).split("\n").slice(0, 60));
  fc.assert(
    fc.property(
      fc.constantFrom(...real),
      fc.array(
        fc.tuple(fc.nat(), fc.constantFrom("", " ", ":", ".", "[", "]", "-", "0", "9", "x", "\t", "/", "(", ")")),
        {
          maxLength: 6,
        },
      ),
      (line, edits) => {
        let s = line;
        for (const [at, ch] of edits) {
          const i = at % (s.length + 1);
          s = s.slice(0, i) + ch + s.slice(i + (ch === "" ? 1 : 0));
        }
        parseLine(s);
        const { reader } = readTraceText(`${s}\n${line}\n`, { file: "m.txt" });
        assert.equal(reader.stats.lines, 2);
      },
    ),
    { numRuns: 2000, seed: 2000 },
  );
});

// ---- the full files ----

interface FullFile {
  path: string;
  map: number;
  unmap: number;
  /** timer_start + timer_expire_entry of fq_flush_timeout. */
  fq: number;
  unparsed: number;
}

/** Counts from ../shared/kernel-timers/README.md and ../shared/kernel-more/README.md. */
const FULL: FullFile[] = [
  { path: "kernel-timers/trace-cmd-report.txt", map: 512, unmap: 512, fq: 0, unparsed: 0 },
  { path: "kernel-timers/trace-cmd-report-l.txt", map: 512, unmap: 512, fq: 0, unparsed: 0 },
  { path: "kernel-timers/perf-script.txt", map: 512, unmap: 512, fq: 0, unparsed: 0 },
  { path: "kernel-timers/trace-6.1-lazy-timers.txt.gz", map: 132_459, unmap: 89_546, fq: 613 * 2, unparsed: 0 },
  { path: "kernel-timers/trace-6.12-lazy-timers.txt.gz", map: 108_573, unmap: 95_710, fq: 728 * 2, unparsed: 0 },
  { path: "kernel-more/trace-6.1-strict-mixed.txt.gz", map: 25_567, unmap: 19_891, fq: 0, unparsed: 0 },
  { path: "kernel-more/trace-6.12-strict-mixed.txt.gz", map: 27_124, unmap: 25_830, fq: 0, unparsed: 0 },
  { path: "kernel-more/trace-6.1-midlife-lazy.txt.gz", map: 261_724, unmap: 261_724, fq: 851 * 2, unparsed: 0 },
  { path: "kernel-more/trace-6.12-midlife-lazy.txt.gz", map: 193_222, unmap: 193_222, fq: 859 * 2, unparsed: 0 },
  { path: "kernel-more/trace-6.12-two-nvme-strict.txt.gz", map: 42_050, unmap: 25_844, fq: 0, unparsed: 0 },
  { path: "kernel-more/trace-6.1-midlife-lazy.dat", map: 261_724, unmap: 261_724, fq: 851 * 2, unparsed: 0 },
  // The sample's README: 200 event lines, of which 5 [FAILED TO PARSE] (grep -c).
  { path: "kernel-more/trace-cmd-failed-to-parse-sample.txt", map: -1, unmap: -1, fq: 0, unparsed: 5 },
];

const haveShared = existsSync(`${SHARED}kernel-more/README.md`) && existsSync(`${SHARED}kernel-timers/README.md`);

test("full tool outputs and traces of ../shared: 0 malformed lines, the READMEs' counts", {
  skip: haveShared ? quickSkip("the full files of ../shared") : `${SHARED} is not present`,
}, async () => {
  for (const f of FULL) {
    const reader = await readTraceFile(`${SHARED}${f.path}`, () => {}, { strictInput: true });
    const s = reader.stats;
    assert.equal(s.malformed, 0, f.path);
    assert.equal(s.unparsedLines, f.unparsed, f.path);
    if (f.map >= 0) assert.equal(s.events.get("map"), f.map, f.path);
    if (f.unmap >= 0) assert.equal(s.events.get("unmap"), f.unmap, f.path);
    assert.equal(s.fqTimerEvents, f.fq, f.path);
  }
});

test("trace-6.1-midlife-lazy.dat decodes to the very events of its trace-cmd report -l", {
  skip: haveShared ? quickSkip("the full files of ../shared") : `${SHARED} is not present`,
}, async () => {
  const fromDat: TraceEvent[] = [];
  const fromText: TraceEvent[] = [];
  const d = await readTraceFile(`${SHARED}kernel-more/trace-6.1-midlife-lazy.dat`, (e) => fromDat.push(e));
  const t = await readTraceFile(`${SHARED}kernel-more/trace-6.1-midlife-lazy.txt.gz`, (e) => fromText.push(e));
  assert.equal(fromDat.length, fromText.length);
  for (let i = 0; i < fromDat.length; i++) {
    // The report's line i+1 is record i (its first line is "cpus=2").
    const { line: dl, ...a } = fromDat[i];
    const { line: tl, ...b } = fromText[i];
    assert.equal(tl, dl + 1);
    assert.deepEqual({ ...a, comm: a.comm.slice(0, 8) }, b, `record ${dl}`);
  }
  assert.deepEqual([...d.stats.skipped], [...t.stats.skipped]);
  assert.equal(d.stats.fqTimerEvents, t.stats.fqTimerEvents);
});
