/**
 * The byte reading of the commonest lines (`line-bytes.ts`, `fast-bytes.ts`,
 * `TraceReader.pushBytes`) against the text reading it stands in for: the
 * same events, counts and messages on the repository's sample traces and on
 * lines mutated at random (non-ASCII bytes, carriage returns, broken fields),
 * in chunks cut at any line end; and the byte reading does take nearly every
 * map and unmap line of the samples (else the first check would prove little).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import type { TraceEvent } from "./events.ts";
import { asciiWord, fastBytesEvent, fastName } from "./fast-bytes.ts";
import { SCAN_EVENT } from "./line.ts";
import { ByteLineScan } from "./line-bytes.ts";
import { readTraceText, TraceReader } from "./reader.ts";

const SAMPLES = join(import.meta.dirname, "..", "..", "samples");
const SAMPLE_FILES = [
  "trace-6.1-strict-4k.txt.gz",
  "trace-6.1-lazy-mixed.txt.gz",
  "trace-6.12-lazy-mixed.txt.gz",
  "trace-6.12-lazy-timers.txt.gz",
];

/** Reads `bytes` through `pushBytes`, cut into chunks at the line ends after each offset of `cuts`. */
function readBytes(bytes: Uint8Array, cuts: number[] = []): { events: TraceEvent[]; reader: TraceReader } {
  const reader = new TraceReader({ file: "t.txt" });
  const events: TraceEvent[] = [];
  const sink = (e: TraceEvent) => events.push(e);
  let from = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const nl = bytes.indexOf(10, Math.max(from, c));
    if (nl < 0) break;
    reader.pushBytes(bytes.subarray(from, nl + 1), sink);
    from = nl + 1;
  }
  reader.pushBytes(bytes.subarray(from), sink);
  reader.end(sink);
  return { events, reader };
}

/** A file's bytes read both ways: as the text Node decodes from them, and as bytes. */
function sameReading(text: string, cuts: number[] = []): void {
  const bytes = Buffer.from(text, "utf8");
  const a = readTraceText(bytes.toString("utf8"), { file: "t.txt" });
  const b = readBytes(bytes, cuts);
  assert.deepEqual(b.events, a.events);
  assert.deepEqual(b.reader.stats, a.reader.stats);
  assert.deepEqual(b.reader.diagnostics, a.reader.diagnostics);
}

test("the sample traces read the same from bytes as from text, whole and in chunks", () => {
  for (const f of SAMPLE_FILES) {
    const bytes = gunzipSync(readFileSync(join(SAMPLES, f)));
    const text = bytes.toString("utf8");
    sameReading(text);
    sameReading(text, [1, 4096, 65536, 100_000]);
  }
});

test("the byte reading takes nearly every map, unmap and dma_(un)map_page line of the samples itself", () => {
  const scan = new ByteLineScan();
  for (const f of SAMPLE_FILES) {
    const bytes = gunzipSync(readFileSync(join(SAMPLES, f)));
    const { events } = readTraceText(bytes.toString("utf8"), { file: "t.txt" });
    const byLine = new Map(events.map((e) => [e.line, e]));
    let lineNo = 0;
    let candidates = 0;
    let taken = 0;
    for (let start = 0; start < bytes.length; ) {
      const nl = bytes.indexOf(10, start);
      const end = nl < 0 ? bytes.length : nl;
      lineNo++;
      const want = byLine.get(lineNo);
      if (
        want &&
        (want.type === "iommu_map" ||
          want.type === "iommu_unmap" ||
          want.name === "dma_map_page" ||
          want.name === "dma_unmap_page")
      ) {
        candidates++;
        assert.equal(scan.scan(bytes, start, end), SCAN_EVENT);
        const which = fastName(bytes, scan.nameStart, scan.nameEnd);
        const comm = asciiWord(bytes, scan.commStart, scan.commEnd);
        const flags = asciiWord(bytes, scan.flagsStart, scan.flagsEnd);
        if (which >= 0 && comm !== null && flags !== null) {
          const got = fastBytesEvent(lineNo, which, scan, bytes, comm, flags);
          if (got !== null) {
            taken++;
            assert.deepEqual(got, want);
          }
        }
      }
      start = end + 1;
    }
    assert.ok(candidates > 1000, `${f}: ${candidates} map and unmap lines`);
    assert.ok(taken === candidates, `${f}: the bytes read ${taken} of ${candidates}`);
  }
});

