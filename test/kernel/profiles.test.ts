/**
 * The profile switches the kernel model follows (issue 7's rule: no version
 * ifs outside the profile tables): the DMA-FQ type (5.10 has none: a lazy
 * domain reads DMA and has a flush queue), the round-up place (VER-3: same
 * DMA-API result), and the command-line policy lines: passthrough, and
 * VT-d Caching Mode forcing strict (../shared/kernel/README.md).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";
import { parseMachine } from "../../src/machine/schema.ts";

test("5.10: no DMA-FQ type; a lazy domain reads DMA and still queues frees", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "5.10", cmdline: "iommu.strict=0" });
  const sh = new Shell(k);
  assert.equal(sh.runLine("cat /sys/kernel/iommu_groups/1/type", 1).stdout, "DMA\n");
  // The type file is read-only before v5.11 (R-ABI-3): the write fails to open.
  assert.equal(
    sh.runLine("echo DMA-FQ > /sys/kernel/iommu_groups/1/type", 1).stderr,
    "bash: line 1: /sys/kernel/iommu_groups/1/type: Permission denied\n",
  );
  const dev = k.device("0000:00:01.0")!;
  const cookie = k.dma.cookieOf(dev)!;
  assert.ok(cookie.fq !== null);
  const a = k.dma.mapPhys(dev, 0, 0x1000, 4096)!;
  assert.ok(k.dma.unmapPhys(dev, 0, a, 4096));
  assert.equal(cookie.fq!.queued(0), 1);
});

test("5.15: DMA-FQ is a type and type is writable; a bound device is EBUSY as in 6.1", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "5.15", cmdline: "iommu.strict=0" });
  const sh = new Shell(k);
  assert.equal(sh.runLine("cat /sys/kernel/iommu_groups/1/type", 1).stdout, "DMA-FQ\n");
  assert.equal(
    sh.runLine("echo DMA > /sys/kernel/iommu_groups/1/type", 1).stderr,
    "bash: line 1: echo: write error: Device or resource busy\n",
  );
});

test("5.15 rounds up in iommu_dma_alloc_iova, 6.1 in alloc_iova_fast: the same IOVAs (VER-3)", () => {
  const seq = (kernel: "5.15" | "6.1") => {
    const k = bootMachine("qemu-q35-nvme", { kernel });
    const dev = k.device("0000:00:01.0")!;
    return [3, 5, 1, 17, 33, 2].map((p) => k.dma.mapPhys(dev, 0, 0x1000, p * 4096));
  };
  const a = seq("5.15");
  assert.deepEqual(a, seq("6.1"));
  // 3 pages round up to 4 and are 4-aligned; 33 pages are not rounded (64-aligned).
  assert.equal(a[0], 0xffffc000);
  assert.equal((a[4]! / 4096) % 64, 0);
});

test("iommu.passthrough=1: identity default domains, direct DMA, no TLB policy line", () => {
  for (const kernel of ["6.1", "mainline"] as const) {
    const k = bootMachine("qemu-q35-nvme", { kernel, cmdline: "iommu.passthrough=1" });
    const text = k.log.map((l) => l.text);
    assert.ok(text.includes("iommu: Default domain type: Passthrough (set via kernel command line)"));
    assert.ok(!text.some((t) => t.includes("TLB invalidation policy")));
    const r = new Shell(k).runLine("dma-info 0000:00:01.0", 1);
    assert.equal(
      r.stdout,
      "dma_max_mapping_size 18446744073709551615\ndma_opt_mapping_size 18446744073709551615\ndomain identity\ngroup 1\n",
    );
    assert.equal(k.dma.mapPhys(k.device("0000:00:01.0")!, 0, 0x1234_5000, 4096), 0x1234_5000);
  }
});

test("mainline NVMe: dma_opt_mapping_size is 128 KiB and caps transfers at 128 KiB; 6.1 keeps 512 KiB", async () => {
  const { queueLimits } = await import("../../src/driver/drivers.ts");
  for (const [kernel, kb] of [
    ["mainline", 128],
    ["6.1", 512],
  ] as const) {
    const k = bootMachine("qemu-q35-nvme", { kernel });
    const dev = k.device("0000:00:01.0")!;
    assert.equal(k.mapping.optMappingSize(dev), 131072n);
    assert.equal(queueLimits.get(dev)?.maxHwSectorsKb, kb, kernel);
    assert.equal(queueLimits.get(dev)?.maxSectorsKb, kb, kernel);
    assert.equal(queueLimits.get(dev)?.maxSegments, kernel === "mainline" ? 33 : 127, "README queue limits");
    assert.equal(dev.maxSegSize, 4294967295, "max_segment_size of the NVMe queue");
  }
});

test("VT-d Caching Mode forces strict after the lazy policy line (caching-mode=on boot of sysfs-tree.txt E)", () => {
  const yaml = `
name: cm
kernel: "6.1"
cpus: 2
cmdline: iommu.strict=0
iommu: { kind: intel-vtd, name: dmar0, granule: 4096, addressWidth: 39, cachingMode: true }
hostBridges: [{ name: "pci0000:00" }]
devices:
  - { bdf: "0000:00:01.0", vendor: 0x1b36, device: 0x0010, class: 0x010802, group: a }
`;
  const k = bootMachine(parseMachine(yaml, "cm.yaml"));
  const text = k.log.map((l) => l.text);
  const lazy = text.indexOf("iommu: DMA domain TLB invalidation policy: lazy mode (set via kernel command line)");
  const cm = text.indexOf("DMAR: IOMMU batching disallowed due to virtualization");
  assert.ok(lazy >= 0 && cm > lazy);
  assert.equal(new Shell(k).runLine("cat /sys/kernel/iommu_groups/0/type", 1).stdout, "DMA\n");
});

test("hisi_sas disks: sd caps max_sectors at dma_opt_mapping_size from v6.0, so the configured range lifts it", async () => {
  const { queueLimits } = await import("../../src/driver/drivers.ts");
  const limits = (kernel: "6.1" | "5.15", cmdline: string) => {
    const k = bootMachine("hisi-sas-128", { kernel, cmdline });
    return queueLimits.get(k.device("0000:74:02.0")!);
  };
  // Upstream behaviour (no request): 128 KiB.
  assert.deepEqual(limits("6.1", "hisi_sas_v3_hw.max_opt_dma_size=0"), {
    maxHwSectorsKb: 512,
    maxSectorsKb: 128,
    maxSegments: 124,
  });
  // The driver's request: K = 8, 512 KiB.
  assert.deepEqual(limits("6.1", ""), { maxHwSectorsKb: 512, maxSectorsKb: 512, maxSegments: 124 });
  // Before v6.0 sd had no such cap.
  assert.equal(limits("5.15", "hisi_sas_v3_hw.max_opt_dma_size=0")?.maxSectorsKb, 512);
});
