/**
 * `iovalab collect` and `iovalab machine import` end to end: the script runs
 * under `sh` on fake /sys and /proc trees (IOVALAB_ROOT), its JSON is
 * imported, and the imported machine boots with the snapshot's groups,
 * types, reserved regions and NVMe queue limits. The committed fixture is
 * the 6.1 capture's section A (test/helpers/fake-sysfs.ts, with the fields
 * the capture lacks made up there); the captures themselves are read when
 * ../shared is present.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { queueLimits } from "../src/driver/drivers.ts";
import { COLLECT_SCRIPT } from "../src/machine/collect-script.ts";
import { importSnapshot, parseSnapshot } from "../src/machine/import.ts";
import { bootMachine, Shell } from "../src/machine/index.ts";
import { parseMachine } from "../src/machine/schema.ts";
import { InputError } from "../src/stdx/errors.ts";
import { type FakeTree, madeUpQemuFields, treeFromDump, writeTree } from "./helpers/fake-sysfs.ts";
import { iovalab } from "./helpers/iovalab.ts";

const SHARED = new URL("../../shared/", import.meta.url);
const FIXTURE = new URL("fixtures/collect/qemu-q35-6.1.tree.json", import.meta.url);

/** Runs the collect script with `sh` on a fake tree; returns its stdout. */
function collect(tree: FakeTree): string {
  const dir = mkdtempSync(join(tmpdir(), "iovalab-collect-"));
  try {
    writeTree(join(dir, "root"), tree);
    writeFileSync(join(dir, "collect.sh"), COLLECT_SCRIPT);
    const r = spawnSync("sh", [join(dir, "collect.sh")], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", IOVALAB_ROOT: join(dir, "root") },
      encoding: "latin1",
    });
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    // The script writes bytes; JSON text is UTF-8.
    return Buffer.from(r.stdout, "latin1").toString("utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Imports a snapshot, boots it, and checks every group against the tree's own files. */
function importAndCompare(tree: FakeTree, label: string) {
  const json = collect(tree);
  const r = importSnapshot(parseSnapshot(json, `${label}.json`), `${label}.json`);
  const k = bootMachine(parseMachine(r.yaml, `${label}.yaml`));
  k.verifyInvariants();
  const sh = new Shell(k);
  const groupDirs = new Set(
    Object.keys(tree.files)
      .map((p) => /^sys\/kernel\/iommu_groups\/(\d+)\//.exec(p)?.[1])
      .filter((g) => g !== undefined),
  );
  assert.ok(groupDirs.size > 0);
  assert.equal(
    sh.runLine("ls /sys/kernel/iommu_groups", 1).stdout,
    [...groupDirs]
      .sort()
      .map((g) => `${g}\n`)
      .join(""),
  );
  for (const g of groupDirs) {
    const base = `sys/kernel/iommu_groups/${g}`;
    for (const f of ["type", "reserved_regions"]) {
      assert.equal(sh.runLine(`cat /${base}/${f}`, 1).stdout, tree.files[`${base}/${f}`], `${label} group ${g} ${f}`);
    }
    const devs = Object.keys(tree.links)
      .filter((p) => p.startsWith(`${base}/devices/`))
      .map((p) => `${p.slice(p.lastIndexOf("/") + 1)}\n`)
      .sort()
      .join("");
    assert.equal(sh.runLine(`ls /${base}/devices`, 1).stdout, devs, `${label} group ${g} devices`);
  }
  return { k, yaml: r.yaml, assumptions: r.assumptions, json };
}

/** The NVMe disk's max_hw_sectors_kb in a tree, and its PCI address. */
function nvmeLimit(tree: FakeTree): { bdf: string; kb: number } {
  const p = Object.keys(tree.files).find((x) => x.endsWith("/nvme0n1/queue/max_hw_sectors_kb"))!;
  const bdf = /\/([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\/nvme\//.exec(p)![1];
  return { bdf, kb: Number(tree.files[p]) };
}

test("collect on the 6.1 VM's tree, import, boot: groups, types, regions and the NVMe limit match the snapshot", () => {
  const tree = JSON.parse(readFileSync(FIXTURE, "utf8")) as FakeTree;
  const { k, yaml, json } = importAndCompare(tree, "qemu-6.1");
  const snap = JSON.parse(json);
  assert.equal(snap.release, "6.1.0-56-amd64");
  assert.equal(snap.iommus[0].kind, "intel-vtd");
  assert.equal(snap.cpusPossible, "0-1");
  assert.equal(snap.cpus, 2);
  assert.deepEqual(snap.numaNodes, [{ name: "node0", cpulist: "0-1" }]);
  assert.deepEqual(snap.net[0], { name: "eth0", device: "0000:00:02.0", rxQueues: 1, txQueues: 1, speed: "1000" });
  // The profile from the release, the VT-d width and caching mode from cap d2008c22260206.
  assert.equal(k.profile.name, "6.1");
  assert.equal(k.machine.iommu.addressWidth, 39);
  assert.equal(k.machine.iommu.cachingMode, false);
  assert.equal(k.cpus, 2);
  // max_hw_sectors_kb 512 on 6.1 is MDTS 7's; the imported NVMe gets it back at probe.
  const { bdf, kb } = nvmeLimit(tree);
  assert.equal(queueLimits.get(k.device(bdf)!)?.maxHwSectorsKb, kb);
  assert.match(yaml, /^# assumed: HZ=250/m);
  assert.match(yaml, /^ {2}# assumed: dmaMaskBits 32 \(the PCI default without a driver\)$/m);
  // The imported machine boots the way the built-in of the same VM does.
  const builtin = bootMachine("qemu-q35-nvme");
  for (const [id, g] of builtin.iommu.groups) {
    assert.equal(k.group(id)!.reservedRegionsText(), g.reservedRegionsText());
    assert.deepEqual(
      k.group(id)!.devices.map((d) => d.name),
      g.devices.map((d) => d.name),
    );
  }
});

const skip61 = existsSync(new URL("kernel/sysfs-tree.txt", SHARED)) ? false : "../shared/kernel is absent";
const skip612 = existsSync(new URL("kernel-6.12/sysfs-tree.txt", SHARED)) ? false : "../shared/kernel-6.12 is absent";

test("the committed fixture is the 6.1 capture's section A with the made-up fields", { skip: skip61 }, () => {
  const dump = readFileSync(new URL("kernel/sysfs-tree.txt", SHARED), "utf8");
  assert.deepEqual(madeUpQemuFields(treeFromDump(dump)), JSON.parse(readFileSync(FIXTURE, "utf8")));
});

test("6.12 capture: collect, import, boot; /proc/iomem's windows become the host bridge's", { skip: skip612 }, () => {
  const tree = madeUpQemuFields(treeFromDump(readFileSync(new URL("kernel-6.12/sysfs-tree.txt", SHARED), "utf8")));
  const { k } = importAndCompare(tree, "qemu-6.12");
  assert.equal(k.profile.name, "mainline");
  const mem = bootMachine("qemu-q35-nvme").machine.hostBridges[0].windows.filter((w) => w.type === "mem");
  assert.deepEqual(k.machine.hostBridges[0].windows, mem);
  // 128 KiB on 6.12 is dma_opt_mapping_size's clamp: MDTS is assumed, and the limit comes back.
  const { bdf, kb } = nvmeLimit(tree);
  assert.equal(kb, 128);
  assert.equal(queueLimits.get(k.device(bdf)!)?.maxHwSectorsKb, kb);
  // The IOVA space the imported machine's NVMe domain reserves is the built-in's.
  const builtin = bootMachine("qemu-q35-nvme", { kernel: "mainline" });
  const sizes = [4096, 65536, 2 << 20];
  assert.deepEqual(
    sizes.map((n) => k.dma.mapPhys(k.device(bdf)!, 0, 0x1000, n)),
    sizes.map((n) => builtin.dma.mapPhys(builtin.device(bdf)!, 0, 0x1000, n)),
  );
});

test("/sys/module and /boot/config-RELEASE: built in or module, HZ and the IOMMU defaults stop being assumed", () => {
  const tree = JSON.parse(readFileSync(FIXTURE, "utf8")) as FakeTree;
  tree.files["sys/module/nvme/initstate"] = "live\n";
  tree.files["sys/module/e1000e/parameters/debug"] = "-1\n";
  tree.files["boot/config-6.1.0-56-amd64"] =
    "CONFIG_HZ_1000=y\nCONFIG_HZ=1000\n# CONFIG_IOMMU_DEFAULT_DMA_STRICT is not set\nCONFIG_IOMMU_DEFAULT_DMA_LAZY=y\n";
  // Without iommu.strict= on the command line the configuration decides (the groups read DMA-FQ then).
  tree.files["proc/cmdline"] = "console=ttyS0 intel_iommu=on\n";
  for (const g of [0, 1, 2, 3]) tree.files[`sys/kernel/iommu_groups/${g}/type`] = "DMA-FQ\n";
  const { k, yaml, assumptions, json } = importAndCompare(tree, "with-config");
  assert.deepEqual(JSON.parse(json).drivers, [
    { name: "nvme", module: true },
    { name: "e1000e", module: false },
  ]);
  assert.equal(k.machine.hz, 1000);
  assert.deepEqual(k.machine.config, { defaultPassthrough: false, defaultDmaStrict: false });
  assert.deepEqual(
    k.machine.drivers.map((d) => [d.name, d.module]),
    [
      ["nvme", true],
      ["e1000e", false],
    ],
  );
  assert.ok(!assumptions.some((a) => /HZ|module|CONFIG_IOMMU/.test(a)), assumptions.join("\n"));
  assert.doesNotMatch(yaml, /assumed: HZ/);
});

/**
 * An arm64 server's tree, MADE UP for the test (no capture of one exists):
 * SMMUv3, 64 KiB pages, two PCIe segments, a hisi_sas HBA and an NVMe SSD
 * with 8 hardware queues on a 6.1 kernel, lazy.
 */
function armTree(twoUnits = false): FakeTree {
  const files: Record<string, string> = {};
  const links: Record<string, string> = {};
  const dev = (
    bdf: string,
    root: string,
    group: number,
    ids: [string, string, string],
    driver: string,
    node: number,
  ) => {
    const dir = `sys/devices/${root}/${bdf}`;
    files[`${dir}/vendor`] = `${ids[0]}\n`;
    files[`${dir}/device`] = `${ids[1]}\n`;
    files[`${dir}/class`] = `${ids[2]}\n`;
    files[`${dir}/numa_node`] = `${node}\n`;
    files[`${dir}/dma_mask_bits`] = "64\n";
    links[`${dir}/driver`] = `../../../bus/pci/drivers/${driver}`;
    links[`${dir}/iommu_group`] = `../../../kernel/iommu_groups/${group}`;
    links[`sys/bus/pci/devices/${bdf}`] = `../../../devices/${root}/${bdf}`;
    links[`sys/kernel/iommu_groups/${group}/devices/${bdf}`] = `../../../../devices/${root}/${bdf}`;
    files[`sys/kernel/iommu_groups/${group}/type`] = "DMA-FQ\n";
    files[`sys/kernel/iommu_groups/${group}/reserved_regions`] = "0x0000000008000000 0x00000000080fffff msi\n";
    const smmu = twoUnits && root === "pci0001:00" ? SECOND_SMMU : FIRST_SMMU;
    links[`sys/devices/platform/${smmu.platform}/iommu/${smmu.name}/devices/${bdf}`] = `../../../../../${root}/${bdf}`;
    return dir;
  };
  for (const u of twoUnits ? [FIRST_SMMU, SECOND_SMMU] : [FIRST_SMMU])
    links[`sys/class/iommu/${u.name}`] = `../../devices/platform/${u.platform}/iommu/${u.name}`;
  dev("0000:74:02.0", "pci0000:74", 0, ["0x19e5", "0xa230", "0x010700"], "hisi_sas_v3_hw", 0);
  const nvme = dev("0001:01:00.0", "pci0001:00", 1, ["0x8086", "0x0a54", "0x010802"], "nvme", 1);
  const disk = `${nvme}/nvme/nvme0/nvme0n1`;
  links["sys/block/nvme0n1"] = `../${disk.slice(4)}`;
  for (const [k, v] of Object.entries({ max_hw_sectors_kb: 128, max_sectors_kb: 128, max_segments: 127 })) {
    files[`${disk}/queue/${k}`] = `${v}\n`;
  }
  for (let q = 0; q < 8; q++) files[`${disk}/mq/${q}/cpu_list`] = `${q}\n`;
  files["proc/cmdline"] = "BOOT_IMAGE=/vmlinuz root=/dev/sda2\n";
  files["proc/sys/kernel/osrelease"] = "6.1.0-13-arm64\n";
  files["proc/sys/kernel/arch"] = "aarch64\n";
  files["proc/self/smaps"] = "KernelPageSize:       64 kB\n";
  files["sys/devices/system/cpu/possible"] = "0-127\n";
  return { files, links };
}

test("an arm64 tree (made up): SMMUv3's granule is the page size, its MSI window software-managed, MDTS from the limit", () => {
  const { k, assumptions } = importAndCompare(armTree(), "arm");
  assert.equal(k.machine.iommu.kind, "arm-smmu-v3");
  assert.equal(k.machine.iommu.granule, 65536);
  assert.equal(k.machine.pageSize, 65536);
  assert.equal(k.cpus, 128);
  assert.deepEqual(
    k.machine.hostBridges.map((b) => b.name),
    ["pci0000:74", "pci0001:00"],
  );
  const sas = k.device("0000:74:02.0")!;
  // The HBA's run figures are not in /sys: hisi_sas v3's, written out and marked assumed.
  assert.equal(k.machine.devices[0].sas?.canQueue, 4096);
  assert.ok(assumptions.some((a) => a.startsWith("0000:74:02.0: sas: hisi_sas v3's can_queue 4096")));
  assert.equal(sas.resvRegions[0].type, "sw-msi");
  assert.equal(sas.usesMsi, true);
  assert.equal(sas.bound, true);
  // What the snapshot gives; the media and link figures are the description's defaults.
  const nv = k.machine.devices[1].nvme;
  assert.deepEqual({ mdts: nv?.mdts, ioQueues: nv?.ioQueues }, { mdts: 5, ioQueues: 8 });
  assert.ok(k.dmesg().includes("nvme nvme0: 8/0/0 default/read/poll queues\n"));
  assert.ok(
    assumptions.includes("addressWidth: 48-bit input addresses (SMMUv3 stage 1 without FEAT_VAX); not in /sys"),
  );
});

test("JSON escaping: quotes, backslashes, control bytes, UTF-8 and stray bytes in any string", () => {
  const tree = JSON.parse(readFileSync(FIXTURE, "utf8")) as FakeTree;
  // Bytes as the files hold them (latin1 writes each char as one byte).
  const utf8e = Buffer.from("é", "utf8").toString("latin1");
  tree.files["proc/cmdline"] = `a="b c" d\\e\tf\u0001g${utf8e}h\u00ffi\u007f\r\n`;
  tree.links[`sys/class/net/we"ird\\\u0002\nx y`] = "../../devices/virtual/net/weird";
  tree.files["sys/devices/virtual/net/weird/queues/rx-0/rps_cpus"] = "0\n";
  const snap = JSON.parse(collect(tree));
  assert.equal(snap.cmdline, 'a="b c" d\\e\tf\u0001géh\u00ffi\u007f\r');
  assert.ok(snap.net.some((n: { name: string }) => n.name === 'we"ird\\\u0002\nx y'));
});

test("identity groups: one under a translated default gets identityDefault; all identity is the passthrough config", () => {
  const tree = JSON.parse(readFileSync(FIXTURE, "utf8")) as FakeTree;
  tree.files["sys/kernel/iommu_groups/3/type"] = "identity\n";
  const one = importAndCompare(tree, "one-identity");
  assert.equal(one.k.group(3)!.defaultDomain!.type, "identity");
  assert.match(one.yaml, /identityDefault: true/);
  // The group's devices do direct DMA: the address is the physical one.
  assert.equal(one.k.dma.mapPhys(one.k.device("0000:00:1f.2")!, 0, 0x4321_0000, 4096), 0x4321_0000);
  for (const g of [0, 1, 2, 3]) tree.files[`sys/kernel/iommu_groups/${g}/type`] = "identity\n";
  tree.files["proc/cmdline"] = "console=ttyS0\n";
  const all = importAndCompare(tree, "all-identity");
  assert.equal(all.k.machine.config.defaultPassthrough, true);
  assert.ok(all.k.log.some((l) => l.text === "iommu: Default domain type: Passthrough "));
});

test("a DMA-FQ group on a strict machine (a run-time type write, 6.1 capture section B) is reported, not reproduced", () => {
  const tree = JSON.parse(readFileSync(FIXTURE, "utf8")) as FakeTree;
  tree.files["sys/kernel/iommu_groups/1/type"] = "DMA-FQ\n";
  const snap = parseSnapshot(collect(tree), "b.json");
  const r = importSnapshot(snap, "b.json");
  assert.ok(
    r.assumptions.includes("group 1 reads DMA-FQ, the machine boots it DMA: a run-time type write? not reproduced"),
  );
  assert.match(r.yaml, /^# {3}assumed: group 1 reads DMA-FQ/m);
  assert.equal(bootMachine(parseMachine(r.yaml, "b.yaml")).group(1)!.defaultDomain!.type, "DMA");
});

test("iovalab collect prints the script; machine import reads it back; bad snapshots are input errors", () => {
  const r = iovalab(["collect"]);
  assert.equal(r.status, 0);
  assert.equal(r.stdout, COLLECT_SCRIPT);
  const dir = mkdtempSync(join(tmpdir(), "iovalab-import-"));
  try {
    const tree = JSON.parse(readFileSync(FIXTURE, "utf8")) as FakeTree;
    writeFileSync(join(dir, "snap.json"), collect(tree));
    const out = join(dir, "m.yaml");
    const imp = iovalab(["machine", "import", join(dir, "snap.json"), "--out", out]);
    assert.equal(imp.stderr, "");
    assert.equal(imp.status, 0);
    const sh = iovalab(["shell", "--machine", out], "cat /sys/kernel/iommu_groups/1/type\n");
    assert.equal(sh.stdout, "DMA\n");
    writeFileSync(join(dir, "bad.json"), '{"format": "iovalab-collect 1"');
    const bad = iovalab(["machine", "import", join(dir, "bad.json"), "--out", join(dir, "bad.yaml")]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^iovalab: .*bad\.json: expected the JSON of iovalab collect, found /);
    assert.ok(!existsSync(join(dir, "bad.yaml")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const none = { ...JSON.parse(collect(JSON.parse(readFileSync(FIXTURE, "utf8")))), iommus: [] };
  assert.throws(
    () => importSnapshot(parseSnapshot(JSON.stringify(none), "s.json"), "s.json"),
    (e: unknown) => e instanceof InputError && /iommus: expected an IOMMU/.test(e.message),
  );
});

const FIRST_SMMU = { name: "smmu3.0x0000000140000000", platform: "arm-smmu-v3.0.auto" };
/** Made up: a second SMMU in front of the second PCIe segment, as on two-socket Arm servers. */
const SECOND_SMMU = { name: "smmu3.0x0000200140000000", platform: "arm-smmu-v3.1.auto" };

test("an arm64 tree with an SMMU per PCIe segment (made up): import keeps both units and who sits behind which", () => {
  const { k } = importAndCompare(armTree(true), "arm2");
  assert.deepEqual(k.machine.iommu.units, [FIRST_SMMU.name, SECOND_SMMU.name]);
  assert.equal(k.machine.devices.find((d) => d.bdf === "0000:74:02.0")?.iommuUnit, FIRST_SMMU.name);
  assert.equal(k.machine.devices.find((d) => d.bdf === "0001:01:00.0")?.iommuUnit, SECOND_SMMU.name);
  // One unit: no units list, nothing to say per device.
  const one = importAndCompare(armTree(), "arm1").k.machine;
  assert.equal(one.iommu.units, undefined);
  assert.ok(one.devices.every((d) => d.iommuUnit === undefined));
});
