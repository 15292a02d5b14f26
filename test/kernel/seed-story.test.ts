/**
 * The seed's story end to end (issue 3 item 6; configurable-range.md §3-5;
 * seed-mail.txt): hisi-sas-128 on the 6.1 profile, driven through the shell.
 * Expected numbers come from the spec: 124 x 4096 = 507904 bytes rounds up to
 * 512 KiB = 128 granules, K = 8; 1 MiB gives K = 9; 2 MiB gives K = 10.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";

const HBA = "0000:74:02.0";

function run(sh: Shell, script: string) {
  return sh.runScript(script);
}

function indexOfLine(lines: string[], pred: (l: string) => boolean, from = 0): number {
  for (let i = from; i < lines.length; i++) if (pred(lines[i])) return i;
  return -1;
}

test("the driver's request defers the first probe; the reprobe rebuilds the domain with 8 classes", () => {
  const k = bootMachine("hisi-sas-128", {});
  assert.equal(k.profile.name, "6.1", "hisi-sas-128 boots 6.1 unless told otherwise");
  const log = k.log.map((l) => l.text);
  const steps = [
    `hisi_sas_v3_hw ${HBA}: Driver hisi_sas_v3_hw requests probe deferral`,
    `pci ${HBA}: Added to deferred list`,
    `pci ${HBA}: Retrying from deferred list`,
  ];
  let at = 0;
  for (const s of steps) {
    at = indexOfLine(log, (l) => l === s, at);
    assert.ok(at >= 0, `boot log has, in order: ${s}`);
  }
  const rebuild = indexOfLine(log, (l) => l.startsWith("iommu: Rebuilding default domain"), at);
  assert.ok(rebuild > at);
  for (const word of ["group 0", "DMA", "8 IOVA rcache orders", "524288 bytes"])
    assert.ok(log[rebuild].includes(word), word);
  const bound = indexOfLine(log, (l) => l === "scsi host0: hisi_sas_v3_hw", rebuild);
  assert.ok(bound > rebuild, "the probe completes after the rebuild");
  // The deferral happened before the late initcall (3 s) and the retry at it.
  const ts = (i: number) => k.log[i].tsNs;
  assert.ok(ts(indexOfLine(log, (l) => l === steps[0])) < 3e9);
  assert.equal(ts(rebuild), 3e9);

  const sh = new Shell(k);
  const r = run(
    sh,
    [
      `dma-info ${HBA}`,
      "cat /sys/kernel/debug/iova/0/range",
      "cat /sys/kernel/iommu_groups/0/max_opt_dma_size",
      "readlink /sys/bus/pci/devices/0000:74:02.0/driver",
    ].join("\n"),
  );
  assert.equal(
    r.stdout,
    [
      "dma_max_mapping_size 18446744073709551615",
      "dma_opt_mapping_size 524288",
      "domain DMA",
      "group 0",
      "orders: 8",
      "max_cached: 524288",
      "source: driver",
      "driver_request: 507904",
      "0",
      "../../../bus/pci/drivers/hisi_sas_v3_hw",
      "",
    ].join("\n"),
  );
  assert.equal(r.stderr, "");
  assert.equal(k.dma.cookieOf(k.device(HBA)!)!.iovad.rcacheOrders, 8);
});

test("writing max_opt_dma_size while the HBA is bound fails exactly as writing type does (6.1: EBUSY)", () => {
  const k = bootMachine("hisi-sas-128", {});
  const sh = new Shell(k);
  const before = k.log.length;
  const r = run(
    sh,
    "echo 1048576 > /sys/kernel/iommu_groups/0/max_opt_dma_size\necho identity > /sys/kernel/iommu_groups/0/type\necho $?",
  );
  assert.equal(
    r.stderr,
    "bash: line 1: echo: write error: Device or resource busy\nbash: line 2: echo: write error: Device or resource busy\n",
  );
  assert.equal(r.stdout, "1\n");
  assert.deepEqual(
    k.log.slice(before).map((l) => l.text),
    ["iommu: Device is still bound to driver", "iommu: Device is still bound to driver"],
  );
  assert.equal(k.dma.cookieOf(k.device(HBA)!)!.iovad.rcacheOrders, 8, "the live domain is untouched");
});

test("with iommu.max_opt_dma_size=1M the domain has 9 classes from the start and nothing defers", () => {
  const k = bootMachine("hisi-sas-128", { cmdline: "iommu.max_opt_dma_size=1M" });
  assert.ok(!k.log.some((l) => l.text.includes("deferral") || l.text.includes("Rebuilding")));
  const r = run(new Shell(k), `cat /sys/kernel/debug/iova/0/range\ndma-info ${HBA}`);
  assert.equal(
    r.stdout,
    "orders: 9\nmax_cached: 1048576\nsource: cmdline\ndriver_request: 0\n" +
      "dma_max_mapping_size 18446744073709551615\ndma_opt_mapping_size 1048576\ndomain DMA\ngroup 0\n",
  );
});

test("unbinding, writing 2097152 and rebinding gives 10 classes with source sysfs", () => {
  const k = bootMachine("hisi-sas-128", {});
  const r = run(
    new Shell(k),
    [
      `echo ${HBA} > /sys/bus/pci/drivers/hisi_sas_v3_hw/unbind`,
      "echo 2097152 > /sys/kernel/iommu_groups/0/max_opt_dma_size",
      `echo ${HBA} > /sys/bus/pci/drivers/hisi_sas_v3_hw/bind`,
      "cat /sys/kernel/iommu_groups/0/max_opt_dma_size",
      "cat /sys/kernel/debug/iova/0/range",
      `dma-info ${HBA}`,
    ].join("\n"),
  );
  assert.equal(r.stderr, "");
  assert.equal(
    r.stdout,
    "2097152\norders: 10\nmax_cached: 2097152\nsource: sysfs\ndriver_request: 507904\n" +
      "dma_max_mapping_size 18446744073709551615\ndma_opt_mapping_size 2097152\ndomain DMA\ngroup 0\n",
  );
  assert.equal(k.device(HBA)!.bound, true);
});

test("hisi_sas_v3_hw.max_opt_dma_size=0 makes no call: upstream's range and dma_opt_mapping_size", () => {
  const k = bootMachine("hisi-sas-128", { cmdline: "hisi_sas_v3_hw.max_opt_dma_size=0" });
  const r = run(new Shell(k), `cat /sys/kernel/debug/iova/0/range\ndma-info ${HBA}`);
  assert.equal(
    r.stdout,
    "orders: 6\nmax_cached: 131072\nsource: default\ndriver_request: 0\n" +
      "dma_max_mapping_size 18446744073709551615\ndma_opt_mapping_size 131072\ndomain DMA\ngroup 0\n",
  );
});

test("a deferral from a sysfs bind is -EAGAIN and not queued; the second bind rebuilds inline (R-DD-4.3, GAR-3.6 step 5)", () => {
  const k = bootMachine("hisi-sas-128", {});
  const r = run(
    new Shell(k),
    [
      `echo ${HBA} > /sys/bus/pci/drivers/hisi_sas_v3_hw/unbind`,
      "echo 1048576 > /sys/module/hisi_sas_v3_hw/parameters/max_opt_dma_size",
      `echo ${HBA} > /sys/bus/pci/drivers/hisi_sas_v3_hw/bind`,
      "ls /sys/bus/pci/devices/0000:74:02.0/driver",
      `echo ${HBA} > /sys/bus/pci/drivers/hisi_sas_v3_hw/bind`,
      "cat /sys/kernel/debug/iova/0/range",
    ].join("\n"),
  );
  assert.equal(
    r.stderr,
    "bash: line 3: echo: write error: Resource temporarily unavailable\n" +
      "ls: /sys/bus/pci/devices/0000:74:02.0/driver: No such file or directory\n",
  );
  assert.equal(r.stdout, "orders: 9\nmax_cached: 1048576\nsource: driver\ndriver_request: 1048576\n");
  assert.equal(k.drivers.pending.length + k.drivers.active.length, 0);
});

test("mainline profile: the bound HBA's group refuses the write with EPERM and no log line", () => {
  const k = bootMachine("hisi-sas-128", { kernel: "mainline" });
  const before = k.log.length;
  const r = run(new Shell(k), "echo 1048576 > /sys/kernel/iommu_groups/0/max_opt_dma_size");
  assert.equal(r.stderr, "bash: line 1: echo: write error: Operation not permitted\n");
  assert.equal(k.log.length, before);
});

test("rangeCosts: the HBA's domain reports K = 8 and the IOVA space one unmapped 496 KiB mapping leaves in class 7", () => {
  const k = bootMachine("hisi-sas-128", {});
  const dev = k.device(HBA)!;
  const a = k.dma.mapPhys(dev, 3, 0x8000_0000, 124 * 4096)!;
  assert.ok(k.dma.unmapPhys(dev, 3, a, 124 * 4096));
  const hba = k.rangeCosts().find((c) => c.group === 0)!;
  assert.equal(hba.orders, 8);
  assert.equal(hba.source, "driver");
  assert.equal(hba.maxCachedBytes, 524288);
  assert.equal(hba.perClass.length, 8);
  // 124 pages round up to 128 (class 7): that IOVA now sits in CPU 3's rcache.
  assert.equal(hba.perClass[7].cachedIovaBytes, 128 * 4096);
  assert.equal(hba.perClass[6].cachedIovaBytes, 0);
  // Two empty magazines per CPU per class (IOVA-6.1), 128 CPUs.
  assert.equal(hba.perClass[0].magazineMemoryBytes, 2 * 128 * k.dma.cookieOf(dev)!.iovad.magazineBytes);
});
