/**
 * A depot trim the model did not make (`depot-unseen.ts`): the 6.12 mid-life
 * capture cut at its line 500,000 starts with a magazine from before the
 * cut at the bottom of the depot. At 43.1169 s the trim work found three
 * magazines in the kernel's depot, two in the model's, and took the top one
 * back to the tree; at 43.119691 s CPU 0, its magazines empty, took the one
 * below. The trace's own lines show both.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { IovaDomain } from "../../src/iova/domain.ts";
import { trimUnseen } from "../../src/replay/depot-unseen.ts";
import { Replayer } from "../../src/replay/replay.ts";
import { placePlaceholder } from "../../src/replay/start-state.ts";
import { exactOfKnowable } from "../../src/replay/summary-json.ts";
import { isKernelWorkEvent } from "../../src/trace/events.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { cutEvents, mapIovaAt, qemuNvme, windowReplay } from "../helpers/window-replay.ts";

const PATH = new URL("../../../shared/kernel-more/trace-6.12-midlife-lazy.txt.gz", import.meta.url).pathname;
/** The full trace's line the cut begins at, the line it ends before. */
const CUT = 500000;
const END = 607000;
/** CPU 0's map after the trim. */
const POP = 605388;

test("6.12 mid-life cut at line 500,000: the kernel's depot trim at 43.1169 s, made by a magazine from before the cut, left open and then made; CPU 0 takes the magazine below at line 605,388", {
  skip: sharedSkip(PATH),
}, () => {
  const { machine, rcOpts } = qemuNvme();
  const lines = gunzipSync(readFileSync(PATH)).toString("utf8").split("\n");
  const cut = cutEvents(lines, CUT, END - CUT);
  const at = (line: number) => cut.find((e) => e.line === line);
  // The trim work ran at 43.1169 s (its kworker on CPU 0); 2.8 ms later CPU 0's map at line 605,388 takes bb9d0000.
  const work = cut.filter((e) => e.type === "workqueue_execute" && e.phase === "start" && e.timestampNs > 43.1e9);
  assert.deepEqual([work[0].timestampNs, work[0].cpu], [43116884000, 0]);
  const pop = at(POP);
  assert.ok(pop?.type === "iommu_map");
  assert.deepEqual([pop.cpu, pop.timestampNs, pop.iova.toString(16)], [0, 43119691000, "bb9d0000"]);

  const replay = (depotTrimWatch: boolean) => {
    const { r, emitted } = windowReplay(cut, {
      machine,
      kernel: "mainline",
      rcOpts,
      window: { timerEvents: true },
      replay: { depotTrimWatch },
    });
    return { r, iova: mapIovaAt(cut, emitted)(POP) };
  };
  // Untrimmed, the model's top magazine is still there: CPU 0 takes it.
  const kept = replay(false);
  assert.equal(kept.iova, "0x00000000bf2ba000");
  const open = replay(true);
  assert.equal(open.iova, "0x00000000bb9d0000");
  assert.ok((open.r.timerFlushes?.trimTurned ?? 0) >= 1);
  // With it, every allocation after the learning phase that the cut could show is exact; without, those after the pop
  // are not.
  assert.equal(exactOfKnowable(open.r), 1);
  assert.ok(exactOfKnowable(kept.r) < 1);
});

test("trimUnseen: placeholder magazines go under the depot up to one more than the CPUs, then the top one goes back to the tree", () => {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  // CPU 0 frees three magazines' worth: loaded and prev full, the first full one pushed to the depot.
  const pfns: number[] = [];
  for (let i = 0; i < 3 * 127; i++) pfns.push(iovad.allocIova(1, 0xfffff, true));
  for (const pfn of pfns) iovad.freeIovaFast(0, pfn, 1);
  assert.equal(iovad.depotLengths()[0], 1);
  const top = [...iovad.rcaches[0].depot[0].pfns.subarray(0, 127)];
  let next = iovad.startPfn;
  const placed: number[] = [];
  trimUnseen(iovad, 0, (pages) => {
    const pfn = placePlaceholder(iovad, pages, next);
    next = pfn + pages;
    placed.push(pfn);
    return pfn;
  });
  // One magazine was there and two CPUs are online: two placeholder magazines under it, then the trim took it.
  assert.equal(placed.length, 2 * 127);
  assert.equal(iovad.rcaches[0].depot.length, 2);
  for (const m of iovad.rcaches[0].depot) for (let k = 0; k < m.size; k++) assert.ok(m.pfns[k] < next);
  for (const pfn of top) assert.equal(iovad.findIova(pfn), null);
  iovad.verifyInvariants();
});

test("6.12 mid-life capture from its start: its exact tree allocations show the depot held nothing from before it, so no trim is left open", {
  skip: sharedSkip(PATH),
}, async () => {
  const { machine, rcOpts } = qemuNvme();
  const replay = async (depotTrimWatch: boolean) => {
    const rp = new Replayer({ machine, kernel: "mainline", strict: false, timerEvents: true, depotTrimWatch });
    const rc = new Reconstructor(rcOpts, (c) => rp.push(c));
    await readTraceFile(PATH, (e) => {
      if (isKernelWorkEvent(e)) rp.pushWork(e);
      else rc.push(e);
    });
    rc.end();
    return rp.end();
  };
  const r = await replay(true);
  assert.equal(r.timerFlushes?.depotWorks, 125);
  assert.equal(r.timerFlushes?.trimWatched, 0);
  assert.ok(r.iovad.stats.treeAllocs > 0);
  const without = await replay(false);
  assert.deepEqual([r.exact, r.allocations], [without.exact, without.allocations]);
});
