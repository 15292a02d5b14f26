/**
 * Two lazy DMA domains, each with its own flush-queue timer (Linux 6.12).
 * The replay of each domain runs its flushes at its own timer's expiries:
 * the trace's facts say which timer each device's unmaps armed
 * (`TraceFacts.fqTimerDevices`), so a domain never takes another's timer,
 * which it did when it bound the first timer it met (a mid-life trace's
 * first timer event may be another domain's).
 *
 * Fixtures (test/fixtures/traces/README.md): lines 60361-65330 of the 6.12
 * lazy-timers capture (device 00:01.0, cut mid-life), the same capture's
 * lines as a second device 00:02.0 with a timer and work items of its own,
 * and the two interleaved as one trace (`test/helpers/two-domains.ts`); with
 * ../shared present, the whole capture interleaved the same way.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { timerOwners } from "../../src/replay/timer-flushes.ts";
import { TraceFacts } from "../../src/trace/facts.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { twoDomains } from "../helpers/two-domains.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
const TWO = "linux-6.12-lazy-timers-two-domains-lines60361-65330";

function factsOf(text: string): TraceFacts {
  const f = new TraceFacts();
  for (const e of readTraceText(text, { file: "t", strictInput: true }).events) f.observe(e);
  return f;
}

function armedBy(f: TraceFacts): [string, string[]][] {
  return [...f.fqTimerDevices].map(([t, ds]) => [t, [...ds].sort()]);
}

test("6.12 lazy-timers lines 1003-1006 (20.431): the timer_start between an unmap and its dma_unmap_page is that device's timer", () => {
  const text = [
    "    kworker/u8:4-56      [001] ..s1.    20.431119: unmap: IOMMU: iova=0x00000000ffffd000 - 0x00000000ffffe000 size=4096 unmapped_size=4096",
    "    kworker/u8:4-56      [001] d.s2.    20.431502: timer_start: timer=000000002dc3cb91 function=fq_flush_timeout expires=4294897421 [timeout=3] bucket_expiry=4294897422 cpu=1 idx=14 flags=",
    "    kworker/u8:4-56      [001] ..s1.    20.431841: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 attrs=",
  ].join("\n");
  assert.deepEqual(armedBy(factsOf(text)), [["000000002dc3cb91", ["0000:00:01.0"]]]);
});

test("6.12 lazy-timers lines 48242-48244: after a scatter-gather unmap the timer is the device of the dma_unmap_sg before it", () => {
  const text = [
    "             fio-197     [000] d.h..    26.326897: dma_unmap_sg: 0000:00:01.0 dir=FROM_DEVICE phys_addrs={0x1ac1a000,0x1b01a000} attrs=",
    "             fio-197     [000] d.h..    26.326910: unmap: IOMMU: iova=0x00000000be540000 - 0x00000000be560000 size=131072 unmapped_size=131072",
    "             fio-197     [000] d.h1.    26.326922: timer_start: timer=000000002dc3cb91 function=fq_flush_timeout expires=4294898895 [timeout=3] bucket_expiry=4294898896 cpu=0 idx=16 flags=",
  ].join("\n");
  assert.deepEqual(armedBy(factsOf(text)), [["000000002dc3cb91", ["0000:00:01.0"]]]);
});

test("a timer_start after another event than an unmap on its CPU names no device", () => {
  const text = [
    "    kworker/u8:4-56      [001] ..s1.    20.431119: unmap: IOMMU: iova=0x00000000ffffd000 - 0x00000000ffffe000 size=4096 unmapped_size=4096",
    "    kworker/u8:4-56      [001] ..s1.    20.431200: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffd000 size=4096 attrs=",
    "    kworker/u8:4-56      [001] d.s2.    20.431502: timer_start: timer=000000002dc3cb91 function=fq_flush_timeout expires=4294897421 [timeout=3] bucket_expiry=4294897422 cpu=1 idx=14 flags=",
    "    kworker/u8:4-56      [001] ..s1.    20.431841: dma_unmap_page: 0000:00:01.0 dir=FROM_DEVICE dma_addr=ffffc000 size=4096 attrs=",
  ].join("\n");
  assert.deepEqual(armedBy(factsOf(text)), []);
});

test("timerOwners: a domain's own timer, other domains' timers, and a timer both armed is neither", () => {
  const byTimer = new Map([
    ["a", new Set(["0000:00:01.0"])],
    ["b", new Set(["0000:00:02.0"])],
    ["c", new Set(["0000:00:01.0", "0000:00:02.0"])],
  ]);
  assert.deepEqual(timerOwners(byTimer, ["0000:00:01.0"]), { own: "a", others: new Set(["b"]) });
  assert.deepEqual(timerOwners(byTimer, ["0000:00:02.0"]), { own: "b", others: new Set(["a"]) });
  // Both devices in one group: one domain, and so each of the three timers its own: none is taken.
  assert.deepEqual(timerOwners(byTimer, ["0000:00:01.0", "0000:00:02.0"]), { own: null, others: new Set() });
  assert.deepEqual(timerOwners(undefined, ["0000:00:01.0"]), { own: null, others: new Set() });
});

test("the two-domain trace: each device's unmaps armed its own timer", () => {
  const text = gunzipSync(readFileSync(new URL(`${TWO}.txt.gz`, FIXTURES))).toString("utf8");
  assert.deepEqual(armedBy(factsOf(text)), [
    ["00000000c0ffee11", ["0000:00:02.0"]],
    ["000000002dc3cb91", ["0000:00:01.0"]],
  ]);
});

interface Device {
  device: string;
  allocations: number;
  exact: number;
}

function replayed(name: string): Device[] {
  const r = iovalab(["replay", new URL(`${name}.txt.gz`, FIXTURES).pathname, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout).devices as Device[]).map(({ device, allocations, exact }) => ({
    device,
    allocations,
    exact,
  }));
}

test("the two-domain trace: each domain replays as its lines replay alone (mid-life; another domain's timer event comes first)", () => {
  const both = replayed(TWO);
  const alone = [...replayed(`${TWO}-01`), ...replayed(`${TWO}-02`)];
  const byDevice = (ds: Device[]) => [...ds].sort((a, b) => a.device.localeCompare(b.device));
  assert.deepEqual(byDevice(both), byDevice(alone));
  // Not a pair of empty replays: each places most of its allocations.
  for (const d of alone) assert.ok(d.allocations > 1000 && d.exact / d.allocations > 0.7, JSON.stringify(d));
});

const FULL = new URL("../../../shared/kernel-timers/trace-6.12-lazy-timers.txt.gz", import.meta.url).pathname;

/** The first device's depot trims run where the trace put them (the summary's count). */
function depotRuns(stdout: string): number {
  const m = /depot trim work: (\d+) runs where the trace shows them/.exec(stdout);
  assert.ok(m, "the summary counts the depot trims");
  return Number(m[1]);
}

