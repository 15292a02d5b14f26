/**
 * Strict replays of the mixed-size traces of ../shared/kernel-more (issue 11
 * part 1): 4 KiB to 512 KiB reads, scatter-gather lists, 6.1's 512 KiB
 * requests in the tree. Every expected IOVA is the trace's own `iova=` field,
 * read with a plain regular expression; the lines behind each cause are
 * copied from the traces into the tests that pin it.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { CpuOrder } from "../../src/replay/cpu-order.ts";
import { Replayer, traceMachineOf } from "../../src/replay/replay.ts";
import { Q35_NVME_TRACE_MACHINE } from "../../src/trace/machine.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { type DmaCall, Reconstructor, reconstruct } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { quickSkip } from "../helpers/quick.ts";
import { MACHINE, replayStrict } from "../helpers/strict-replay.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
const SHARED = new URL("../../../shared/kernel-more/", import.meta.url).pathname;

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

/** The `iova=` of every map event but group 3's 16 MiB direct map, as printed (0x%016llx), with its line. */
function traceMaps(text: string): { line: number; iova: string }[] {
  const out: { line: number; iova: string }[] = [];
  text.split("\n").forEach((l, i) => {
    const m = / map: IOMMU: iova=(0x[0-9a-f]{16}) - (0x[0-9a-f]{16}) /.exec(l);
    if (m && !(m[1] === "0x0000000000000000" && m[2] === "0x0000000001000000")) out.push({ line: i + 1, iova: m[1] });
  });
  return out;
}

const replay = replayStrict;

/** The trace lines of the map events the replay placed elsewhere than the kernel. */
function mismatchedLines(text: string, emitted: string[]): number[] {
  const want = traceMaps(text);
  assert.equal(emitted.length, want.length);
  return want.filter((m, i) => emitted[i] !== m.iova).map((m) => m.line);
}

test("6.1 strict mixed, first 3,200 lines: every IOVA is the kernel's", () => {
  const text = fixture("linux-6.1-strict-mixed-head3200.txt.gz");
  const { result, emitted } = replay(text, "6.1");
  assert.deepEqual(
    emitted,
    traceMaps(text).map((m) => m.iova),
  );
  assert.equal(result.exact, result.allocations);
  assert.equal(result.refusedUnmaps, 0);
  // Group 3's direct map (line 13) is another domain's: 1,796 of the 1,797 map events (zcat | grep -c ' map: ').
  assert.equal(result.mapEvents, 1796);
});

test("6.12 strict mixed, first 3,000 lines, mainline profile: every IOVA is the kernel's", () => {
  const text = fixture("linux-6.12-strict-mixed-head3000.txt.gz");
  const { result, emitted } = replay(text, "mainline");
  assert.deepEqual(
    emitted,
    traceMaps(text).map((m) => m.iova),
  );
  assert.equal(result.exact, result.allocations);
  // Every allocation has its dma event, dma_map_page + dma_map_sg + dma_alloc (zcat | head | grep -c), but
  // the last: the copy ends on line 3000's map, cut before its dma_map_page.
  const dmaMaps = (text.match(/ dma_(map_page|map_sg|alloc): /g) ?? []).length;
  assert.equal(result.allocations, dmaMaps + 1);
});

// 6.1 trace lines 165-173: CPU 1's 32 KiB read completes in a hardirq that stopped fio-216, CPU 0 maps a
// 512 KiB read, then fio-216 maps 8 KiB at 0xffefe000, just below CPU 0's 512 KiB: the tree's cached node
// was that allocation's, so the 8 KiB came after it. An 8 KiB allocation never takes a 32 KiB IOVA from the
// rcache, so not reusing it says nothing about the order; replayed before the interrupt (and so before
// CPU 0's map) it lands at 0xfffae000, as the replay did before (49.6% of the map events exact).
const LINES_61_165_173 = `\
             fio-216     [001] .....     6.162211: map: IOMMU: iova=0x00000000fffb0000 - 0x00000000fffb8000 paddr=0x00000000125ea000 size=32768
             fio-216     [001] dNH..     6.178210: unmap: IOMMU: iova=0x00000000fffb0000 - 0x00000000fffb8000 size=32768 unmapped_size=32768
             fio-215     [000] .....     6.181707: map: IOMMU: iova=0x00000000fff00000 - 0x00000000fff16000 paddr=0x00000000121ea000 size=90112
             fio-215     [000] .....     6.181717: map: IOMMU: iova=0x00000000fff16000 - 0x00000000fff46000 paddr=0x000000001170c000 size=196608
             fio-215     [000] .....     6.181719: map: IOMMU: iova=0x00000000fff46000 - 0x00000000fff80000 paddr=0x0000000011e9e000 size=237568
             fio-216     [001] .....     6.197173: map: IOMMU: iova=0x00000000ffefe000 - 0x00000000fff00000 paddr=0x00000000127ea000 size=8192
`;

