/**
 * Ageing fast-forward: a machine ages by simulated hours at the kernel
 * model's own speed, without the timed engine.
 *
 * The workload first settles in time (settle.ts: a recording made before
 * its stream is steady would age the machine as a young workload does). The
 * timed run then records the stream of DMA calls it makes through the seam
 * (dma-record.ts) for a while. A stretch of that stream which starts and ends
 * with as many live mappings (a cycle) is then issued again and again on the
 * kernel model alone: every `dma_map_sg()` and `dma_unmap_sg()` on the CPU
 * that made it, with the request's SG list, at its recorded time shifted by
 * whole cycles, so the flush-queue timers, the depot work and every other
 * piece of the kernel's clock fire as in the timed run; where each timer
 * runs, the kernel profile's timer policy decides from whether each call's
 * CPU was idle when the timed run made it (`idle-facts.ts`). Nothing is charged:
 * no CPU time, no lock, no invalidation queue (their figures are reset at the
 * end of the warm-up anyway).
 *
 * Requests live across the cycle's edge are paired: the k-th request mapped
 * before the cycle and unmapped in it takes the mapping of the k-th request
 * mapped in it and still live at its end (both in order), so each cycle
 * starts from the previous one's live mappings and the IOVA lifetimes keep
 * their order. Afterwards the live requests of the timed run hold the
 * mappings the last cycle made, and the kernel's clock stays ahead of the
 * engine's by the cycles run (`KernelDmaSeam.kernelOffsetNs`).
 *
 * docs/cost-model.md ("Ageing fast-forward") has the validation: after 10 s
 * of age, the timed run's figures lie within the noise of the fast-forward's
 * seeds (fast-forward.test.ts).
 */

import { assert } from "../stdx/assert.ts";
import { InputError } from "../stdx/errors.ts";
import type { Prng } from "../stdx/prng.ts";
import { DMA_MAP, type DmaCallRecorder } from "./dma-record.ts";
import { RecordedIdleFacts } from "./idle-facts.ts";
import { iovaSpan, type KernelDmaSeam } from "./seam.ts";

/** One cycle of a recorded stream, its requests numbered 0..slots-1. */
export interface DmaCycle {
  /** Index of the cycle's first call in the recording, and its calls. */
  first: number;
  calls: number;
  /** Engine time the cycle spans (from its first call to the end of the recording), ns. */
  spanNs: number;
  /** Per call: the request's slot. */
  slot: Int32Array;
  slots: number;
  /** Slots of the requests live before the cycle and unmapped in it, in unmap order... */
  carriedIn: Int32Array;
  /** ...and of those mapped in it and live at its end, in map order (paired one to one). */
  carriedOut: Int32Array;
  /** The request ids of `carriedOut` (live in the timed run at the end of the recording). */
  carriedOutIds: Float64Array;
}

/**
 * Finds the longest cycle of the recording: the earliest call before which as
 * many mappings were live as at the recording's end (`liveAtEnd`). Returns
 * null when no stretch of at least `minSpanNs` has that property.
 */
export function findCycle(rec: DmaCallRecorder, endNs: number, liveAtEnd: number, minSpanNs: number): DmaCycle | null {
  // Live mappings before each call, counted back from the end.
  let live = liveAtEnd;
  let first = -1;
  for (let i = rec.length - 1; i >= 0; i--) {
    live += rec.kind[i] === DMA_MAP ? -1 : 1;
    if (live === liveAtEnd && endNs - rec.timeNs[i] >= minSpanNs) first = i;
  }
  if (first < 0) return null;
  const slotOf = new Map<number, number>();
  const mappedIn = new Set<number>();
  const unmappedIn = new Set<number>();
  const calls = rec.length - first;
  const slot = new Int32Array(calls);
  const carriedIn: number[] = [];
  const out: number[] = [];
  for (let i = first; i < rec.length; i++) {
    const id = rec.requestId[i];
    let s = slotOf.get(id);
    if (s === undefined) {
      s = slotOf.size;
      slotOf.set(id, s);
    }
    slot[i - first] = s;
    if (rec.kind[i] === DMA_MAP) {
      assert(!mappedIn.has(id), "a request mapped twice in a recording");
      mappedIn.add(id);
    } else {
      unmappedIn.add(id);
      if (!mappedIn.has(id)) carriedIn.push(s);
    }
  }
  const outIds: number[] = [];
  for (const [id, s] of slotOf) {
    if (mappedIn.has(id) && !unmappedIn.has(id)) {
      out.push(s);
      outIds.push(id);
    }
  }
  // Equal live counts at both ends make the two sides the same size.
  assert(carriedIn.length === out.length, "a cycle's carried requests pair up");
  return {
    first,
    calls,
    spanNs: endNs - rec.timeNs[first],
    slot,
    slots: slotOf.size,
    carriedIn: Int32Array.from(carriedIn),
    carriedOut: Int32Array.from(out),
    carriedOutIds: Float64Array.from(outIds),
  };
}

