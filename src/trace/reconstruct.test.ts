/**
 * Reconstruction and findings on constructed traces (each line built from
 * the 6.1/6.12 formats; every scenario is one the READMEs of ../shared/kernel
 * and kernel-6.12 describe, or a DMA-API misuse kernel/dma/debug.c reports).
 * The expectations follow from the event semantics, worked out by hand.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { hex16 } from "../stdx/hex.ts";
import type { TraceMachine } from "./machine.ts";
import { readTraceText } from "./reader.ts";
import { type DmaCall, type ReconstructOptions, reconstruct } from "./reconstruct.ts";

const MACHINE: TraceMachine = {
  domains: [
    { name: "nvme", devices: ["0000:00:01.0"] },
    { name: "isa", devices: ["0000:00:1f.0"], directMappings: [{ start: 0, end: 0x100_0000 }] },
  ],
  defaultDomain: "nvme",
};

let clockUs = 1_000_000;

function ts(): string {
  clockUs += 10;
  return `${Math.floor(clockUs / 1e6)}.${String(clockUs % 1e6).padStart(6, "0")}`;
}
function map(cpu: number, iova: number, size: number, pid = 100, paddr = 0x1234_5000): string {
  return `fio-${pid} [00${cpu}] ..... ${ts()}: map: IOMMU: iova=${hex16(iova)} - ${hex16(iova + size)} paddr=${hex16(paddr)} size=${size}`;
}
function unmap(cpu: number, iova: number, size: number): string {
  return `<idle>-0 [00${cpu}] d.h1. ${ts()}: unmap: IOMMU: iova=${hex16(iova)} - ${hex16(iova + size)} size=${size} unmapped_size=${size}`;
}
function dma(cpu: number, text: string): string {
  return `fio-100 [00${cpu}] ..... ${ts()}: ${text}`;
}

function run(lines: string[], options: Partial<ReconstructOptions> = {}) {
  const { events, reader } = readTraceText(lines.join("\n"), { file: "c.txt", strictInput: true });
  assert.equal(reader.stats.malformed, 0);
  const { calls, reconstructor } = reconstruct(events, { machine: MACHINE, file: "c.txt", ...options });
  return { calls, r: reconstructor };
}

function brief(c: DmaCall): string {
  return `${c.kind} #${c.allocation} ${c.domain} 0x${c.iova.toString(16)}+${c.sizeBytes} cpu${c.cpu} L${c.lines.join(",")}`;
}

test("6.1: a scatter-gather mapping's map events are one allocation, paired by the unmap that covers them", () => {
  const { calls, r } = run([
    map(0, 0xfef4_0000, 0x1a000), // 1: 106496 bytes
    map(0, 0xfef5_a000, 0x16000), // 2: 90112
    map(0, 0xfef7_0000, 0x10000), // 3: 65536, ends at 0xfef80000
    map(1, 0xffff_d000, 0x1000), // 4: another allocation on CPU 1
    unmap(1, 0xfef4_0000, 0x40000), // 5: 262144 covers 1-3
    unmap(0, 0xffff_d000, 0x1000), // 6
  ]);
  assert.deepEqual(calls.map(brief), [
    "map #1 nvme 0xfef40000+262144 cpu0 L1,2,3",
    "map #2 nvme 0xffffd000+4096 cpu1 L4",
    "unmap #1 nvme 0xfef40000+262144 cpu1 L5",
    "unmap #2 nvme 0xffffd000+4096 cpu0 L6",
  ]);
  assert.equal(calls[0].pieces, 3);
  assert.equal(calls[0].inferred, false);
  assert.equal(r.findings.length, 0);
});

test("6.1: consecutive IOVAs mapped back to back are still separate allocations when separate unmaps free them", () => {
  // The rcache hands out x then x+1 after frees in the other order: ascending and adjacent, yet two allocations.
  const { calls } = run([
    map(0, 0xffff_c000, 0x1000),
    map(0, 0xffff_d000, 0x1000),
    unmap(0, 0xffff_d000, 0x1000),
    unmap(0, 0xffff_c000, 0x1000),
  ]);
  assert.deepEqual(calls.map(brief), [
    "map #1 nvme 0xffffc000+4096 cpu0 L1",
    "map #2 nvme 0xffffd000+4096 cpu0 L2",
    "unmap #2 nvme 0xffffd000+4096 cpu0 L3",
    "unmap #1 nvme 0xffffc000+4096 cpu0 L4",
  ]);
});

test("6.1: mappings never unmapped are grouped after the look-ahead window by CPU, task and consecutive IOVAs", () => {
  const lines = [
    map(0, 0xffff_0000, 0x1000), // 1 \
    map(0, 0xffff_1000, 0x1000), // 2  } one 16 KiB coherent buffer
    map(0, 0xffff_2000, 0x2000), // 3 /
    map(1, 0xffff_4000, 0x1000), // 4  other CPU: not part of it
    map(0, 0xfffe_0000, 0x1000), // 5  not consecutive: a new allocation
    map(0, 0xfffe_1000, 0x1000, 200), // 6 another task: a new allocation
  ];
  for (let i = 0; i < 6; i++)
    lines.push(map(1, 0x1000_0000 + i * 0x1000 * 2, 0x1000), unmap(1, 0x1000_0000 + i * 0x1000 * 2, 0x1000));
  const { calls, r } = run(lines, { lookAheadEvents: 4 });
  const first = calls.filter((c) => c.kind === "map").slice(0, 5);
  assert.deepEqual(first.map(brief), [
    "map #1 nvme 0xffff0000+16384 cpu0 L1,2,3",
    "map #2 nvme 0xffff4000+4096 cpu1 L4",
    "map #3 nvme 0xfffe0000+4096 cpu0 L5",
    "map #4 nvme 0xfffe1000+4096 cpu0 L6",
    "map #5 nvme 0x10000000+4096 cpu1 L7",
  ]);
  assert.ok(first.slice(0, 4).every((c) => c.inferred));
  assert.equal(first[4].inferred, false);
  assert.equal(r.stats.inferred, 4);
  assert.deepEqual(
    r.findings.map((f) => [f.kind, f.line]),
    [
      ["live-at-end", 1],
      ["live-at-end", 4],
      ["live-at-end", 5],
      ["live-at-end", 6],
    ],
  );
  assert.equal(
    r.findings[0].message,
    "c.txt:1: DMA-API: nvme: mapping still live at the end of the trace [device address=0x00000000ffff0000] [size=16384 bytes] [mapped with iommu:map]",
  );
  // Calls are in trace order whatever decided them.
  for (let i = 1; i < calls.length; i++) assert.ok(calls[i - 1].line < calls[i].line);
});

test("6.12: dma events give the device and the whole size; dma_unmap_sg precedes its unmap, dma_unmap_page follows", () => {
  const { calls, r } = run([
    map(0, 0xfff6_0000, 0x1000), // 1
    map(0, 0xfff6_1000, 0x1f000), // 2
    dma(
      0,
      "dma_map_sg: 0000:00:01.0 dir=FROM_DEVICE nents=3/3 ents=1/1 dma_addrs={0xfff60000} sizes={0x20000} phys_addrs={0x1000,0x9000,0x20000} attrs=NO_WARN",
    ), // 3
    map(1, 0xffff_a000, 0x1000), // 4
    dma(1, "dma_map_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffffae00 size=512 phys_addr=9e90e00 attrs="), // 5
    dma(0, "dma_unmap_sg: 0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x1000,0x9000,0x20000} attrs="), // 6
    unmap(0, 0xfff6_0000, 0x20000), // 7
    unmap(1, 0xffff_a000, 0x1000), // 8
    dma(1, "dma_unmap_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffffae00 size=512 attrs="), // 9
  ]);
  assert.deepEqual(calls.map(brief), [
    "map #1 nvme 0xfff60000+131072 cpu0 L1,2,3",
    "map #2 nvme 0xffffa000+4096 cpu1 L4,5",
    "unmap #1 nvme 0xfff60000+131072 cpu0 L6,7",
    "unmap #2 nvme 0xffffa000+4096 cpu1 L8,9",
  ]);
  assert.equal(calls[0].api, "dma_map_sg");
  assert.equal(calls[0].device, "0000:00:01.0");
  assert.equal(calls[1].requestedBytes, 512);
  assert.equal(calls[1].dmaAddr, 0xffffae00);
  assert.equal(calls[2].api, "dma_unmap_sg");
  assert.equal(calls[2].line, 7);
  assert.equal(calls[3].api, "dma_unmap_page");
  assert.equal(r.findings.length, 0);
});

test("6.12: a coherent buffer of scattered pages is one dma_alloc; its dma_free comes before the unmap", () => {
  const { calls } = run([
    map(0, 0xfffd_c000, 0x1000),
    map(0, 0xfffd_d000, 0x2000),
    map(0, 0xfffd_f000, 0x1000),
    dma(
      0,
      "dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffdc000 size=16384 virt_addr=000000008152820b flags=GFP_KERNEL attrs=",
    ),
    dma(1, "dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffdc000 size=16384 virt_addr=000000008152820b attrs="),
    unmap(1, 0xfffd_c000, 0x4000),
  ]);
  assert.deepEqual(calls.map(brief), [
    "map #1 nvme 0xfffdc000+16384 cpu0 L1,2,3,4",
    "unmap #1 nvme 0xfffdc000+16384 cpu1 L5,6",
  ]);
  assert.equal(calls[1].api, "dma_free");
});

test("a domain's boot-time direct mapping is recognised and left out; dma calls with no IOVA are counted, not replayed", () => {
  const { calls, r } = run([
    `swapper/0-1 [000] ..... ${ts()}: map: IOMMU: iova=${hex16(0)} - ${hex16(0x100_0000)} paddr=${hex16(0)} size=16777216`,
    dma(
      1,
      "dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=27061000 size=512 virt_addr=00000000b2f345a7 flags=GFP_KERNEL attrs=",
    ),
    dma(1, "dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=27061000 size=512 virt_addr=00000000b2f345a7 attrs="),
    dma(1, "dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=0 size=0 virt_addr=0000000000000000 attrs="),
    map(0, 0xffff_f000, 0x1000),
    unmap(0, 0xffff_f000, 0x1000),
  ]);
  assert.deepEqual(calls.map(brief), ["map #1 nvme 0xfffff000+4096 cpu0 L5", "unmap #1 nvme 0xfffff000+4096 cpu0 L6"]);
  assert.equal(r.stats.directEvents, 1);
  assert.equal(r.stats.untranslated, 2);
  assert.equal(r.stats.nullFrees, 1);
  assert.equal(r.findings.length, 0);
});

test("findings: unmap of an address never mapped, double unmap, size mismatch (IOVA and DMA level), overlap; never a crash", () => {
  const { calls, r } = run([
    unmap(0, 0xdead_0000, 0x1000), // 1 never mapped
    map(0, 0xffff_f000, 0x1000), // 2
    unmap(0, 0xffff_f000, 0x1000), // 3
    unmap(1, 0xffff_f000, 0x1000), // 4 double
    map(0, 0xffff_0000, 0x4000), // 5
    unmap(0, 0xffff_0000, 0x2000), // 6 size mismatch
    map(0, 0xffff_a000, 0x1000), // 7
    dma(0, "dma_map_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffffa000 size=512 phys_addr=1000 attrs="), // 8
    unmap(0, 0xffff_a000, 0x1000), // 9
    dma(0, "dma_unmap_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffffa000 size=256 attrs="), // 10 DMA-level mismatch
    map(1, 0xffe0_0000, 0x2000), // 11
    unmap(1, 0xffe0_1000, 0x1000), // 12 inside a mapping
    map(1, 0xffe0_0000, 0x1000), // 13 overlaps 11, still live: the finding is on the new map
    dma(1, "dma_map_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffe00000 size=4096 phys_addr=1000 attrs="), // 14
  ]);
  assert.deepEqual(
    r.findings.map((f) => [f.kind, f.line]),
    [
      ["unmap-never-mapped", 1],
      ["double-unmap", 4],
      ["size-mismatch", 6],
      ["size-mismatch", 10],
      ["unmap-never-mapped", 12],
      ["map-overlap", 13],
      ["live-at-end", 13],
    ],
  );
  // The other lines of each: the first unmap, the map (with its dma_map_page) whose size differs, the mapping an
  // unmap falls inside or a map overlaps, and a live mapping's lines after its first (its dma_map_page).
  assert.deepEqual(
    r.findings.map((f) => f.relatedLines),
    [[], [3], [5], [7, 8], [11], [11], [14]],
  );
  const m = r.findings.map((f) => f.message);
  assert.equal(
    m[0],
    "c.txt:1: DMA-API: nvme: device driver tries to free DMA memory it has not allocated [device address=0x00000000dead0000] [size=4096 bytes]",
  );
  assert.match(m[1], /^c\.txt:4: .*has not allocated .*\[already unmapped at line 3\]$/);
  assert.match(
    m[2],
    /^c\.txt:6: .*different size \[device address=0x00000000ffff0000\] \[map size=16384 bytes\] \[unmap size=8192 bytes\]$/,
  );
  assert.match(m[3], /^c\.txt:10: DMA-API: 0000:00:01.0: .*\[map size=512 bytes\] \[unmap size=256 bytes\]$/);
  assert.match(m[4], /inside the mapping at 0x00000000ffe00000, line 11/);
  // The mismatched unmap still frees the allocation it names; bad unmaps make no call.
  assert.deepEqual(
    calls.filter((c) => c.kind === "unmap").map((c) => c.line),
    [3, 6, 9],
  );
  assert.deepEqual(r.findingCounts.get("unmap-never-mapped"), 2);
});

test("allocation numbers count per domain; unknown devices get a domain of their own", () => {
  const { calls } = run([
    map(0, 0xffff_f000, 0x1000),
    dma(0, "dma_map_page: 0000:00:02.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=1000 attrs="),
    map(1, 0xffff_f000, 0x1000),
    dma(1, "dma_map_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=1000 attrs="),
  ]);
  assert.deepEqual(calls.map(brief), [
    "map #1 0000:00:02.0 0xfffff000+4096 cpu0 L1,2",
    "map #1 nvme 0xfffff000+4096 cpu1 L3,4",
  ]);
});

test("timestamps, CPUs, pids, comms and interrupt context of the calls are those of the allocating and freeing events", () => {
  const { calls } = run([
    "kworker/u4:1-25 [001] ..... 5.996695: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "<idle>-0 [000] ..s1. 6.025870: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    "fio-7 [000] ..... 6.1: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "fio-7 [000] d.H2. 6.2: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
    "fio-7 [000] 6.3: map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096",
    "fio-7 [000] d.h1. 6.4: unmap: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 size=4096 unmapped_size=4096",
  ]);
  assert.deepEqual(
    calls.map((c) => [c.kind, c.cpu, c.pid, c.comm, c.timestampNs, c.irq]),
    [
      ["map", 1, 25, "kworker/u4:1", 5_996_695_000, false],
      ["unmap", 0, 0, "<idle>", 6_025_870_000, true],
      ["map", 0, 7, "fio", 6_100_000_000, false],
      ["unmap", 0, 7, "fio", 6_200_000_000, true],
      ["map", 0, 7, "fio", 6_300_000_000, false],
      ["unmap", 0, 7, "fio", 6_400_000_000, true],
    ],
  );
});

// 6.1 strict mixed trace lines 16824-16831, verbatim: fio-215 maps a two-run scatter-gather list
// (0xffe80000, 88 KiB + 48 KiB), and a hardirq on its CPU (two completions of its own task) runs between
// the two `__iommu_map()` calls of `iommu_map_sg()`. The unmap of line 16831 (139264 bytes) covers both runs.
const LINES_61_16824_16831 = `\
             fio-215     [001] .....     7.989071: map: IOMMU: iova=0x00000000ffd3c000 - 0x00000000ffd3e000 paddr=0x00000000123ea000 size=8192
             fio-215     [001] .....     7.989184: map: IOMMU: iova=0x00000000ffd60000 - 0x00000000ffd76000 paddr=0x00000000137ea000 size=90112
             fio-215     [001] .....     7.989187: map: IOMMU: iova=0x00000000ffd76000 - 0x00000000ffd80000 paddr=0x0000000013400000 size=40960
             fio-215     [001] .....     7.989263: map: IOMMU: iova=0x00000000ffe80000 - 0x00000000ffe96000 paddr=0x00000000135ea000 size=90112
             fio-215     [001] d.h1.     7.989279: unmap: IOMMU: iova=0x00000000ffd3c000 - 0x00000000ffd3e000 size=8192 unmapped_size=8192
             fio-215     [001] d.h1.     7.989298: unmap: IOMMU: iova=0x00000000ffd60000 - 0x00000000ffd80000 size=131072 unmapped_size=131072
             fio-215     [001] .....     7.989334: map: IOMMU: iova=0x00000000ffe96000 - 0x00000000ffea2000 paddr=0x0000000012e00000 size=49152
             fio-215     [001] d.h..     7.989424: unmap: IOMMU: iova=0x00000000ffe80000 - 0x00000000ffea2000 size=139264 unmapped_size=139264
`;

test("6.1: an interrupt between two map events of one scatter-gather list leaves them one allocation", () => {
  const { events } = readTraceText(LINES_61_16824_16831, { file: "c.txt", strictInput: true });
  for (const e of events) e.line += 16823;
  const { calls, reconstructor } = reconstruct(events, { machine: MACHINE, file: "c.txt" });
  const sg = calls.find((c) => c.kind === "map" && c.iova === 0xffe8_0000);
  assert.ok(sg);
  assert.deepEqual([sg.pieces, sg.sizeBytes, sg.mapLines], [2, 139_264, [16827, 16830]]);
  const free = calls.find((c) => c.kind === "unmap" && c.allocation === sg.allocation);
  assert.equal(free?.line, 16831);
  // The interrupt's unmaps free the allocations of lines 16824 and 16825-16826, not part of the list.
  assert.deepEqual(
    calls.filter((c) => c.kind === "unmap").map((c) => [c.line, c.sizeBytes]),
    [
      [16828, 8192],
      [16829, 131_072],
      [16831, 139_264],
    ],
  );
  assert.equal(reconstructor.findingCounts.get("size-mismatch"), undefined);
});

// The 6.12 lazy-timers capture cut at 43% of its lines (line 171768 on, the comment header kept as lines 1-12): it
// begins inside a dma_map_sg whose range, 0xbda60000 for 0xd000 bytes, was allocated before it. Lines 13-18 are the
// call's last six segments, 19 its dma_map_sg, 155-156 its unmap from the range's start, 16738-16739 a later map of
// that start.
const CUT_612_43 = [
  [
    13,
    `             fio-196     [001] .....    30.890307: map: IOMMU: iova=0x00000000bda67000 - 0x00000000bda68000 paddr=0x0000000018412000 size=4096
             fio-196     [001] .....    30.890309: map: IOMMU: iova=0x00000000bda68000 - 0x00000000bda69000 paddr=0x0000000018222000 size=4096
             fio-196     [001] .....    30.890310: map: IOMMU: iova=0x00000000bda69000 - 0x00000000bda6a000 paddr=0x000000001821e000 size=4096
             fio-196     [001] .....    30.890312: map: IOMMU: iova=0x00000000bda6a000 - 0x00000000bda6b000 paddr=0x0000000018216000 size=4096
             fio-196     [001] .....    30.890314: map: IOMMU: iova=0x00000000bda6b000 - 0x00000000bda6c000 paddr=0x0000000018219000 size=4096
             fio-196     [001] .....    30.890315: map: IOMMU: iova=0x00000000bda6c000 - 0x00000000bda6d000 paddr=0x000000001840d000 size=4096
             fio-196     [001] .....    30.890330: dma_map_sg: 0000:00:01.0 dir=FROM_DEVICE nents=12/12 ents=1/1 dma_addrs={0xbda60000} sizes={0xd000} phys_addrs={0x18419000,0x18415000,0x18414000,0x18212000,0x18215000,0x18224000,0x18412000,0x18222000,0x1821e000,0x18216000,0x18219000,0x1840d000} attrs=NO_WARN`,
  ],
  [
    155,
    `          <idle>-0       [001] dNH1.    30.896093: dma_unmap_sg: 0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x18419000,0x18415000,0x18414000,0x18212000,0x18215000,0x18224000,0x18412000,0x18222000,0x1821e000,0x18216000,0x18219000,0x1840d000} attrs=
          <idle>-0       [001] dNH1.    30.896103: unmap: IOMMU: iova=0x00000000bda60000 - 0x00000000bda6d000 size=53248 unmapped_size=53248`,
  ],
  [
    16738,
    `             fio-197     [000] .....    31.517415: map: IOMMU: iova=0x00000000bda60000 - 0x00000000bda6a000 paddr=0x0000000019b60000 size=40960
             fio-197     [000] .....    31.517417: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=bda60000 size=40960 phys_addr=19b60000 attrs=`,
  ],
] as const;

// The 6.1 lazy-timers capture cut at 27% (no dma:* events): lines 13-25 are the last 13 segments of a call whose
// range, 0xbca60000 for 73728 bytes, was allocated before the cut; line 50 unmaps it, line 7599 maps its start again.
const CUT_61_27 = [
  [13, Array.from({ length: 13 }, (_, i) => cut61Segment(i)).join("\n")],
  [
    50,
    "          <idle>-0       [001] dNh1.    23.650784: unmap: IOMMU: iova=0x00000000bca60000 - 0x00000000bca72000 size=73728 unmapped_size=73728",
  ],
  [
    7599,
    "             fio-156     [001] .....    23.949444: map: IOMMU: iova=0x00000000bca60000 - 0x00000000bca70000 paddr=0x0000000013b08000 size=65536",
  ],
] as const;

/** Line 13 + `i` of the 6.1 cut at 27%: one page at 0xbca65000 + `i` pages, physical pages descending from 0xe7da000. */
function cut61Segment(i: number): string {
  const iova = 0xbca6_5000 + i * 0x1000;
  const us = [895, 896, 897, 898, 899, 900, 901, 902, 903, 904, 905, 907, 908][i];
  return `             fio-155     [001] .....    23.649${us}: map: IOMMU: iova=${hex16(iova)} - ${hex16(iova + 0x1000)} paddr=${hex16(0xe7da000 - i * 0x1000)} size=4096`;
}