/** Lines of each shape the readers know, to mutate. */
const TEMPLATES = [
  "kworker/u4:1-25 [000] ..... 5.996695: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
  "fio-300 [001] d.h1. 6.000002: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
  "fio-300 [000] ..... 6.000005: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 phys_addr=a0de000 attrs=",
  "fio-300 [000] d.h1. 6.000006: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 attrs=NO_WARN",
  "           <idle>-0       [001] d.h2.    23.944185: dma_unmap_phys: 0000:00:01.0 dir=TO_DEVICE dma_addr=0xffffd200 size=512 attrs=",
  "fio 300 [001] 6.000004: iommu:map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
  "fio-300  1d.h1. 6.000004: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
  "fio-300 (  300) [001] d.h1. 6.000007: unmap: IOMMU: iova=0x00000000ffffe000 - 0x00000000fffff000 size=4096 unmapped_size=4096",
  "fio-300 [001] ..... 6.000008: sched_switch: prev_comm=fio prev_pid=300 ==> next_comm=swapper/1 next_pid=0",
  "    kworker/u8:4-56      [001] d.s2.    20.431502: timer_start: timer=000000002dc3cb91 function=fq_flush_timeout expires=4294897421 [timeout=3] bucket_expiry=4294897422 cpu=1 idx=14 flags=",
  "     ksoftirqd/1-27      [001] ..s..    20.449257: timer_expire_entry: timer=000000002dc3cb91 function=fq_flush_timeout now=4294897422 baseclk=4294897422",
  "          <idle>-0       [001] .Ns1.    18.976548: timer_expire_exit: timer=000000007a3fefb8",
  "     kworker/0:0-9       [000] .....    27.788567: workqueue_execute_start: work struct 000000006df68c87: function iova_depot_work_func",
  "            init-1       [001] .....     3.375160: add_device_to_group: IOMMU: groupID=0 device=0000:00:00.0",
  "            init-1       [001] .....     3.419137: attach_device_to_domain: IOMMU: device=0000:00:00.0",
  "             fio-196     [001] .....    24.591763: dma_map_sg: 0000:00:01.0 dir=FROM_DEVICE nents=4/4 ents=1/1 dma_addrs={0xffb7c000} sizes={0x4000} phys_addrs={0x18419000,0x18415000,0x18414000,0x18212000} attrs=NO_WARN",
  "     fio-286     0dNh1.    36.774301: dma_unmap_sg:         [FAILED TO PARSE] device=0000:00:01.0 addrs=ARRAY[00, d0, d9, 09, 00, 00, 00, 00] size=4096 dir=2 attrs=0",
  "fio 300/301 [001] 6.000009: dma:dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 phys_addr=a0de000 attrs=",
  "CPU:1 [LOST 3 EVENTS]",
  "# tracer: nop",
  "",
];

/** Characters a mutation puts in: structure, digits, hex, non-ASCII, a carriage return. */
const NOISE = [" ", ":", "=", "-", ".", "[", "]", "0", "9", "f", "x", "é", "\u00a0", "€", "\r", "\t", "a", "A", "𝄞"];

test("lines mutated at random read the same from bytes as from text", () => {
  const line = fc
    .record({
      t: fc.nat(TEMPLATES.length - 1),
      edits: fc.array(fc.record({ at: fc.nat(260), noise: fc.nat(NOISE.length - 1), del: fc.boolean() }), {
        maxLength: 3,
      }),
    })
    .map(({ t, edits }) => {
      let s = TEMPLATES[t];
      for (const e of edits) {
        const at = Math.min(e.at, s.length);
        s = s.slice(0, at) + NOISE[e.noise] + s.slice(e.del ? at + 1 : at);
      }
      return s;
    });
  fc.assert(
    fc.property(
      fc.array(line, { minLength: 1, maxLength: 12 }),
      fc.array(fc.nat(2000), { maxLength: 3 }),
      (lines, cuts) => {
        sameReading(`${lines.join("\n")}\n`, cuts);
        sameReading(lines.join("\n"), cuts);
      },
    ),
    { numRuns: 400 },
  );
});

test("interned words are compared byte for byte: two words of one slot each come back as themselves", () => {
  const bytes = (s: string) => Buffer.from(s, "latin1");
  // Every two-letter word seen: 2,444 of them in 1,024 slots: two must share one.
  const seen = new Map<number, string>();
  let pair: [string, string] | null = null;
  for (let a = 97; a < 123 && pair === null; a++) {
    for (let b = 33; b < 127 && pair === null; b++) {
      const w = String.fromCharCode(a, b);
      const h = (Math.imul(Math.imul(2, 31) + a, 31) + b) & 1023;
      const other = seen.get(h);
      if (other !== undefined) pair = [other, w];
      else seen.set(h, w);
    }
  }
  assert.ok(pair !== null);
  for (let i = 0; i < 4; i++) {
    for (const w of pair) assert.equal(asciiWord(bytes(w), 0, 2), w);
  }
  assert.equal(asciiWord(bytes("é"), 0, 1), null);
});

