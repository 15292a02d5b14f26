import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../stdx/errors.ts";
import { Prng } from "../stdx/prng.ts";
import { Engine, type EventHandler, Priority } from "./engine.ts";
import { EventQueue } from "./queue.ts";

function recorder(log: string[], name: string): EventHandler {
  return { name, onEvent: (arg) => log.push(`${name}:${arg}`) };
}

test("events at the same time run by priority, then in the order they were scheduled", () => {
  const e = new Engine({ seed: 1 });
  const log: string[] = [];
  // Scheduled in a scrambled order on purpose; the expected order is worked out from (time, priority, sequence).
  e.at(10, Priority.cpu, recorder(log, "a"), 1);
  e.at(10, Priority.device, recorder(log, "b"), 2);
  e.at(5, Priority.source, recorder(log, "c"), 3);
  e.at(10, Priority.cpu, recorder(log, "d"), 4);
  e.at(10, Priority.lock, recorder(log, "e"), 5);
  e.at(10, Priority.device, recorder(log, "f"), 6);
  e.run();
  assert.deepEqual(log, ["c:3", "b:2", "f:6", "e:5", "a:1", "d:4"]);
  assert.equal(e.nowNs, 10);
  assert.equal(e.eventsRun, 6);
});

test("an event scheduled for now by a running event runs after the ones already queued for now", () => {
  const e = new Engine({ seed: 1 });
  const log: string[] = [];
  const later = recorder(log, "late");
  const first = {
    name: "first",
    onEvent: () => {
      log.push("first");
      e.after(0, Priority.cpu, later, 0);
    },
  };
  e.at(7, Priority.cpu, first);
  e.at(7, Priority.cpu, recorder(log, "second"), 0);
  e.run();
  assert.deepEqual(log, ["first", "second:0", "late:0"]);
});

test("the event queue pops in (time, priority, sequence) order under random load", () => {
  const rng = new Prng(42);
  const q = new EventQueue(2); // tiny start: growth runs constantly
  const expected: [number, number, number][] = [];
  const popped: number[] = [];
  const h: EventHandler = { name: "x", onEvent: () => {} };
  let seq = 0;
  for (let round = 0; round < 2000; round++) {
    if (q.size === 0 || rng.below(3) > 0) {
      const t = rng.below(50);
      const p = rng.below(3);
      q.push(t, p, h, seq);
      expected.push([t, p, seq++]);
    } else {
      popped.push(q.slotArg(q.popSlot()));
    }
    if (round % 97 === 0) q.verifyInvariants();
  }
  while (q.size > 0) popped.push(q.slotArg(q.popSlot()));
  // The oracle: pops between pushes must each be the least of what was pending, so replay with a sorted list.
  const pending: [number, number, number][] = [];
  const rng2 = new Prng(42);
  const oracle: number[] = [];
  let i = 0;
  let qsize = 0;
  for (let round = 0; round < 2000; round++) {
    if (qsize === 0 || rng2.below(3) > 0) {
      rng2.below(50);
      rng2.below(3);
      pending.push(expected[i++]);
      qsize++;
    } else {
      pending.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
      oracle.push((pending.shift() as [number, number, number])[2]);
      qsize--;
    }
  }
  pending.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  for (const p of pending) oracle.push(p[2]);
  assert.deepEqual(popped, oracle);
});

