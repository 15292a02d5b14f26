/**
 * A seeded randomized simulation in the style of TigerBeetle's VOPR: random
 * CPUs, locks (FIFO and random order), an invalidation queue, random scripts
 * and random interrupts, with every invariant checked after every event, and
 * conservation laws checked at the end against what the scripts asked for.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Prng } from "../stdx/prng.ts";
import { Cpu } from "./cpu.ts";
import { Engine, Priority } from "./engine.ts";
import { SpinLock } from "./lock.ts";
import { type Hook, Script, ScriptTask } from "./script.ts";
import { SerialResource } from "./serial.ts";

interface Expect {
  computeNs: number;
  lockOps: number[];
  syncServiceNs: number;
  syncLatencyNs: number;
  tasks: number;
}

function randomScript(rng: Prng, locks: SpinLock[], iq: SerialResource, expect: Expect, done: Hook): Script {
  const s = new Script();
  const segments = 1 + rng.below(4);
  for (let k = 0; k < segments; k++) {
    const c = rng.below(200);
    s.compute(c);
    expect.computeNs += c;
    if (rng.below(2) === 0) {
      // Locks always in index order: no ABBA deadlock, as lockdep would insist.
      const held = locks.filter(() => rng.below(2) === 0);
      for (const l of held) {
        s.lock(l);
        expect.lockOps[locks.indexOf(l)]++;
        const inside = rng.below(100);
        s.compute(inside);
        expect.computeNs += inside;
      }
      for (const l of [...held].reverse()) s.unlock(l);
    }
    if (rng.below(4) === 0) {
      const service = rng.below(50);
      const latency = rng.below(300);
      s.sync(iq, service, latency);
      expect.syncServiceNs += service;
      expect.syncLatencyNs += latency;
    }
  }
  expect.tasks++;
  return s.hook(done);
}

function simulate(seed: number): string {
  const rng = new Prng(seed);
  const e = new Engine({ seed, checkEveryEvents: 1 });
  const cpus = Array.from({ length: 1 + rng.below(6) }, (_, i) => new Cpu(e, i));
  const locks = Array.from(
    { length: 1 + rng.below(3) },
    (_, i) =>
      new SpinLock(e, `L${i}`, {
        acquireNs: rng.below(30),
        handoffNs: rng.below(100),
        order: rng.below(2) === 0 ? "fifo" : "random",
      }),
  );
  const iq = new SerialResource(e, "iq");
  const expect: Expect = { computeNs: 0, lockOps: locks.map(() => 0), syncServiceNs: 0, syncLatencyNs: 0, tasks: 0 };
  let finished = 0;
  const done: Hook = { name: "done", run: () => void finished++ };
  for (let i = 0; i < 60; i++) {
    const cpu = cpus[rng.below(cpus.length)];
    const task = new ScriptTask(`t${i}`, randomScript(rng, locks, iq, expect, done));
    const at = rng.below(5000);
    const irq = rng.below(4) === 0;
    e.at(at, Priority.source, { name: "arrive", onEvent: () => (irq ? cpu.raiseIrq(task) : cpu.enqueue(task)) });
  }
  e.run();

  assert.equal(finished, expect.tasks, "every task ran to its end");
  for (const l of locks) assert.equal(l.holder, null, `${l.name} left held`);
  assert.deepEqual(
    locks.map((l) => l.acquisitions),
    expect.lockOps,
  );
  // Busy time is exactly the compute asked for plus the acquire cost of each uncontended acquisition.
  const acquireNs = locks.reduce((s, l) => s + (l.acquisitions - l.contended) * l.acquireNs, 0);
  const stats = cpus.map((c) => c.stats());
  assert.equal(
    stats.reduce((s, x) => s + x.busyNs, 0),
    expect.computeNs + acquireNs,
  );
  // Both sides account the same spins: CPUs' lock wait equals the locks' wait.
  assert.equal(
    stats.reduce((s, x) => s + x.lockWaitNs, 0),
    locks.reduce((s, l) => s + l.waitNs, 0),
  );
  // Each sync waits its service and latency at least, plus its queueing behind others.
  assert.equal(
    stats.reduce((s, x) => s + x.syncWaitNs, 0),
    expect.syncServiceNs + expect.syncLatencyNs + iq.queueWaitNs,
  );
  for (const x of stats) assert.equal(x.busyNs + x.lockWaitNs + x.syncWaitNs + x.idleNs, e.nowNs);
  return JSON.stringify({ now: e.nowNs, events: e.eventsRun, stats });
}

test("VOPR: 200 random seeds keep every invariant and conservation law", () => {
  for (let seed = 1; seed <= 200; seed++) simulate(seed);
});

test("VOPR: a seed replays byte for byte", () => {
  assert.equal(simulate(77), simulate(77));
});
