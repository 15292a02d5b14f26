/**
 * Replay-only operations on the kernel model's state: what a replay does to
 * follow the trace where the trace shows the kernel did something the model
 * cannot decide by itself. None of this is kernel behaviour; the kernel
 * model's files (src/iova, src/dma) keep only kernel operations.
 */

import type { FlushQueue } from "../dma/flush-queue.ts";

/**
 * The last IOVA queued in `cpu`'s flush queue is made to wait for the next
 * flush, as if `queue_iova()` had run after the current flush raised its
 * start count: its counter becomes the current start count. Works on a
 * copy (`snapshot`) put back with `restore`.
 */
export function queuedLate(fq: FlushQueue, cpu: number): void {
  const s = fq.snapshot();
  const e = s.rings[cpu].entries;
  if (e.length === 0) return;
  const entries = e.slice();
  entries[entries.length - 1] = s.flushStartCnt;
  const rings = s.rings.map((r, c) => (c === cpu ? { ...r, entries } : r));
  fq.restore({ ...s, rings });
}