// 6.12 trace lines 150-172 (the dma events between them as traced): the same pattern, 8 KiB at
// 0xfff5e000 after a 32 KiB interrupt unmap of fio-256 (97.4% of the map events exact before).
const LINES_612_150_172 = `\
             fio-256     [001] .....     9.237072: map: IOMMU: iova=0x00000000fffb0000 - 0x00000000fffb8000 paddr=0x00000000125aa000 size=32768
             fio-256     [001] .....     9.237091: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=fffb0000 size=32768 phys_addr=125aa000 attrs=
             fio-256     [001] d.h..     9.237458: unmap: IOMMU: iova=0x00000000fffb0000 - 0x00000000fffb8000 size=32768 unmapped_size=32768
             fio-256     [001] d.h..     9.237510: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=fffb0000 size=32768 attrs=
             fio-255     [000] .....     9.241527: map: IOMMU: iova=0x00000000fff80000 - 0x00000000fffa0000 paddr=0x00000000129aa000 size=131072
             fio-255     [000] .....     9.241538: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=fff80000 size=131072 phys_addr=129aa000 attrs=
             fio-255     [000] .....     9.241696: map: IOMMU: iova=0x00000000fff60000 - 0x00000000fff80000 paddr=0x00000000129ca000 size=131072
             fio-255     [000] .....     9.241700: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=fff60000 size=131072 phys_addr=129ca000 attrs=
             fio-256     [001] .....     9.264746: map: IOMMU: iova=0x00000000fff5e000 - 0x00000000fff60000 paddr=0x00000000127aa000 size=8192
             fio-256     [001] .....     9.264757: dma_map_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=fff5e000 size=8192 phys_addr=127aa000 attrs=
`;

test("an interrupt's unmaps of another size class leave a map where the trace has it (6.1 lines 165-173, 6.12 lines 150-172)", () => {
  // The order is decided from the trace alone (what-if replays use it too), so the model's IOVAs do not matter here.
  for (const [text, kernel] of [
    [LINES_61_165_173, "6.1"],
    [LINES_612_150_172, "mainline"],
  ] as const) {
    const { result } = replay(text, kernel, { cpuOrder: false });
    assert.equal(result.reordered, 0);
  }
  // The same lines with the interrupt's unmap of the map's own class (8 KiB): not taking it proves the map came first.
  const same = LINES_61_165_173.replaceAll("0x00000000fffb8000", "0x00000000fffb2000").replace(
    /size=32768/g,
    "size=8192",
  );
  assert.equal(replay(same, "6.1", { cpuOrder: false }).result.reordered, 1);
  // ... but only when the interrupt stopped the mapping task itself: an idle CPU's interrupt came after it.
  const idle = same.replace("fio-216     [001] dNH..", "<idle>-0       [001] dNH..");
  assert.equal(replay(idle, "6.1", { cpuOrder: false }).result.reordered, 0);
});

test("the 6.1 head's first tree allocation placed by another CPU's order: line 3005 (CPU 0) came after line 3014's (CPU 1)", () => {
  // Lines 2999-3014: fio-216 (CPU 1) maps 512 KiB at 0xffb80000, then (traced 1.2 ms later, after a
  // hardirq that stopped fio-216 and freed two 512 KiB IOVAs) 512 KiB at 0xffa00000; meanwhile fio-215
  // (CPU 0) maps 472 KiB at 0xff980000. The kernel's walk from the cached node can only give CPU 0
  // 0xff980000 if CPU 1's 0xffa00000 was in the tree already: fio-216 allocated it before the
  // interrupt and before CPU 0, and traced its map after both. In the trace's order the model gives
  // CPU 0 0xffb00000 (the gap above 0xffafe000).
  const text = fixture("linux-6.1-strict-mixed-head3200.txt.gz");
  const off = replay(text, "6.1", { cpuOrder: false });
  const lines = mismatchedLines(text, off.emitted);
  assert.equal(lines[0], 3005);
  assert.equal(off.emitted[traceMaps(text).findIndex((m) => m.line === 3005)], "0x00000000ffb00000");
  const on = replay(text, "6.1");
  assert.deepEqual(mismatchedLines(text, on.emitted), []);
  assert.ok(on.result.cpuOrderMoves >= 1);
});

