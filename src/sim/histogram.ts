/**
 * Latency histograms over integer nanoseconds. Every sample goes into
 * log-linear buckets in the style of HdrHistogram: values below 2^SUB_BITS are
 * exact, above that each power of two is split into 2^(SUB_BITS-1) buckets, so a
 * bucket's width is under 1/1024 of its value. In runs of up to `exactLimit`
 * samples, percentiles are exact (nearest rank): the samples of the wider
 * buckets (2048 ns and more) are also kept raw, and a percentile that lands in
 * one sorts only that bucket's samples, not the whole run. Larger runs report
 * the bucket's lowest value.
 */

import { F64_ZERO } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";

const SUB_BITS = 11;
const SUB_COUNT = 1 << SUB_BITS; // 2048 exact values, then 1024 buckets per power of two
const HALF = SUB_COUNT >> 1;
/** Values up to 2^53 fit: 2048 + (53 - 11) * 1024 buckets. */
const BUCKETS = SUB_COUNT + (53 - SUB_BITS + 1) * HALF;

function bucketOf(v: number): number {
  if (v < SUB_COUNT) return v;
  // e = floor(log2 v) - (SUB_BITS - 1): how far v must be shifted to land in [HALF, SUB_COUNT).
  if (v < 2 ** 32) {
    // Below 2^32 (4.3 s) an unsigned shift is the same floor(v / 2^e), without a power computed per sample.
    const e1 = 31 - Math.clz32(v) - (SUB_BITS - 1);
    return SUB_COUNT + (e1 - 1) * HALF + ((v >>> e1) - HALF);
  }
  let e = 0;
  let x = v;
  while (x >= 2 ** 32) {
    x = Math.floor(x / 2 ** 21);
    e += 21;
  }
  e += 31 - Math.clz32(x) - (SUB_BITS - 1);
  const top = Math.floor(v / 2 ** e); // in [HALF, SUB_COUNT)
  return SUB_COUNT + (e - 1) * HALF + (top - HALF);
}

function lowestOf(bucket: number): number {
  if (bucket < SUB_COUNT) return bucket;
  const e = Math.floor((bucket - SUB_COUNT) / HALF) + 1;
  const top = ((bucket - SUB_COUNT) % HALF) + HALF;
  return top * 2 ** e;
}

export class LatencyHistogram {
  count = 0;
  sumNs = F64_ZERO;
  minNs = Number.POSITIVE_INFINITY;
  maxNs = F64_ZERO;
  private readonly counts = new Float64Array(BUCKETS);
  /** The samples of 2048 ns and more among the first `exactLimit` (smaller ones are their own bucket). */
  private raw: Float64Array;
  private rawCount = 0;

  readonly exactLimit: number;

  constructor(exactLimit = 1 << 20) {
    this.exactLimit = exactLimit;
    assert(Number.isSafeInteger(exactLimit) && exactLimit >= 0, "exactLimit");
    this.raw = new Float64Array(Math.min(exactLimit, 1024));
  }

  record(ns: number): void {
    assert(Number.isSafeInteger(ns) && ns >= 0, "latency must be a non-negative integer ns");
    this.counts[bucketOf(ns)]++;
    this.count++;
    this.sumNs += ns;
    if (ns < this.minNs) this.minNs = ns;
    if (ns > this.maxNs) this.maxNs = ns;
    if (ns >= SUB_COUNT && this.count <= this.exactLimit) {
      if (this.rawCount === this.raw.length) {
        const bigger = new Float64Array(Math.min(this.exactLimit, this.raw.length * 2));
        bigger.set(this.raw);
        this.raw = bigger;
      }
      this.raw[this.rawCount++] = ns;
    }
  }

  /** True while every sample is kept, so percentiles are exact. */
  get exact(): boolean {
    return this.count <= this.exactLimit;
  }

  /** Nearest-rank percentile, q in (0, 1]: the smallest value with at least q of the samples at or below it. */
  quantile(q: number): number {
    assert(q > 0 && q <= 1, "quantile must be in (0, 1]");
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const n = this.counts[b];
      if (seen + n < rank) {
        seen += n;
        continue;
      }
      // Below 2048 a bucket holds one value; a wider one, exact, is its own raw samples' (rank - seen)th.
      if (b < SUB_COUNT || !this.exact) return Math.max(lowestOf(b), this.minNs);
      return this.nthInBucket(b, rank - seen);
    }
    return this.maxNs;
  }

  /** The `nth` smallest (1-based) of the raw samples in bucket `b`. */
  private nthInBucket(b: number, nth: number): number {
    const lo = lowestOf(b);
    const hi = lowestOf(b + 1);
    const inBucket = new Float64Array(this.counts[b]);
    let k = 0;
    for (let i = 0; i < this.rawCount; i++) {
      const v = this.raw[i];
      if (v >= lo && v < hi) inBucket[k++] = v;
    }
    assert(k === inBucket.length, "raw samples and bucket counts disagree");
    return inBucket.sort()[nth - 1];
  }

  meanNs(): number {
    return this.count === 0 ? 0 : this.sumNs / this.count;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sumNs = 0;
    this.minNs = Number.POSITIVE_INFINITY;
    this.maxNs = 0;
    this.rawCount = 0;
  }

  verifyInvariants(): void {
    let total = 0;
    for (let b = 0; b < BUCKETS; b++) total += this.counts[b];
    assert(total === this.count, "histogram bucket counts do not add up");
    let wide = 0;
    for (let b = SUB_COUNT; b < BUCKETS; b++) wide += this.counts[b];
    if (this.exact) assert(this.rawCount === wide, "histogram raw sample count");
    else assert(this.rawCount <= wide, "histogram raw sample count");
  }
}

/** @internal For tests: the bucket index and its lowest value. */
export const histogramBuckets = { bucketOf, lowestOf };
