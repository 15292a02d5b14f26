/**
 * Event decoding, one test per event class. "real" lines are from the
 * ../shared traces; "constructed" lines follow the TP_printk formats of
 * ../shared/kernel-6.12/formats.txt and ../shared/spec/trace-events.md §1
 * for events with no real sample here (dma_map_phys, dma_map_resource, the
 * sgt events, the error and sync events, the pre-6.13 dma_map_sg text).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError, decodeEvent, isKnownEvent, type TraceEvent } from "./events.ts";
import { parseLine } from "./line.ts";

function decode(text: string): TraceEvent {
  const h = parseLine(text);
  assert.ok(!("kind" in h), `not an event line: ${text}`);
  assert.ok(isKnownEvent(h.system, h.event), `not a known event: ${h.event}`);
  return decodeEvent(7, h);
}

function decodeError(text: string): DecodeError {
  try {
    decode(text);
  } catch (e) {
    assert.ok(e instanceof DecodeError);
    return e;
  }
  assert.fail(`decoded: ${text}`);
}

const P = "fio-396 [000] ..... 8.062003:";

test("real iommu:map and iommu:unmap (6.1 and 6.12 print the same)", () => {
  const m = decode(
    "    kworker/u4:1-25      [000] .....     6.064321: map: IOMMU: iova=0x00000000ffff0000 - 0x00000000ffff1000 paddr=0x000000002ef9b000 size=4096",
  );
  assert.deepEqual(m, {
    line: 7,
    comm: "kworker/u4:1",
    pid: 25,
    cpu: 0,
    timestampNs: 6_064_321_000,
    name: "map",
    flags: ".....",
    type: "iommu_map",
    iova: 0xffff0000,
    paddr: 0x2ef9b000,
    size: 4096,
  });
  const u = decode(
    "             fio-396     [000] d.H..     8.068868: unmap: IOMMU: iova=0x00000000fff60000 - 0x00000000fff80000 size=131072 unmapped_size=131072",
  );
  assert.equal(u.type, "iommu_unmap");
  assert.ok(u.type === "iommu_unmap");
  assert.equal(u.iova, 0xfff60000);
  assert.equal(u.size, 131072);
  assert.equal(u.unmappedSize, 131072);
  // The 16 MiB direct map's end is 2^24 exactly; the last 4 KiB page below 4 GiB ends at 2^32.
  const top = decode(
    `${P} map: IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000007fee0000 size=4096`,
  );
  assert.ok(top.type === "iommu_map");
  assert.equal(top.iova + top.size, 2 ** 32);
});

test("real dma_map_page / dma_unmap_page with an in-page offset and empty attrs", () => {
  const m = decode(
    "    kworker/u8:3-55      [000] .....     4.461141: dma_map_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffffae00 size=512 phys_addr=9e90e00 attrs=",
  );
  assert.ok(m.type === "dma_map");
  assert.equal(m.device, "0000:00:01.0");
  assert.equal(m.dir, "TO_DEVICE");
  assert.equal(m.dmaAddr, 0xffffae00);
  assert.equal(m.size, 512);
  assert.equal(m.physAddr, 0x9e90e00);
  assert.equal(m.attrs, "");
  const u = decode(
    "          <idle>-0       [001] ..s1.     4.461321: dma_unmap_page: 0000:00:01.0 dir=TO_DEVICE dma_addr=ffffae00 size=512 attrs=",
  );
  assert.ok(u.type === "dma_unmap");
  assert.equal(u.dmaAddr, 0xffffae00);
  assert.equal(u.size, 512);
});

test("constructed dma_map_phys / dma_unmap_phys and dma_map_resource decode as the same classes", () => {
  const m = decode(
    `${P} dma_map_phys: 0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=12345000 attrs=SKIP_CPU_SYNC|MMIO`,
  );
  assert.ok(m.type === "dma_map");
  assert.equal(m.name, "dma_map_phys");
  assert.equal(m.attrs, "SKIP_CPU_SYNC|MMIO");
  const u = decode(`${P} dma_unmap_phys: 0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs=`);
  assert.ok(u.type === "dma_unmap");
  const r = decode(
    `${P} dma_map_resource: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=fee00000 size=4096 phys_addr=fee00000 attrs=`,
  );
  assert.ok(r.type === "dma_map");
  assert.equal(r.name, "dma_map_resource");
});

test("real dma_map_sg (6.12.95 prints the later nents=/ents= form) and dma_unmap_sg", () => {
  const m = decode(
    "             fio-396     [000] .....     8.162320: dma_map_sg: 0000:00:01.0 dir=FROM_DEVICE nents=4/4 ents=1/1 dma_addrs={0xfff5c000} sizes={0x4000} phys_addrs={0x106c6000,0xc159000,0x106dd000,0x106f7000} attrs=NO_WARN",
  );
  assert.ok(m.type === "dma_map_sg");
  assert.equal(m.nents, 4);
  assert.equal(m.ents, 1);
  assert.equal(m.truncated, false);
  assert.deepEqual(m.dmaAddrs, [0xfff5c000]);
  assert.deepEqual(m.sizes, [0x4000]);
  assert.deepEqual(m.physAddrs, [0x106c6000, 0xc159000, 0x106dd000, 0x106f7000]);
  assert.equal(m.attrs, "NO_WARN");
  const u = decode(
    "             fio-396     [000] d.h..     8.163349: dma_unmap_sg: 0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x106c6000,0xc159000,0x106dd000,0x106f7000} attrs=",
  );
  assert.ok(u.type === "dma_unmap_sg");
  assert.equal(u.physAddrs.length, 4);
});

test("constructed dma_map_sg: the original 6.12 text without counts, and a [TRUNCATED] one", () => {
  const old = decode(
    `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE dma_addrs={0xffe00000,0xffe02000} sizes={0x2000,0x1000} phys_addrs={0x1000,0x3000,0x9000} attrs=`,
  );
  assert.ok(old.type === "dma_map_sg");
  assert.equal(old.nents, 3);
  assert.equal(old.ents, 2);
  assert.deepEqual(old.sizes, [0x2000, 0x1000]);
  const cut = decode(
    `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE nents=128/300 ents=1/1 [TRUNCATED] dma_addrs={0xffe00000} sizes={0x12c000} phys_addrs={0x1000} attrs=`,
  );
  assert.ok(cut.type === "dma_map_sg");
  assert.equal(cut.truncated, true);
  assert.equal(cut.nents, 300);
});

test("real dma_alloc and dma_free, and the NULL dma_free of an unbind", () => {
  const a = decode(
    "    kworker/u8:2-36      [000] .....     4.353907: dma_alloc: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=512 virt_addr=00000000b2c9f778 flags=GFP_KERNEL attrs=",
  );
  assert.ok(a.type === "dma_alloc");
  assert.equal(a.dmaAddr, 0xfffff000);
  assert.equal(a.size, 512);
  assert.equal(a.gfp, "GFP_KERNEL");
  const f = decode(
    "            bash-630     [001] .....    15.892710: dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=ffff8000 size=24 virt_addr=000000000bfdd7e6 attrs=",
  );
  assert.ok(f.type === "dma_free");
  assert.equal(f.nullCpuAddr, false);
  const n = decode(
    "            bash-630     [001] .....    15.883733: dma_free: 0000:00:01.0 dir=BIDIRECTIONAL dma_addr=0 size=0 virt_addr=0000000000000000 attrs=",
  );
  assert.ok(n.type === "dma_free");
  assert.equal(n.nullCpuAddr, true);
});

test("constructed sgt, pages, error and sync events", () => {
  const sgt = decode(
    `${P} dma_alloc_sgt: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=ffe00000 size=8192 phys_addrs={0x1000,0x5000} flags=GFP_KERNEL attrs=`,
  );
  assert.ok(sgt.type === "dma_alloc");
  assert.equal(sgt.size, 8192);
  const pages = decode(
    `${P} dma_alloc_pages: 0000:01:00.0 dir=TO_DEVICE dma_addr=ffe00000 size=4096 virt_addr=00000000deadbeef flags=GFP_KERNEL attrs=`,
  );
  assert.ok(pages.type === "dma_alloc");
  const freeSgt = decode(
    `${P} dma_free_sgt: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=ffe00000 size=8192 phys_addrs={0x1000,0x5000}`,
  );
  assert.ok(freeSgt.type === "dma_free");
  assert.equal(freeSgt.nullCpuAddr, false);
  const err = decode(`${P} dma_map_sg_err: 0000:01:00.0 dir=TO_DEVICE dma_addrs={0x1000} err=-12 attrs=`);
  assert.equal(err.type, "dma_error");
  const sync = decode(`${P} dma_sync_single_for_cpu: 0000:01:00.0 dir=FROM_DEVICE dma_addr=ffe00000 size=4096`);
  assert.equal(sync.type, "dma_sync");
});

test("system names keep other subsystems' events of the same name out", () => {
  assert.equal(isKnownEvent("iommu", "map"), true);
  assert.equal(isKnownEvent("dma", "dma_map_page"), true);
  assert.equal(isKnownEvent("", "map"), true);
  assert.equal(isKnownEvent("xen", "map"), false);
  assert.equal(isKnownEvent("dma", "map"), false);
  assert.equal(isKnownEvent("", "sched_switch"), false);
});

test("malformed text names the field that was expected and what was found", () => {
  let e = decodeError(`${P} map: IOMMU: iova=0xzz - 0x2000 paddr=0x5000 size=4096`);
  assert.match(e.expected, /iova=" a hexadecimal number/);
  assert.equal(e.found, "iova=0xzz");
  e = decodeError(`${P} map: IOMMU: iova=0x1000 - 0x2000 paddr=0x5000`);
  assert.match(e.expected, /size=<decimal>/);
  e = decodeError(`${P} map: IOMMU: iova=0x1000 - 0x3000 paddr=0x5000 size=4096`);
  assert.match(e.expected, /B = A \+ size/);
  e = decodeError(`${P} unmap: iova=0x1000 - 0x2000 size=4096 unmapped_size=4096`);
  assert.match(e.expected, /IOMMU:/);
  e = decodeError(`${P} dma_map_page: dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=1000 attrs=`);
  assert.match(e.expected, /device name/);
  e = decodeError(
    `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE dma_addrs={0x1000,0x2000} sizes={0x1000} phys_addrs={} attrs=`,
  );
  assert.match(e.expected, /as many sizes/);
  e = decodeError(
    `${P} dma_map_page: 0000:01:00.0 dir=TO_DEVICE dma_addr=fffffffffffff000 size=4096 phys_addr=1000 attrs=`,
  );
  assert.match(e.expected, /below 2\^53/);
  // `size=` must not be read out of `unmapped_size=`.
  e = decodeError(`${P} unmap: IOMMU: iova=0x1000 unmapped_size=4096`);
  assert.match(e.expected, /"size=<decimal>"/);
});

test("real timer and workqueue events of the flush-queue timer and the depot trim (6.1 and 6.12)", () => {
  const s61 = decode(
    "    kworker/u4:1-25      [001] d.s2.    14.569240: timer_start: timer=0000000055346996 function=fq_flush_timeout expires=4294895960 [timeout=3] cpu=1 idx=25 flags=",
  );
  assert.ok(s61.type === "timer_start");
  assert.equal(s61.timer, "0000000055346996");
  assert.equal(s61.function, "fq_flush_timeout");
  assert.equal(s61.expires, 4294895960);
  assert.equal(s61.timeout, 3);
  assert.equal(s61.baseCpu, 1);
  const s612 = decode(
    "    kworker/u8:4-56      [001] d.s2.    20.431502: timer_start: timer=000000002dc3cb91 function=fq_flush_timeout expires=4294897421 [timeout=3] bucket_expiry=4294897422 cpu=1 idx=14 flags=",
  );
  assert.ok(s612.type === "timer_start");
  assert.equal(s612.expires, 4294897421);
  assert.equal(s612.baseCpu, 1);
  const entry = decode(
    "     ksoftirqd/1-27      [001] ..s..    20.449257: timer_expire_entry: timer=000000002dc3cb91 function=fq_flush_timeout now=4294897422 baseclk=4294897422",
  );
  assert.ok(entry.type === "timer_expire_entry");
  assert.equal(entry.cpu, 1);
  assert.equal(entry.now, 4294897422);
  const exit = decode("     ksoftirqd/1-27      [001] ..s..    20.449717: timer_expire_exit: timer=000000002dc3cb91");
  assert.ok(exit.type === "timer_expire_exit");
  assert.equal(exit.timer, "000000002dc3cb91");
  const w = decode(
    "     kworker/0:0-9       [000] .....    27.788567: workqueue_execute_start: work struct 000000006df68c87: function iova_depot_work_func",
  );
  assert.ok(w.type === "workqueue_execute");
  assert.equal(w.phase, "start");
  assert.equal(w.work, "000000006df68c87");
  assert.equal(w.function, "iova_depot_work_func");
  // trace-cmd report prints the pointer as 0x... (6.12 midlife trace, report -l, line 8274).
  const wl = decode(
    "kworker/-10      0.....    31.819219: workqueue_execute_start: work struct 0xff404cb90abb6420: function iova_depot_work_func",
  );
  assert.ok(wl.type === "workqueue_execute");
  assert.equal(wl.work, "0xff404cb90abb6420");
  assert.equal(wl.function, "iova_depot_work_func");
  assert.equal(isKnownEvent("timer", "timer_start"), true);
  assert.equal(isKnownEvent("workqueue", "workqueue_execute_end"), true);
  assert.equal(isKnownEvent("dma", "timer_start"), false);
  // A timer_start without its bracketed timeout is malformed.
  assert.match(
    decodeError(`${P} timer_start: timer=0000000055346996 function=fq_flush_timeout expires=1 cpu=1`).expected,
    /timeout/,
  );
});

test("dma_map_sg lists and counts of any length and spelling read as the numbers they print; broken items name the field", () => {
  // Items as the kernel's %llx arrays print them and as a hand-edited trace might: 0x or 0X or none, leading zeros, upper case.
  const item = fc
    .record({
      n: fc.nat({ max: 2 ** 52 - 1 }),
      prefix: fc.constantFrom("0x", "0X", ""),
      zeros: fc.nat(3),
      upper: fc.boolean(),
    })
    .map(({ n, prefix, zeros, upper }) => {
      const hex = "0".repeat(zeros) + n.toString(16);
      return { n, text: prefix + (upper ? hex.toUpperCase() : hex) };
    });
  fc.assert(
    fc.property(
      fc.array(item, { minLength: 1, maxLength: 40 }),
      fc.array(item, { minLength: 1, maxLength: 3 }),
      fc.nat({ max: 10 ** 12 }),
      (phys, dma, full) => {
        const list = (xs: { text: string }[]) => `{${xs.map((x) => x.text).join(",")}}`;
        const sizes = dma.map(() => ({ text: "0x1000" }));
        const e = decode(
          `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE nents=${phys.length}/${full} ents=${dma.length}/0${dma.length} dma_addrs=${list(dma)} sizes=${list(sizes)} phys_addrs=${list(phys)} attrs=`,
        );
        assert.ok(e.type === "dma_map_sg");
        assert.deepEqual(
          e.physAddrs,
          phys.map((x) => x.n),
        );
        assert.deepEqual(
          e.dmaAddrs,
          dma.map((x) => x.n),
        );
        assert.equal(e.nents, full);
        assert.equal(e.ents, dma.length);
      },
    ),
  );
  for (const [bad, found] of [
    ["{0x1000,,0x2000}", "phys_addrs="],
    ["{0x1000,0xzz}", "phys_addrs=0xzz"],
    ["{0x}", "phys_addrs=0x"],
    ["{0x1000,}", "phys_addrs="],
  ]) {
    const e = decodeError(
      `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE dma_addrs={0x1000} sizes={0x1000} phys_addrs=${bad} attrs=`,
    );
    assert.match(e.expected, /"phys_addrs=" a hexadecimal number/);
    assert.equal(e.found, found);
  }
  // 14 significant digits still below 2^53 are read exactly; above it, refused.
  const big = decode(
    `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE dma_addrs={0x1000} sizes={0x1000} phys_addrs={0x1fffffffffffff} attrs=`,
  );
  assert.ok(big.type === "dma_map_sg");
  assert.deepEqual(big.physAddrs, [2 ** 53 - 1]);
  assert.match(
    decodeError(
      `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE dma_addrs={0x1000} sizes={0x1000} phys_addrs={0x20000000000000} attrs=`,
    ).expected,
    /below 2\^53/,
  );
  const counts = decodeError(
    `${P} dma_map_sg: 0000:01:00.0 dir=TO_DEVICE nents=4/x ents=1/1 dma_addrs={0x1000} sizes={0x1000} phys_addrs={0x1} attrs=`,
  );
  assert.equal(counts.found, "nents=4/x");
});
