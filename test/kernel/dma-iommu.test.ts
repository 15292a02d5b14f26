/**
 * dma-iommu on the real VM: the NVMe domain's reservations
 * (nvme-domain-init.txt, DMA-1.6), the first probe-time allocations the
 * 6.1 kernel made (vm-init-state.txt section B2), forcedac (DMA-2.4),
 * SAC-first per profile (DMA-3.3, VER-4), scatter-gather padding and merging
 * (DMA-5.5, 5.6), and the flush queue (DMA-4).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { bootMachine } from "../../src/machine/index.ts";
import { parseMachine } from "../../src/machine/schema.ts";

function reservesOf(fixture: string): [number, number][] {
  const text = readFileSync(new URL(`fixtures/${fixture}`, import.meta.url), "utf8");
  return text
    .split("\n")
    .filter((l) => l.startsWith("reserve "))
    .map((l) => l.split(" ").slice(1).map(Number) as [number, number])
    .sort((a, b) => a[0] - b[0]);
}

for (const [kernel, fixture] of [
  ["6.1", "nvme-domain-init-6.1.txt"],
  ["mainline", "nvme-domain-init-6.12.txt"],
] as const) {
  test(`${kernel}: the NVMe domain holds exactly the reservations of ${fixture}`, () => {
    const k = bootMachine("qemu-q35-nvme", { kernel });
    const iovad = k.dma.cookieOf(k.device("0000:00:01.0")!)!.iovad;
    const got: [number, number][] = [];
    iovad.forEachIova((lo, hi) => got.push([lo, hi]));
    assert.deepEqual(got, reservesOf(fixture));
    assert.equal(iovad.startPfn, 1);
    assert.equal(iovad.granule, 4096);
    iovad.verifyInvariants();
  });
}

test("6.1: the NVMe probe's first allocations land where the real kernel put them (vm-init-state.txt B2)", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "6.1" });
  const dev = k.device("0000:00:01.0")!;
  const cpu = 1;
  // [dma_alloc size, or map_page/unmap of 4096] and the IOVA the kernel returned.
  const coherent = (size: number) => k.dma.mapPhys(dev, cpu, 0x4570_0000, size, true);
  assert.equal(coherent(0x200), 0xfffff000);
  assert.equal(coherent(0x800), 0xffffe000);
  const a = k.dma.mapPhys(dev, cpu, 0x7a79_1000, 4096);
  assert.equal(a, 0xffffd000);
  assert.ok(k.dma.unmapPhys(dev, cpu, a!, 4096));
  assert.equal(k.dma.mapPhys(dev, cpu, 0x7a79_2000, 4096), 0xffffd000);
  assert.ok(k.dma.unmapPhys(dev, cpu, 0xffffd000, 4096));
  assert.equal(coherent(0x18), 0xffffd000);
  assert.equal(coherent(0x18), 0xffffc000);
  assert.equal(coherent(0x4000), 0xffff8000);
  assert.equal(coherent(0x10000), 0xfffe0000);
  assert.equal(coherent(0x4000), 0xfffdc000);
  assert.equal(coherent(0x10000), 0xfffc0000);
  assert.equal(k.dma.mapPhys(dev, cpu, 0x7a79_1000, 4096), 0xfffbf000);
});

test("forcedac: the first allocation is at the top of the 39-bit aperture (nvme-domain-init.txt boot C)", () => {
  for (const kernel of ["6.1", "mainline"] as const) {
    const k = bootMachine("qemu-q35-nvme", { kernel, cmdline: "iommu.forcedac=1" });
    assert.equal(k.dma.mapPhys(k.device("0000:00:01.0")!, 0, 0x1000, 4096), 0x7f_ffff_f000);
    assert.ok(k.dmesg().includes("] Forcing DAC for PCI devices\n"));
  }
});

/** A one-device machine whose 32-bit space holds exactly 64 free pages (0xfffc0-0xfffff). */
const TIGHT = `
name: tight
kernel: "6.1"
cpus: 2
cmdline: iommu.strict=1
iommu: { kind: intel-vtd, name: dmar0, granule: 4096, addressWidth: 39 }
hostBridges: [{ name: "pci0000:00" }]
devices:
  - { bdf: "0000:00:01.0", vendor: 0x1b36, device: 0x0010, class: 0x010802, group: a,
      segBoundaryMask: 0xffff,
      reservedRegions: [{ start: 0, end: 0xfffbffff, type: reserved }] }
drivers:
  - { name: nvme, model: nvme, match: [{ vendor: 0x1b36 }] }
`;

