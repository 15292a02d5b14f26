/**
 * The readers and the reconstruction on the full public kernel traces of
 * ../shared (skipped with a message when that folder is absent). Every
 * expected figure comes from the traces' READMEs or from `zcat | grep -c`
 * over the files, noted beside each number, never from this code's output.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { Q35_NVME_TRACE_MACHINE } from "../../src/trace/machine.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { type DmaCall, Reconstructor } from "../../src/trace/reconstruct.ts";
import { quickSkip } from "../helpers/quick.ts";

const SHARED = new URL("../../../shared/", import.meta.url).pathname;

interface Expect {
  file: string;
  mapEvents: number;
  unmapEvents: number;
  directMaps: number;
  allocations: number;
  livePages: number;
  peakLivePages: number;
  lowestIova: number;
  /** Unmap sizes (bytes -> count), the most common ones: `grep ' unmap: ' | grep -o 'size=[0-9]*$' | sort | uniq -c`. */
  unmapSizes: [number, number][];
  unmapsByCpu?: [number, number];
  mapPiecesByCpu?: [number, number];
}

const TRACES: Expect[] = [
  {
    // kernel/README.md: 71,365 map, 71,321 unmap; 44 live pages; peak 60; lowest 0xfffa5000.
    // Allocations: every unmap frees one (strict), plus the 8 live probe-time buffers (4 single pages, 2 x 16 KiB, 2 x 64 KiB = 44 pages).
    file: "kernel/trace-strict-4k.txt.gz",
    mapEvents: 71_365,
    unmapEvents: 71_321,
    directMaps: 0,
    allocations: 71_321 + 8,
    livePages: 44,
    peakLivePages: 60,
    lowestIova: 0xfffa_5000,
    unmapSizes: [[4096, 71_321]],
  },
  {
    // kernel/README.md: 90,840 map, 89,543 unmap; 44 live pages; peak 1,493; lowest 0xba580000.
    file: "kernel/trace-lazy-mixed.txt.gz",
    mapEvents: 90_840,
    unmapEvents: 89_543,
    directMaps: 0,
    allocations: 89_543 + 8,
    livePages: 44,
    peakLivePages: 1493,
    lowestIova: 0xba58_0000,
    unmapSizes: [
      [4096, 38_378],
      [16384, 16_783],
      [65536, 7503],
      [131072, 3002],
      [8192, 2524],
    ],
  },
  {
    // kernel-6.12/README.md: 98,704 map (one is group 3's direct map), 74,678 unmap; dma_map_page 72,037 + dma_map_sg 2,641
    // + dma_alloc 9 allocations; 45 live pages; peak 1,483; lowest 0xbc0ee000; per CPU: CPU0 39,531 map / 35,892 unmap,
    // CPU1 59,173 / 38,786 (the direct map is on CPU 0).
    file: "kernel-6.12/trace-lazy-mixed.txt.gz",
    mapEvents: 98_704,
    unmapEvents: 74_678,
    directMaps: 1,
    allocations: 72_037 + 2641 + 9,
    livePages: 45,
    peakLivePages: 1483,
    lowestIova: 0xbc0e_e000,
    unmapSizes: [
      [4096, 30_384],
      [16384, 13_096],
      [131072, 8294],
      [65536, 5521],
      [8192, 2295],
    ],
    unmapsByCpu: [35_892, 38_786],
    mapPiecesByCpu: [39_531 - 1, 59_173],
  },
];

for (const x of TRACES) {
  const path = SHARED + x.file;
  const present = existsSync(path);
  test(`full trace ${x.file}`, {
    skip:
      quickSkip("a full-length kernel trace") ||
      (present ? false : `${path} is absent: the full public kernel traces live in ../shared beside the repository`),
  }, async (t) => {
    let maps = 0;
    let unmaps = 0;
    let livePages = 0;
    let peak = 0;
    let lowest = Number.POSITIVE_INFINITY;
    let lastLine = 0;
    const unmapSizes = new Map<number, number>();
    const unmapsByCpu = [0, 0];
    const piecesByCpu = [0, 0];
    const mapSize = new Map<number, number>();
    const t0 = performance.now();
    const rc = new Reconstructor({ machine: Q35_NVME_TRACE_MACHINE, file: x.file }, (c: DmaCall) => {
      assert.ok(c.line > lastLine, "calls come in trace order");
      lastLine = c.line;
      if (c.kind === "map") {
        maps++;
        livePages += c.sizeBytes / 4096;
        peak = Math.max(peak, livePages);
        lowest = Math.min(lowest, c.iova);
        piecesByCpu[c.cpu] += c.pieces;
        mapSize.set(c.allocation, c.sizeBytes);
      } else {
        unmaps++;
        livePages -= c.sizeBytes / 4096;
        unmapSizes.set(c.sizeBytes, (unmapSizes.get(c.sizeBytes) ?? 0) + 1);
        unmapsByCpu[c.cpu]++;
        assert.equal(mapSize.get(c.allocation), c.sizeBytes, `line ${c.line} frees what its allocation mapped`);
        mapSize.delete(c.allocation);
      }
    });
    const reader = await readTraceFile(path, (e) => rc.push(e), { strictInput: true });
    rc.end();
    const seconds = (performance.now() - t0) / 1000;
    t.diagnostic(
      `${reader.stats.lines} lines, ${reader.stats.eventsTotal} events in ${seconds.toFixed(2)} s ` +
        `(${Math.round(reader.stats.eventsTotal / seconds)} events/s), window max ${rc.stats.windowMax}, ` +
        `rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB`,
    );
    assert.equal(reader.stats.events.get("map"), x.mapEvents);
    assert.equal(reader.stats.events.get("unmap"), x.unmapEvents);
    assert.equal(reader.stats.malformed, 0);
    assert.equal(reader.stats.skippedTotal, 0);
    assert.equal(rc.stats.directEvents, x.directMaps);
    assert.equal(maps, x.allocations);
    assert.equal(unmaps, x.unmapEvents);
    assert.equal(livePages, x.livePages);
    assert.equal(peak, x.peakLivePages);
    assert.equal(lowest, x.lowestIova);
    for (const [size, count] of x.unmapSizes) assert.equal(unmapSizes.get(size), count, `unmaps of ${size} bytes`);
    if (x.unmapsByCpu) assert.deepEqual(unmapsByCpu, x.unmapsByCpu);
    if (x.mapPiecesByCpu) assert.deepEqual(piecesByCpu, x.mapPiecesByCpu);
    // Only the driver's long-lived buffers are findings: the README's integrity check found no bad unmap.
    assert.deepEqual([...rc.findingCounts.keys()], ["live-at-end"]);
    assert.equal(rc.findingCounts.get("live-at-end"), x.allocations - x.unmapEvents);
  });
}
