import assert from "node:assert/strict";
import { test } from "node:test";
import { runLoadgen } from "./loadgen.ts";

const base = {
  cpus: 8,
  disks: 3,
  iodepthPerCpu: 4,
  sizes: [4096, 4096, 8192, 65536],
  durationNs: 5_000_000,
  warmupNs: 200_000,
};

test("same seed, byte-identical event log and JSON; another seed, a different run", () => {
  const a = runLoadgen({ ...base, seed: 99, logEvents: true });
  const b = runLoadgen({ ...base, seed: 99, logEvents: true });
  const c = runLoadgen({ ...base, seed: 100, logEvents: true });
  assert.ok((a.engine.log as string[]).length > 1000);
  assert.equal((a.engine.log as string[]).join("\n"), (b.engine.log as string[]).join("\n"));
  assert.equal(JSON.stringify(a.result), JSON.stringify(b.result));
  assert.notEqual((a.engine.log as string[]).join("\n"), (c.engine.log as string[]).join("\n"));
});

test("invariants hold when checked every 7 events through a contended run", () => {
  const { result } = runLoadgen({ ...base, seed: 5, checkEveryEvents: 7, treeMissPerMille: 900 });
  assert.ok(result.invariantChecks > 100);
  assert.ok(result.treeLock.contended > 0, "the run should contend the tree lock");
  assert.ok(result.iops > 0);
});

test("CPU time adds up: busy, lock wait and sync wait shares stay within the elapsed time", () => {
  const { result } = runLoadgen({ ...base, seed: 6, strict: true });
  const total = result.busyShare + result.lockWaitShare + result.syncWaitShare;
  assert.ok(total > 0 && total <= 1, `shares add to ${total}`);
  assert.ok(result.syncWaitShare > 0, "strict mode spins on syncs");
  const lazy = runLoadgen({ ...base, seed: 6, strict: false }).result;
  assert.equal(lazy.syncWaitShare, 0);
});
