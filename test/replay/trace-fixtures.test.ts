/**
 * The trace readers and the reconstruction on shortened copies of the real
 * kernel traces (test/fixtures/traces/README.md says where each comes from).
 * Expectations come from the data, through the independent page-level
 * oracle of trace-oracle.ts, never from this code's own output.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Q35_NVME_TRACE_MACHINE } from "../../src/trace/machine.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { type DmaCall, reconstruct } from "../../src/trace/reconstruct.ts";
import { traceOracle } from "./trace-oracle.ts";

const DIR = new URL("../fixtures/traces/", import.meta.url);

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, DIR))).toString("utf8");
}

/** What every reconstruction of a real trace must satisfy, checked against the oracle. */
function checkAgainstOracle(name: string, calls: DmaCall[], text: string): void {
  const o = traceOracle(text);
  const maps = calls.filter((c) => c.kind === "map");
  const unmaps = calls.filter((c) => c.kind === "unmap");
  assert.equal(
    maps.reduce((s, c) => s + c.pieces, 0),
    o.maps,
    `${name}: every map event (but the direct mapping) is in exactly one allocation`,
  );
  assert.equal(unmaps.length, o.unmaps, `${name}: every unmap event frees one allocation`);
  const byNumber = new Map(maps.map((c) => [c.allocation, c]));
  let livePages = 0;
  let peak = 0;
  const freed = new Set<number>();
  for (const c of calls) {
    if (c.kind === "map") {
      livePages += c.sizeBytes / 4096;
      peak = Math.max(peak, livePages);
    } else {
      const m = byNumber.get(c.allocation);
      assert.ok(m !== undefined, `${name}: unmap of allocation ${c.allocation} has its map`);
      assert.equal(c.sizeBytes, m.sizeBytes, `${name}: line ${c.line} frees what allocation ${c.allocation} mapped`);
      assert.equal(c.iova, m.iova);
      assert.ok(!freed.has(c.allocation));
      freed.add(c.allocation);
      livePages -= c.sizeBytes / 4096;
    }
  }
  assert.equal(livePages, o.livePagesAtEnd, `${name}: live pages at the end`);
  assert.ok(peak >= o.peakLivePages, `${name}: peak live pages`);
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i - 1].line < calls[i].line, `${name}: calls in trace order`);
  const unmapsByCpu = [0, 0];
  for (const c of unmaps) unmapsByCpu[c.cpu]++;
  assert.deepEqual(unmapsByCpu, o.unmapsByCpu, `${name}: the CPU of each free`);
}

test("6.1 strict 4 KiB head: every allocation is one 4 KiB map event except the probe-time coherent buffers", () => {
  const text = fixture("linux-6.1-strict-4k-head600.txt.gz");
  const { events, reader } = readTraceText(text, { file: "strict", strictInput: true });
  // 600 lines: the 12-line header, then events only (zcat | grep -c).
  assert.equal(reader.stats.comments, 12);
  assert.equal(reader.stats.events.get("map"), 322);
  assert.equal(reader.stats.events.get("unmap"), 266);
  const { calls, reconstructor } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: "strict" });
  checkAgainstOracle("strict", calls, text);
  // Lines 27-30 and 31-46 of the trace: the 16 KiB and 64 KiB coherent buffers of the NVMe probe, page by page.
  const coherent = calls.filter((c) => c.kind === "map" && c.pieces > 1).map((c) => [c.line, c.pieces, c.sizeBytes]);
  assert.deepEqual(coherent.slice(0, 2), [
    [27, 4, 16384],
    [31, 16, 65536],
  ]);
  assert.equal(reconstructor.findingCounts.get("size-mismatch"), undefined);
});

test("6.1 lazy mixed head: scatter-gather runs become one allocation each", () => {
  const text = fixture("linux-6.1-lazy-mixed-head1100.txt.gz");
  const { events } = readTraceText(text, { file: "lazy61", strictInput: true });
  const { calls, reconstructor } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: "lazy61" });
  checkAgainstOracle("lazy61", calls, text);
  // Trace lines 1004-1006: 106496 + 90112 + 65536 bytes at 0xfef40000, freed by the 262144-byte unmap of line 1028.
  const sg = calls.find((c) => c.kind === "map" && c.iova === 0xfef4_0000);
  assert.ok(sg !== undefined);
  assert.deepEqual([sg.line, sg.pieces, sg.sizeBytes], [1004, 3, 262144]);
  const free = calls.find((c) => c.kind === "unmap" && c.allocation === sg.allocation);
  assert.equal(free?.line, 1028);
  assert.equal(reconstructor.findingCounts.get("map-overlap"), undefined);
});

test("6.12 lazy mixed head: dma events name the device; group 3's direct mapping is left out", () => {
  const text = fixture("linux-6.12-lazy-mixed-head600.txt.gz");
  const { events, reader } = readTraceText(text, { file: "lazy612", strictInput: true });
  const o = traceOracle(text);
  assert.equal(o.directMaps, 1);
  const { calls, reconstructor } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: "lazy612" });
  checkAgainstOracle("lazy612", calls, text);
  assert.equal(reconstructor.stats.directEvents, 1);
  const maps = calls.filter((c) => c.kind === "map");
  // Every mapping of the workload has its dma event: one allocation per dma_map_page, dma_map_sg and dma_alloc.
  const dmaMaps = (o.dma.get("dma_map_page") ?? 0) + (o.dma.get("dma_map_sg") ?? 0) + (o.dma.get("dma_alloc") ?? 0);
  assert.equal(maps.length, dmaMaps);
  assert.ok(maps.every((c) => c.device === "0000:00:01.0" && c.domain === "group1" && !c.inferred));
  assert.equal(maps.filter((c) => c.api === "dma_map_sg").length, reader.stats.events.get("dma_map_sg"));
  // Trace line 140: dma_map_sg of 32 entries, 128 KiB at 0xfff60000, one allocation.
  const sg = maps.find((c) => c.api === "dma_map_sg");
  assert.equal(sg?.iova, 0xfff6_0000);
  assert.equal(sg?.sizeBytes, 0x20000);
  assert.ok(sg?.lines.includes(140));
  assert.equal(reconstructor.stats.untranslated, 0);
  // The copy ends with a dma_unmap_sg whose unmap was cut off.
  assert.equal(reconstructor.stats.cutAtEnd, 1);
});

