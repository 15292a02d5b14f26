/**
 * The IOMMU core's per-profile switches, seen where a user sees them: the
 * default domain type a lazy boot gets (DMA-FQ only where the type exists)
 * and what a write of a bound group's `type` returns (R-GRP-4.2 vs
 * R-GRP-OLD; read-only before 5.11).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { PROFILE_NAMES } from "../iova/profile.ts";
import { bootMachine } from "../machine/index.ts";
import { IOMMU_POLICY } from "./policy.ts";

const NVME = "0000:00:01.0";

for (const kernel of PROFILE_NAMES) {
  const policy = IOMMU_POLICY[kernel];
  test(`${kernel}: a lazy boot's default domain is ${policy.hasDmaFqType ? "DMA-FQ" : "DMA"}`, () => {
    const k = bootMachine("qemu-q35-nvme", { kernel, cmdline: "iommu.strict=0" });
    const group = k.groupOf(k.device(NVME)!)!;
    const r = k.sysfs.read(`/sys/kernel/iommu_groups/${group.id}/type`);
    assert.deepEqual(r, { ok: true, text: policy.hasDmaFqType ? "DMA-FQ\n" : "DMA\n" });
  });

  const expected = !policy.typeWritable
    ? "open fails EACCES"
    : policy.groupTypeRules === "owner-eperm"
      ? "EPERM"
      : "EBUSY";
  test(`${kernel}: writing a bound group's type: ${expected}`, () => {
    const k = bootMachine("qemu-q35-nvme", { kernel });
    const dev = k.device(NVME)!;
    assert.ok(dev.bound);
    const path = `/sys/kernel/iommu_groups/${k.groupOf(dev)!.id}/type`;
    const f = k.sysfs.openWrite(path);
    if (!policy.typeWritable) {
      assert.deepEqual(f, { ok: false, errno: "EACCES" });
      return;
    }
    assert.ok(f.ok);
    assert.deepEqual(k.sysfs.write(f.file, "identity\n"), { ok: false, errno: expected });
    assert.deepEqual(k.sysfs.read(path), { ok: true, text: "DMA\n" });
  });
}
