/**
 * A trace.dat's records decoded straight from their fields (`dat-events.ts`)
 * against the route they replace: the kernel's TP_printk text printed from
 * the same fields (`dat.ts`'s formatters) and read back by the text reader.
 * Both routes run in lockstep over the same file and must give the same
 * events (every field, the line numbers included) and the same counts and
 * messages (iommu, dma page, scatterlist, alloc and free, timer and
 * workqueue events); fast-check draws field values on both sides of every limit of
 * the text reading (2^52, 10^15, 2^53, 2^64, negative counts, device and
 * symbol names with spaces, `=`, brackets or bytes past ASCII).
 */

import assert from "node:assert/strict";
import { closeSync, existsSync, fstatSync, openSync, readSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { bytesSource, type DatSource, TraceDat } from "../../src/trace/dat.ts";
import type { TraceEvent } from "../../src/trace/events.ts";
import { nodeDecompress } from "../../src/trace/node-source.ts";
import { TraceReader } from "../../src/trace/reader.ts";
import { quickSkip } from "../helpers/quick.ts";
import { type DatTestRecord, writeTraceDat } from "../helpers/trace-dat.ts";

const SHARED = process.env.IOVALAB_SHARED ?? new URL("../../../shared/", import.meta.url).pathname;

interface Compared {
  events: number;
  /** Events that came decoded from their fields (the rest took the text route). */
  direct: number;
}

/** Reads `src` both ways in lockstep and asserts the same events, counts and messages. */
function compareRoutes(src: DatSource): Compared {
  const oldReader = new TraceReader({ file: "t.dat" });
  const newReader = new TraceReader({ file: "t.dat" });
  const records = new TraceDat(src, nodeDecompress).records()[Symbol.iterator]();
  const nextOld = (): TraceEvent | null => {
    for (;;) {
      const n = records.next();
      if (n.done) return null;
      const e = oldReader.record(n.value);
      if (e !== null) return e;
    }
  };
  const out: Compared = { events: 0, direct: 0 };
  const check = (e: TraceEvent) => {
    const want = nextOld();
    if (want === null) assert.fail(`an event the text route does not give: ${JSON.stringify(e)}`);
    assert.deepEqual(e, want);
    out.events++;
  };
  new TraceDat(src, nodeDecompress).readInto({
    nextLine: () => newReader.nextLine(),
    event: (e) => {
      out.direct++;
      check(newReader.recordEvent(e));
    },
    record: (r) => {
      const e = newReader.record(r);
      if (e !== null) check(e);
    },
  });
  assert.equal(nextOld(), null, "events the direct route does not give");
  const a = oldReader.stats;
  const b = newReader.stats;
  assert.deepEqual([...b.events], [...a.events]);
  assert.deepEqual([...b.skipped], [...a.skipped]);
  assert.deepEqual(
    { ...b, events: 0, skipped: 0, deviceGroups: [...b.deviceGroups], deviceAttached: [...b.deviceAttached] },
    { ...a, events: 0, skipped: 0, deviceGroups: [...a.deviceGroups], deviceAttached: [...a.deviceAttached] },
  );
  assert.deepEqual(newReader.diagnostics, oldReader.diagnostics);
  return out;
}

/** A record's payload (the bytes after the 8 common ones): fixed fields at their format offsets, `__data_loc` data after `fixedEnd`. */
function laidOut(fixedEnd: number, fixed: [number, bigint, 1 | 4 | 8][], dynamic: [number, Uint8Array][]): Uint8Array {
  let len = fixedEnd;
  for (const [, d] of dynamic) len += d.length;
  const rec = new Uint8Array(len);
  const dv = new DataView(rec.buffer);
  for (const [off, v, w] of fixed) {
    if (w === 8) dv.setBigUint64(off, BigInt.asUintN(64, v), true);
    else if (w === 4) dv.setUint32(off, Number(BigInt.asUintN(32, v)), true);
    else dv.setUint8(off, Number(BigInt.asUintN(8, v)));
  }
  let at = fixedEnd;
  for (const [off, d] of dynamic) {
    dv.setUint32(off, (d.length << 16) | at, true);
    rec.set(d, at);
    at += d.length;
  }
  return rec.subarray(8);
}

function u64s(xs: bigint[]): Uint8Array {
  const b = new Uint8Array(xs.length * 8);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < xs.length; i++) dv.setBigUint64(i * 8, BigInt.asUintN(64, xs[i]), true);
  return b;
}

