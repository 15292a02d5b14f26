/**
 * `/sys/kernel/iommu_groups/<id>/max_opt_dma_size` under both profiles'
 * rules (configurable-range.md §3: parsed like kstrtoul(buf, 0), then the
 * `type` store's restrictions in the same order, R-GRP-OLD-2/3 for 6.1 and
 * R-GRP-4.2 step 6 for mainline), bad values for every writable file, and
 * `dma_set_max_opt_size()` step by step (§4).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";
import { parseMachine } from "../../src/machine/schema.ts";

const G = (id: number) => `/sys/kernel/iommu_groups/${id}/max_opt_dma_size`;

function shell(kernel: "6.1" | "mainline") {
  const k = bootMachine("qemu-q35-nvme", { kernel });
  return { k, sh: new Shell(k) };
}

function one(sh: Shell, line: string) {
  return sh.runLine(line, 1);
}

test("6.1: more than one device is EINVAL with the kernel's line; a bound device is EBUSY; parsing comes first", () => {
  const { k, sh } = shell("6.1");
  let before = k.log.length;
  assert.equal(one(sh, `echo 524288 > ${G(3)}`).stderr, "bash: line 1: echo: write error: Invalid argument\n");
  assert.deepEqual(
    k.log.slice(before).map((l) => l.text),
    ["iommu: Cannot change default domain: Group has more than one device"],
  );
  before = k.log.length;
  assert.equal(one(sh, `echo 524288 > ${G(1)}`).stderr, "bash: line 1: echo: write error: Device or resource busy\n");
  assert.deepEqual(
    k.log.slice(before).map((l) => l.text),
    ["iommu: Device is still bound to driver"],
  );
  before = k.log.length;
  assert.equal(one(sh, `echo foo > ${G(1)}`).stderr, "bash: line 1: echo: write error: Invalid argument\n");
  assert.equal(k.log.length, before, "a parse error logs nothing, even while bound");
  assert.equal(one(sh, `cat ${G(1)}`).stdout, "0\n");
});

test("mainline: a driver-owned group is EPERM, silently; a multi-device group without drivers is accepted", () => {
  const { k, sh } = shell("mainline");
  const before = k.log.length;
  assert.equal(one(sh, `echo 524288 > ${G(1)}`).stderr, "bash: line 1: echo: write error: Operation not permitted\n");
  assert.equal(k.log.length, before);
  const r = one(sh, `echo 524288 > ${G(3)}`);
  assert.equal(r.status, 0);
  assert.equal(
    one(sh, "cat /sys/kernel/debug/iova/3/range").stdout,
    "orders: 8\nmax_cached: 524288\nsource: sysfs\ndriver_request: 0\n",
  );
});

test("a write rebuilds the domain only when K changes; 0 clears back to the default chain", () => {
  for (const kernel of ["6.1", "mainline"] as const) {
    const { k, sh } = shell(kernel);
    const serial = () => k.group(0)!.defaultDomain!.serial;
    const s0 = serial();
    assert.equal(one(sh, `echo 524288 > ${G(0)}`).status, 0);
    const s1 = serial();
    assert.notEqual(s1, s0, "K 6 -> 8 builds a new default domain");
    assert.equal(k.group(0)!.defaultDomain!.type, "DMA", "same type");
    // 300000 rounds up to 512 KiB: the same K is recorded without a rebuild.
    assert.equal(one(sh, `echo 300000 > ${G(0)}`).status, 0);
    assert.equal(serial(), s1);
    assert.equal(one(sh, `cat ${G(0)}`).stdout, "300000\n");
    assert.equal(one(sh, `echo 0 > ${G(0)}`).status, 0);
    assert.notEqual(serial(), s1);
    assert.equal(
      one(sh, "cat /sys/kernel/debug/iova/0/range").stdout,
      "orders: 6\nmax_cached: 131072\nsource: default\ndriver_request: 0\n",
    );
    // The rebuilt domain has its reservations again (DMA-1.6): the MSI window.
    assert.deepEqual(k.dma.cookieOf(k.device("0000:00:00.0")!)!.iovad.findIova(0xfee00), [0xfee00, 0xfeeff]);
  }
});

test("kstrtoul forms are accepted: hex, octal, leading +, one trailing newline", () => {
  const { sh } = shell("6.1");
  for (const [line, want] of [
    [`echo 0x80000 > ${G(0)}`, "524288\n"],
    [`echo 02000000 > ${G(0)}`, "524288\n"],
    [`echo +1048576 > ${G(0)}`, "1048576\n"],
    [`printf 4096 > ${G(0)}`, "4096\n"],
    [`printf '65536\\n' > ${G(0)}`, "65536\n"],
  ] as const) {
    assert.equal(one(sh, line).status, 0, line);
    assert.equal(one(sh, `cat ${G(0)}`).stdout, want, line);
  }
});

test("bad values for max_opt_dma_size are EINVAL and change nothing", () => {
  for (const kernel of ["6.1", "mainline"] as const) {
    const { k, sh } = shell(kernel);
    const s0 = k.group(0)!.defaultDomain!.serial;
    for (const line of [
      `echo > ${G(0)}`,
      `echo abc > ${G(0)}`,
      `echo -1 > ${G(0)}`,
      `echo 0x > ${G(0)}`,
      `echo 09 > ${G(0)}`,
      `echo '4096 ' > ${G(0)}`,
      `echo ' 4096' > ${G(0)}`,
      `echo 1e6 > ${G(0)}`,
      `echo 512K > ${G(0)}`,
      `echo 18446744073709551616 > ${G(0)}`,
      // Above the 39-bit aperture (configurable-range.md §1).
      `echo 549755813889 > ${G(0)}`,
    ]) {
      const r = one(sh, line);
      assert.equal(r.stderr.endsWith("write error: Invalid argument\n"), true, `${kernel}: ${line}: ${r.stderr}`);
      assert.equal(r.status, 1);
    }
    assert.equal(k.group(0)!.defaultDomain!.serial, s0);
    assert.equal(one(sh, `cat ${G(0)}`).stdout, "0\n");
    const r = one(sh, `printf '4096\\n\\n' > ${G(0)}`);
    assert.equal(r.stderr, "bash: line 1: printf: write error: Invalid argument\n");
    // printf '4096\n\n' wrote "4096\n" first (accepted) and then "\n" (rejected), as bash does.
    assert.equal(one(sh, `cat ${G(0)}`).stdout, "4096\n");
  }
});

test("bad values for type, bind, unbind and read-only files", () => {
  const { sh } = shell("6.1");
  const cases: [string, string][] = [
    ["echo dma > /sys/kernel/iommu_groups/0/type", "bash: line 1: echo: write error: Invalid argument\n"],
    ["echo Identity > /sys/kernel/iommu_groups/0/type", "bash: line 1: echo: write error: Invalid argument\n"],
    ["echo 0000:00:09.0 > /sys/bus/pci/drivers/nvme/bind", "bash: line 1: echo: write error: No such device\n"],
    ["echo 0000:00:02.0 > /sys/bus/pci/drivers/nvme/bind", "bash: line 1: echo: write error: No such device\n"],
    [
      "echo 0000:00:01.0 > /sys/bus/pci/drivers/nvme/bind",
      "bash: line 1: echo: write error: Device or resource busy\n",
    ],
    ["echo 0000:00:02.0 > /sys/bus/pci/drivers/nvme/unbind", "bash: line 1: echo: write error: No such device\n"],
    ["echo '0000:00:01.0 ' > /sys/bus/pci/drivers/nvme/unbind", "bash: line 1: echo: write error: No such device\n"],
    ["echo 1 > /sys/kernel/debug/iova/1/range", "bash: line 1: /sys/kernel/debug/iova/1/range: Permission denied\n"],
    [
      "echo 1 > /sys/kernel/iommu_groups/1/reserved_regions",
      "bash: line 1: /sys/kernel/iommu_groups/1/reserved_regions: Permission denied\n",
    ],
    [
      "echo 1 > /sys/kernel/iommu_groups/1/newfile",
      "bash: line 1: /sys/kernel/iommu_groups/1/newfile: Permission denied\n",
    ],
    [
      "echo 1 > /sys/kernel/iommu_groups/9/type",
      "bash: line 1: /sys/kernel/iommu_groups/9/type: No such file or directory\n",
    ],
    ["cat /sys/bus/pci/drivers/nvme/bind", "cat: can't open '/sys/bus/pci/drivers/nvme/bind': Permission denied\n"],
    [
      "echo x > /sys/module/hisi_sas_v3_hw/parameters/max_opt_dma_size",
      "bash: line 1: /sys/module/hisi_sas_v3_hw/parameters/max_opt_dma_size: No such file or directory\n",
    ],
  ];
  for (const [line, err] of cases) {
    const r = one(sh, line);
    assert.equal(r.stderr, err, line);
    assert.equal(r.status, 1, line);
  }
  const hisi = new Shell(bootMachine("hisi-sas-128", {}));
  const r = hisi.runLine("echo 12ab > /sys/module/hisi_sas_v3_hw/parameters/max_opt_dma_size", 1);
  assert.equal(r.stderr, "bash: line 1: echo: write error: Invalid argument\n");
});

test("type and max_opt_dma_size on a group without an IOVA domain (identity): recorded, applied when DMA returns", () => {
  const { k, sh } = shell("6.1");
  const r = sh.runScript(
    [
      "echo 0000:00:01.0 > /sys/bus/pci/drivers/nvme/unbind",
      "echo identity > /sys/kernel/iommu_groups/1/type",
      `echo 524288 > ${G(1)}`,
      "cat /sys/kernel/debug/iova/1/range",
      "echo DMA > /sys/kernel/iommu_groups/1/type",
      "cat /sys/kernel/debug/iova/1/range",
    ].join("\n"),
  );
  assert.equal(r.stderr, "");
  assert.equal(
    r.stdout,
    "orders: 0\nmax_cached: 0\nsource: none\ndriver_request: 0\norders: 8\nmax_cached: 524288\nsource: sysfs\ndriver_request: 0\n",
  );
  assert.equal(k.dma.cookieOf(k.device("0000:00:01.0")!)!.iovad.rcacheOrders, 8);
});

/** Two devices in one group: one with a driver, one without. */
const SHARED = `
name: shared
kernel: mainline
cpus: 2
cmdline: iommu.strict=1
iommu: { kind: arm-smmu-v3, name: smmu0, granule: 4096, addressWidth: 48 }
hostBridges: [{ name: "pci0000:00" }]
devices:
  - { bdf: "0000:00:01.0", vendor: 0x1234, device: 0x0001, class: 0x020000, group: g }
  - { bdf: "0000:00:02.0", vendor: 0x1234, device: 0x0002, class: 0x010700, group: g }
  - { bdf: "0000:00:03.0", vendor: 0x1234, device: 0x0003, class: 0x010700, group: h }
drivers:
  - { name: nic, model: plain, match: [{ vendor: 0x1234, device: 0x0001 }] }
`;

