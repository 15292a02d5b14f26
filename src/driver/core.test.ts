/**
 * The driver core's deferred-probe lists (R-DD-2) and the bind/unbind
 * stores' errors (R-DD-4), on a booted reference VM and on the lists alone.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Device } from "../iommu/device.ts";
import { bootMachine } from "../machine/index.ts";
import { DriverCore } from "./core.ts";

const NVME = "0000:00:01.0";

test("triggers before the late initcall do nothing; after it, pending devices move to active in order", () => {
  const core = new DriverCore(
    null as never,
    () => null as never,
    () => {},
  );
  const a = { name: "a" } as Device;
  const b = { name: "b" } as Device;
  core.pending.push(a, b);
  core.trigger();
  assert.equal(core.triggerCount, 0);
  assert.deepEqual(core.pending, [a, b]);
  core.deferredProbeEnabled = true;
  core.trigger();
  assert.equal(core.triggerCount, 1);
  assert.deepEqual(core.pending, []);
  assert.deepEqual(core.active, [a, b]);
});

test("unbind and bind stores: ENODEV for an unbound or unknown device, a trailing newline allowed", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "mainline" });
  const dev = k.device(NVME)!;
  const drv = dev.driver!;
  assert.deepEqual(k.drivers.unbindStore(drv, `${NVME}\n`), { ok: true });
  assert.equal(dev.bound, false);
  assert.deepEqual(k.drivers.unbindStore(drv, NVME), { ok: false, errno: "ENODEV" });
  assert.deepEqual(k.drivers.bindStore(drv, "0000:09:00.0"), { ok: false, errno: "ENODEV" });
  assert.deepEqual(k.drivers.bindStore("no-such-driver", NVME), { ok: false, errno: "ENODEV" });
  assert.deepEqual(k.drivers.bindStore(drv, NVME), { ok: true });
  assert.equal(dev.bound, true);
});
