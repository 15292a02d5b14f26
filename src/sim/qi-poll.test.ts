import assert from "node:assert/strict";
import { test } from "node:test";
import { Cpu } from "./cpu.ts";
import { Engine } from "./engine.ts";
import { SpinLock } from "./lock.ts";
import { PolledQueueWait } from "./qi-poll.ts";
import { Script, ScriptTask } from "./script.ts";
import { SerialResource } from "./serial.ts";

/** Lock acquire 20 ns, hand-off 200; commands occupy the queue 100 ns, the wait completes 700 ns after; a poll's check 150. */
function setUp(cpuCount: number) {
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const lock = new SpinLock(e, "qi->q_lock", { acquireNs: 20, handoffNs: 200 });
  const iq = new SerialResource(e, "vtd-qi");
  const qi = new PolledQueueWait(e, lock, iq, 150);
  const done: number[] = [];
  const cpus = Array.from({ length: cpuCount }, (_, i) => new Cpu(e, i));
  for (const cpu of cpus) {
    const s = new Script();
    qi.charge(s, 100, 700);
    s.hook({ name: "done", run: (c) => (done[c.id] = e.nowNs) });
    cpu.enqueue(new ScriptTask(`unmap${cpu.id}`, s));
  }
  e.run();
  return { lock, qi, done, cpus };
}

test("one CPU: polls every check + re-take until the wait descriptor's status is written, then drops the lock", () => {
  // Takes the free lock by 20; the commands are done at 20 + 100 + 700 = 820. Each poll that finds it
  // not done holds 150 ns for the fault check, drops and re-takes the lock (20): status reads at
  // 20, 190, 360, 530, 700 (not done: 5 polls) and 870 (done): the lock is dropped at 870.
  const { lock, qi, done, cpus } = setUp(1);
  assert.deepEqual(done, [870]);
  assert.equal(qi.polls, 5);
  assert.equal(lock.stats().acquisitions, 6);
  assert.equal(lock.stats().contended, 0);
  assert.equal(lock.stats().holdNs, 5 * 150);
  // The checks are the CPU's wait for the invalidation; the acquires are its own work.
  assert.deepEqual([cpus[0].stats().syncWaitNs, cpus[0].stats().busyNs], [750, 120]);
});

test("two CPUs take turns on the lock, one poll each, every turn a hand-off (FIFO queued spinlock)", () => {
  // cpu0 holds from 20, submits (done 820), polls, drops at 170; cpu1, waiting since 0, has it at
  // 370, submits behind (done 370 + 100 + 700 = 1170), polls, drops at 520; cpu0 (re-queued at 170)
  // has it at 720: not done, polls, drops at 870; cpu1 at 1070: not done, polls, drops at 1220;
  // cpu0 at 1420: done, drops for good; cpu1 at 1620: done.
  const { lock, qi, done } = setUp(2);
  assert.deepEqual(done, [1420, 1620]);
  assert.equal(qi.polls, 4);
  const st = lock.stats();
  assert.equal(st.acquisitions, 6);
  assert.equal(st.contended, 5);
  // Alone, each would have been done by 870: the re-takes cost cpu0 550 ns and cpu1 750 more.
});