test("events for the current instant keep the (time, priority, sequence) order", () => {
  // As the engine uses the queue: time only moves forward, and many events are for the instant
  // of the one being run (kicks, grants), sometimes hundreds at once, interleaved with events
  // scheduled earlier for that instant.
  const rng = new Prng(7);
  const q = new EventQueue(4);
  const h: EventHandler = { name: "x", onEvent: () => {} };
  const pending: [number, number, number][] = [];
  const popped: number[] = [];
  const oracle: number[] = [];
  let now = 0;
  let seq = 0;
  const push = (t: number, p: number) => {
    q.push(t, p, h, seq);
    pending.push([t, p, seq++]);
  };
  for (let i = 0; i < 20; i++) push(rng.below(100), rng.below(4));
  for (let round = 0; round < 20000 && q.size > 0; round++) {
    const slot = q.popSlot();
    now = q.slotTimeNs(slot);
    popped.push(q.slotArg(slot));
    pending.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
    oracle.push((pending.shift() as [number, number, number])[2]);
    const burst = rng.below(10) === 0 ? 150 : rng.below(3);
    for (let k = 0; k < burst; k++) push(now + (rng.below(2) === 0 ? 0 : rng.below(200)), rng.below(4));
    if (round % 101 === 0) q.verifyInvariants();
    if (q.size > 3000) break;
  }
  assert.deepEqual(popped, oracle);
});

test("an event for now ties with an older one of the same time and priority: the older runs first", () => {
  // A CPU's compute that ends now (scheduled long ago) and a CPU kicked now: the same time and
  // priority, and the sequence decides (a queue that keeps events for now apart must too).
  const q = new EventQueue(4);
  const h: EventHandler = { name: "x", onEvent: () => {} };
  q.push(3, 2, h, 0);
  q.push(2, 2, h, 1);
  q.push(5, 2, h, 2);
  const order = [q.slotArg(q.popSlot()), q.slotArg(q.popSlot())];
  q.push(5, 2, h, 3); // now = 3: ties with 2, the earliest pending
  q.verifyInvariants();
  while (q.size > 0) order.push(q.slotArg(q.popSlot()));
  assert.deepEqual(order, [1, 0, 2, 3]);
});

test("time must be an integer and never in the past", () => {
  const e = new Engine({ seed: 1 });
  const h: EventHandler = { name: "x", onEvent: () => {} };
  assert.throws(() => e.at(1.5, 0, h));
  e.at(10, 0, h);
  e.run();
  assert.throws(() => e.at(9, 0, h));
  assert.throws(() => e.after(-1, 0, h));
});

test("an event past 2^50 ns, or at no finite time, is bad input naming the handler (the figures that made it), not a bug", () => {
  const e = new Engine({ seed: 1 });
  const h: EventHandler = { name: "sd3", onEvent: () => {} };
  e.at(2 ** 50, Priority.device, h);
  for (const t of [2 ** 50 + 1, Number.POSITIVE_INFINITY, Number.NaN]) {
    assert.throws(
      () => e.at(t, Priority.device, h),
      (err: unknown) =>
        err instanceof InputError &&
        err.message ===
          `expected simulated times below 2^50 ns (about 13 days), found sd3's event at ${t} ns: a cost, device or workload figure is too large to simulate`,
    );
  }
  assert.equal(e.pendingEvents, 1);
});

test("run(untilNs) stops before later events and advances the clock to untilNs", () => {
  const e = new Engine({ seed: 1 });
  const log: string[] = [];
  e.at(100, 0, recorder(log, "a"));
  e.at(300, 0, recorder(log, "b"));
  e.run(200);
  assert.deepEqual(log, ["a:0"]);
  assert.equal(e.nowNs, 200);
  assert.equal(e.pendingEvents, 1);
  e.run();
  assert.deepEqual(log, ["a:0", "b:0"]);
});

test("registered invariant checks run every N events and a broken invariant throws", () => {
  const e = new Engine({ seed: 1, checkEveryEvents: 3 });
  let checks = 0;
  let broken = false;
  e.register({
    name: "c",
    verifyInvariants: () => {
      checks++;
      assert.ok(!broken, "broken");
    },
  });
  const h: EventHandler = { name: "x", onEvent: () => {} };
  for (let t = 0; t < 10; t++) e.at(t, 0, h);
  e.run();
  assert.equal(checks, 3); // after events 3, 6 and 9
  broken = true;
  for (let t = 10; t < 13; t++) e.at(t, 0, h);
  assert.throws(() => e.run(), /broken/);
});
