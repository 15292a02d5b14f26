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

test("kernel=5.10,5.15 keeps 5.10 as written: a string key takes the text, a number key the number", () => {
  const tasks = planSweep(seedScenario(), [parseOver("kernel=5.10,5.15"), parseOver("disks.queueDepth=16,32.0")], "s");
  assert.deepEqual(
    [...new Set(tasks.map((t) => `${t.scenario.kernel} ${(t.scenario.disks as { queueDepth: number }).queueDepth}`))],
    ["5.10 16", "5.10 32", "5.15 16", "5.15 32"],
  );
  assert.equal(tasks[0].id, "kernel=5.10,disks.queueDepth=16|default-strict");
  assert.deepEqual(tasks[tasks.length - 1].point, { kernel: "5.15", "disks.queueDepth": 32 });
});

test("an unknown --over key lists the keys a sweep can set", () => {
  assert.throws(
    () => planSweep(seedScenario(), [parseOver("disk.queueDepth=16,32")], "s"),
    (e: unknown) =>
      e instanceof InputError &&
      /^--over disk\.queueDepth: expected one of name, machine, kernel, seed, durationMs, warmupMs, fastForward, /.test(
        e.message,
      ) &&
      // The what-ifs over the machine's SAS HBA are listed though the scenario sets none.
      e.message.includes("disks.count, ") &&
      e.message.includes("disks.queueDepth, ") &&
      e.message.includes("hba.linkBytesPerSec, ") &&
      e.message.includes("cost.lockHandoffNs") &&
      e.message.endsWith(`found "disk.queueDepth"`),
  );
  // A run's own key is accepted where the run exists.
  const runs = planSweep(seedScenario(), [parseOver("runs.1.bytes=65536")], "s")[0].scenario.runs as {
    bytes: number;
  }[];
  assert.equal(runs[1].bytes, 65536);
});