// 6.1 trace lines 15300-15336, verbatim: CPU 1 (fio-215) maps 204 KiB at 0xffe40000 (line 15308) and
// frees it in a hardirq (line 15311, 7.855905); CPU 1's next event is 3 ms later (line 15334). CPU 0 maps
// 212 KiB at 0xffe00000 (line 15332, 7.858738): below 0xffe40000, which the walk from the cached node only
// gives while 0xffe40000 is still in the tree. The unmap event is traced before `free_iova_fast()`, so CPU 1
// freed it after CPU 0's allocation (its vCPU stalled in between).
const LINES_61_15300_15336 = `\
             fio-216     [000] .....     7.855155: map: IOMMU: iova=0x00000000ff9a0000 - 0x00000000ff9b6000 paddr=0x00000000127ea000 size=90112
             fio-216     [000] .....     7.855157: map: IOMMU: iova=0x00000000ff9b6000 - 0x00000000ff9c0000 paddr=0x0000000012400000 size=40960
             fio-216     [000] .....     7.855182: map: IOMMU: iova=0x00000000ffdff000 - 0x00000000ffe00000 paddr=0x0000000012bea000 size=4096
             fio-216     [000] .....     7.855202: map: IOMMU: iova=0x00000000ff9fe000 - 0x00000000ff9ff000 paddr=0x00000000125ea000 size=4096
             fio-216     [000] .....     7.855237: map: IOMMU: iova=0x00000000ff7a0000 - 0x00000000ff7b6000 paddr=0x0000000013dea000 size=90112
             fio-216     [000] .....     7.855238: map: IOMMU: iova=0x00000000ff7b6000 - 0x00000000ff7c0000 paddr=0x0000000013200000 size=40960
             fio-216     [000] .....     7.855260: map: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 paddr=0x00000000133ea000 size=4096
             fio-216     [000] .....     7.855419: map: IOMMU: iova=0x00000000ffea7000 - 0x00000000ffea8000 paddr=0x00000000131ea000 size=4096
             fio-215     [001] .....     7.855586: map: IOMMU: iova=0x00000000ffe40000 - 0x00000000ffe56000 paddr=0x0000000012dea000 size=90112
             fio-215     [001] .....     7.855589: map: IOMMU: iova=0x00000000ffe56000 - 0x00000000ffe73000 paddr=0x0000000012200000 size=118784
          <idle>-0       [000] d.H1.     7.855884: unmap: IOMMU: iova=0x00000000ffea7000 - 0x00000000ffea8000 size=4096 unmapped_size=4096
             fio-215     [001] d.h1.     7.855905: unmap: IOMMU: iova=0x00000000ffe40000 - 0x00000000ffe73000 size=208896 unmapped_size=208896
          <idle>-0       [000] d.H1.     7.857080: unmap: IOMMU: iova=0x00000000ff9c0000 - 0x00000000ff9e0000 size=131072 unmapped_size=131072
          <idle>-0       [000] d.H1.     7.857089: unmap: IOMMU: iova=0x00000000ffda0000 - 0x00000000ffda9000 size=36864 unmapped_size=36864
          <idle>-0       [000] d.H1.     7.857096: unmap: IOMMU: iova=0x00000000ff9a0000 - 0x00000000ff9c0000 size=131072 unmapped_size=131072
          <idle>-0       [000] d.H1.     7.857104: unmap: IOMMU: iova=0x00000000ffdff000 - 0x00000000ffe00000 size=4096 unmapped_size=4096
          <idle>-0       [000] d.H1.     7.857108: unmap: IOMMU: iova=0x00000000ff9fe000 - 0x00000000ff9ff000 size=4096 unmapped_size=4096
          <idle>-0       [000] d.H1.     7.857112: unmap: IOMMU: iova=0x00000000ff7a0000 - 0x00000000ff7c0000 size=131072 unmapped_size=131072
          <idle>-0       [000] d.H1.     7.857115: unmap: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 size=4096 unmapped_size=4096
             fio-216     [000] .....     7.857918: map: IOMMU: iova=0x00000000ff7a0000 - 0x00000000ff7b6000 paddr=0x00000000131ea000 size=90112
             fio-216     [000] .....     7.857927: map: IOMMU: iova=0x00000000ff7b6000 - 0x00000000ff7bb000 paddr=0x0000000012a00000 size=20480
             fio-216     [000] d.h..     7.858086: unmap: IOMMU: iova=0x00000000ff7a0000 - 0x00000000ff7bb000 size=110592 unmapped_size=110592
             fio-216     [000] .....     7.858178: map: IOMMU: iova=0x00000000ff7a0000 - 0x00000000ff7b6000 paddr=0x0000000011e6e000 size=90112
             fio-216     [000] d.h1.     7.858291: unmap: IOMMU: iova=0x00000000ff7a0000 - 0x00000000ff7b6000 size=90112 unmapped_size=90112
             fio-216     [000] .....     7.858325: map: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 paddr=0x00000000129ea000 size=4096
             fio-216     [000] d.h..     7.858389: unmap: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 size=4096 unmapped_size=4096
             fio-216     [000] .....     7.858436: map: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 paddr=0x00000000127ea000 size=4096
             fio-216     [000] d.h..     7.858502: unmap: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 size=4096 unmapped_size=4096
             fio-216     [000] .....     7.858556: map: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 paddr=0x0000000012bea000 size=4096
             fio-216     [000] d.h..     7.858618: unmap: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 size=4096 unmapped_size=4096
             fio-216     [000] .....     7.858643: map: IOMMU: iova=0x00000000fffaf000 - 0x00000000fffb0000 paddr=0x00000000125ea000 size=4096
             fio-216     [000] .....     7.858689: map: IOMMU: iova=0x00000000ff9fe000 - 0x00000000ff9ff000 paddr=0x0000000013dea000 size=4096
             fio-216     [000] .....     7.858738: map: IOMMU: iova=0x00000000ffe00000 - 0x00000000ffe16000 paddr=0x00000000133ea000 size=90112
             fio-216     [000] .....     7.858740: map: IOMMU: iova=0x00000000ffe16000 - 0x00000000ffe35000 paddr=0x0000000013000000 size=126976
             fio-215     [001] .....     7.858901: map: IOMMU: iova=0x00000000ff9fd000 - 0x00000000ff9fe000 paddr=0x0000000011edf000 size=4096
             fio-215     [001] d.h..     7.858961: unmap: IOMMU: iova=0x00000000ff9fd000 - 0x00000000ff9fe000 size=4096 unmapped_size=4096
             fio-215     [001] .....     7.858985: map: IOMMU: iova=0x00000000ffd3a000 - 0x00000000ffd3c000 paddr=0x00000000123ea000 size=8192
`;

