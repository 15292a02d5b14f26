/** The flush queue's replay-only `take()`: one entry out, the others in their order. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { IovaDomain } from "../iova/domain.ts";
import { FlushQueue } from "./flush-queue.ts";

test("take() removes one queued IOVA and keeps the others' order for the flush", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  const fq = new FlushQueue(d, 1, 250);
  const pfns = [1, 2, 3, 4].map(() => d.allocIovaFast(0, 1, 0xfffff, false));
  for (const pfn of pfns) fq.queue(0, pfn, 1, 0);
  assert.equal(fq.take(pfns[1]), true);
  assert.equal(fq.take(pfns[1]), false);
  assert.equal(fq.queued(0), 3);
  fq.timeout();
  // Freed in queue order into the magazine: the last one queued is on top.
  const mag = d.rcaches[0].cpuRcaches[0].loaded;
  assert.deepEqual([...mag.pfns.subarray(0, mag.size)], [pfns[0], pfns[2], pfns[3]]);
});