test("SAC-first: 6.1 tries 32 bits on every allocation, mainline stops at the first failure (DMA-3.3, VER-4)", () => {
  const want = { "6.1": 0xfffff000, mainline: 0x7f_ffff_e000 };
  for (const kernel of ["6.1", "mainline"] as const) {
    const k = bootMachine(parseMachine(TIGHT, "tight.yaml"), { kernel });
    const dev = k.device("0000:00:01.0")!;
    const a = k.dma.mapPhys(dev, 0, 0x10_0000, 64 * 4096);
    assert.equal(a, 0xfffc0000, `${kernel}: 64 pages fill the 32-bit space`);
    assert.equal(k.dma.mapPhys(dev, 0, 0x20_0000, 4096), 0x7f_ffff_f000, `${kernel}: 64-bit fallback`);
    const notice = "nvme 0000:00:01.0: Using 39-bit DMA addresses";
    assert.equal(
      k.log.some((l) => l.text === notice),
      kernel === "mainline",
    );
    // 64 pages are uncacheable (class 6): the free returns them to the tree.
    assert.ok(k.dma.unmapPhys(dev, 0, a!, 64 * 4096));
    assert.equal(k.dma.mapPhys(dev, 0, 0x30_0000, 4096), want[kernel], kernel);
  }
});

test("map_sg pads to the segment boundary and merges only contiguous, granule-ending segments (DMA-5.5, 5.6)", () => {
  const k = bootMachine(parseMachine(TIGHT, "tight.yaml"), { kernel: "mainline" });
  const dev = k.device("0000:00:01.0")!;
  const iovad = k.dma.cookieOf(dev)!.iovad;
  // 60 KiB then 8 KiB with a 64 KiB boundary: 4 KiB of padding goes on the first segment, the
  // list needs 18 pages, rounded up to 32 by alloc_iova_fast; the second starts on the boundary.
  const m = k.dma.mapSg(dev, 0, [
    { phys: 0x100_0000, length: 60 * 1024 },
    { phys: 0x200_0000, length: 8192 },
  ]);
  assert.equal(m.nents, 2);
  assert.equal(m.segments[1].dmaAddr - m.segments[0].dmaAddr, 65536);
  assert.equal(m.segments[0].dmaAddr % (32 * 4096), 0);
  const live = iovad.findIova(m.segments[0].dmaAddr / 4096)!;
  assert.equal(live[1] - live[0] + 1, 32);
  // Two whole pages merge into one segment; a short first segment stops merging.
  const merged = k.dma.mapSg(dev, 0, [
    { phys: 0x300_0000, length: 4096 },
    { phys: 0x500_0000, length: 4096 },
  ]);
  assert.equal(merged.nents, 1);
  assert.equal(merged.segments[0].length, 8192);
  const split = k.dma.mapSg(dev, 0, [
    { phys: 0x600_0000, length: 1000 },
    { phys: 0x700_0000, length: 4096 },
  ]);
  assert.equal(split.nents, 2);
  assert.ok(k.dma.unmapSg(dev, 0, m));
  assert.ok(k.dma.unmapSg(dev, 0, merged));
  assert.ok(k.dma.unmapSg(dev, 0, split));
  assert.ok(!k.dma.unmapSg(dev, 0, split), "a second unmap finds nothing mapped");
  iovad.verifyInvariants();
});