function u32s(xs: bigint[]): Uint8Array {
  const b = new Uint8Array(xs.length * 4);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < xs.length; i++) dv.setUint32(i * 4, Number(BigInt.asUintN(32, xs[i])), true);
  return b;
}

function cstring(s: string): Uint8Array {
  return new Uint8Array([...Buffer.from(s, "latin1"), 0]);
}

/** Values on both sides of each limit of the text reading, and anything up to 2^64 - 1. */
const value = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: 1n << 20n }) },
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: 1n << 36n }).map((v) => v << 12n) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      0n,
      (1n << 52n) - 4096n,
      (1n << 52n) - 1n,
      1n << 52n,
      10n ** 15n - 1n,
      10n ** 15n,
      (1n << 53n) - 1n,
      1n << 53n,
      (1n << 53n) + 1n,
      (1n << 63n) + 5n,
      (1n << 64n) - 1n,
    ),
  },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
);
/** A 32-bit signed count, negative included. */
const int32 = fc.oneof(fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: -(1n << 31n), max: (1n << 31n) - 1n }));
const NAMES = ["0000:00:01.0", "nvme0", "", "a b", "dir=x", "[TRUNCATED]", "d\u00e9v", "x=", "0000:00:04.0"];
const device = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(NAMES[0], NAMES[1]) }, fc.constantFrom(...NAMES));
const KALLSYMS = [
  "ffffffffa5a2c1f0 t fq_flush_timeout",
  "ffffffffa5000000 T _stext",
  "ffffffffa5000100 t odd=name",
  "ffffffffa5000200 t br[x]",
  "ffffffffa5000300 t caf\u00e9",
  "ffffffffa5000400 t ",
  "FFFFFFFFA5000500 t upper_case",
  "ffffffffa5000000 T _stext_again",
  "a5000600 t short_address",
  "zz t damaged",
  "ffffffffa5000700 t modsym\t[nvme]",
  "",
].join("\n");
const FUNCTIONS = [
  0xffffffffa5a2c1f0n,
  0xffffffffa5000000n,
  0xffffffffa5000100n,
  0xffffffffa5000200n,
  0xffffffffa5000300n,
  0xffffffffa5000400n,
  0xffffffffa5000500n,
  0xa5000600n,
  0xffffffffa5000700n,
  0xffffffffa5a2c1f1n,
];
const fn = fc.oneof({ weight: 3, arbitrary: fc.constant(FUNCTIONS[0]) }, fc.constantFrom(...FUNCTIONS));

const head = { flags: 0, preemptCount: 0, pid: 7 };

const virt = fc.oneof(fc.constantFrom(0n, 1n << 32n, 1n << 63n, 0xffff888100000000n), value);

