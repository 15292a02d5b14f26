/**
 * Several devices (issue 13 part 4): a 6.12 strict trace of two NVMe
 * controllers whose domains hand out the same IOVAs. Each map/unmap belongs
 * to the device of the neighbouring dma_* event on its CPU; every device's
 * domain is replayed. Fixtures: test/fixtures/traces/README.md; the full
 * trace is read from ../shared when present.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { builtinMachine } from "../../src/machine/index.ts";
import { machineForDevice, traceMachineOf } from "../../src/replay/replay.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { type DmaCall, Reconstructor } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { sharedSkip } from "../helpers/quick.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
const FULL = new URL("../../../shared/kernel-more/trace-6.12-two-nvme-strict.txt.gz", import.meta.url).pathname;
const TWO = builtinMachine("qemu-q35-two-nvme");

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

test("qemu-q35-two-nvme: two NVMe controllers, each alone in its group", () => {
  assert.ok(TWO);
  const nvme = TWO.devices.filter((d) => d.class === 0x010802).map((d) => [d.bdf, d.group]);
  assert.deepEqual(nvme, [
    ["0000:00:01.0", "1"],
    ["0000:00:02.0", "2"],
  ]);
});

test("lines 48773-48793: a map displaced by another CPU's map of the same IOVA waits for its own dma_map_page", () => {
  assert.ok(TWO);
  const text = fixture("linux-6.12-two-nvme-strict-lines48700-48900.txt.gz");
  const lines = text.split("\n");
  // File line 48773 (fixture line 74): CPU 0 maps 0xffc00000; CPU 1 unmaps and maps the same IOVA (48790, 48792)
  // for 00:02.0 before CPU 0's dma_map_page names 00:01.0.
  assert.match(lines[73], /\[000\] .* map: IOMMU: iova=0x00000000ffc00000 /);
  assert.match(lines[92], /\[001\] .* map: IOMMU: iova=0x00000000ffc00000 /);
  const calls: DmaCall[] = [];
  const rc = new Reconstructor({ machine: traceMachineOf(TWO, "0000:00:02.0") }, (c) => calls.push(c));
  for (const e of readTraceText(text, { file: "t" }).events) rc.push(e);
  rc.end();
  const at = (line: number) => calls.find((c) => c.line === line - 48699);
  assert.equal(at(48773)?.domain, "group1");
  assert.equal(at(48773)?.device, "0000:00:01.0");
  assert.equal(at(48790)?.domain, "group2");
  assert.equal(at(48792)?.domain, "group2");
});

test("replay of both devices: per device and total, every IOVA exact; --device selects one", () => {
  const f = new URL("linux-6.12-two-nvme-strict-head761.txt.gz", FIXTURES).pathname;
  const out = iovalab(["replay", f, "--machine", "qemu-q35-two-nvme", "--json"]);
  assert.equal(out.status, 0, out.stderr);
  const j = JSON.parse(out.stdout);
  assert.deepEqual(
    j.devices.map((d: { device: string; group: number }) => [d.device, d.group]),
    [
      ["0000:00:01.0", 1],
      ["0000:00:02.0", 2],
    ],
  );
  // The trace's own dma_map_* / dma_alloc events per device: one allocation each.
  const text = fixture("linux-6.12-two-nvme-strict-head761.txt.gz");
  for (const d of j.devices) {
    const n = text.match(new RegExp(` (dma_map_page|dma_map_sg|dma_alloc): ${d.device} `, "g"))?.length ?? 0;
    assert.equal(d.allocations, n, d.device);
    assert.equal(d.exact, d.allocations, d.device);
  }
  assert.equal(j.total.exact, j.total.allocations);
  const one = JSON.parse(
    iovalab(["replay", f, "--machine", "qemu-q35-two-nvme", "--device", "0000:00:02.0", "--json"]).stdout,
  );
  assert.equal(one.devices.length, 1);
  assert.equal(one.devices[0].device, "0000:00:02.0");
});

test("a device replayed beside the first boots the others' groups identity, and replays as it does alone on the whole machine", () => {
  // Each device's replay drives only its own group's domain; a DMA domain in every other group made
  // a trace of N devices boot N^2 of them (500 devices: 19.7 s and 4.2 GB; now 2.0 s and 0.7 GB).
  assert.ok(TWO);
  const m = machineForDevice(TWO, "0000:00:02.0");
  const own = m.devices.find((d) => d.bdf === "0000:00:02.0")?.group;
  for (const d of m.devices) assert.equal(d.identityDefault, d.group !== own && !d.untrusted, d.bdf);
  assert.deepEqual(TWO.devices, builtinMachine("qemu-q35-two-nvme")?.devices, "the machine given is not changed");
  const f = new URL("linux-6.12-two-nvme-strict-head761.txt.gz", FIXTURES).pathname;
  const both = JSON.parse(iovalab(["replay", f, "--machine", "qemu-q35-two-nvme", "--json"]).stdout);
  const alone = JSON.parse(
    iovalab(["replay", f, "--machine", "qemu-q35-two-nvme", "--device", "0000:00:02.0", "--json"]).stdout,
  );
  assert.equal(both.devices[1].device, "0000:00:02.0");
  assert.deepEqual(both.devices[1], alone.devices[0]);
});

test("a 6.1 trace without dma:* events on a two-NVMe machine: the devices cannot be told apart, replayed as one", () => {
  const f = new URL("linux-6.1-strict-4k-head600.txt.gz", FIXTURES).pathname;
  const out = iovalab(["replay", f, "--machine", "qemu-q35-two-nvme", "--kernel", "6.1", "--json"]);
  assert.equal(out.status, 0, out.stderr);
  const j = JSON.parse(out.stdout);
  assert.equal(j.devices.length, 1);
  assert.ok(j.warnings.some((w: string) => /cannot be told apart/.test(w)));
  assert.equal(j.total.exact, j.total.allocations);
});

const skip = sharedSkip(FULL);
test("full two-NVMe trace, with and without --machine: both devices' IOVAs all exact", { skip }, () => {
  for (const args of [["--machine", "qemu-q35-two-nvme"], []]) {
    const out = iovalab(["replay", FULL, ...args, "--json"]);
    assert.equal(out.status, 0, out.stderr);
    const j = JSON.parse(out.stdout);
    const by = new Map(j.devices.map((d: { device: string; allocations: number }) => [d.device, d]));
    // The README's per-device dma events: dma_map_page + dma_map_sg + dma_alloc.
    assert.equal((by.get("0000:00:01.0") as { allocations: number }).allocations, 11_682 + 1_461 + 9);
    assert.equal((by.get("0000:00:02.0") as { allocations: number }).allocations, 12_198 + 503 + 8);
    assert.equal(j.total.exact, j.total.allocations);
  }
});