test("DMA-FQ: an unmapped IOVA waits for the 10 ms timer (3 jiffies at HZ=250, run at the wheel's next tick), then sits in the timer CPU's rcache", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "mainline", cmdline: "iommu.strict=0" });
  assert.equal(
    k.sysfs.read("/sys/kernel/iommu_groups/1/type").ok && k.iommu.groups.get(1)!.defaultDomain!.type,
    "DMA-FQ",
  );
  const dev = k.device("0000:00:01.0")!;
  const cookie = k.dma.cookieOf(dev)!;
  k.advanceTo(6_001_000_000); // 1 ms into a jiffy
  const a = k.dma.mapPhys(dev, 1, 0x1000, 4096)!;
  assert.ok(k.dma.unmapPhys(dev, 1, a, 4096));
  assert.equal(cookie.fq!.queued(1), 1);
  // Armed at jiffy 1500 (6.000 s): expires at 1503 (6.012 s); the timer wheel runs it at the tick of 1504 (6.016 s).
  assert.equal(cookie.fq!.timerDueNs, 6_012_000_000);
  const b = k.dma.mapPhys(dev, 1, 0x2000, 4096)!;
  assert.notEqual(b, a, "still allocated while queued (DMA-4.6)");
  k.advanceTo(6_015_999_999);
  assert.equal(cookie.fq!.queued(1), 1);
  k.advanceTo(6_016_000_000);
  assert.equal(cookie.fq!.queued(1), 0);
  assert.equal(cookie.iovad.stats.cachedPfns[0], 1);
  assert.equal(k.dma.mapPhys(dev, 0, 0x3000, 4096) === a, false, "CPU 0's rcache is empty");
  assert.equal(k.dma.mapPhys(dev, 1, 0x4000, 4096), a, "CPU 1 (the timer's) gets it back");
});

test("DMA-FQ: a ring holds 255 entries; the 256th unmap flushes and frees them on the queueing CPU", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "6.1", cmdline: "iommu.strict=0" });
  const dev = k.device("0000:00:01.0")!;
  const cookie = k.dma.cookieOf(dev)!;
  const addrs: number[] = [];
  for (let i = 0; i < 256; i++) addrs.push(k.dma.mapPhys(dev, 0, 0x1000 * (i + 1), 4096)!);
  for (let i = 0; i < 255; i++) assert.ok(k.dma.unmapPhys(dev, 0, addrs[i], 4096));
  assert.equal(cookie.fq!.queued(0), 255);
  assert.equal(cookie.fq!.flushes, 0);
  assert.ok(k.dma.unmapPhys(dev, 0, addrs[255], 4096));
  assert.equal(cookie.fq!.flushes, 1);
  assert.equal(cookie.fq!.queued(0), 1);
  assert.equal(cookie.iovad.stats.cachedPfns[0], 255);
  cookie.iovad.verifyInvariants();
});

test("an untrusted device maps each list entry on its own and is capped at the swiotlb size (DMA-5.5, DMA-6.2)", () => {
  const k = bootMachine(parseMachine(TIGHT.replace("segBoundaryMask: 0xffff,", "untrusted: true,"), "u.yaml"), {
    kernel: "mainline",
  });
  const dev = k.device("0000:00:01.0")!;
  const m = k.dma.mapSg(dev, 0, [
    { phys: 0x300_0000, length: 4096 },
    { phys: 0x500_0000, length: 4096 },
  ]);
  assert.deepEqual(
    m.segments.map((s) => s.dmaAddr),
    [0xfffff000, 0xffffe000],
  );
  assert.equal(k.mapping.maxMappingSize(dev), 262144n);
  assert.equal(k.mapping.optMappingSize(dev), 131072n);
  assert.ok(k.dma.unmapSg(dev, 0, m));
  assert.equal(k.dma.cookieOf(dev)!.mapped.size, 0);
});

