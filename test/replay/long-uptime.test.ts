/**
 * Traces of a machine up for months. The trace clock counts from boot, so a
 * capture on a server up 110 days prints timestamps past 2^53 ns, the most a
 * double holds exactly as nanoseconds. Printed in microseconds (ftrace's,
 * `trace-cmd report`'s and `perf script`'s default) they are still exact up to
 * 2^56 ns (834 days); a trace.dat counts nanoseconds and is read relative to
 * whole seconds near its start. The same capture moved to a later uptime
 * (every timestamp by whole seconds, every jiffies value by as many ticks)
 * must replay the same IOVAs and figures.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { bytesSource, TraceDat } from "../../src/trace/dat.ts";
import type { TraceEvent } from "../../src/trace/events.ts";
import { parseLine, timestampToNs } from "../../src/trace/line.ts";
import { nodeDecompress } from "../../src/trace/node-source.ts";
import { TraceReader } from "../../src/trace/reader.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { payload, writeTraceDat } from "../helpers/trace-dat.ts";

const SAMPLES = new URL("../../samples/", import.meta.url).pathname;
/** 120 days: 1.0368e16 ns, past 2^53 (about 104.2 days). */
const DAYS_120 = 120 * 86_400;
/** The samples' kernels run at HZ=250. */
const HZ = 250;

/** The trace with its clock `seconds` later: timestamps and the timer events' jiffies fields moved alike. */
function later(text: string, seconds: number): string {
  const s = BigInt(seconds);
  const ticks = s * BigInt(HZ);
  return text
    .split("\n")
    .map((l) =>
      l.startsWith("#")
        ? l
        : l
            .replace(/(\s)(\d+)(\.\d{6}:)/, (_m, sp: string, sec: string, f: string) => `${sp}${BigInt(sec) + s}${f}`)
            .replace(
              /\b(expires|now|baseclk|bucket_expiry)=(\d+)/g,
              (_m, k: string, v: string) => `${k}=${BigInt(v) + ticks}`,
            ),
    )
    .join("\n");
}

test("timestamps: microseconds exact up to 2^56 ns, nanoseconds up to 2^53 ns, refused past them", () => {
  assert.equal(timestampToNs(String(DAYS_120 + 28), "793204"), (DAYS_120 + 28) * 1e9 + 793_204_000);
  // The sum as BigInt: the double above equals it exactly.
  assert.equal(BigInt(timestampToNs("10368028", "793204")), 10_368_028_793_204_000n);
  // 2^56 ns = 72057594.037927936 s: the last microsecond below it, then the first at it.
  assert.equal(BigInt(timestampToNs("72057594", "037927")), 72_057_594_037_927_000n);
  assert.equal(timestampToNs("72057594", "037928"), -1);
  // Nanoseconds: 2^53 ns = 9007199.254740992 s.
  assert.equal(timestampToNs("9007199", "254740991"), 9_007_199_254_740_991);
  assert.equal(timestampToNs("9007199", "254740992"), -1);
  assert.equal(timestampToNs(String(DAYS_120), "000000001"), -1);
  // Seven and eight digits: multiples of 100 and 10 ns, exact below 2^55 and 2^54.
  // 2^55 ns = 36028797.018963968 s, 2^54 ns = 18014398.509481984 s.
  assert.equal(BigInt(timestampToNs("36028797", "0189639")), 36_028_797_018_963_900n);
  assert.equal(timestampToNs("36028797", "0189640"), -1);
  assert.equal(BigInt(timestampToNs("18014398", "50948198")), 18_014_398_509_481_980n);
  assert.equal(timestampToNs("18014398", "50948199"), -1);
  const bad = parseLine("fio-1 [000] ..... 9007199.254740992: map: IOMMU: iova=0x1000 - 0x2000 paddr=0x0 size=4096");
  assert.ok("kind" in bad && bad.kind === "error");
  assert.match(bad.expected, /2\^56 ns with microseconds, 2\^53 ns with nanoseconds/);
  assert.equal(bad.found, "9007199.254740992");
});

for (const sample of ["trace-6.12-lazy-timers.txt.gz", "trace-6.1-lazy-mixed.txt.gz"]) {
  test(`${sample} 120 days after boot replays as it does at boot`, () => {
    const text = gunzipSync(readFileSync(SAMPLES + sample)).toString("utf8");
    const moved = later(text, DAYS_120);
    // The move reached every event line and put it past 2^53 ns.
    const first = moved.split("\n").find((l) => !l.startsWith("#") && l.length > 0) ?? "";
    assert.match(first, /\s1036\d{4}\.\d{6}: /);
    const dir = tempDir("iovalab-uptime-");
    const atBoot = join(dir, "boot.txt");
    const atDay120 = join(dir, "day120.txt");
    writeFileSync(atBoot, text);
    writeFileSync(atDay120, moved);
    for (const out of ["--emit-iovas", "--json"]) {
      const a = iovalab(["replay", atBoot, "--machine", "qemu-q35-nvme", out]);
      const b = iovalab(["replay", atDay120, "--machine", "qemu-q35-nvme", out]);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(b.status, 0, b.stderr);
      assert.equal(b.stderr.replaceAll(atDay120, "F"), a.stderr.replaceAll(atBoot, "F"), out);
      assert.equal(b.stdout.replaceAll(atDay120, "F"), a.stdout.replaceAll(atBoot, "F"), out);
    }
    const run = iovalab(["replay", atDay120, "--machine", "qemu-q35-nvme", "--json"]);
    const r = JSON.parse(run.stdout) as { malformedLines: number; devices: { allocations: number }[] };
    assert.equal(r.malformedLines, 0);
    assert.ok(r.devices[0].allocations > 1000, `${r.devices[0].allocations} allocations`);
  });
}

test("a trace.dat past 2^53 ns: records' times as trace-cmd report prints them, rounded to the microsecond", () => {
  const base = DAYS_120 * 1e9; // 1.0368e16: doubles are 2 ns apart here, so every time below is even
  const times = [base + 1_234_567_498, base + 1_234_567_500, base + 1_434_567_000, base + 3_000_001_000];
  const cpus = [0, 1, 0, 1];
  const records = times.map((ts, i) => ({
    cpu: cpus[i],
    timestampNs: ts,
    event: "iommu-map",
    pid: 100 + i,
    flags: 0,
    preemptCount: 0,
    payload: payload([
      [0xbfc86000 - i * 0x1000, 8],
      [0x969b000, 8],
      [4096, 8],
    ]),
  }));
  // Rounded half up, as libtraceevent prints microseconds.
  const want = [base + 1_234_567_000, base + 1_234_568_000, base + 1_434_567_000, base + 3_000_001_000];
  for (const compress of [false, true]) {
    const bytes = writeTraceDat({ records, cpus: 2, compress, kallsyms: "", cmdlines: "" });
    const got = [...new TraceDat(bytesSource(bytes), nodeDecompress).records()].map((r) => r.timestampNs);
    assert.deepEqual(got, want);
    const events: TraceEvent[] = [];
    const reader = new TraceReader({ file: "t.dat", strictInput: true });
    new TraceDat(bytesSource(bytes), nodeDecompress).readInto({
      nextLine: () => reader.nextLine(),
      event: (e) => events.push(reader.recordEvent(e)),
      record: (r) => {
        const e = reader.record(r);
        if (e !== null) events.push(e);
      },
    });
    assert.deepEqual(
      events.map((e) => e.timestampNs),
      want,
    );
    assert.deepEqual(
      events.map((e) => e.cpu),
      cpus,
    );
  }
});
