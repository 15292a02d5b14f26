import assert from "node:assert/strict";
import { test } from "node:test";
import { Cpu } from "./cpu.ts";
import { Engine, Priority } from "./engine.ts";
import { lockClassStats, SpinLock } from "./lock.ts";
import { Script, ScriptTask } from "./script.ts";
import { SerialResource } from "./serial.ts";

test("three CPUs contending one FIFO spinlock: waits worked out by hand", () => {
  // acquire 10 ns, hand-off 40 ns.
  // cpu0: lock, compute 100, unlock.      Gets it free at 0, holds 10..110.
  // cpu1: compute 50, lock, compute 30.   Asks at 50, waits; handed at 110+40 = 150, holds 150..180.
  // cpu2: compute 60, lock, compute 20.   Asks at 60, waits behind cpu1; handed at 180+40 = 220, holds 220..240.
  // cpu1 waited 150-50 = 100, cpu2 waited 220-60 = 160; the lock: 3 acquisitions, 2 contended,
  // 260 ns of waiting, held 100+30+20 = 150 ns. Run ends at 240.
  const e = new Engine({ seed: 7, checkEveryEvents: 1 });
  const lock = new SpinLock(e, "L", { acquireNs: 10, handoffNs: 40 });
  const cpus = [new Cpu(e, 0), new Cpu(e, 1), new Cpu(e, 2)];
  cpus[0].enqueue(new ScriptTask("t0", new Script().lock(lock).compute(100).unlock(lock)));
  cpus[1].enqueue(new ScriptTask("t1", new Script().compute(50).lock(lock).compute(30).unlock(lock)));
  cpus[2].enqueue(new ScriptTask("t2", new Script().compute(60).lock(lock).compute(20).unlock(lock)));
  e.run();
  assert.equal(e.nowNs, 240);
  const s = cpus.map((c) => c.stats());
  assert.deepEqual(
    s.map((x) => [x.busyNs, x.lockWaitNs, x.idleNs]),
    [
      [110, 0, 130],
      [80, 100, 60],
      [80, 160, 0],
    ],
  );
  assert.deepEqual(lock.stats(), {
    acquisitions: 3,
    contended: 2,
    waitNs: 260,
    holdNs: 150,
    waitersMax: 2,
    waitNsMax: 160,
  });
  assert.equal(lock.holder, null);
  // As lock_stat prints the class: cpu2's 160 ns is the longest wait; 150 ns held over 3 acquisitions.
  assert.deepEqual(lockClassStats([lock]), {
    acquisitions: 3,
    contentions: 2,
    waitNsMax: 160,
    waitNsTotal: 260,
    holdNsAvg: 50,
  });
});

test("lock-class statistics sum a class's locks: counts and totals add, the max is the largest, the average is over all", () => {
  // Lock A: cpu0 holds 10..110, cpu1 asks at 0 and is handed it at 110+5 = 115, holds to 135.
  //   2 acquisitions, 1 contended, wait 115, hold 100+20 = 120.
  // Lock B: cpu2 alone, holds 10..40 (30 ns), no wait.
  // Class: 3 acquisitions, 1 contention, max 115, total 115, hold (120+30)/3 = 50.
  const e = new Engine({ seed: 7, checkEveryEvents: 1 });
  const a = new SpinLock(e, "A", { acquireNs: 10, handoffNs: 5 });
  const b = new SpinLock(e, "B", { acquireNs: 10, handoffNs: 5 });
  const cpus = [new Cpu(e, 0), new Cpu(e, 1), new Cpu(e, 2)];
  cpus[0].enqueue(new ScriptTask("t0", new Script().lock(a).compute(100).unlock(a)));
  cpus[1].enqueue(new ScriptTask("t1", new Script().lock(a).compute(20).unlock(a)));
  cpus[2].enqueue(new ScriptTask("t2", new Script().lock(b).compute(30).unlock(b)));
  e.run();
  assert.deepEqual(lockClassStats([a, b]), {
    acquisitions: 3,
    contentions: 1,
    waitNsMax: 115,
    waitNsTotal: 115,
    holdNsAvg: 50,
  });
  // Two decimals: 100 ns over 3 acquisitions.
  const c = new SpinLock(e, "C", { acquireNs: 0, handoffNs: 0 });
  c.acquisitions = 3;
  c.holdNs = 100;
  assert.equal(lockClassStats([c]).holdNsAvg, 33.33);
  assert.deepEqual(lockClassStats([]), { acquisitions: 0, contentions: 0, waitNsMax: 0, waitNsTotal: 0, holdNsAvg: 0 });
  // A reset starts the max afresh.
  a.resetStats();
  assert.equal(a.stats().waitNsMax, 0);
});