const record = fc.oneof(
  fc.tuple(fc.boolean(), value, fn).map(([start, work, f]) => ({
    event: start ? "workqueue-workqueue_execute_start" : "workqueue-workqueue_execute_end",
    payload: laidOut(
      24,
      [
        [8, work, 8],
        [16, f, 8],
      ],
      [],
    ),
  })),
  fc
    .tuple(device, virt, value, value, value, fc.bigInt({ min: 0n, max: 5n }), value)
    .map(([d, v, dma, size, gfp, dir, attrs]) => ({
      event: "dma-dma_alloc",
      payload: laidOut(
        56,
        [
          [16, v, 8],
          [24, dma, 8],
          [32, size, 8],
          [40, gfp, 4],
          [44, dir, 4],
          [48, attrs, 8],
        ],
        [[8, cstring(d)]],
      ),
    })),
  fc.tuple(device, virt, value, value, fc.bigInt({ min: 0n, max: 5n }), value).map(([d, v, dma, size, dir, attrs]) => ({
    event: "dma-dma_free",
    payload: laidOut(
      56,
      [
        [16, v, 8],
        [24, dma, 8],
        [32, size, 8],
        [40, dir, 4],
        [48, attrs, 8],
      ],
      [[8, cstring(d)]],
    ),
  })),
  fc.tuple(value, value, value).map(([iova, paddr, size]) => ({
    event: "iommu-map",
    payload: laidOut(
      32,
      [
        [8, iova, 8],
        [16, paddr, 8],
        [24, size, 8],
      ],
      [],
    ),
  })),
  fc.tuple(value, value, value).map(([iova, size, unmapped]) => ({
    event: "iommu-unmap",
    payload: laidOut(
      32,
      [
        [8, iova, 8],
        [16, size, 8],
        [24, unmapped, 8],
      ],
      [],
    ),
  })),
  fc
    .tuple(value, fn, value, value, fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }))
    .map(([timer, f, expires, now, flags]) => ({
      event: "timer-timer_start",
      payload: laidOut(
        44,
        [
          [8, timer, 8],
          [16, f, 8],
          [24, expires, 8],
          [32, now, 8],
          [40, flags, 4],
        ],
        [],
      ),
    })),
  fc.tuple(value, value, fn, value).map(([timer, now, f, baseclk]) => ({
    event: "timer-timer_expire_entry",
    payload: laidOut(
      40,
      [
        [8, timer, 8],
        [16, now, 8],
        [24, f, 8],
        [32, baseclk, 8],
      ],
      [],
    ),
  })),
  value.map((timer) => ({ event: "timer-timer_expire_exit", payload: laidOut(16, [[8, timer, 8]], []) })),
  fc
    .tuple(device, value, value, value, fc.bigInt({ min: 0n, max: 5n }), value)
    .map(([d, phys, dma, size, dir, attrs]) => ({
      event: "dma-dma_map_page",
      payload: laidOut(
        56,
        [
          [16, phys, 8],
          [24, dma, 8],
          [32, size, 8],
          [40, dir, 4],
          [48, attrs, 8],
        ],
        [[8, cstring(d)]],
      ),
    })),
  fc.tuple(device, value, value, fc.bigInt({ min: 0n, max: 5n }), value).map(([d, addr, size, dir, attrs]) => ({
    event: "dma-dma_unmap_page",
    payload: laidOut(
      48,
      [
        [16, addr, 8],
        [24, size, 8],
        [32, dir, 4],
        [40, attrs, 8],
      ],
      [[8, cstring(d)]],
    ),
  })),
  fc
    .tuple(
      device,
      int32,
      int32,
      fc.bigInt({ min: 0n, max: 2n }),
      fc.array(value, { maxLength: 4 }),
      fc.array(value, { maxLength: 4 }),
      fc.array(value, { maxLength: 4 }),
      fc.bigInt({ min: 0n, max: 3n }),
      value,
    )
    .map(([d, nents, ents, truncated, phys, dma, lengths, dir, attrs]) => ({
      event: "dma-dma_map_sg",
      payload: laidOut(
        48,
        [
          [12, nents, 4],
          [16, ents, 4],
          [20, truncated, 1],
          [36, dir, 4],
          [40, attrs, 8],
        ],
        [
          [8, cstring(d)],
          [24, u64s(phys)],
          [28, u64s(dma)],
          [32, u32s(lengths)],
        ],
      ),
    })),
  fc
    .tuple(device, fc.array(value, { maxLength: 4 }), fc.bigInt({ min: 0n, max: 3n }), value)
    .map(([d, addrs, dir, attrs]) => ({
      event: "dma-dma_unmap_sg",
      payload: laidOut(
        32,
        [
          [16, dir, 4],
          [24, attrs, 8],
        ],
        [
          [8, cstring(d)],
          [12, u64s(addrs)],
        ],
      ),
    })),
);

