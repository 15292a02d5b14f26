import assert from "node:assert/strict";
import { test } from "node:test";
import { chargeKernelOp, emptyKernelOpRecord } from "./charge.ts";
import { defaultCostModel, withOverrides } from "./cost.ts";
import { Cpu } from "./cpu.ts";
import { Engine } from "./engine.ts";
import { SpinLock } from "./lock.ts";
import { type Hook, Script, ScriptTask } from "./script.ts";
import { SerialResource } from "./serial.ts";

test("a map that misses the rcache charges the rbtree lock, the walk and the page writes", () => {
  const e = new Engine({ seed: 1 });
  // A 15 ns step (the C baseline) for the worked figures, whatever the calibrated default.
  const cost = withOverrides(defaultCostModel(), { treeWalkStepNs: 15 });
  const tree = new SpinLock(e, "iova_rbtree_lock", { acquireNs: 20, handoffNs: 200 });
  const rec = emptyKernelOpRecord("map");
  rec.magazineOps = 2;
  rec.treeLock = tree;
  rec.treeAllocWalkSteps.push(700);
  rec.pagesMapped = 124;
  const out = new Script();
  chargeKernelOp(out, cost, rec);
  // 2 magazine ops of 23 ns; under the lock 700 steps of 15 ns + 200 ns insert; 124 pages of 30 ns.
  assert.deepEqual(out.describe(), [
    "compute 46",
    "lock iova_rbtree_lock",
    `compute ${700 * 15 + 200}`,
    "unlock iova_rbtree_lock",
    `compute ${124 * 30}`,
  ]);
});

test("a strict unmap clears pages, syncs on the invalidation queue, then frees through the depot", () => {
  const e = new Engine({ seed: 1 });
  const cost = withOverrides(defaultCostModel(), { iotlbSyncNs: 1500 });
  const depot = new SpinLock(e, "depot5", { acquireNs: 20, handoffNs: 200 });
  const iq = new SerialResource(e, "cmdq");
  const rec = emptyKernelOpRecord("unmap");
  rec.pagesUnmapped = 32;
  rec.iq = iq;
  rec.invalidations = 1;
  rec.syncs = 1;
  rec.magazineOps = 3;
  rec.depotLocks.push(depot);
  rec.depotOps.push(1);
  rec.magazineAllocs = 1;
  const out = new Script();
  chargeKernelOp(out, cost, rec);
  // Queue occupied by two commands (TLBI + CMD_SYNC) of 50 ns; the sync's 1500 ns round trip is latency.
  assert.deepEqual(out.describe(), [
    `compute ${32 * 30}`,
    "sync cmdq 100 +1500",
    "compute 69",
    "lock depot5",
    "compute 40",
    "unlock depot5",
    "compute 150",
  ]);
});

test("cost overrides reject unknown names and non-integer values", () => {
  assert.throws(() => withOverrides(defaultCostModel(), { walkStep: 3 }), /unknown cost parameter "walkStep"/);
  assert.throws(() => withOverrides(defaultCostModel(), { treeWalkStepNs: 1.5 }), /expected a non-negative integer/);
});

test("every cost parameter says where its number comes from", () => {
  const m = defaultCostModel();
  for (const [name, p] of Object.entries(m)) {
    assert.ok(p.source.length > 10, `${name} has no source`);
    assert.ok(Number.isSafeInteger(p.ns) && p.ns >= 0, `${name} is not an integer ns`);
  }
});

test("a hook runs at the simulated instant the CPU reaches it, and its script runs before the rest", () => {
  // compute 100, then the hook (at t=100) emits compute 40 and a nested hook (at t=140) that emits compute 5;
  // then the main script's compute 10: ends at 155.
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const cpu = new Cpu(e, 0);
  const seen: [string, number][] = [];
  const inner: Hook = {
    name: "inner",
    run: (_c, arg, out) => {
      seen.push(["inner", e.nowNs + arg]);
      out.compute(5);
    },
  };
  const outer: Hook = {
    name: "outer",
    run: (_c, _a, out) => {
      seen.push(["outer", e.nowNs]);
      out.compute(40).hook(inner, 0);
    },
  };
  cpu.enqueue(new ScriptTask("t", new Script().compute(100).hook(outer).compute(10)));
  e.run();
  assert.deepEqual(seen, [
    ["outer", 100],
    ["inner", 140],
  ]);
  assert.equal(e.nowNs, 155);
  assert.equal(cpu.stats().busyNs, 155);
});

test("a hook that ends its script with itself runs as a loop, not as nesting", () => {
  // Each round computes 3 ns and re-queues itself, 100 rounds: 300 ns, far deeper than the nesting bound.
  const e = new Engine({ seed: 1, checkEveryEvents: 1 });
  const cpu = new Cpu(e, 0);
  let rounds = 0;
  const again: Hook = {
    name: "again",
    run: (_c, _a, out) => {
      if (++rounds < 100) out.compute(3).hook(again);
      else out.compute(3);
    },
  };
  cpu.enqueue(new ScriptTask("loop", new Script().hook(again)));
  e.run();
  assert.equal(rounds, 100);
  assert.equal(e.nowNs, 300);
});

test("computes that follow across a hook's end are one event inside an interrupt, one each in a task", () => {
  // compute 100, hook (writes compute 30), compute 300, hook: the same script as a task and as an interrupt.
  const runAs = (irq: boolean): { events: number; hookAtNs: number[] } => {
    const e = new Engine({ seed: 1 });
    const cpu = new Cpu(e, 0);
    const hookAtNs: number[] = [];
    const h: Hook = { name: "h", run: (_c, _a, out) => void out.compute(30) };
    const mark: Hook = { name: "mark", run: () => void hookAtNs.push(e.nowNs) };
    const t = new ScriptTask("t", new Script().compute(100).hook(h).compute(300).hook(mark));
    if (irq) cpu.raiseIrq(t);
    else cpu.enqueue(t);
    e.run();
    return { events: e.eventsRun, hookAtNs };
  };
  const task = runAs(false);
  const irq = runAs(true);
  // The same instants either way; the interrupt, which nothing preempts, runs 30 + 300 as one.
  assert.deepEqual(task.hookAtNs, [430]);
  assert.deepEqual(irq.hookAtNs, [430]);
  assert.equal(task.events, 4); // the kick, the ends of 100, 30 and 300
  assert.equal(irq.events, 3); // the kick, the ends of 100 and 30 + 300
});