test("a random-order lock serves every waiter exactly once, reproducibly from the seed", () => {
  const run = (seed: number): string => {
    const e = new Engine({ seed, checkEveryEvents: 1 });
    const lock = new SpinLock(e, "L", { acquireNs: 5, handoffNs: 7, order: "random" });
    const order: number[] = [];
    for (let i = 0; i < 6; i++) {
      const cpu = new Cpu(e, i);
      const mark = { name: `mark${i}`, run: () => order.push(i) };
      cpu.enqueue(
        new ScriptTask(
          `t${i}`,
          new Script()
            .compute(1 + i)
            .lock(lock)
            .hook(mark)
            .compute(50)
            .unlock(lock),
        ),
      );
    }
    e.run();
    assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4, 5]);
    assert.equal(order[0], 0); // cpu0 asks first, at 1 ns, and finds it free
    // 6 holds of 50 ns, 5 hand-offs of 7 ns, cpu0's acquire 5 ns after asking at 1 ns.
    assert.equal(e.nowNs, 1 + 5 + 6 * 50 + 5 * 7);
    return order.join(",");
  };
  assert.equal(run(3), run(3));
});

test("taking a lock twice on one CPU is a deadlock, caught", () => {
  const e = new Engine({ seed: 1 });
  const lock = new SpinLock(e, "L", { acquireNs: 1, handoffNs: 1 });
  const cpu = new Cpu(e, 0);
  cpu.enqueue(new ScriptTask("t", new Script().lock(lock).lock(lock)));
  assert.throws(() => e.run(), /deadlock/);
});

test("an interrupt preempts at the next step boundary, but not while a spinlock is held", () => {
  // Free of locks: task compute 100, compute 100; irq raised at 50 runs 30 ns at the
  // boundary 100..130, the task's second compute runs 130..230.
  // With a lock: lock (acquire 10) .. compute 100 .. unlock at 110; irq runs 110..140; rest 140..240.
  for (const [withLock, irqStart, end] of [
    [false, 100, 230],
    [true, 110, 240],
  ] as const) {
    const e = new Engine({ seed: 1, checkEveryEvents: 1 });
    const lock = new SpinLock(e, "L", { acquireNs: 10, handoffNs: 0 });
    const cpu = new Cpu(e, 0);
    // Adjacent computes fold into one step, so a no-op hook keeps the two apart.
    const main = withLock
      ? new Script().lock(lock).compute(100).unlock(lock).compute(100)
      : new Script()
          .compute(100)
          .hook({ name: "nop", run: () => {} })
          .compute(100);
    cpu.enqueue(new ScriptTask("task", main));
    let irqAt = -1;
    const irq = new ScriptTask("irq", new Script().hook({ name: "mark", run: () => (irqAt = e.nowNs) }).compute(30));
    e.at(50, Priority.device, { name: "raise", onEvent: () => cpu.raiseIrq(irq) });
    e.run();
    assert.equal(irqAt, irqStart);
    assert.equal(e.nowNs, end);
    assert.equal(cpu.stats().irqs, 1);
    assert.equal(cpu.stats().busyNs, end);
  }
});

test("strict-style syncs on the invalidation queue serialise the service and overlap the latency", () => {
  // Two CPUs sync at t=0: service 100 ns each on the queue, latency 1000 ns each.
  // cpu0's job occupies 0..100, done at 100+1000 = 1100; cpu1's occupies 100..200, done at 1200.
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const iq = new SerialResource(e, "cmdq");
  const cpus = [new Cpu(e, 0), new Cpu(e, 1)];
  for (const c of cpus) c.enqueue(new ScriptTask("unmap", new Script().sync(iq, 100, 1000)));
  e.run();
  assert.equal(e.nowNs, 1200);
  assert.deepEqual(
    cpus.map((c) => c.stats().syncWaitNs),
    [1100, 1200],
  );
  assert.deepEqual(iq.stats(), { jobs: 2, busyNs: 200, queueWaitNs: 100 });
});
