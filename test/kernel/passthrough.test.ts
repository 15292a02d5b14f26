/**
 * Identity default domains from a machine file's command line
 * (`iommu.passthrough=1`, `iommu=pt`) and from `type` writes: the boot log
 * (R-GRP-2.3), the groups' `type`, direct DMA through the DMA API (the
 * physical address back, no IOVA domain, no range), `max_opt_dma_size`
 * under the `type` store's restrictions (configurable-range.md §3: recorded
 * on a free group, applied when a DMA domain is next built) and a driver's
 * `dma_set_max_opt_size()` taking step 1 (§4).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";
import { parseMachine } from "../../src/machine/schema.ts";
import { seedScenario, validateScenarioData } from "../../src/scenario/scenario.ts";
import { InputError } from "../../src/stdx/errors.ts";

const machine = (kernel: string, cmdline: string) =>
  parseMachine(
    `
name: pt
kernel: "${kernel}"
cpus: 4
cmdline: ${cmdline}
iommu: { kind: arm-smmu-v3, name: smmu0, granule: 4096, addressWidth: 48 }
hostBridges: [{ name: "pci0000:00" }]
devices:
  - { bdf: "0000:00:01.0", vendor: 0x19e5, device: 0xa230, class: 0x010700, group: sas, usesMsi: true, reservedRegions: [{ start: 0x8000000, end: 0x80fffff, type: sw-msi }] }
  - { bdf: "0000:00:02.0", vendor: 0x1234, device: 0x0002, class: 0x020000, group: free }
drivers:
  - { name: hisi_sas_v3_hw, model: hisi_sas_v3_hw, match: [{ vendor: 0x19e5, device: 0xa230 }], disks: 2 }
`,
    "pt.yaml",
  );

for (const kernel of ["6.1", "mainline"] as const) {
  // (iommu=pt is x86's parameter; this machine is arm64.)
  for (const cmdline of ["iommu.passthrough=1", "iommu.passthrough=0 iommu.passthrough=on"]) {
    test(`${kernel}, cmdline ${cmdline} in the machine file: identity domains, direct DMA, no range`, () => {
      const k = bootMachine(machine(kernel, cmdline));
      k.verifyInvariants();
      const log = k.log.map((l) => l.text);
      // 6.1's "%s %s" and 6.12's "%s%s" with " (set via ...)" print the same line here.
      assert.ok(log.includes("iommu: Default domain type: Passthrough (set via kernel command line)"), log.join("\n"));
      assert.ok(!log.some((t) => t.includes("TLB invalidation policy")));
      // The HBA's driver asked for its range: step 1, nothing to do, no deferral.
      assert.ok(!log.some((t) => t.includes("deferral")));
      const sas = k.device("0000:00:01.0")!;
      assert.equal(sas.bound, true);
      const sh = new Shell(k);
      const run = (line: string) => sh.runLine(line, 1);
      assert.equal(
        run("cat /sys/kernel/iommu_groups/0/type /sys/kernel/iommu_groups/1/type").stdout,
        "identity\nidentity\n",
      );
      assert.equal(
        run("dma-info 0000:00:01.0").stdout,
        "dma_max_mapping_size 18446744073709551615\ndma_opt_mapping_size 18446744073709551615\ndomain identity\ngroup 0\n",
      );
      assert.equal(run("map 0000:00:01.0 8192 --phys 0x45670000 --cpu 3").stdout, "0x45670000\n");
      assert.equal(run("map-sg 0000:00:01.0 4096@0x1000,512@0x9000").stdout, "0x1000 4096\n0x9000 512\n");
      assert.equal(run("unmap 0000:00:01.0 0x45670000 8192").status, 0);
      assert.equal(k.dma.cookieOf(sas), null);
      assert.deepEqual(k.rangeCosts(), []);
      assert.equal(
        run("cat /sys/kernel/debug/iova/0/range").stdout,
        "orders: 0\nmax_cached: 0\nsource: none\ndriver_request: 0\n",
      );
      // max_opt_dma_size: the type store's restrictions. A bound group refuses it ...
      const busy = run("echo 1048576 > /sys/kernel/iommu_groups/0/max_opt_dma_size");
      assert.equal(
        busy.stderr,
        `bash: line 1: echo: write error: ${kernel === "6.1" ? "Device or resource busy" : "Operation not permitted"}\n`,
      );
      assert.equal(run("cat /sys/kernel/iommu_groups/0/max_opt_dma_size").stdout, "0\n");
      // ... a free one records it; it applies when a DMA domain is built, not before.
      assert.equal(run("echo 1048576 > /sys/kernel/iommu_groups/1/max_opt_dma_size").status, 0);
      assert.equal(
        run("cat /sys/kernel/iommu_groups/1/max_opt_dma_size /sys/kernel/iommu_groups/1/type").stdout,
        "1048576\nidentity\n",
      );
      assert.equal(run("cat /sys/kernel/debug/iova/1/range").stdout.split("\n")[0], "orders: 0");
      assert.equal(run("echo DMA > /sys/kernel/iommu_groups/1/type").status, 0);
      assert.equal(
        run("cat /sys/kernel/debug/iova/1/range").stdout,
        "orders: 9\nmax_cached: 1048576\nsource: sysfs\ndriver_request: 0\n",
      );
      assert.notEqual(k.dma.mapPhys(k.device("0000:00:02.0")!, 0, 0x45670000, 4096), 0x45670000);
      k.verifyInvariants();
    });
  }
}

test("a group's type written identity: the domain's IOVAs are gone, DMA is direct, the range file says none", () => {
  const k = bootMachine(machine("mainline", "iommu.strict=1"));
  const sh = new Shell(k);
  const free = k.device("0000:00:02.0")!;
  assert.notEqual(k.dma.mapPhys(free, 0, 0x1234_5000, 4096), 0x1234_5000);
  assert.equal(sh.runLine("echo identity > /sys/kernel/iommu_groups/1/type", 1).status, 0);
  assert.equal(sh.runLine("cat /sys/kernel/iommu_groups/1/type", 2).stdout, "identity\n");
  assert.equal(k.dma.cookieOf(free), null);
  assert.equal(k.dma.mapPhys(free, 0, 0x1234_5000, 4096), 0x1234_5000);
  assert.equal(sh.runLine("cat /sys/kernel/debug/iova/1/range", 3).stdout.split("\n")[2], "source: none");
  k.verifyInvariants();
});

test("each type write gives the device the cookie of its domain then, asked for as a map asks (the answer kept is redone)", () => {
  const k = bootMachine(machine("mainline", "iommu.strict=1"));
  const sh = new Shell(k);
  const free = k.device("0000:00:02.0")!;
  const sas = k.device("0000:00:01.0")!;
  const first = k.dma.cookieOf(free)!;
  const firstDomain = k.dma.domainOf(free)!;
  assert.equal(first.fq, null);
  assert.notEqual(k.dma.mapPhys(free, 0, 0x1234_5000, 4096), 0x1234_5000);
  // DMA to DMA-FQ is upgraded in place: the same domain and cookie, with a flush queue now.
  assert.equal(sh.runLine("echo DMA-FQ > /sys/kernel/iommu_groups/1/type", 1).status, 0);
  assert.equal(k.dma.cookieOf(free), first);
  assert.notEqual(first.fq, null);
  assert.equal(sh.runLine("echo identity > /sys/kernel/iommu_groups/1/type", 2).status, 0);
  assert.equal(k.dma.cookieOf(free), null);
  assert.ok(first.dead);
  assert.equal(k.dma.domainOf(free)!.type, "identity");
  assert.equal(k.dma.mapPhys(free, 0, 0x1234_5000, 4096), 0x1234_5000);
  assert.equal(sh.runLine("echo DMA > /sys/kernel/iommu_groups/1/type", 3).status, 0);
  const second = k.dma.cookieOf(free)!;
  assert.ok(second !== first && !second.dead && second.fq === null);
  assert.notEqual(k.dma.domainOf(free), firstDomain);
  assert.equal(k.dma.domainOf(free)!.cookie, second);
  // Another device asked in between, then this one again: each its own.
  assert.notEqual(k.dma.cookieOf(sas), second);
  const a = k.dma.mapPhys(free, 0, 0x1234_5000, 4096)!;
  assert.notEqual(second.iovad.findIova(a / 4096), null);
  k.verifyInvariants();
});

test("a scenario's cmdline with iommu.passthrough=1 is an input error pointing to mode: passthrough, not an internal one", () => {
  const data = { ...JSON.parse(JSON.stringify(seedScenario())), cmdline: "iommu.passthrough=1" };
  assert.throws(
    () => validateScenarioData(data, "pt-run.yaml"),
    (e: unknown) =>
      e instanceof InputError &&
      e.message.startsWith("pt-run.yaml: cmdline: expected no iommu.passthrough (a run's mode sets it)") &&
      e.message.includes("mode: passthrough") &&
      e.message.includes('found "iommu.passthrough=1"'),
  );
  // A later word turns it off again, as the kernel reads the command line.
  assert.ok(validateScenarioData({ ...data, cmdline: "iommu.passthrough=1 iommu.passthrough=0" }, "s"));
});
