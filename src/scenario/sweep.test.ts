import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../stdx/errors.ts";
import { seedScenario } from "./scenario.ts";
import { parseOver, planSweep, readSweepLines } from "./sweep.ts";

test("a grid is the product of the axes, each point's runs one task; values keep the key's type", () => {
  const tasks = planSweep(seedScenario(), [parseOver("kernel=6.1,5.15"), parseOver("cost.lockHandoffNs=100,400")], "s");
  assert.equal(tasks.length, 2 * 2 * 6);
  assert.equal(tasks[0].id, "kernel=6.1,cost.lockHandoffNs=100|default-strict");
  assert.equal(tasks[0].scenario.kernel, "6.1");
  assert.deepEqual(tasks[0].scenario.cost, { lockHandoffNs: 100 });
  assert.equal(new Set(tasks.map((t) => t.id)).size, tasks.length);
});

test("bad axes and bad values are input errors naming the point", () => {
  assert.throws(() => parseOver("disks.queueDepth"), InputError);
  assert.throws(() => parseOver("disks.queueDepth=1,,2"), InputError);
  assert.throws(
    () => planSweep(seedScenario(), [parseOver("disks.queueDepth=16,0")], "s.yaml"),
    /s\.yaml at disks\.queueDepth=0: disks\.queueDepth: expected a number > 0, found "0"/,
  );
});

test("a results file's torn last line is dropped; a damaged line before it is an error", () => {
  const line = (id: string) => JSON.stringify({ id, point: {}, run: "r", result: { iops: 1 } });
  assert.deepEqual(
    readSweepLines(`${line("a")}\n${line("b")}\n{"id":"c","po`).map((l) => l.id),
    ["a", "b"],
  );
  assert.throws(() => readSweepLines(`${line("a")}\n{"id":\n${line("b")}\n`), InputError);
});
