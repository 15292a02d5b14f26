/**
 * What a trace itself shows about the machine and kernel that produced it,
 * gathered from its first events so that a replay can default to them
 * (issue 13 part 3):
 *
 * - `dma:*` events exist from Linux 6.12 on (include/trace/events/dma.h,
 *   merged for v6.12), so a trace that has them comes from 6.12 or later;
 * - the flush-queue timer (`timer_start` / `timer_expire_entry` of
 *   `fq_flush_timeout`, counted by the reader) runs only in lazy mode;
 * - without timer events, the IOVAs tell: in strict mode `__iommu_dma_unmap`
 *   frees the IOVA at once into the unmapping CPU's rcache, which hands it
 *   out last-in first-out, so that CPU's next allocation usually gets the
 *   very IOVA it just unmapped (99 % of 4 KiB reads, 20-27 % with mixed
 *   sizes on the traces of this machine); in lazy mode the IOVA waits in the
 *   flush queue for the next flush (10 ms), so that almost never happens
 *   (below 1.5 % on every lazy trace);
 * - the devices of `dma:*` events and of `add_device_to_group`, the CPUs, and
 *   boot-time identity maps (a map of 1 MiB or more with IOVA = physical
 *   address: a direct reserved region).
 */

import type { TraceEvent } from "./events.ts";

/** Next allocations after an unmap on the same CPU needed before the reuse rate decides strict or lazy. */
export const REUSE_PAIRS_NEEDED = 100;
/** Reuse rates at or below this are lazy, at or above `STRICT_REUSE` strict; between: undecided. */
export const LAZY_REUSE = 0.05;
export const STRICT_REUSE = 0.1;
const DIRECT_MIN_BYTES = 1 << 20;

export class TraceFacts {
  events = 0;
  /** `dma:*` events seen. */
  dmaEvents = 0;
  /** Devices of `dma:*` events, with their event counts, in order of appearance. */
  readonly devices = new Map<string, number>();
  /** Highest CPU number seen (-1: none). */
  maxCpu = -1;
  /** Highest byte of any mapping seen. */
  maxIova = 0;
  /** Boot-time identity maps (iova = paddr, 1 MiB or more). */
  readonly directMaps: { start: number; end: number /** Events before it and it. */; event: number }[] = [];
  /** Maps that followed an unmap on their CPU, and of these the ones at the unmapped IOVA. */
  reusePairs = 0;
  reuseSame = 0;
  private readonly lastUnmap: number[] = [];

  observe(e: TraceEvent): void {
    this.events++;
    if (e.cpu > this.maxCpu) this.maxCpu = e.cpu;
    switch (e.type) {
      case "iommu_map": {
        if (e.iova + e.size > this.maxIova) this.maxIova = e.iova + e.size;
        if (e.iova === e.paddr && e.size >= DIRECT_MIN_BYTES)
          this.directMaps.push({ start: e.iova, end: e.iova + e.size, event: this.events });
        const u = this.lastUnmap[e.cpu];
        if (u !== undefined && u >= 0) {
          this.reusePairs++;
          if (u === e.iova) this.reuseSame++;
          this.lastUnmap[e.cpu] = -1;
        }
        break;
      }
      case "iommu_unmap":
        this.lastUnmap[e.cpu] = e.iova;
        break;
      default:
        if ("device" in e) {
          this.dmaEvents++;
          this.devices.set(e.device, (this.devices.get(e.device) ?? 0) + 1);
        }
    }
  }

  /** The kernel profile the trace implies: `mainline` when it has `dma:*` events, else null (unknown). */
  kernel(): "mainline" | null {
    return this.dmaEvents > 0 ? "mainline" : null;
  }

  /**
   * How the trace was captured, where it shows it: `lazy` when it has
   * flush-queue timer events (`fqTimerEvents`, from the reader) or almost no
   * immediate reuse, `strict` on frequent immediate reuse, else null.
   */
  capture(fqTimerEvents: number): { mode: "strict" | "lazy"; why: string } | null {
    if (fqTimerEvents > 0) return { mode: "lazy", why: `${fqTimerEvents} flush-queue timer events (fq_flush_timeout)` };
    if (this.reusePairs < REUSE_PAIRS_NEEDED) return null;
    const rate = this.reuseSame / this.reusePairs;
    const how = `${this.reuseSame} of ${this.reusePairs} allocations after an unmap on their CPU took the IOVA just unmapped`;
    if (rate <= LAZY_REUSE) return { mode: "lazy", why: `${how} (IOVAs wait for a flush)` };
    if (rate >= STRICT_REUSE) return { mode: "strict", why: `${how} (freed at once)` };
    return null;
  }

  /** The device with the most `dma:*` events (the one doing the traced I/O), or null. */
  busiestDevice(): string | null {
    let best: string | null = null;
    let n = 0;
    for (const [d, c] of this.devices) {
      if (c > n) {
        best = d;
        n = c;
      }
    }
    return best;
  }
}