test("trace.dat decoded from its fields: the events, counts and messages of its printed text, whatever the values", () => {
  let direct = 0;
  let viaText = 0;
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 40 }), fc.boolean(), (specs, compress) => {
      const records: DatTestRecord[] = specs.map((s, i) => ({
        ...head,
        cpu: i % 2,
        timestampNs: 1_000_000_000 + i * 1_234_567,
        event: s.event,
        payload: s.payload,
      }));
      const bytes = writeTraceDat({ records, cpus: 2, compress, kallsyms: KALLSYMS, cmdlines: "7 fio\n" });
      const c = compareRoutes(bytesSource(bytes));
      direct += c.direct;
      viaText += c.events - c.direct;
    }),
    { numRuns: 400, seed: 11 },
  );
  // Both routes were taken: values the text reads back as they are, and values it reads otherwise or rejects.
  assert.ok(direct > 1000, `${direct} events decoded from their fields`);
  assert.ok(viaText > 100, `${viaText} events read from their text`);
});

test("trace-6.1-midlife-lazy.dat: every record decoded from its fields gives the event of its printed text", {
  skip: existsSync(`${SHARED}kernel-more/trace-6.1-midlife-lazy.dat`)
    ? quickSkip("the full files of ../shared")
    : `${SHARED} is not present`,
}, () => {
  const path = `${SHARED}kernel-more/trace-6.1-midlife-lazy.dat`;
  const fd = openSync(path, "r");
  const size = fstatSync(fd).size;
  const src: DatSource = {
    size,
    read(offset, length) {
      const b = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      readSync(fd, b, 0, b.length, offset);
      return b;
    },
  };
  let c: Compared;
  try {
    c = compareRoutes(src);
  } finally {
    closeSync(fd);
  }
  // 261,724 maps and as many unmaps (the test of its report), and the timer events, all straight from their fields.
  assert.ok(c.events > 523_448, `${c.events} events`);
  assert.equal(c.direct, c.events);
});

/** A `timer:timer_expire_entry` payload whose function is the address `fn` (the timer, now and baseclk fixed). */
function timerExpireEntry(fn: bigint): Uint8Array {
  return laidOut(
    40,
    [
      [8, 0xff22527a46f436a0n, 8],
      [16, 100n, 8],
      [24, fn, 8],
      [32, 100n, 8],
    ],
    [],
  );
}

test("trace.dat: %ps names a function by the last kallsyms line of its address, any case or width, else prints the address", () => {
  const records: DatTestRecord[] = FUNCTIONS.map((f, i) => ({
    ...head,
    cpu: 0,
    timestampNs: 2_000_000_000 + i * 1000,
    event: "timer-timer_expire_entry",
    payload: timerExpireEntry(f),
  }));
  const bytes = writeTraceDat({ records, cpus: 1, compress: true, kallsyms: KALLSYMS, cmdlines: "" });
  const names = [...new TraceDat(bytesSource(bytes), nodeDecompress).records()].map(
    (r) => /function=(.*) now=/.exec(r.body)?.[1],
  );
  assert.deepEqual(names, [
    "fq_flush_timeout",
    "_stext_again",
    "odd=name",
    "br[x]",
    "caf\u00e9",
    "",
    "upper_case",
    "short_address",
    "modsym",
    "0xffffffffa5a2c1f1",
  ]);
});

/** Everything a route gives for `bytes`: its events, the reader's counts and messages, and the error it stopped at. */
function routeOutcome(bytes: Uint8Array, direct: boolean): unknown {
  const reader = new TraceReader({ file: "t.dat" });
  const events: TraceEvent[] = [];
  let error = "";
  try {
    const dat = new TraceDat(bytesSource(bytes), nodeDecompress);
    if (direct) {
      dat.readInto({
        nextLine: () => reader.nextLine(),
        event: (e) => events.push(reader.recordEvent(e)),
        record: (r) => {
          const e = reader.record(r);
          if (e !== null) events.push(e);
        },
      });
    } else {
      for (const r of dat.records()) {
        const e = reader.record(r);
        if (e !== null) events.push(e);
      }
    }
  } catch (e) {
    error = `${(e as Error).name}: ${(e as Error).message}`;
  }
  const s = reader.stats;
  return {
    events,
    error,
    diagnostics: reader.diagnostics,
    stats: JSON.stringify(s, (_k, v) => (v instanceof Map ? [...v] : v)),
  };
}