test("lines that start as the event line before them did read the same from bytes as from text", () => {
  // The byte scan keeps an event line's head (what precedes its timestamp)
  // and reads only the rest of a next line that starts with the same bytes:
  // here runs of lines share heads, some of them with colons in the task
  // name, and their rest is mutated (long, short or broken timestamps,
  // other separators, no event name).
  const parts = TEMPLATES.map((s) => /^(.*?\s)(\d+\.\d+:.*)$/.exec(s)).filter((m) => m !== null);
  const heads = [
    ...parts.map((m) => m[1]),
    "  a: 1.5: b-7     [000] .....    ",
    "x:y-12 [001] d.h1. ",
    "fio 300 [001] ",
  ];
  const rests = [
    ...parts.map((m) => m[2]),
    "6.1234567891: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "12345678901234567.5: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    "6.5:map: x 7.5: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "6.5: : 7.25: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    "9007199.254740993: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "6.5:",
    ".5: map: x",
  ];
  const line = fc
    .record({
      head: fc.nat(heads.length - 1),
      rest: fc.nat(rests.length - 1),
      edits: fc.array(fc.record({ at: fc.nat(40), noise: fc.nat(NOISE.length - 1), del: fc.boolean() }), {
        maxLength: 2,
      }),
    })
    .map(({ head, rest, edits }) => {
      let s = rests[rest];
      for (const e of edits) {
        const at = Math.min(e.at, s.length);
        s = s.slice(0, at) + NOISE[e.noise] + s.slice(e.del ? at + 1 : at);
      }
      return heads[head] + s;
    });
  // Runs of one head: each line is repeated with a few others' rests.
  const run = fc.tuple(line, fc.array(fc.nat(rests.length - 1), { maxLength: 4 })).map(([first, more]) => {
    const head = heads.find((h) => first.startsWith(h)) ?? "";
    return [first, ...more.map((r) => head + rests[r])];
  });
  fc.assert(
    fc.property(
      fc.array(run, { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(3000), { maxLength: 2 }),
      (runs, cuts) => {
        sameReading(`${runs.flat().join("\n")}\n`, cuts);
      },
    ),
    { numRuns: 400 },
  );
});

test("a line's counts by event name keep the order names were first read, fast or not", () => {
  // An unmap read from the bytes, then a map line the byte reading leaves to
  // the text reader (upper-case hex), then both read from the bytes: `unmap`
  // keeps its place before `map`, and each count is whole.
  const text = [
    "fio-300 [001] ..... 6.000001: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    "fio-300 [001] ..... 6.000002: map: IOMMU: iova=0x00000000FFFFF000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "fio-300 [001] ..... 6.000003: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "fio-300 [001] ..... 6.000004: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    "",
  ].join("\n");
  const { reader } = readBytes(Buffer.from(text));
  assert.deepEqual(
    [...reader.stats.events],
    [
      ["unmap", 2],
      ["map", 2],
    ],
  );
  sameReading(text);
});

test("dma lines with odd address and size words read the same from bytes as from text", () => {
  // The byte reading finds a word's end while it reads the value: these
  // words end, or fail, where the text reading's word and value rules say.
  const words = [
    "0",
    "00",
    "0x",
    "0X1F",
    "0x0",
    "0xg",
    "0x 1",
    "00g",
    "ff=",
    "fffffffffffff",
    "1fffffffffffff",
    "20000000000000",
    "ffffffffffffff",
    "000000000000000001",
    "A0",
    "é1",
    "",
  ];
  const sizes = ["4096", "0", "1234567890123456", "40=96", "4o96", "", "4096 "];
  const lines: string[] = [];
  for (const w of words) {
    for (const z of sizes.slice(0, 3)) {
      lines.push(
        `fio-300 [000] ..... 6.000005: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=${w} size=${z} phys_addr=${w} attrs=`,
      );
      lines.push(
        `fio-300 [000] ..... 6.000006: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=${w} size=${z} attrs=`,
      );
    }
  }
  for (const z of sizes) {
    lines.push(
      `fio-300 [000] ..... 6.000007: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=${z} attrs=`,
    );
    lines.push(
      `fio-300 [000] ..... 6.000008: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=${z} phys_addr=a0de000`,
    );
    lines.push(
      `fio-300 [000] ..... 6.000009: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=${z} phys_addr=a0de000 attrs=`,
    );
  }
  sameReading(`${lines.join("\n")}\n`);
});