/** The events of `blocks` (first line number, text), numbered as in the cut. */
function cutEvents(blocks: readonly (readonly [number, string])[]) {
  return blocks.flatMap(([first, text]) => {
    const { events, reader } = readTraceText(text, { file: "c.txt", strictInput: true });
    assert.equal(reader.stats.malformed, 0);
    for (const e of events) e.line += first - 1;
    return events;
  });
}

for (const [name, blocks, unmapLine, mapLine] of [
  ["6.12 cut at 43%", CUT_612_43, 156, 16738],
  ["6.1 cut at 27%", CUT_61_27, 50, 7599],
] as const) {
  test(`${name}: the segments of a call the trace began inside of end with the unmap of its range`, () => {
    const evs = cutEvents(blocks);
    const kinds = (o: Partial<ReconstructOptions>) =>
      reconstruct(evs, { machine: MACHINE, file: "c.txt", ...o }).reconstructor.findings.map((f) => [f.kind, f.line]);
    const before = new Set([unmapLine]);
    // A look-ahead that groups the segments at the event before the unmap (what the cut's 16384 events do where
    // the unmap comes later than that).
    const short = evs.findIndex((e) => e.line === unmapLine) - 1;
    // Unmapped from its start, pages no map of the trace mapped: one of the mappings made before the trace, and the
    // segments inside it are its last ones. Grouped before that unmap or at it, they end with it: the later map of the range's start overlaps nothing.
    const mapLive = ["live-at-end", mapLine];
    assert.deepEqual(kinds({ madeBeforeTrace: before }), [mapLive]);
    assert.deepEqual(kinds({ madeBeforeTrace: before, lookAheadEvents: short }), [mapLive]);
    // Not told, the reconstruction leaves them live: a mapping that the later map overlaps (or that overlaps it,
    // grouped at the end), as the cut at 43% reported at line 16738.
    for (const o of [{}, { lookAheadEvents: short }]) {
      const found = kinds(o);
      assert.deepEqual(found[0], ["unmap-never-mapped", unmapLine]);
      assert.ok(
        found.some(([k]) => k === "map-overlap"),
        JSON.stringify(found),
      );
    }
    // The calls handed on are those of a reconstruction not told: the segments one map call, grouped as before.
    const calls = (o: Partial<ReconstructOptions>) =>
      reconstruct(evs, { machine: MACHINE, file: "c.txt", ...o }).calls.map(brief);
    assert.deepEqual(calls({ madeBeforeTrace: before }), calls({}));
    assert.deepEqual(calls({ madeBeforeTrace: before, lookAheadEvents: short }), calls({ lookAheadEvents: short }));
  });
}