test("the whole 6.12 lazy-timers capture as two lazy domains: each domain all exact, and only its own depot trims run", {
  skip: sharedSkip(FULL),
}, () => {
  const alone = iovalab(["replay", FULL]);
  assert.equal(alone.status, 0, alone.stderr);
  const two = twoDomains(gunzipSync(readFileSync(FULL)).toString("utf8"), "000000002dc3cb91");
  const dir = mkdtempSync(join(tmpdir(), "iovalab-two-"));
  try {
    const file = join(dir, "two.txt");
    writeFileSync(file, `${[...two.header, ...two.lines].join("\n")}\n`);
    const r = iovalab(["replay", file]);
    assert.equal(r.status, 0, r.stderr);
    const aloneExact = /exact IOVA matches: (\d+)\/(\d+) allocations/.exec(alone.stdout);
    assert.ok(aloneExact);
    for (const dev of ["0000:00:01.0", "0000:00:02.0"]) {
      const m = new RegExp(`${dev} \\(group\\d+\\): (\\d+)/(\\d+) allocations exact`).exec(r.stdout);
      assert.ok(m, `${dev} in the table of devices`);
      assert.deepEqual([m[1], m[2]], [aloneExact[1], aloneExact[2]], dev);
    }
    // Each domain's trims at its own work items' runs: as many as the capture alone shows, not the other's too.
    assert.equal(depotRuns(r.stdout), depotRuns(alone.stdout));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
