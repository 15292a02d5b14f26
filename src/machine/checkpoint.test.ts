/**
 * `Kernel.checkpoint(written)`: the domains a replay maps are copied whole;
 * another domain is copied only when the clock could change it (a flush-queue
 * timer armed or depot work pending), else only its clock is kept.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine } from "./index.ts";

function lazyMachine() {
  const k = bootMachine("qemu-q35-nvme", { kernel: "mainline", cmdline: "iommu.strict=0" });
  const a = k.device("0000:00:01.0");
  const b = k.device("0000:00:02.0");
  assert.ok(a && b);
  const ca = k.dma.cookieOf(a);
  const cb = k.dma.cookieOf(b);
  assert.ok(ca && cb && ca.fq && cb.fq);
  return { k, a, b, ca, cb };
}

test("a quiet domain nobody maps is not copied; its clock comes back on restore", () => {
  const { k, a, ca, cb } = lazyMachine();
  k.advanceTo(6_000_000_000);
  assert.ok(cb.quiet);
  const cp = k.checkpoint([ca]);
  assert.equal(cp.cookies.find((c) => c.cookie === cb)?.state, null);
  assert.notEqual(cp.cookies.find((c) => c.cookie === ca)?.state, null);
  const first = k.dma.mapPhys(a, 0, 0x1000, 8192);
  k.advanceTo(7_000_000_000);
  assert.equal(cb.iovad.nowNs, 7_000_000_000);
  k.restore(cp);
  assert.equal(k.nowNs, 6_000_000_000);
  assert.equal(cb.iovad.nowNs, 6_000_000_000);
  assert.equal(ca.iovad.nowNs, 6_000_000_000);
  // The written domain is back too: the same map lands where the first did.
  assert.equal(k.dma.mapPhys(a, 0, 0x1000, 8192), first);
  k.verifyInvariants();
});

test("a domain with its flush-queue timer armed is copied though not written, and the timer's work undone", () => {
  const { k, b, ca, cb } = lazyMachine();
  k.advanceTo(6_000_000_000);
  const addr = k.dma.mapPhys(b, 1, 0x2000, 4096);
  assert.ok(addr !== null);
  assert.ok(k.dma.unmapPhys(b, 1, addr, 4096));
  assert.ok(cb.fq?.timerArmed && cb.fq.queued(1) === 1 && !cb.quiet);
  const cp = k.checkpoint([ca]);
  assert.notEqual(cp.cookies.find((c) => c.cookie === cb)?.state, null);
  k.advanceTo(7_000_000_000);
  assert.ok(!cb.fq.timerArmed && cb.fq.queued(1) === 0);
  k.restore(cp);
  assert.ok(cb.fq.timerArmed && cb.fq.queued(1) === 1);
  assert.equal(cb.iovad.nowNs, 6_000_000_000);
  k.verifyInvariants();
});
