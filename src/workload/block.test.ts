import assert from "node:assert/strict";
import { test } from "node:test";
import { BlockQueue, bioForBuffer, HISI_SAS_V3_LIMITS, MERGE_SCAN_MAX, type QueueLimits } from "./block.ts";

const KiB = 1024;

test("4 KiB sequential reads queued at depth 128 on the seed's HBA merge into 496 KiB requests", () => {
  // The device is busy, so all 128 bios wait in the software queue. Each 4 KiB page is one segment;
  // the SG list holds 124, so the first request takes bios 0..123 (124 * 4 KiB = 496 KiB = 507904 bytes,
  // below max_sectors' 512 KiB) and the last 4 bios start a second request.
  const q = new BlockQueue(HISI_SAS_V3_LIMITS);
  for (let i = 0; i < 128; i++) q.submit(bioForBuffer(i, i * 4 * KiB, 4 * KiB, false));
  q.verifyInvariants();
  const a = q.dispatch();
  const b = q.dispatch();
  assert.equal(q.dispatch(), null);
  assert.ok(a !== null && b !== null);
  assert.equal(a.bytes, 507904);
  assert.equal(a.segments.length, 124);
  assert.ok(a.segments.every((s) => s === 4096));
  assert.deepEqual(
    a.bioTags,
    Array.from({ length: 124 }, (_, i) => i),
  );
  assert.equal(b.offset, 124 * 4 * KiB);
  assert.equal(b.bytes, 16 * KiB);
  assert.deepEqual(b.bioTags, [124, 125, 126, 127]);
  // Every bio but the first of each request merged: 123 + 3.
  assert.equal(q.stats.backMerges, 123 + 3);
  assert.equal(q.stats.requests, 2);
});

test("with a longer SG list, max_sectors (512 KiB) ends the merge instead", () => {
  const q = new BlockQueue({ ...HISI_SAS_V3_LIMITS, maxSegments: 256 });
  for (let i = 0; i < 300; i++) q.submit(bioForBuffer(i, i * 4 * KiB, 4 * KiB, false));
  // 1024 sectors = 512 KiB = 128 pages per request: 128 + 128 + 44.
  const sizes: number[] = [];
  for (let rq = q.dispatch(); rq !== null; rq = q.dispatch()) sizes.push(rq.bytes / (4 * KiB));
  assert.deepEqual(sizes, [128, 128, 44]);
});

test("dispatching as fast as bios arrive leaves nothing to merge", () => {
  const q = new BlockQueue(HISI_SAS_V3_LIMITS);
  const sizes: number[] = [];
  for (let i = 0; i < 10; i++) {
    q.submit(bioForBuffer(i, i * 4 * KiB, 4 * KiB, false));
    sizes.push((q.dispatch() as { bytes: number }).bytes);
  }
  assert.deepEqual(sizes, Array(10).fill(4 * KiB));
  assert.equal(q.stats.backMerges, 0);
});

test(`only the ${MERGE_SCAN_MAX} newest waiting requests are tried: 8 interleaved streams merge, 9 do not`, () => {
  // Streams k = 0..n-1 read sequentially in regions 1 GiB apart, one bio each in turn.
  // With n = 8, stream k's request is always among the 8 newest: after the first round every bio merges.
  // With n = 9, stream k's request sits 9th from the tail when its next bio comes: no merge, ever.
  for (const [streams, expectRequests] of [
    [8, 8],
    [9, 9 * 10],
  ]) {
    const q = new BlockQueue(HISI_SAS_V3_LIMITS);
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < streams; k++) q.submit(bioForBuffer(k, k * 2 ** 30 + round * 4 * KiB, 4 * KiB, false));
    }
    assert.equal(q.stats.requests, expectRequests, `${streams} streams`);
  }
});

test("front merges, and no merge across reads and writes", () => {
  const q = new BlockQueue(HISI_SAS_V3_LIMITS);
  q.submit(bioForBuffer(1, 8 * KiB, 4 * KiB, false));
  q.submit(bioForBuffer(0, 4 * KiB, 4 * KiB, false)); // precedes: front merge
  q.submit(bioForBuffer(2, 12 * KiB, 4 * KiB, true)); // a write after a read: its own request
  assert.equal(q.stats.frontMerges, 1);
  const a = q.dispatch();
  assert.deepEqual([a?.offset, a?.bytes, a?.bioTags], [4 * KiB, 8 * KiB, [0, 1]]);
  const b = q.dispatch();
  assert.deepEqual([b?.write, b?.bioTags], [true, [2]]);
});

test("a 1 MiB bio is split to the limits: 496 KiB, 496 KiB, 32 KiB", () => {
  const q = new BlockQueue(HISI_SAS_V3_LIMITS);
  q.submit(bioForBuffer(7, 0, 1024 * KiB, false));
  // 256 pages; 124 segments per piece: 124 + 124 + 8 pages. The pieces are contiguous but cannot
  // merge back (each is full), so three requests, all carrying the same bio.
  const pieces: [number, number][] = [];
  for (let rq = q.dispatch(); rq !== null; rq = q.dispatch()) pieces.push([rq.offset / KiB, rq.bytes / KiB]);
  assert.deepEqual(pieces, [
    [0, 496],
    [496, 496],
    [992, 32],
  ]);
  assert.equal(q.stats.splits, 2);
});

test("segments above max_segment_size become several SG entries; a cut at max_sectors stays block-aligned", () => {
  const limits: QueueLimits = { maxSectors: 1024, maxSegments: 124, maxSegmentBytes: 64 * KiB, logicalBlockBytes: 512 };
  const q = new BlockQueue(limits);
  // One physically contiguous 1 MiB segment (a hugepage buffer): 16 entries of 64 KiB, 8 per 512 KiB request.
  q.submit({ tag: 1, offset: 0, bytes: 1024 * KiB, write: false, segments: [1024 * KiB] });
  const a = q.dispatch();
  const b = q.dispatch();
  assert.deepEqual(a?.segments, Array(8).fill(64 * KiB));
  assert.deepEqual(b?.segments, Array(8).fill(64 * KiB));
  assert.equal(q.dispatch(), null);
});

test("a plug merges only into its last request, then joins the queue in order", () => {
  const q = new BlockQueue(HISI_SAS_V3_LIMITS);
  q.startPlug();
  q.submit(bioForBuffer(0, 0, 4 * KiB, false));
  q.submit(bioForBuffer(1, 4 * KiB, 4 * KiB, false)); // merges with the last
  q.submit(bioForBuffer(2, 1 << 20, 4 * KiB, false)); // elsewhere: new request
  q.submit(bioForBuffer(3, 8 * KiB, 4 * KiB, false)); // continues request 0, but only the last is tried
  assert.equal(q.waitingRequests, 0);
  q.finishPlug();
  assert.equal(q.stats.plugMerges, 1);
  assert.deepEqual(
    [q.dispatch(), q.dispatch(), q.dispatch()].map((r) => r?.bioTags),
    [[0, 1], [2], [3]],
  );
});

test("bad queue limits are input errors", () => {
  assert.throws(() => new BlockQueue({ ...HISI_SAS_V3_LIMITS, maxSegments: 0 }), /expected max_segments of at least 1/);
  assert.throws(() => new BlockQueue({ ...HISI_SAS_V3_LIMITS, logicalBlockBytes: 520 }), /logical block size/);
});
