/**
 * When a workload's stream of DMA calls has settled: the test a fast-forward
 * (fast-forward.ts) waits for before it repeats a recording of the stream.
 *
 * A fast-forward repeats what the workload does at the engine's age, while
 * the kernel ages far beyond it, so the stream it repeats must be the one an
 * old machine sees. The workload has its own start-up, independent of the
 * kernel: the seed's job (128 fio threads reading sequentially through one
 * HBA) starts with mostly 128 KiB and larger merged requests, and only
 * after about a second does the mix start to move; between 1 and 4 s
 * of simulated time the share of maps below 128 KiB grows from under 3% to
 * about a third, and then stays there (docs/cost-model.md, "Ageing
 * fast-forward"). The same drift shows with the range raised (tree walks of
 * one step) and in lazy mode: it is the workload's, not the allocator's.
 * Small sizes are what fill the small size classes' caches, so a stream
 * recorded before the drift ages those caches several times more slowly.
 *
 * The test: the mix of map sizes (maps per IOVA size class) over the last
 * `spanWindows` windows is within `maxDistance` (total variation distance)
 * of the mix over as many windows `lagWindows` earlier, once at least
 * `minWindows` windows have run — the minimum keeps the quiet start-up,
 * whose mix does not move yet, from passing for a settled stream.
 */

import { assert } from "../stdx/assert.ts";

export interface SettleRule {
  /** Windows run before the test is tried. */
  minWindows: number;
  /** Windows each mix is summed over. */
  spanWindows: number;
  /** How many windows before the last span the earlier span ends. */
  lagWindows: number;
  /** Largest total variation distance between the two mixes that counts as settled. */
  maxDistance: number;
}

/** Windows of 250 ms: 2 s at least; the last 500 ms against the 500 ms ending 1 s before; 5%. */
export const SEED_SETTLE_RULE: SettleRule = { minWindows: 8, spanWindows: 2, lagWindows: 2, maxDistance: 0.05 };

/** Counts of maps per size class in successive windows of a stream. */
export class StreamMix {
  readonly classes: number;
  private readonly windows: Float64Array[] = [];

  constructor(classes: number) {
    assert(Number.isInteger(classes) && classes >= 1, "at least one size class");
    this.classes = classes;
  }

  /** One window's maps by size class (a copy is kept). */
  push(mapsByClass: ArrayLike<number>): void {
    assert(mapsByClass.length === this.classes, "one count per size class");
    this.windows.push(Float64Array.from(mapsByClass));
  }

  get length(): number {
    return this.windows.length;
  }

  /** Total variation distance between the mixes of windows [a, b) and [c, d); 1 when either has no map. */
  distance(a: number, b: number, c: number, d: number): number {
    const x = this.sum(a, b);
    const y = this.sum(c, d);
    const nx = x.reduce((s, v) => s + v, 0);
    const ny = y.reduce((s, v) => s + v, 0);
    if (nx === 0 || ny === 0) return 1;
    let tv = 0;
    for (let k = 0; k < this.classes; k++) tv += Math.abs(x[k] / nx - y[k] / ny);
    return tv / 2;
  }

  /** Whether the stream has settled under `rule` (see the file's header). */
  settled(rule: SettleRule): boolean {
    const n = this.windows.length;
    const { minWindows, spanWindows: w, lagWindows: lag } = rule;
    if (n < minWindows || n < 2 * w + lag) return false;
    return this.distance(n - w, n, n - 2 * w - lag, n - w - lag) <= rule.maxDistance;
  }

  private sum(from: number, to: number): Float64Array {
    assert(0 <= from && from < to && to <= this.windows.length, "a span of recorded windows");
    const s = new Float64Array(this.classes);
    for (let i = from; i < to; i++) for (let k = 0; k < this.classes; k++) s[k] += this.windows[i][k];
    return s;
  }
}
