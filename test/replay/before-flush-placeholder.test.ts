/**
 * A map that allocated before the flush traced just before it, and took an
 * IOVA cached before the trace (`placedBefore` in `timer-flushes.ts`): the
 * 6.1 mid-life capture cut at its line 160,000 (read from ../shared when
 * present). At 35.465479 s the timer's flush ran on CPU 1 on the way out of
 * an interrupt; the map traced next on CPU 1 shows an IOVA the cut never
 * showed before, and the one after it the IOVA that CPU 1's last unmap
 * before the flush queued. So the first map allocated before the flush,
 * from the magazine CPU 1 held at the cut.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { emptyStartState, type StartState } from "../../src/replay/start-state.ts";
import { exactOfKnowable } from "../../src/replay/summary-json.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { cutEvents, timerCutRun } from "../helpers/window-replay.ts";

const PATH = new URL("../../../shared/kernel-more/trace-6.1-midlife-lazy.txt.gz", import.meta.url).pathname;
/** The full trace's line the cut begins at, and the lines it keeps. */
const CUT = 160000;
const LINES = 20000;
/** CPU 1's last unmap before the flush, the flush's entry, and CPU 1's next two maps. */
const UNMAP = 160571;
const ENTRY = 160572;
const FIRST = 160574;
const SECOND = 160577;

test("6.1 mid-life cut at line 160,000: the map traced after CPU 1's first flush allocated before it, an IOVA cached before the cut", {
  skip: sharedSkip(PATH),
}, () => {
  const lines = gunzipSync(readFileSync(PATH)).toString("utf8").split("\n");
  const evs = cutEvents(lines, CUT, LINES);
  const at = (line: number) => evs.find((e) => e.line === line);
  const hex = (x: number) => x.toString(16);
  const unmap = at(UNMAP);
  const entry = at(ENTRY);
  const first = at(FIRST);
  const second = at(SECOND);
  assert.ok(unmap?.type === "iommu_unmap" && first?.type === "iommu_map" && second?.type === "iommu_map");
  assert.ok(entry?.type === "timer_expire_entry");
  assert.deepEqual([unmap.cpu, hex(unmap.iova)], [1, "b93f8000"]);
  assert.deepEqual([entry.cpu, entry.timestampNs], [1, 35465479000]);
  assert.deepEqual([first.cpu, hex(first.iova), second.cpu, hex(second.iova)], [1, "bf9e6000", 1, "b93f8000"]);
  // The first map's IOVA appears nowhere in the cut before it: an IOVA cached before the cut.
  assert.ok(!evs.some((e) => e.line < FIRST && "iova" in e && e.iova === first.iova));

  // The kernel's fill levels at the cut, as the whole capture's replay (from boot, exact there) has them at line
  // 160,000: CPU 0 113 IOVAs loaded and an empty prev, CPU 1 72 loaded and a full prev, two depot magazines; the rings
  // held 17 and 25 entries unmapped before the cut.
  const state = (ring0: number): StartState => {
    const s = emptyStartState(6, 2);
    s.classes[0] = { loaded: [113, 72], prev: [0, 127], depot: 2, queued: [ring0, 25] };
    return s;
  };
  const run = (start: StartState) => timerCutRun(evs, "6.1", start);
  const kernel = run(state(17));
  // The first map takes a placeholder (an IOVA at the bottom of the domain, standing for one cached before the
  // cut), the second the top of what the flush freed.
  assert.ok(Number.parseInt(kernel.at(FIRST), 16) < 0x1000000, kernel.at(FIRST));
  assert.equal(kernel.at(SECOND), "0x00000000b93f8000");
  assert.ok(kernel.r.flushReorders >= 1);
  // From the kernel's fill levels, every allocation after the phase that the cut could show is exact. Before this
  // rule the first map followed the trace's IOVA without taking a placeholder, CPU 1's magazine boundaries came one
  // allocation late, and only a state with one ring entry fewer made up for it; now that one does not.
  assert.equal(exactOfKnowable(kernel.r), 1);
  assert.ok(exactOfKnowable(run(state(16)).r) < 0.5);
});
