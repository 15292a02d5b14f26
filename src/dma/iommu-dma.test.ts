/**
 * dma-iommu's lengths and the per-profile round-up, on the NVMe device of the
 * reference VM: a mapping keeps its offset in the page and spans the pages it
 * touches (DMA-5.1), and a DMA-API allocation of a cacheable size takes the
 * next power of two on every profile, whichever layer rounds it (VER-3).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { PROFILE_NAMES } from "../iova/profile.ts";
import { bootMachine } from "../machine/index.ts";
import { SIZE_MAX } from "./mapping.ts";

const NVME = "0000:00:01.0";

for (const kernel of PROFILE_NAMES) {
  test(`${kernel}: a map keeps its page offset and holds every page it touches`, () => {
    const k = bootMachine("qemu-q35-nvme", { kernel });
    const dev = k.device(NVME)!;
    const iovad = k.dma.cookieOf(dev)!.iovad;
    const before = iovad.liveIovas;
    // 0x10 bytes before a page boundary and 0x10 after: two pages.
    const a = k.dma.mapPhys(dev, 0, 0x4570_0ff0, 0x20)!;
    assert.equal(a % 4096, 0xff0);
    assert.equal(iovad.liveIovas, before + 1);
    const r = iovad.findIova((a - 0xff0) / 4096)!;
    assert.equal(r[1] - r[0] + 1, 2);
    assert.ok(k.dma.unmapPhys(dev, 0, a, 0x20));
  });

  test(`${kernel}: three pages take a four-page IOVA, size-aligned (VER-3)`, () => {
    const k = bootMachine("qemu-q35-nvme", { kernel, cmdline: "iommu.strict=1" });
    const dev = k.device(NVME)!;
    const iovad = k.dma.cookieOf(dev)!.iovad;
    const a = k.dma.mapPhys(dev, 0, 0x1000_0000, 3 * 4096)!;
    const [lo, hi] = iovad.findIova(a / 4096)!;
    assert.equal(hi - lo + 1, 4);
    assert.equal(lo % 4, 0);
    assert.equal(iovad.roundUpForDmaApi(3), kernel === "5.15" || kernel === "5.10" ? 4 : 3);
  });
}

test("a trusted device maps any length; its optimal size is the built-in range's PAGE_SIZE << 5", () => {
  const k = bootMachine("qemu-q35-nvme", { kernel: "6.1" });
  const dev = k.device(NVME)!;
  assert.equal(k.mapping.maxMappingSize(dev), SIZE_MAX);
  assert.equal(k.mapping.optMappingSize(dev), 4096n << 5n);
  // Within the range nothing happens; beyond it the bound driver's request defers a rebuild.
  assert.equal(k.mapping.setMaxOptSize(dev, 64 * 1024), 0);
  assert.equal(k.mapping.setMaxOptSize(dev, 1024 * 1024), "EPROBE_DEFER");
  assert.equal(k.groupOf(dev)!.driverMaxOptDmaSize, 1024 * 1024);
});