test("6.12 sysfs-behaviour boot: unbind frees, identity-domain DMA, the group-3 re-creation, a NULL dma_free", async () => {
  const text = fixture("linux-6.12-sysfs-behaviour-boot.txt.gz");
  const calls: DmaCall[] = [];
  const { events } = readTraceText(text, { file: "sysfs612", strictInput: true });
  const { calls: got, reconstructor: r } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: "sysfs612" });
  calls.push(...got);
  checkAgainstOracle("sysfs612", calls, text);
  const o = traceOracle(text);
  // Group 3's 16 MiB identity mapping appears twice (boot, and re-created by the type change at 29.74 s).
  assert.equal(o.directMaps, 2);
  assert.equal(r.stats.directEvents, 2);
  // Two dma_free of NULL (virt_addr=0, size=0) at the two unbinds.
  assert.equal(r.stats.nullFrees, (text.match(/dma_free: \S+ dir=\S+ dma_addr=0 size=0 /g) ?? []).length);
  assert.equal(r.stats.nullFrees, 2);
  // Eight coherent frees of the first unbind unmap their IOVAs (dma_free then unmap).
  assert.equal(calls.filter((c) => c.kind === "unmap" && c.api === "dma_free").length, 8);
  // The identity boot's dma_alloc/dma_map_page have dma_addr = phys and no map events: no IOVA, nothing to replay.
  assert.ok(r.stats.untranslated > 0);
  // Through the file adapter (plain text file reading here) the same calls come out.
  const streamed: DmaCall[] = [];
  const { Reconstructor } = await import("../../src/trace/reconstruct.ts");
  const rc = new Reconstructor({ machine: Q35_NVME_TRACE_MACHINE, file: "sysfs612" }, (c) => streamed.push(c));
  await readTraceFile(new URL("linux-6.12-sysfs-behaviour-boot.txt.gz", DIR).pathname, (e) => rc.push(e));
  rc.end();
  assert.deepEqual(streamed, calls);
});

test("6.1 sysfs-behaviour boot: re-probes of the NVMe domain read without findings beyond the live queues", () => {
  const text = fixture("linux-6.1-sysfs-behaviour-boot.txt.gz");
  const { events } = readTraceText(text, { file: "sysfs61", strictInput: true });
  const { calls, reconstructor: r } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file: "sysfs61" });
  checkAgainstOracle("sysfs61", calls, text);
  assert.deepEqual([...r.findingCounts.keys()], ["live-at-end"]);
});

/** Rewrites ftrace lines into `perf script` shape (constructed: no real perf sample exists here). */
function asPerfScript(text: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => {
      const m = /^\s*(.*)-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+\.\d+): (\w+): (.*)$/.exec(l);
      if (!m) return l;
      const system = m[5].startsWith("dma_") ? "dma" : "iommu";
      return `${m[1].padStart(16)} ${m[2].padStart(6)} [${m[3]}] ${m[4]}: ${system}:${m[5]}: ${m[6]}`;
    })
    .join("\n");
}

/** Rewrites ftrace lines into `trace-cmd report -t` shape: preamble, no flags, nanoseconds, padded names (constructed). */
function asTraceCmdReport(text: string): string {
  const body = text
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => {
      const m = /^(\s*.*-\d+\s+\[\d+\])\s+\S+\s+(\d+\.\d+): (\w+): (.*)$/.exec(l);
      if (!m) return l;
      return `${m[1]} ${m[2]}000: ${`${m[3]}:`.padEnd(22)}${m[4]}`;
    });
  return ["version = 6", "CPU 3 is empty", "cpus=2", ...body].join("\n");
}

test("trace-cmd report and perf script renderings of the same events give the same calls", () => {
  const text = fixture("linux-6.12-lazy-mixed-head600.txt.gz");
  // Line numbers differ with the header lines; the interrupt context needs the flags column, which
  // `trace-cmd report` prints only with -l and `perf script` not by default.
  const strip = (calls: DmaCall[]) => calls.map(({ line, lines, mapLines, irq, irqKnown, ...rest }) => rest);
  const run = (t: string, file: string) => {
    const { events, reader } = readTraceText(t, { file, strictInput: true });
    return { calls: reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE, file }).calls, reader };
  };
  const ftrace = run(text, "ftrace");
  const perf = run(asPerfScript(text), "perf");
  const tcmd = run(asTraceCmdReport(text), "trace-cmd");
  assert.equal(perf.reader.stats.shapes.perf, ftrace.reader.stats.eventsTotal);
  assert.equal(tcmd.reader.stats.comments, 3);
  assert.deepEqual(strip(perf.calls), strip(ftrace.calls));
  assert.deepEqual(strip(tcmd.calls), strip(ftrace.calls));
  assert.ok(ftrace.calls.some((c) => c.irq));
  assert.ok(!perf.calls.some((c) => c.irq));
  // Without the column the replay knows that it does not know (`mayInterrupt`).
  assert.ok(ftrace.calls.every((c) => c.irqKnown));
  assert.ok(!perf.calls.some((c) => c.irqKnown) && !tcmd.calls.some((c) => c.irqKnown));
});
