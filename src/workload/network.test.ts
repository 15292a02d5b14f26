import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BULK_1500,
  NETWORK_DEFAULTS,
  type NetDmaOp,
  type NetworkOptions,
  networkOps,
  RxRing,
  TSO_64K,
  TxRing,
} from "./network.ts";

function opts(over: Partial<NetworkOptions>): NetworkOptions {
  return { ...NETWORK_DEFAULTS, seed: 1, packets: 1000, ...over };
}

test("RX ring by hand: fill, receive, refill after a batch", () => {
  // 4 descriptors of 2048 bytes, refill when 2 are empty.
  const ring = new RxRing(4, 2048, 2);
  const out: NetDmaOp[] = [];
  let id = 0;
  const newId = () => id++;
  ring.refill(out, newId);
  assert.deepEqual(
    out.map((o) => `${o.kind}${o.id}`),
    ["map0", "map1", "map2", "map3"],
  );
  out.length = 0;
  ring.receive(60, out, newId); // one descriptor: unmap 0; one empty, no refill yet
  ring.verifyInvariants();
  ring.receive(3000, out, newId); // two descriptors: unmap 1 and 2; three empty -> refill all three
  ring.verifyInvariants();
  assert.deepEqual(
    out.map((o) => `${o.kind}${o.id}`),
    ["unmap0", "unmap1", "unmap2", "map4", "map5", "map6"],
  );
  assert.equal(ring.emptyDescriptors, 0);
});

test("TX ring by hand: a 9000-byte send maps its head and three page fragments; clean unmaps them", () => {
  const ring = new TxRing(8, 256);
  const out: NetDmaOp[] = [];
  let id = 0;
  ring.send(9000, out, () => id++);
  // 256 head + 8744 rest = 4096 + 4096 + 552.
  assert.deepEqual(
    out.map((o) => o.bytes),
    [256, 4096, 4096, 552],
  );
  out.length = 0;
  assert.equal(ring.clean(5, out), 1);
  assert.deepEqual(
    out.map((o) => `${o.kind}${o.id}`),
    ["unmap0", "unmap1", "unmap2", "unmap3"],
  );
});

test("every map has exactly one unmap of the same size, and ids are never reused", () => {
  for (const mix of [BULK_1500, TSO_64K]) {
    const live = new Map<number, number>();
    const seen = new Set<number>();
    let maps = 0;
    for (const op of networkOps(opts({ mix, packets: 3000, rxRingSize: 64, rxBufferBytes: 2048 }))) {
      if (op.kind === "map") {
        assert.ok(!seen.has(op.id), `id ${op.id} reused`);
        seen.add(op.id);
        live.set(op.id, op.bytes);
        maps++;
      } else {
        assert.equal(live.get(op.id), op.bytes, `unmap of ${op.id} with another size`);
        live.delete(op.id);
      }
    }
    assert.equal(live.size, 0);
    assert.ok(maps > 3000);
  }
});

test("the TX ring never holds more than its size, and the same seed gives the same stream", () => {
  const o = opts({ rxPerMille: 0, txRingSize: 16, txCompletionLag: 8, txCleanBatch: 4, packets: 500 });
  let inFlight = 0;
  let max = 0;
  const packets = new Map<number, number>();
  for (const op of networkOps(o)) {
    if (op.kind === "map" && op.bytes <= o.txHeadBytes) {
      inFlight++; // each packet's first mapping is its head
      packets.set(op.id, 1);
    }
    if (op.kind === "unmap" && packets.has(op.id)) inFlight--;
    max = Math.max(max, inFlight);
  }
  // Before each send, more than 8 in flight triggers a clean of 4: a send starts from at most 8, so 9 at most.
  assert.equal(max, 9);
  const a = JSON.stringify([...networkOps(opts({ seed: 9 }))]);
  const b = JSON.stringify([...networkOps(opts({ seed: 9 }))]);
  assert.equal(a, b);
  assert.notEqual(a, JSON.stringify([...networkOps(opts({ seed: 10 }))]));
});

test("bad network options are input errors", () => {
  assert.throws(() => [...networkOps(opts({ mix: [] }))], /expected a packet mix/);
  assert.throws(() => [...networkOps(opts({ rxRefillBatch: 0 }))], /refill batch/);
  // A 9000-byte frame needs 5 descriptors of 2048: a ring of 4 cannot hold it.
  assert.throws(
    () => [...networkOps(opts({ mix: [{ bytes: 9000, weight: 1 }], rxRingSize: 4, rxRefillBatch: 1 }))],
    /largest packet/,
  );
  assert.throws(() => [...networkOps(opts({ txCompletionLag: 256 }))], /completion lag/);
});
