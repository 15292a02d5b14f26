import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../stdx/prng.ts";
import { histogramBuckets, LatencyHistogram } from "./histogram.ts";

test("exact nearest-rank percentiles on a small run", () => {
  const h = new LatencyHistogram();
  // 1..100 shuffled: p50 is the 50th smallest = 50, p99 the 99th = 99, p100 = 100.
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  const rng = new Prng(5);
  for (let i = values.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    [values[i], values[j]] = [values[j], values[i]];
  }
  for (const v of values) h.record(v * 1000);
  assert.equal(h.quantile(0.5), 50_000);
  assert.equal(h.quantile(0.99), 99_000);
  assert.equal(h.quantile(1), 100_000);
  assert.equal(h.meanNs(), 50_500);
  h.verifyInvariants();
});

test("beyond the exact limit, buckets answer within 1/1024 below the true value", () => {
  const h = new LatencyHistogram(0);
  // Ten samples of 3 ns and ninety of 1_000_003 ns: p50 is in the big group.
  for (let i = 0; i < 10; i++) h.record(3);
  for (let i = 0; i < 90; i++) h.record(1_000_003);
  assert.equal(h.exact, false);
  assert.equal(h.quantile(0.05), 3); // values below 2048 are their own bucket
  const p50 = h.quantile(0.5);
  assert.ok(p50 <= 1_000_003 && p50 > 1_000_003 * (1 - 1 / 1024), `p50 ${p50}`);
  h.verifyInvariants();
});

test("bucket boundaries: exact below 2048, then each bucket's lowest value maps back to it", () => {
  const { bucketOf, lowestOf } = histogramBuckets;
  assert.equal(bucketOf(2047), 2047);
  assert.equal(bucketOf(2048), 2048);
  assert.equal(bucketOf(2049), 2048); // width 2 from 2048 on
  assert.equal(bucketOf(2050), 2049);
  assert.equal(bucketOf(4096), 2048 + 1024); // width 4 from 4096 on
  const rng = new Prng(9);
  for (let i = 0; i < 10_000; i++) {
    const v = rng.nextU32() * 2 ** rng.below(21) + rng.below(1000);
    const b = bucketOf(v);
    const lo = lowestOf(b);
    assert.ok(lo <= v, `lowest ${lo} above ${v}`);
    assert.equal(bucketOf(lo), b);
    assert.ok(v - lo <= v / 1024, `bucket too wide at ${v}`);
  }
});

test("exact percentiles sort only the bucket they land in: the same as sorting every sample", () => {
  const rng = new Prng(21);
  for (let round = 0; round < 20; round++) {
    const h = new LatencyHistogram();
    const values: number[] = [];
    const n = 1 + rng.below(3000);
    // Small values (their own buckets), values that share wide buckets, and a long tail.
    for (let i = 0; i < n; i++) {
      const kind = rng.below(3);
      const v = kind === 0 ? rng.below(2048) : kind === 1 ? 5000 + rng.below(40) : rng.below(1 << 24);
      values.push(v);
      h.record(v);
    }
    const sorted = [...values].sort((a, b) => a - b);
    for (const q of [0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1]) {
      assert.equal(h.quantile(q), sorted[Math.ceil(q * n) - 1], `round ${round} n ${n} q ${q}`);
    }
    h.verifyInvariants();
  }
});