test("fast-check: a corrupted trace.dat gives the same events, counts and error both ways", () => {
  const records: DatTestRecord[] = [];
  for (let i = 0; i < 60; i++) {
    const kind = i % 4;
    records.push({
      ...head,
      cpu: i % 2,
      timestampNs: 3_000_000_000 + i * 700_000,
      event: ["iommu-map", "iommu-unmap", "timer-timer_start", "dma-dma_map_page"][kind],
      payload:
        kind === 3
          ? laidOut(
              56,
              [
                [16, 0x1234000n, 8],
                [24, 0xfff00000n + BigInt(i) * 4096n, 8],
                [32, 4096n, 8],
                [40, 2n, 4],
                [48, 0n, 8],
              ],
              [[8, cstring("0000:00:01.0")]],
            )
          : kind === 2
            ? laidOut(
                44,
                [
                  [8, 0xff22527a46f436a0n, 8],
                  [16, FUNCTIONS[0], 8],
                  [24, 4294899904n, 8],
                  [32, 4294899901n, 8],
                  [40, 1n << 22n, 4],
                ],
                [],
              )
            : laidOut(
                32,
                [
                  [8, 0xbfc86000n + BigInt(i) * 4096n, 8],
                  [16, 0x969b000n, 8],
                  [24, 4096n, 8],
                ],
                [],
              ),
    });
  }
  const good = writeTraceDat({ records, cpus: 2, compress: true, kallsyms: KALLSYMS, cmdlines: "7 fio\n" });
  const plain = writeTraceDat({ records, cpus: 2, compress: false, kallsyms: KALLSYMS, cmdlines: "" });
  assert.deepEqual(routeOutcome(good, true), routeOutcome(good, false));
  fc.assert(
    fc.property(
      fc.boolean(),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.nat(),
      (zst, edits, cutAt) => {
        const bytes = (zst ? good : plain).slice();
        // Most edits in the CPU data (the file's second half), where the records are.
        for (const [at, v] of edits) bytes[(at % 2 === 0 ? bytes.length >> 1 : 0) + (at % (bytes.length >> 1))] = v;
        const cut = bytes.subarray(0, Math.max(12, bytes.length - (cutAt % 64)));
        assert.deepEqual(routeOutcome(cut, true), routeOutcome(cut, false));
      },
    ),
    { numRuns: 400, seed: 401 },
  );
});

test("fast-check: records cut short give the same events and error both ways (a field outside its record)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(record, fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat(24))), {
        minLength: 1,
        maxLength: 12,
      }),
      (specs) => {
        const records: DatTestRecord[] = specs.map(([s, cut], i) => ({
          ...head,
          cpu: 0,
          timestampNs: 1_000_000_000 + i * 1000,
          event: s.event,
          payload: s.payload.subarray(0, Math.max(0, s.payload.length - cut)),
        }));
        const bytes = writeTraceDat({ records, cpus: 1, compress: false, kallsyms: KALLSYMS, cmdlines: "" });
        assert.deepEqual(routeOutcome(bytes, true), routeOutcome(bytes, false));
      },
    ),
    { numRuns: 300, seed: 12 },
  );
});

test("a trace.dat whose buffers name a CPU no kernel has (NR_CPUS is 8192 at most) is refused where its header lists them", () => {
  const records: DatTestRecord[] = [0, 1].map((cpu, i) => ({
    ...head,
    cpu,
    timestampNs: 1_000_000_000 + i * 1000,
    event: "timer-timer_expire_entry",
    payload: timerExpireEntry(0xffffffffa5a2c1f1n),
  }));
  const dat = (cpuIds: number[]) =>
    new TraceDat(
      bytesSource(writeTraceDat({ records, cpus: 2, cpuIds, compress: true, kallsyms: KALLSYMS, cmdlines: "" })),
      nodeDecompress,
    );
  // The highest CPU a kernel can have is read, its records on it.
  const top = dat([0, 8191]);
  assert.equal(top.cpuCount, 8192);
  assert.deepEqual(
    [...top.records()].map((r) => r.cpu),
    [0, 8191],
  );
  // One more is a corrupt header: taken as a CPU, the replay would make per-CPU state for it.
  assert.throws(
    () => dat([0, 8192]),
    (e: unknown) =>
      e instanceof Error && /expected a CPU id below 8192 \(NR_CPUS at most\), found 8192/.test(e.message),
  );
});