const RANGES = `
name: ranges
cpus: 1
cmdline: iommu.strict=1
iommu: { kind: arm-smmu-v3, name: smmu0, granule: 4096, addressWidth: 48 }
hostBridges:
  - name: "pci0000:00"
    windows: [{ type: mem, start: 0x40000000, end: 0x4fffffff }]
    dmaRanges: [{ start: 0x100000000, end: 0x1ffffffff }, { start: 0x80000000, end: 0xbfffffff }]
devices:
  - { bdf: "0000:00:01.0", vendor: 0x1b36, device: 0x0010, class: 0x010802, group: a }
`;

test("dma-ranges: the gaps between the sorted ranges are reserved, one granule into each range, and the tail to ~0 (DMA-1.6)", () => {
  const k = bootMachine(parseMachine(RANGES, "ranges.yaml"));
  const iovad = k.dma.cookieOf(k.device("0000:00:01.0")!)!.iovad;
  const got: [number, number][] = [];
  iovad.forEachIova((lo, hi) => got.push([lo, hi]));
  // The window [0x40000, 0x4ffff] is reserved first; the gap [0, 0x80000] then overlaps it, and
  // reserve_iova stretches the window's node down to 0 and inserts only the rest, [0x50000, 0x80000].
  assert.deepEqual(got, [
    [0x0, 0x4ffff],
    [0x50000, 0x80000], // ... up to the first range's first pfn (one granule inside it)
    [0xc0000, 0x100000], // between the ranges, up to the second range's first pfn
    [0x200000, 2 ** 52 - 1], // after the last range, to pfn(~0)
  ]);
  iovad.verifyInvariants();
});

test("overlapping dma-ranges fail the domain init: the device keeps direct DMA (DMA-1.6 step 2, DMA-2.2)", () => {
  const bad = RANGES.replace("{ start: 0x80000000, end: 0xbfffffff }", "{ start: 0x180000000, end: 0x27fffffff }");
  const k = bootMachine(parseMachine(bad, "bad.yaml"));
  const dev = k.device("0000:00:01.0")!;
  assert.equal(dev.dmaIommu, false);
  assert.ok(k.log.some((l) => l.text === "Failed to set up IOMMU for device 0000:00:01.0; retaining platform DMA ops"));
  assert.equal(k.dma.mapPhys(dev, 0, 0x1234_0000, 4096), 0x1234_0000);
});

test("mainline: group 3 to identity and back to DMA-FQ rebuilds the 16 MiB direct-relaxable mapping (6.12 sysfs-behaviour)", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "mainline" });
  const g = k.group(3)!;
  const first = g.defaultDomain!;
  assert.deepEqual(first.directMappings, [{ start: 0, end: 0xffffff, type: "direct-relaxable" }]);
  assert.ok(k.sysfs.openWrite("/sys/kernel/iommu_groups/3/type").ok);
  const w = (v: string) => k.iommu.storeType(g, v);
  assert.ok(w("identity\n").ok);
  assert.deepEqual(g.defaultDomain!.directMappings, []);
  assert.ok(w("DMA-FQ\n").ok);
  assert.notEqual(g.defaultDomain, first);
  assert.deepEqual(g.defaultDomain!.directMappings, [{ start: 0, end: 0xffffff, type: "direct-relaxable" }]);
  // The new IOVA domain reserves the region again (pfns 0-0xfff); the VGA window [0xa0, 0xbf],
  // reserved first, is stretched down to 0 and the rest inserted after it (reserve_iova overlap rule).
  const iovad = k.dma.cookieOf(k.device("0000:00:1f.0")!)!.iovad;
  assert.deepEqual(iovad.findIova(0x10), [0, 0xbf]);
  assert.deepEqual(iovad.findIova(0x800), [0xc0, 0xfff]);
});
