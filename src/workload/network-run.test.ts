import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultCostModel } from "../sim/cost.ts";
import { Cpu } from "../sim/cpu.ts";
import { Engine } from "../sim/engine.ts";
import type { DmaSeam } from "./fio-run.ts";
import { BULK_1500, NETWORK_DEFAULTS, type NetworkOptions } from "./network.ts";
import { NetworkRun } from "./network-run.ts";

/** A seam that charges nothing and checks that every unmap is of a live mapping of the same size. */
function countingSeam() {
  const live = new Map<number, number>();
  const seam: DmaSeam & { maps: number; unmaps: number; live: Map<number, number> } = {
    maps: 0,
    unmaps: 0,
    live,
    map: (_c, _d, segs, id) => {
      assert.ok(!live.has(id), `map of live id ${id}`);
      live.set(id, segs[0]);
      seam.maps++;
      return true;
    },
    unmap: (_c, _d, segs, id) => {
      assert.equal(live.get(id), segs[0], `unmap of ${id}`);
      live.delete(id);
      seam.unmaps++;
    },
  };
  return seam;
}

function setUp(net: Partial<Omit<NetworkOptions, "seed" | "packets">>, lineRateBitsPerSec: number) {
  const engine = new Engine({ seed: 1, checkEveryEvents: 50 });
  const cpus = [new Cpu(engine, 0)];
  const dma = countingSeam();
  const run = new NetworkRun({
    engine,
    cpus,
    net: { ...NETWORK_DEFAULTS, ...net },
    packetsPerSecPerQueue: 100_000, // one packet every 10 µs
    lineRateBitsPerSec,
    cost: defaultCostModel(),
    dma,
    device: 0,
  });
  engine.register({ name: "net", verifyInvariants: () => run.verifyInvariants() });
  return { engine, run, dma };
}

test("TX only, by hand: 100 full frames in 1 ms, two maps each, all cleaned", () => {
  const { engine, run, dma } = setUp({ mix: BULK_1500, rxPerMille: 0, txHeadBytes: 256 }, 10e9);
  // Arrivals at 10, 20, ..., 1000 µs: 100 packets. A 1518-byte frame is 256 head + 1262 rest: two
  // maps. Its wire time at 10 Gb/s is (1518 + 20) * 8 / 10 = 1230.4 -> 1231 ns, far below 10 µs, so
  // each frame leaves alone and its queue goes idle: one clean interrupt per frame.
  engine.run(1_005_000);
  assert.equal(run.stats.txPackets, 100);
  assert.equal(run.stats.rxPackets, 0);
  assert.equal(run.stats.txDropped, 0);
  assert.equal(dma.maps, 200);
  assert.equal(dma.unmaps, 200);
  assert.equal(dma.live.size, 0);
  assert.equal(run.stats.bytes, 100 * 1518);
  assert.equal(run.nic.bytesSent, 100 * 1518);
  // Latency: at least the wire time, plus the driver's CPU work before it.
  assert.ok(run.stats.txLatencyNs.quantile(0.5) >= 1231);
});

test("RX only, by hand: the ring is filled once, then refilled in batches of 4", () => {
  const { engine, run, dma } = setUp(
    { mix: [{ bytes: 64, weight: 1 }], rxPerMille: 1000, rxRingSize: 8, rxRefillBatch: 4 },
    10e9,
  );
  engine.run(1_005_000);
  // 8 maps at open; 100 packets of one descriptor each: 100 unmaps, and every 4th empties a batch of 4.
  assert.equal(run.stats.rxPackets, 100);
  assert.equal(dma.unmaps, 100);
  assert.equal(dma.maps, 8 + 4 * 25);
  assert.equal(dma.live.size, 8);
  assert.equal(run.stats.txPackets, 0);
});

test("a slow wire fills the TX ring: the rest of the packets are dropped, nothing is unmapped", () => {
  // 1 Mb/s: a 1518-byte frame takes 12.3 ms, so none leaves in the first millisecond.
  const { engine, run, dma } = setUp({ mix: BULK_1500, rxPerMille: 0, txRingSize: 2, txCompletionLag: 0 }, 1e6);
  engine.run(1_005_000);
  assert.equal(run.stats.txDropped, 98);
  assert.equal(run.stats.txPackets, 0);
  assert.equal(dma.maps, 4);
  assert.equal(dma.unmaps, 0);
});

test("an RX unmap slower than the packet interval: the NIC drops, and the sender still gets its turns (NAPI, ksoftirqd)", () => {
  // Each unmap costs 30 µs (a strict unmap behind a contended invalidation lock), packets come every
  // 10 µs, half of them received: the RX path alone needs 150% of the CPU. Before NAPI was modelled,
  // every received packet queued an interrupt, interrupts always ran before threads, and the sender
  // never ran: no frame was sent and the TX map latency had no sample.
  const engine = new Engine({ seed: 1, checkEveryEvents: 50 });
  const cpus = [new Cpu(engine, 0)];
  const inner = countingSeam();
  const dma: DmaSeam = {
    map: inner.map,
    unmap: (c, d, segs, id, out) => {
      inner.unmap(c, d, segs, id, out);
      out.compute(30_000);
    },
  };
  const run = new NetworkRun({
    engine,
    cpus,
    net: { ...NETWORK_DEFAULTS, mix: [{ bytes: 64, weight: 1 }] },
    packetsPerSecPerQueue: 100_000,
    lineRateBitsPerSec: 10e9,
    cost: defaultCostModel(),
    dma,
    device: 0,
  });
  engine.register({ name: "net", verifyInvariants: () => run.verifyInvariants() });
  engine.run(20_000_000);
  const st = run.stats;
  assert.ok(st.txPackets > 100, `frames sent: ${st.txPackets}`);
  assert.ok(st.mapLatencyNs.count > 100, "TX maps measured");
  assert.ok(st.rxDropped > 0, "the NIC dropped what the driver could not take");
  // The CPU is shared: RX gets no more than it can in its share, and the offered load is accounted.
  const offered = 2000;
  assert.ok(st.rxPackets + st.txPackets + st.rxDropped + st.txDropped <= offered);
  assert.ok(st.rxPackets + st.txPackets + st.rxDropped + st.txDropped >= offered - 2 * 256 - 2);
});

test("NAPI takes several received packets in one poll when they wait: fewer interrupts than packets", () => {
  // A 5 µs unmap and packets every 10 µs, all received: a poll often finds the next packet waiting.
  const engine = new Engine({ seed: 1, checkEveryEvents: 50 });
  const cpu = new Cpu(engine, 0);
  const inner = countingSeam();
  const run = new NetworkRun({
    engine,
    cpus: [cpu],
    net: { ...NETWORK_DEFAULTS, mix: [{ bytes: 64, weight: 1 }], rxPerMille: 1000 },
    packetsPerSecPerQueue: 100_000,
    lineRateBitsPerSec: 10e9,
    cost: defaultCostModel(),
    dma: {
      map: inner.map,
      unmap: (c, d, segs, id, out) => {
        inner.unmap(c, d, segs, id, out);
        out.compute(9_000);
      },
    },
    device: 0,
  });
  engine.run(10_005_000);
  assert.equal(run.stats.rxDropped, 0);
  assert.equal(run.stats.rxPackets, 1000);
  assert.ok(cpu.stats().irqs < 1000, `interrupts: ${cpu.stats().irqs}`);
});
