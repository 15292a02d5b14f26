/**
 * Deferred probe ordering (kernel-behaviour.md R-DD-1.3, R-DD-2.1 to 2.4):
 * FIFO pending/active lists, triggers only from the late initcall on, every
 * successful bind triggers, and no periodic retry.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";
import { parseMachine } from "../../src/machine/schema.ts";

function machine(hbaModule: boolean, nicModule: boolean): string {
  return `
name: two-hbas
kernel: "6.1"
cpus: 4
cmdline: iommu.strict=1
iommu: { kind: arm-smmu-v3, name: smmu0, granule: 4096, addressWidth: 48 }
hostBridges: [{ name: "pci0000:74" }]
devices:
  - { bdf: "0000:74:02.0", vendor: 0x19e5, device: 0xa230, class: 0x010700, group: a }
  - { bdf: "0000:74:03.0", vendor: 0x19e5, device: 0xa230, class: 0x010700, group: b }
  - { bdf: "0000:74:04.0", vendor: 0x19e5, device: 0xa222, class: 0x020000, group: c }
drivers:
  - { name: hisi_sas_v3_hw, model: hisi_sas_v3_hw, module: ${hbaModule}, match: [{ vendor: 0x19e5, device: 0xa230 }] }
  - { name: hns3, model: plain, module: ${nicModule}, match: [{ vendor: 0x19e5, device: 0xa222 }] }
`;
}

/** The log lines that tell the deferral story, with their times in ms. */
function story(k: ReturnType<typeof bootMachine>): string[] {
  return k.log
    .filter((l) => /deferral|deferred list|Rebuilding|^scsi host/.test(l.text))
    .map((l) => `${l.tsNs / 1e6} ${l.text.replace(/ with .*/, "")}`);
}

test("built-in drivers: both HBAs defer in bus order and are retried in that order at the late initcall", () => {
  const k = bootMachine(parseMachine(machine(false, false), "two-hbas.yaml"));
  assert.deepEqual(story(k), [
    "2000 hisi_sas_v3_hw 0000:74:02.0: Driver hisi_sas_v3_hw requests probe deferral",
    "2000 pci 0000:74:02.0: Added to deferred list",
    "2000 hisi_sas_v3_hw 0000:74:03.0: Driver hisi_sas_v3_hw requests probe deferral",
    "2000 pci 0000:74:03.0: Added to deferred list",
    // hns3 binds at 2001 ms: before the late initcall a bind triggers nothing (R-DD-2.2).
    "3000 pci 0000:74:02.0: Retrying from deferred list",
    "3000 iommu: Rebuilding default domain of group 0 (type DMA)",
    "3000 scsi host0: hisi_sas_v3_hw",
    "3000 pci 0000:74:03.0: Retrying from deferred list",
    "3000 iommu: Rebuilding default domain of group 1 (type DMA)",
    "3000 scsi host1: hisi_sas_v3_hw",
  ]);
  assert.equal(k.drivers.pending.length, 0);
});

test("a module loaded after the late initcall waits on pending until another device binds", () => {
  const k = bootMachine(parseMachine(machine(true, true), "two-hbas.yaml"));
  assert.deepEqual(story(k).slice(0, 4), [
    "4000 hisi_sas_v3_hw 0000:74:02.0: Driver hisi_sas_v3_hw requests probe deferral",
    "4000 pci 0000:74:02.0: Added to deferred list",
    "4000 hisi_sas_v3_hw 0000:74:03.0: Driver hisi_sas_v3_hw requests probe deferral",
    "4000 pci 0000:74:03.0: Added to deferred list",
  ]);
  // hns3 binds at 4100 ms: that bind triggers the retry of both.
  assert.deepEqual(story(k).slice(4), [
    "4100 pci 0000:74:02.0: Retrying from deferred list",
    "4100 iommu: Rebuilding default domain of group 0 (type DMA)",
    "4100 scsi host0: hisi_sas_v3_hw",
    "4100 pci 0000:74:03.0: Retrying from deferred list",
    "4100 iommu: Rebuilding default domain of group 1 (type DMA)",
    "4100 scsi host1: hisi_sas_v3_hw",
  ]);
});

test("with no later bind and no timeout there is no retry (no periodic retry); a manual bind completes inline", () => {
  const k = bootMachine(parseMachine(machine(true, true), "two-hbas.yaml"), {
    cmdline: "modprobe.blacklist=hns3 deferred_probe_timeout=0",
  });
  assert.deepEqual(
    k.drivers.pending.map((d) => d.name),
    ["0000:74:02.0", "0000:74:03.0"],
  );
  k.advanceTo(60e9);
  assert.equal(k.device("0000:74:02.0")!.bound, false);
  const sh = new Shell(k);
  const r = sh.runScript(
    [
      "ls /sys/bus/pci/devices/0000:74:02.0/driver",
      "echo 0000:74:02.0 > /sys/bus/pci/drivers/hisi_sas_v3_hw/bind",
      "readlink /sys/bus/pci/devices/0000:74:02.0/driver",
      "cat /sys/kernel/debug/iova/0/range",
    ].join("\n"),
  );
  assert.equal(r.stderr, "ls: /sys/bus/pci/devices/0000:74:02.0/driver: No such file or directory\n");
  assert.equal(
    r.stdout,
    "../../../bus/pci/drivers/hisi_sas_v3_hw\norders: 8\nmax_cached: 524288\nsource: driver\ndriver_request: 507904\n",
  );
  // The successful bind triggered the deferred list: the other HBA bound too (R-DD-2.4 a).
  assert.equal(k.device("0000:74:03.0")!.bound, true);
  assert.deepEqual(k.drivers.pending, []);
});

test("the deferred-probe timeout retries once, 10 s after the last driver registration", () => {
  // 6.1 with modules: timeout 10 s from the late initcall (3 s), pushed back by the
  // hisi_sas_v3_hw registration at 4 s to 14 s (deferred_probe_extend_timeout).
  const k = bootMachine(parseMachine(machine(true, true), "two-hbas.yaml"), { cmdline: "modprobe.blacklist=hns3" });
  assert.equal(k.drivers.timeoutWorkDueNs, 14e9);
  k.advanceTo(13_999_999_999);
  assert.equal(k.device("0000:74:02.0")!.bound, false);
  k.advanceTo(14e9);
  assert.deepEqual(story(k).slice(4, 6), [
    "14000 pci 0000:74:02.0: Retrying from deferred list",
    "14000 iommu: Rebuilding default domain of group 0 (type DMA)",
  ]);
  assert.equal(k.device("0000:74:03.0")!.bound, true);
  assert.equal(k.drivers.timeoutWorkDueNs, null);
});