test("dma_set_max_opt_size() takes configurable-range.md §4 steps 1 to 5 in order", () => {
  const k = bootMachine(parseMachine(SHARED, "shared.yaml"));
  const [nic, other, alone] = ["0000:00:01.0", "0000:00:02.0", "0000:00:03.0"].map((b) => k.device(b)!);
  // Step 2: 128 KiB is already cached by the default K = 6.
  assert.equal(k.mapping.setMaxOptSize(alone, 131072), 0);
  // Step 4: another device of the group is bound; nothing is recorded.
  assert.equal(k.mapping.setMaxOptSize(other, 524288), "EBUSY");
  assert.equal(k.group(0)!.driverMaxOptDmaSize, 0);
  // Step 5: recorded, -EPROBE_DEFER.
  assert.equal(k.mapping.setMaxOptSize(alone, 524288), "EPROBE_DEFER");
  assert.equal(k.group(1)!.driverMaxOptDmaSize, 524288);
  // Step 3: an administrator's value wins; the request is still recorded.
  const sh = new Shell(k);
  assert.equal(sh.runLine(`echo 65536 > ${G(1)}`, 1).status, 0);
  assert.equal(k.mapping.setMaxOptSize(alone, 1048576), 0);
  assert.equal(
    sh.runLine("cat /sys/kernel/debug/iova/1/range", 1).stdout,
    "orders: 5\nmax_cached: 65536\nsource: sysfs\ndriver_request: 1048576\n",
  );
  // Step 1: identity domain — not the IOMMU DMA ops.
  assert.equal(sh.runLine(`echo identity > /sys/kernel/iommu_groups/1/type`, 1).status, 0);
  assert.equal(k.mapping.setMaxOptSize(alone, 1048576), 0);
  assert.equal(k.mapping.optMappingSize(alone), 18446744073709551615n);
  assert.equal(nic.bound, true);
});