/**
 * A stand-in for the replay: `ok` says whether a map gets the trace's IOVA given the lines replayed
 * before it. Lines are the trace's (`first` is the text's first line).
 */
function orderWith(text: string, first: number, ok: (c: DmaCall, applied: ReadonlySet<number>) => boolean) {
  const { events } = readTraceText(text, { file: "t", strictInput: true });
  for (const e of events) e.line += first - 1;
  const { calls } = reconstruct(events, { machine: Q35_NVME_TRACE_MACHINE });
  let applied = new Set<number>();
  const order: number[] = [];
  const co = new CpuOrder<Set<number>, { addr: number | null | undefined }>({
    apply: (c) => {
      const addr = c.kind === "map" ? (ok(c, applied) ? c.iova : 0) : undefined;
      applied.add(c.line);
      return { addr };
    },
    save: () => new Set(applied),
    restore: (s) => {
      applied = new Set(s);
    },
    finalize: (c) => order.push(c.line),
  });
  for (const c of calls) co.push(c);
  co.end();
  return { order, traceOrder: calls.map((c) => c.line), moves: co.moves, failed: co.failed };
}

test("another CPU's unmap is freed after a map where the IOVAs need it, never past its CPU's next call (6.1 lines 15300-15336)", () => {
  // Line 15332's map gets the kernel's IOVA only while line 15311's IOVA is not yet freed.
  const freedLate = orderWith(LINES_61_15300_15336, 15300, (c, applied) => c.line !== 15332 || !applied.has(15311));
  assert.equal(freedLate.moves, 1);
  const want = freedLate.traceOrder.filter((l) => l !== 15311);
  want.splice(want.indexOf(15332) + 1, 0, 15311);
  assert.deepEqual(freedLate.order, want);
  // A map cannot have allocated before its own CPU's earlier map: line 15336 (CPU 1) before line 15332
  // would cross CPU 1's map of line 15334, so no order gives it and the trace's stays.
  const tooFar = orderWith(LINES_61_15300_15336, 15300, (c, applied) => c.line !== 15332 || applied.has(15336));
  assert.equal(tooFar.moves, 0);
  assert.equal(tooFar.failed, 1);
  assert.deepEqual(tooFar.order, tooFar.traceOrder);
  // A map may have allocated before an interrupt that stopped its own task: line 15336 (fio-215) before
  // the hardirq unmap of line 15335 (fio-215), if the IOVAs need it.
  const ownIrq = orderWith(LINES_61_15300_15336, 15300, (c, applied) => c.line !== 15336 || !applied.has(15335));
  assert.equal(ownIrq.moves, 1);
  assert.deepEqual(ownIrq.order.slice(-2), [15336, 15335]);
});

