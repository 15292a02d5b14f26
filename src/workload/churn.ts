/**
 * A seeded churn of DMA-like mappings, generated in the program: sizes from
 * 4 KiB to 512 KiB, issued and completed on many CPUs, each mapping named by
 * its allocation number (never by pfn, since placements change with settings).
 * It drives the allocator as dma-iommu does (`alloc_iova_fast` /
 * `free_iova_fast` with the DMA-API round-up), so the same churn can be run
 * under any rcache range and any kernel profile and compared.
 */

import { Prng } from "../stdx/prng.ts";

export interface ChurnOptions {
  seed: number;
  cpus: number;
  /** Mappings to make. */
  mappings: number;
  /** Mappings in flight at most (like a queue depth summed over CPUs). */
  inFlight: number;
}

/** One step: map allocation `id` of `bytes` on `cpu`, or unmap it there. */
export interface ChurnStep {
  kind: "map" | "unmap";
  id: number;
  bytes: number;
  cpu: number;
}

/** Request sizes in bytes and their weights: small control and 4 KiB I/O, merged reads up to 512 KiB. */
const SIZES: readonly [number, number][] = [
  [4096, 30],
  [8192, 10],
  [16384, 10],
  [32768, 8],
  [65536, 10],
  [131072, 10],
  [262144, 10],
  [393216, 4],
  [507904, 4],
  [524288, 4],
];

export function* churn(opts: ChurnOptions): Generator<ChurnStep> {
  const rng = new Prng(opts.seed);
  const totalWeight = SIZES.reduce((s, [, w]) => s + w, 0);
  const pickSize = (): number => {
    let r = rng.below(totalWeight);
    for (const [bytes, w] of SIZES) {
      if (r < w) return bytes;
      r -= w;
    }
    return SIZES[0][0];
  };
  const live: { id: number; bytes: number; cpu: number }[] = [];
  let next = 0;
  while (next < opts.mappings || live.length > 0) {
    const canMap = next < opts.mappings && live.length < opts.inFlight;
    if (canMap && (live.length === 0 || rng.below(2) === 0)) {
      const m = { id: next++, bytes: pickSize(), cpu: rng.below(opts.cpus) };
      live.push(m);
      yield { kind: "map", ...m };
    } else {
      // Completions come mostly in order, as a device's queue drains, and
      // half the time on another CPU than the one that mapped (IRQ affinity).
      const i = rng.below(Math.min(live.length, 8));
      const m = live[i];
      live.splice(i, 1);
      const cpu = rng.below(2) === 0 ? m.cpu : rng.below(opts.cpus);
      yield { kind: "unmap", id: m.id, bytes: m.bytes, cpu };
    }
  }
}