// Lines 40-43 of the same cut: two unmaps of mappings made before it, each with its dma_unmap_page after it.
const CUT_612_43_PRE = [
  [
    40,
    `          <idle>-0       [000] dNH1.    30.892004: unmap: IOMMU: iova=0x00000000bde70000 - 0x00000000bde80000 size=65536 unmapped_size=65536
          <idle>-0       [000] dNH1.    30.892018: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=bde70000 size=65536 attrs=
          <idle>-0       [000] dNH1.    30.892025: unmap: IOMMU: iova=0x00000000be183000 - 0x00000000be184000 size=4096 unmapped_size=4096
          <idle>-0       [000] dNH1.    30.892027: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=be183000 size=4096 attrs=`,
  ],
] as const;

test("6.12 cut at 43%: the dma_unmap_page of an unmap of a mapping made before the trace is no untranslated call", () => {
  const evs = cutEvents(CUT_612_43_PRE);
  const stats = (o: Partial<ReconstructOptions>) =>
    reconstruct(evs, { machine: MACHINE, file: "c.txt", ...o }).reconstructor.stats;
  // Told those unmaps free mappings made before the trace: no finding, and their dma_unmap_page had an IOVA.
  const told = stats({ madeBeforeTrace: new Set([40, 42]) });
  assert.equal(told.beforeTraceUnmaps, 2);
  assert.equal(told.untranslated, 0);
  // Told one of them, the other's dma_unmap_page stays an untranslated call, as every such call was before.
  assert.equal(stats({ madeBeforeTrace: new Set([40]) }).untranslated, 1);
});

