/** The server built-ins boot, and nvme's dma_opt_max_transfer takes the driver path of the range (configurable-range.md §4). */

import assert from "node:assert/strict";
import { test } from "node:test";
import { queueLimits } from "../driver/drivers.ts";
import { bootMachine, Shell } from "./index.ts";
import { parseMachine } from "./schema.ts";

test("the server built-ins boot: every device in its group, drivers bound, groups' type and regions", () => {
  const want = {
    "arm-2s-nvme8": { groups: 8, bound: 8, regions: "0x0000000008000000 0x00000000080fffff msi\n" },
    "epyc-nvme": {
      groups: 5,
      bound: 4,
      regions: "0x00000000fee00000 0x00000000feefffff msi\n0x000000fd00000000 0x000000ffffffffff reserved\n",
    },
    "xeon-100g": { groups: 1, bound: 1, regions: "0x00000000fee00000 0x00000000feefffff msi\n" },
  } as const;
  for (const [name, w] of Object.entries(want)) {
    const k = bootMachine(name);
    k.verifyInvariants();
    assert.equal(k.iommu.groups.size, w.groups, name);
    assert.equal(k.drivers.devices.filter((d) => d.bound).length, w.bound, name);
    const sh = new Shell(k);
    const last = w.groups - 1;
    assert.equal(sh.runLine(`cat /sys/kernel/iommu_groups/${last}/type`, 1).stdout, "DMA-FQ\n", name);
    assert.equal(sh.runLine(`cat /sys/kernel/iommu_groups/${last}/reserved_regions`, 2).stdout, w.regions, name);
  }
  // One I/O queue per CPU up to what the controller grants; MDTS 5 caps transfers at 128 KiB.
  const epyc = bootMachine("epyc-nvme");
  assert.ok(epyc.dmesg().includes("nvme nvme0: 128/0/0 default/read/poll queues\n"));
  assert.ok(!epyc.dmesg().includes("bogus"));
  assert.equal(queueLimits.get(epyc.device("0000:01:00.0")!)?.maxHwSectorsKb, 128);
  const arm = bootMachine("arm-2s-nvme8", { cpus: 16 });
  assert.ok(arm.dmesg().includes("nvme nvme7: 16/0/0 default/read/poll queues\n"));
});

/** One NVMe SSD with MDTS 8 (1 MiB) alone in its group, nvme built in. */
const BIG_MDTS = `
name: big-mdts
kernel: mainline
cpus: 4
iommu: { kind: arm-smmu-v3, name: smmu0, granule: 4096, addressWidth: 48 }
hostBridges: [{ name: "pci0000:00" }]
devices:
  - { bdf: "0000:01:00.0", vendor: 0x8086, device: 0x0a54, class: 0x010802, group: a, nvme: { mdts: 8, ioQueues: 8 } }
drivers:
  - { name: nvme, model: nvme, match: [{ class: 0x010802, classMask: 0xffffff }] }
`;

test("nvme.dma_opt_max_transfer=1: probe asks for MDTS's 1 MiB, defers, the reprobe finds the rebuilt domain", () => {
  const m = parseMachine(BIG_MDTS, "big.yaml");
  const off = bootMachine(m);
  const dev0 = off.device("0000:01:00.0")!;
  // Off by default: upstream's 128 KiB clamp from dma_opt_mapping_size.
  assert.equal(queueLimits.get(dev0)?.maxHwSectorsKb, 128);
  assert.equal(off.group(0)!.defaultDomain!.range.source, "default");
  assert.ok(off.dmesg().includes("nvme nvme0: 4/0/0 default/read/poll queues\n"));

  const k = bootMachine(m, { cmdline: "nvme.dma_opt_max_transfer=1" });
  const dev = k.device("0000:01:00.0")!;
  const log = k.log.map((l) => l.text);
  const defer = log.indexOf("nvme 0000:01:00.0: Driver nvme requests probe deferral");
  const rebuild = log.indexOf(
    "iommu: Rebuilding default domain of group 0 (type DMA-FQ) with 9 IOVA rcache orders (1048576 bytes, from driver)",
  );
  const bound = log.indexOf("nvme nvme0: pci function 0000:01:00.0");
  assert.ok(defer >= 0 && rebuild > defer && bound > rebuild, log.join("\n"));
  assert.equal(dev.bound, true);
  assert.equal(queueLimits.get(dev)?.maxHwSectorsKb, 1024);
  assert.equal(
    new Shell(k).runLine("cat /sys/kernel/debug/iova/0/range", 1).stdout,
    "orders: 9\nmax_cached: 1048576\nsource: driver\ndriver_request: 1048576\n",
  );
  k.verifyInvariants();
});
