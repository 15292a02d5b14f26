import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../stdx/prng.ts";
import { Disk, Hba, Nic, transferNs } from "./device.ts";
import { Engine, Priority } from "./engine.ts";

interface R {
  bytes: number;
  id: number;
}

function collect(e: Engine, disk: Disk<R>, out: [number, number][]): void {
  disk.sink = { onComplete: (req) => out.push([req.id, e.nowNs]) };
}

test("a disk's command, media and transfer stages, with its queue depth, by hand", () => {
  // 1M IOPS: a command starts every 1000 ns; media 5000 ns; 4.096e9 B/s: 4096 bytes take 1000 ns.
  // Queue depth 2, three requests at t=0:
  //   r0: command 0..1000, media to 6000, transfer 6000..7000            -> done 7000
  //   r1: command 1000..2000, media to 7000, transfer 7000..8000         -> done 8000
  //   r2: waits for a slot until r0 completes at 7000;
  //       command 7000..8000, media to 13000, transfer 13000..14000      -> done 14000
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const d = new Disk<R>(e, "sda", { iopsMax: 1e6, bandwidthBytesPerSec: 4.096e9, latencyNs: 5000, queueDepth: 2 });
  const done: [number, number][] = [];
  collect(e, d, done);
  for (let id = 0; id < 3; id++) d.submit({ bytes: 4096, id });
  assert.equal(d.outstanding, 2);
  assert.equal(d.waiting, 1);
  assert.equal(d.canAccept(), false);
  e.run();
  assert.deepEqual(done, [
    [0, 7000],
    [1, 8000],
    [2, 14000],
  ]);
  assert.deepEqual(d.stats(), { completed: 3, bytes: 3 * 4096, responseNs: 7000 + 8000 + 14000, queueWaitNs: 7000 });
});

test("an HBA's can_queue bounds commands over all its disks, and its link is shared", () => {
  // can_queue 1: sdb's request waits for sda's. Disks: 1M IOPS, no media time, unlimited bandwidth;
  // the HBA link moves 1e9 B/s, so 1000 bytes take 1000 ns.
  //   sda r0: command 0..1000, link 1000..2000 -> 2000
  //   sdb r1: dispatched at 2000, command 2000..3000, link 3000..4000 -> 4000
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const hba = new Hba(e, "hba", { canQueue: 1, linkBytesPerSec: 1e9 });
  const p = { iopsMax: 1e6, bandwidthBytesPerSec: Number.POSITIVE_INFINITY, latencyNs: 0, queueDepth: 8 };
  const a = new Disk<R>(e, "sda", p, hba);
  const b = new Disk<R>(e, "sdb", p, hba);
  const done: [number, number][] = [];
  collect(e, a, done);
  collect(e, b, done);
  a.submit({ bytes: 1000, id: 0 });
  b.submit({ bytes: 1000, id: 1 });
  assert.equal(hba.outstanding, 1);
  assert.equal(b.canAccept(), false);
  e.run();
  assert.deepEqual(done, [
    [0, 2000],
    [1, 4000],
  ]);
});

test("M/D/1: Poisson arrivals at load 0.8 on a 1000 ns server wait 2000 ns on average", () => {
  // Pollaczek-Khinchine for deterministic service: Wq = rho * D / (2 (1 - rho)) = 0.8 * 1000 / 0.4 = 2000 ns,
  // so the mean response (wait + service) is 3000 ns. Tolerance 6%: the queue's autocorrelation at
  // rho 0.8 makes the sample mean of 200k arrivals wander by a few per cent.
  const e = new Engine({ seed: 11 });
  const rng = new Prng(2024);
  const d = new Disk<R>(e, "md1", {
    iopsMax: 1e6,
    bandwidthBytesPerSec: Number.POSITIVE_INFINITY,
    latencyNs: 0,
    queueDepth: 1 << 20,
  });
  const n = 200_000;
  const meanGapNs = 1000 / 0.8;
  let sent = 0;
  const source = {
    name: "poisson",
    onEvent: () => {
      d.submit({ bytes: 512, id: sent });
      if (++sent < n) e.after(Math.round(-Math.log(1 - rng.nextFloat()) * meanGapNs), Priority.source, source);
    },
  };
  e.at(0, Priority.source, source);
  e.run();
  assert.equal(d.completed, n);
  const meanResponse = d.responseNs / n;
  assert.ok(Math.abs(meanResponse - 3000) / 3000 < 0.06, `mean response ${meanResponse} ns, expected about 3000`);
});

test("D/D/1 below and above saturation: no wait at load 0.5, linear backlog at load 2", () => {
  // Arrivals every 2000 ns on a 1000 ns server never wait: each response is exactly 1000 ns.
  // Arrivals every 500 ns: request k starts at k*1000 and completes at (k+1)*1000,
  // so it waits k*1000 - k*500 = 500k ns; over k = 0..9 that is 500 * 45 = 22500 ns of queueing.
  for (const [gap, waitTotal] of [
    [2000, 0],
    [500, 22500],
  ]) {
    const e = new Engine({ seed: 1 });
    const d = new Disk<R>(e, "dd1", {
      iopsMax: 1e6,
      bandwidthBytesPerSec: Number.POSITIVE_INFINITY,
      latencyNs: 0,
      queueDepth: 64,
    });
    for (let k = 0; k < 10; k++)
      e.at(k * gap, Priority.source, { name: "arr", onEvent: () => d.submit({ bytes: 1, id: k }) });
    e.run();
    assert.equal(d.responseNs - 10 * 1000, waitTotal);
  }
});

test("transfer times round up to whole nanoseconds", () => {
  assert.equal(transferNs(4096, 4.096e9), 1000);
  assert.equal(transferNs(1, 3e9), 1);
  assert.equal(transferNs(507904, Number.POSITIVE_INFINITY), 0);
});

test("a NIC sends frames back to back at line rate, oldest first", () => {
  // 10 Gb/s: a 1500-byte frame is (1500 + 20) * 8 bits = 12160 bits = 1216 ns on the wire.
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const nic = new Nic<R>(e, "eth0", { lineRateBitsPerSec: 10e9, txRingSize: 2 });
  const done: [number, number][] = [];
  nic.sink = (r) => done.push([r.id, e.nowNs]);
  nic.transmit({ bytes: 1500, id: 0 });
  nic.transmit({ bytes: 64, id: 1 });
  assert.equal(nic.canTransmit(), false);
  e.run();
  // The 64-byte frame follows: (64 + 20) * 8 / 10 = 67.2 -> 68 ns.
  assert.deepEqual(done, [
    [0, 1216],
    [1, 1216 + 68],
  ]);
});
