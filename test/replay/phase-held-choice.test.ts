/**
 * A choice held inside the learning phase of a searched start state
 * (`Replayer.phaseHolds`): the 6.1 mid-life capture cut at its line 131,236
 * begins 957 lines before two CPUs' overlapping ring-full flushes, whose
 * depot pushes came second CPU first (`depot-order.ts`; the full trace's
 * lines 132191 and 132203). Those flushes fall inside the cut's learning
 * phase, which held no choice: the replay pushed the first CPU's magazine
 * first and every IOVA after the next depot pop went astray. The cut is
 * replayed from the fill levels the full trace's replay (exact from its
 * line 126,000 on) has where the cut begins, as the search hands them over.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Replayer } from "../../src/replay/replay.ts";
import type { StartState } from "../../src/replay/start-state.ts";
import { exactOfKnowable } from "../../src/replay/summary-json.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";
import { feedEvents } from "../helpers/feed-events.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { cutEvents, mapIovaAt, qemuNvme, windowReplay } from "../helpers/window-replay.ts";

const PATH = new URL("../../../shared/kernel-more/trace-6.1-midlife-lazy.txt.gz", import.meta.url).pathname;
/** The full trace's line the cut begins at, and the lines the cut keeps. */
const CUT = 131236;
const CUT_LINES = 20000;

/** Every size class's fill levels in the replay's domain as `rp` stands, as a pinned start state. */
function fillOf(rp: Replayer): StartState {
  const cookie = rp.kernel.dma.cookieOf(rp.dev);
  assert.ok(cookie?.fq);
  const fq = cookie.fq;
  const cpus = cookie.iovad.rcaches[0].everyCpu.map((_, cpu) => cpu);
  return {
    classes: cookie.iovad.rcaches.map((rc, k) => ({
      loaded: rc.everyCpu.map((c) => c.loaded.size),
      prev: rc.everyCpu.map((c) => c.prev.size),
      depot: rc.depot.length,
      // Every entry of this trace is one page: the rings' entries are the 1p class's.
      queued: cpus.map((cpu) => (k === 0 ? fq.queued(cpu) : 0)),
    })),
    pinned: true,
  };
}

test("6.1 mid-life cut at line 131,236: the overlapping ring-full flushes inside its searched phase are held, and CPU 1 pops CPU 0's magazine at line 132,859 as the kernel did", {
  skip: sharedSkip(PATH),
}, () => {
  const { machine, rcOpts } = qemuNvme();
  const lines = gunzipSync(readFileSync(PATH)).toString("utf8").split("\n");
  // The full trace's replay up to the cut: its fill levels when the first call of the cut is handed over.
  let start: StartState | null = null;
  const full = new Replayer({ machine, kernel: "6.1", strict: false, timerEvents: true });
  const rc = new Reconstructor(rcOpts, (c) => {
    if (start === null && c.line >= CUT) start = fillOf(full);
    if (start === null) full.push(c);
  });
  feedEvents(cutEvents(lines, 1, CUT + 100), full, rc);
  assert.ok(start !== null);
  const s = start as StartState;
  // What the search is to find there: the rings empty (the timer not armed), both CPUs' previous magazines full, two
  // magazines in the depot.
  assert.deepEqual(
    [s.classes[0].loaded, s.classes[0].prev, s.classes[0].depot, s.classes[0].queued],
    [[20, 24], [127, 127], 2, [0, 0]],
  );

  const cut = cutEvents(lines, CUT, CUT_LINES);
  const { r, emitted } = windowReplay(cut, {
    machine,
    kernel: "6.1",
    rcOpts,
    window: { timerEvents: true },
    replay: { start: s, learningAdopts: false },
  });
  const at = mapIovaAt(cut, emitted);
  // The flushes lie inside the phase, which ends at the full trace's line 132,346.
  assert.ok(r.learning.endLine > 132203, String(r.learning.endLine));
  assert.deepEqual([at(132859), at(132999)], ["0x00000000b937d000", "0x00000000b93de000"]);
  assert.ok((r.timerFlushes?.depotTurned ?? 0) >= 1);
  // Every allocation after the phase that the trace could show (not an IOVA cached before the trace) is exact.
  assert.equal(exactOfKnowable(r), 1, `${r.exactAfterLearning} of ${r.afterLearning - r.adoptedAfterLearning}`);
});