/**
 * Issues `cycles` repetitions of `cycle` on the seam's kernel model, the
 * first starting `cycle.spanNs` after the recorded one, and moves the
 * kernel's clock ahead of the engine's by `cycles * cycle.spanNs`. The
 * engine's time must be the end of the recording.
 *
 * Each call keeps its CPU, its place and its time; each map's IOVA length is
 * drawn (with `prng`) from the lengths the recording's maps took. A stream
 * replayed as it was would repeat one window's pairs of CPU and size class
 * forever, while in time every CPU meets, now and then, every size the block
 * layer's merging makes — and the first map of a size class on a CPU pulls
 * a whole magazine from the depot onto it: that is how cached IOVAs pile up
 * over hours (docs/cost-model.md, "Ageing fast-forward").
 */
export function fastForward(
  seam: KernelDmaSeam,
  rec: DmaCallRecorder,
  cycle: DmaCycle,
  cycles: number,
  prng: Prng,
  onProgress?: (cyclesDone: number) => void,
): void {
  assert(Number.isSafeInteger(cycles) && cycles >= 0, "whole cycles");
  if (cycles === 0) return;
  const dma = seam.kernel.dma;
  const kernel = seam.kernel;
  const dev = seam.dev;
  const g = seam.cookie.iovad.granule;
  const lengths: number[] = [];
  for (let i = cycle.first; i < rec.length; i++) if (rec.kind[i] === DMA_MAP) lengths.push(rec.iovaBytes[i]);
  assert(lengths.length > 0, "a cycle maps");
  // Each live mapping as its IOVA and length in bytes: all an unmap needs.
  const iova = new Float64Array(cycle.slots);
  const bytes = new Float64Array(cycle.slots);
  // The requests live before the first cycle: those of the timed run live now.
  for (let j = 0; j < cycle.carriedIn.length; j++) {
    const m = seam.mappingOf(cycle.carriedOutIds[j]);
    assert(m !== undefined, "a carried request is live in the timed run");
    const [a, n] = iovaSpan(m, g);
    iova[cycle.carriedIn[j]] = a;
    bytes[cycle.carriedIn[j]] = n;
  }
  // No engine runs meanwhile: the timer policy reads whether each call's CPU was idle when the timed run made it.
  const fq = seam.cookie.fq;
  const timedFacts = fq?.facts;
  const facts = new RecordedIdleFacts(kernel.cpus);
  if (fq) fq.facts = facts;
  const base = seam.kernelOffsetNs;
  for (let k = 1; k <= cycles; k++) {
    const shift = base + k * cycle.spanNs;
    for (let i = 0; i < cycle.calls; i++) {
      const r = cycle.first + i;
      kernel.advanceTo(rec.timeNs[r] + shift);
      const s = cycle.slot[i];
      const cpu = rec.cpu[r];
      facts.call(cpu, rec.idle[r] === 1);
      if (rec.kind[r] === DMA_MAP) {
        // dma_map_sg and dma_map_page take the same path through iommu_dma_alloc_iova (DMA-5.2, 5.5).
        const n = lengths[prng.below(lengths.length)];
        const a = dma.mapPhys(dev, cpu, 0, n);
        if (a === null) {
          // The timed simulation sends such a request back to its queue; the fast-forward has no queue.
          throw new InputError(
            `fastForward: expected the device's DMA domain to map every call it replays, found a map of ${n} bytes failed (its IOVA space exhausted): run the warm-up timed (fastForward: false)`,
          );
        }
        iova[s] = a;
        bytes[s] = n;
      } else {
        assert(dma.unmapPhys(dev, cpu, iova[s], bytes[s]), "dma_unmap of a live mapping failed");
      }
    }
    for (let j = 0; j < cycle.carriedIn.length; j++) {
      iova[cycle.carriedIn[j]] = iova[cycle.carriedOut[j]];
      bytes[cycle.carriedIn[j]] = bytes[cycle.carriedOut[j]];
    }
    onProgress?.(k);
  }
  seam.kernelOffsetNs = base + cycles * cycle.spanNs;
  kernel.advanceTo(seam.kernelTimeNs);
  if (fq && timedFacts) fq.facts = timedFacts;
  // The timed run's live requests now hold the last cycle's mappings; their unmap
  // (dma_unmap_sg: from the first segment to the end of the last) frees exactly that span.
  for (let j = 0; j < cycle.carriedOut.length; j++) {
    const s = cycle.carriedOut[j];
    seam.setMapping(cycle.carriedOutIds[j], { nents: 1, segments: [{ dmaAddr: iova[s], length: bytes[s] }] });
  }
}
