/**
 * Reordering interrupted calls. A map event is traced after its IOVA
 * allocation, so a process-context map that the trace shows right after an
 * interrupt's unmaps on the same CPU may have allocated before them: the
 * interrupt came between `alloc_iova_fast()` and `iommu_map()`. In a strict
 * trace the freed IOVAs go straight to that CPU's rcache and the next
 * allocation of their size class would reuse one, so a map that reuses none
 * of them allocated first. Such a map is therefore moved before the
 * interrupt's unmaps, but after any of them that freed part of its own
 * range, and only on that evidence (`allocatedBefore`). Calls wait here, in
 * trace order, until the interrupted CPU's next call shows which case it
 * is. A trace without the flags column (`trace-cmd report` without `-l`,
 * `perf script`) does not say which unmaps an interrupt made: every unmap
 * is then one that may have been (`mayInterrupt`), and the same evidence
 * decides; a process-context unmap frees before its task's next map, which
 * then takes the freed IOVA, so it never moves that map. The choice reads
 * only the trace, so what-if runs replay the same order. (Linux 6.1 and
 * mainline dma-iommu.c.)
 */

import { DEFAULT_RCACHE_ORDERS } from "../iova/domain.ts";
import { orderBase2Small } from "../stdx/bits.ts";
import type { DmaCall } from "../trace/reconstruct.ts";

/** How long calls wait for the interrupted CPU's next call (TCG guests show maps 3 ms after the interrupt). */
const IRQ_RUN_WAIT_NS = 100_000_000;

export class IrqReorder {
  /** Maps replayed before interrupt-context unmaps the trace shows before them. */
  reordered = 0;
  /** Virtual times of maps moved before an interrupt's unmaps: they ran at that unmap's time. */
  readonly applyAtNs = new Map<DmaCall, number>();
  private readonly enabled: boolean;
  /** The replayed domain's IOVA granule (bytes), to tell the captured kernel's size classes. */
  private readonly granule: number;
  private readonly release: (c: DmaCall) => void;
  /** Calls not yet released, in trace order but for the moves. */
  private readonly queue: DmaCall[] = [];
  /** Interrupt unmaps whose place is decided. */
  private readonly resolved = new Set<DmaCall>();

  /** `enabled` false: calls go out in trace order at once. */
  constructor(enabled: boolean, granule: number, release: (c: DmaCall) => void) {
    this.enabled = enabled;
    this.granule = granule;
    this.release = release;
  }

  /** Takes the next call in trace order. */
  push(c: DmaCall): void {
    // Disabled (lazy replays), nothing ever waits: the call goes out at once, as `drain` would send it.
    if (!this.enabled && this.queue.length === 0) {
      this.release(c);
      return;
    }
    this.queue.push(c);
    this.drain(false);
  }

  /** Releases every call whose place is decided (all of them when the trace has ended). */
  drain(all: boolean): void {
    const q = this.queue;
    while (q.length > 0) {
      const h = q[0];
      if (!this.enabled || !mayInterrupt(h) || this.resolved.has(h)) {
        q.shift();
        this.resolved.delete(h);
        this.release(h);
        continue;
      }
      // h opens an interrupt's run of unmaps on its CPU: find that CPU's next other call.
      const run: number[] = [];
      let j = -1;
      for (let i = 0; i < q.length; i++) {
        const x = q[i];
        if (x.cpu !== h.cpu) continue;
        if (mayInterrupt(x)) run.push(i);
        else {
          j = i;
          break;
        }
      }
      if (j < 0) {
        if (!all && q[q.length - 1].timestampNs - h.timestampNs <= IRQ_RUN_WAIT_NS) return;
        for (const i of run) this.resolved.add(q[i]);
        continue;
      }
      const x = q[j];
      const k =
        x.kind === "map" && !x.irq
          ? this.allocatedBefore(
              x,
              run.map((i) => q[i]),
            )
          : run.length;
      for (const i of run) this.resolved.add(q[i]);
      if (k < run.length) {
        const before = q[run[k]];
        q.splice(j, 1);
        q.splice(run[k], 0, x);
        // It ran before that unmap: replay it at the unmap's time, not later.
        this.applyAtNs.set(x, before.timestampNs);
        this.reordered++;
      }
    }
  }

  /**
   * Where in an interrupt's run of unmaps `run` (on `x`'s CPU, just before
   * it) map `x` allocated: the index of the first unmap it preceded, or
   * `run.length` (after them all, as traced). Only unmaps of `x`'s own task
   * (the interrupt stopped it between allocation and map) can follow its
   * allocation, and only after the last of them that freed part of its
   * range. Evidence that it came first is an unmap of its rcache size class
   * (captured kernel: `IOVA_RANGE_CACHE_MAX_SIZE` classes) whose IOVA it did
   * not take: strict frees go onto the top of that CPU's magazine, which the
   * next allocation of the class pops. An unmap of another class, or of an
   * uncached size (a tree free), says nothing, so the trace order stands.
   */
  private allocatedBefore(x: DmaCall, run: DmaCall[]): number {
    let k = run.length;
    while (k > 0 && run[k - 1].pid === x.pid) k--;
    for (let r = run.length - 1; r >= k; r--) {
      const u = run[r];
      if (u.iova < x.iova + x.sizeBytes && x.iova < u.iova + u.sizeBytes) {
        k = r + 1;
        break;
      }
    }
    const g = this.granule;
    const cls = capturedSizeClass(x.sizeBytes / g);
    if (cls < 0) return run.length;
    for (let r = k; r < run.length; r++) if (capturedSizeClass(run[r].sizeBytes / g) === cls) return k;
    return run.length;
  }
}

/**
 * Whether `c` is an unmap that came, or may have come, from an interrupt:
 * the flags column says so, or the trace has none (`trace-cmd report`
 * without `-l`, `perf script`). There the IOVAs alone decide
 * (`allocatedBefore`): in a strict trace a process-context unmap frees onto
 * the top of its CPU's magazine before its task's next allocation, which
 * then takes that IOVA, so a map of the unmap's class and task that takes
 * another allocated before the free, whichever context the unmap ran in.
 */
export function mayInterrupt(c: DmaCall): boolean {
  return c.kind === "unmap" && (c.irq || !c.irqKnown);
}

/** The rcache size class (`order_base_2`) of an allocation of `pages` in the captured kernel, or -1 for uncached sizes. */
function capturedSizeClass(pages: number): number {
  const c = orderBase2Small(pages);
  return c < DEFAULT_RCACHE_ORDERS ? c : -1;
}