for (const [file, kernel, maps] of [
  // kernel-more/README.md: map 25,567 (25,566 NVMe + group 3's direct map); 27,124 (27,123 + group 3).
  ["trace-6.1-strict-mixed.txt.gz", "6.1", 25_566],
  ["trace-6.12-strict-mixed.txt.gz", "mainline", 27_123],
] as const) {
  const path = SHARED + file;
  test(`the full ${file} replays with every IOVA the kernel chose (${kernel} profile)`, {
    skip:
      quickSkip("a full-length kernel trace") ||
      (existsSync(path) ? false : `${path} is absent: the full public kernel traces live in ../shared`),
  }, () => {
    const out = iovalab([
      "replay",
      path,
      "--machine",
      "qemu-q35-nvme",
      "--kernel",
      kernel,
      "--captured",
      "strict",
      "--emit-iovas",
    ]);
    assert.equal(out.status, 0, out.stderr);
    const want = traceMaps(gunzipSync(readFileSync(path)).toString());
    assert.equal(want.length, maps);
    const got = out.stdout.split("\n").slice(0, -1);
    assert.equal(got.length, want.length);
    const first = got.findIndex((x, i) => x !== want[i].iova);
    assert.equal(
      first,
      -1,
      `first different map event: line ${want[first]?.line}, model ${got[first]}, kernel ${want[first]?.iova}`,
    );
  });
}

test("the full 6.1 strict mixed trace: the allocations the trace's order misplaces are the ones its CPUs' order explains", {
  skip:
    quickSkip("a full-length kernel trace") ||
    (existsSync(`${SHARED}trace-6.1-strict-mixed.txt.gz`) ? false : "../shared is absent"),
}, async () => {
  assert.ok(MACHINE);
  const path = `${SHARED}trace-6.1-strict-mixed.txt.gz`;
  const want = traceMaps(gunzipSync(readFileSync(path)).toString());
  const run = async (cpuOrder: boolean) => {
    const emitted: string[] = [];
    const rp = new Replayer({
      machine: MACHINE,
      kernel: "6.1",
      strict: true,
      cpuOrder,
      emitIova: (t) => emitted.push(t),
    });
    const rc = new Reconstructor({ machine: traceMachineOf(MACHINE, "0000:00:01.0") }, (c) => rp.push(c));
    await readTraceFile(path, (e) => rc.push(e));
    rc.end();
    const result = rp.end();
    return { result, bad: want.filter((m, i) => emitted[i] !== m.iova).map((m) => m.line) };
  };
  const off = await run(false);
  // Each explained in the tests above or in the report: line 3005 (CPU 1's later map allocated first),
  // 15332 (CPU 1's earlier unmap freed after it), 17733 (allocated before its own interrupt and before
  // CPU 1's tree free at line 17722), 26164 (line 26153's map allocated before the interrupt of line 26150).
  for (const line of [3005, 15332, 17733, 26164]) assert.ok(off.bad.includes(line), `line ${line}`);
  const on = await run(true);
  assert.deepEqual(on.bad, []);
  assert.ok(on.result.cpuOrderMoves > 0 && on.result.cpuOrderMoves <= off.bad.length);
});