test("6.12, two domains: a map event still waiting for its dma_map_page on another CPU is no segment of a call begun before the trace", () => {
  const two: TraceMachine = {
    domains: [
      { name: "nvme0", devices: ["0000:00:01.0"] },
      { name: "nvme1", devices: ["0000:00:02.0"] },
    ],
    defaultDomain: "nvme0",
  };
  const lines = [
    map(0, 0xfff0_0000, 0x1000), // 1
    dma(0, "dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=fff00000 size=4096 phys_addr=1000 attrs="), // 2
    map(1, 0xffe4_1000, 0x1000), // 3: 00:02.0's, its dma_map_page at line 6
    dma(0, "dma_unmap_sg: 0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x1000,0x2000} attrs="), // 4
    unmap(0, 0xffe4_0000, 0x20000), // 5: 00:01.0's mapping made before the trace, around line 3's IOVA
    dma(1, "dma_map_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=ffe41000 size=4096 phys_addr=2000 attrs="), // 6
    unmap(1, 0xffe4_1000, 0x1000), // 7
    dma(1, "dma_unmap_page: 0000:00:02.0 dir=FROM_DEVICE dma_addr=ffe41000 size=4096 attrs="), // 8
  ];
  const { calls, r } = run(lines, { machine: two, madeBeforeTrace: new Set([5]) });
  assert.deepEqual(
    r.findings.map((f) => [f.kind, f.line]),
    [["live-at-end", 1]],
  );
  assert.deepEqual(calls.map(brief), [
    "map #1 nvme0 0xfff00000+4096 cpu0 L1,2",
    "map #1 nvme1 0xffe41000+4096 cpu1 L3,6",
    "unmap #1 nvme1 0xffe41000+4096 cpu1 L7,8",
  ]);
});