test("a 6.1 strict trace cut mid-life: its tree allocations of 256 and 512 KiB walk past the space the kernel's walks proved taken", () => {
  // Lines 29,769 to 33,768 of the full trace. Its requests above 128 KiB are
  // no rcache's, so each is allocated in the tree and freed to it at once;
  // the kernel's walks pass 0xffc80000 (something mapped or cached before the
  // trace holds it) and land at 0xffc40000 or 0xffc00000. Each free moves
  // both cached nodes past the freed IOVA, the kernel's no higher than the
  // model's, so a walk after it that the kernel took lower than the model
  // proves the slots between taken, during the learning phase (to line 397)
  // and after it (`hidden-space.ts`, `startsAfterFree`). Without that proof
  // the model took 0xffc80000 at every one of them: 161 map events after the
  // phase placed elsewhere than the kernel, 37 with it (35 once the order
  // search no longer stopped inside the phase).
  const name = "linux-6.1-strict-mixed-lines29769-33768.txt.gz";
  const text = fixture(name);
  const path = new URL(name, FIXTURES).pathname;
  const r = iovalab(["replay", path, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--emit-iovas"]);
  assert.equal(r.status, 0, r.stderr);
  const emitted = r.stdout.trimEnd().split("\n");
  const want = traceMaps(text);
  assert.equal(emitted.length, want.length);
  const at = (line: number) => emitted[want.findIndex((m) => m.line === line)];
  assert.deepEqual([403, 559, 987, 1057, 1980].map(at), [
    "0x00000000ffc40000",
    "0x00000000ffc00000",
    "0x00000000ffc40000",
    "0x00000000ffc00000",
    "0x00000000ffc00000",
  ]);
  const missed = mismatchedLines(text, emitted).filter((l) => l > 397);
  assert.ok(missed.length <= 35, `${missed.length} map events after the phase placed elsewhere`);
});

test("the model's iommu_dma_map_sg gives every dma_map_sg of the 6.12 head the kernel's segments and IOVA length", async () => {
  // Each dma_map_sg line lists the list's entries (phys_addrs); the map events just before it on its CPU
  // are its physically contiguous runs, one per entry here (nents=2/2), with their lengths. The kernel
  // mapped each list into one IOVA range of the runs' total and handed back one merged segment (ents=1).
  const { bootMachine } = await import("../../src/machine/index.ts");
  const text = fixture("linux-6.12-strict-mixed-head3000.txt.gz");
  const k = bootMachine("qemu-q35-nvme", { kernel: "mainline", cmdline: "iommu.strict=1" });
  const dev = k.device("0000:00:01.0");
  assert.ok(dev);
  const cookie = k.dma.cookieOf(dev);
  assert.ok(cookie);
  const runs = new Map<number, { paddr: number; size: number }[]>();
  let lists = 0;
  for (const l of text.split("\n")) {
    const cpu = Number(/\[(\d+)\]/.exec(l)?.[1]);
    const map = / map: IOMMU: iova=0x[0-9a-f]+ - 0x[0-9a-f]+ paddr=0x([0-9a-f]+) size=(\d+)/.exec(l);
    if (map) {
      if (!runs.has(cpu)) runs.set(cpu, []);
      runs.get(cpu)?.push({ paddr: Number.parseInt(map[1], 16), size: Number(map[2]) });
      continue;
    }
    const sg =
      / dma_map_sg: \S+ dir=\S+ nents=(\d+)\/(\d+) ents=(\d+)\/(\d+) dma_addrs=\{([^}]*)\} sizes=\{([^}]*)\} phys_addrs=\{([^}]*)\}/.exec(
        l,
      );
    if (sg === null) {
      if (/ dma_(map_page|alloc): /.test(l)) runs.set(cpu, []);
      continue;
    }
    const phys = sg[7].split(",").map((x) => Number.parseInt(x, 16));
    const mine = runs.get(cpu) ?? [];
    const entries = phys.map((p) => {
      const run = mine.find((r) => r.paddr === p);
      assert.ok(run, `${l}: a map event of ${p.toString(16)} before it`);
      return { phys: p, length: run.size };
    });
    runs.set(cpu, []);
    const m = k.dma.mapSg(dev, cpu, entries);
    assert.equal(m.nents, Number(sg[3]), l);
    assert.deepEqual(
      m.segments.map((s) => s.length),
      sg[6].split(",").map((x) => Number.parseInt(x, 16)),
      l,
    );
    const total = entries.reduce((s, e) => s + e.length, 0);
    assert.equal(cookie.mapped.get(m.segments[0].dmaAddr / 4096), total / 4096, l);
    assert.ok(k.dma.unmapSg(dev, cpu, m));
    lists++;
  }
  // zcat | head -3000 | grep -c dma_map_sg
  assert.equal(lists, (text.match(/ dma_map_sg: /g) ?? []).length);
  assert.ok(lists > 0);
});
