/**
 * A trace whose IOVAs fall in a region the replay's machine reserves was
 * taken on another machine: the kernel never allocates in a reserved region
 * (an MSI window), so the model's IOVAs part from the kernel's from the
 * first allocation that reaches it. The summary says so, names the first
 * such map and the region, and says how to describe the traced machine.
 *
 * The trace: 137 mappings of 128 KiB from boot, top-down from 4 GiB with
 * nothing reserved below it, as an Arm SMMUv3 domain (its MSI window is at
 * 128 MiB, not below 4 GiB) gives them. The 137th reaches 17 MiB below
 * 4 GiB, into the window an x86 IOMMU reserves at 0xfee00000 (the q35
 * machine's), where the model skips past it.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { iovalab } from "../helpers/iovalab.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const ROOT = join(import.meta.dirname, "..", "..");

function armLikeTrace(): string {
  const lines = [
    "# tracer: nop",
    "#",
    "# entries-in-buffer/entries-written: 137/137   #P:2",
    "#",
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
    "#              | |         |   |||||     |         |",
  ];
  for (let i = 0; i < 137; i++) {
    const iova = 2 ** 32 - (i + 1) * 0x20000;
    const hex = (n: number) => `0x${n.toString(16).padStart(16, "0")}`;
    const t = (10 + i * 0.00001).toFixed(6);
    lines.push(
      `             fio-196     [000] .....    ${t}: map: IOMMU: iova=${hex(iova)} - ${hex(iova + 0x20000)} paddr=${hex(0x1000_0000 + i * 0x20000)} size=131072`,
    );
  }
  return `${lines.join("\n")}\n`;
}

test("a trace whose maps fall in the machine's MSI window: the summary says the trace's machine is another, from the first such map", () => {
  const dir = tempDir("iovalab-reserved-");
  const file = join(dir, "arm-like.txt");
  writeFileSync(file, armLikeTrace());
  const text = iovalab(["replay", file, "--machine", "qemu-q35-nvme", "--captured", "strict"]);
  assert.equal(text.status, 0, text.stderr);
  // Every map above the window is the kernel's; the one in it is placed below the window.
  assert.match(text.stdout, /^exact IOVA matches: 136\/137 allocations/m);
  assert.match(
    text.stdout,
    /first mismatch: .*arm-like\.txt:143: .*trace 0x00000000feee0000, model 0x00000000fede0000/,
  );
  assert.match(
    text.stdout,
    /^warning: 1 map of 0000:00:01\.0 took IOVAs inside 0x00000000fee00000-0x00000000feefffff \(the first at line 143: 0x00000000feee0000\), which the machine's domain reserves \(the device's msi region\).*iovalab collect.*--machine$/m,
  );
  const json = JSON.parse(
    iovalab(["replay", file, "--machine", "qemu-q35-nvme", "--captured", "strict", "--json"]).stdout,
  );
  assert.equal(json.warnings.filter((w: string) => w.includes("which the machine's domain reserves")).length, 1);
});

test("a q35 trace says nothing of reserved regions: its IOVAs keep out of the window", () => {
  const dir = tempDir("iovalab-reserved-");
  const file = join(dir, "strict.txt");
  // The repository's 6.12 lazy head reaches below the window's top (0xfede0000 at its line 2752).
  const text = gunzipSync(readFileSync(join(ROOT, "samples", "trace-6.12-lazy-timers.txt.gz"))).toString("utf8");
  assert.match(text, /iova=0x00000000fede0000 - 0x00000000fee00000/);
  writeFileSync(file, text);
  const r = iovalab(["replay", file, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    JSON.parse(r.stdout).warnings.filter((w: string) => w.includes("reserves")),
    [],
  );
});

test("what the domain's set-up reserved is the DMA layer's: a map inside the q35 host bridge's memory window is named so", () => {
  const dir = tempDir("iovalab-reserved-");
  const file = join(dir, "window.txt");
  const lines = armLikeTrace().split("\n").slice(0, 6);
  // One mapping where the q35 domain reserved 0xc0000000-0xfebfffff for the bridge (DMA-1.6 step 1).
  lines.push(
    "             fio-196     [000] .....    10.000000: map: IOMMU: iova=0x00000000fe000000 - 0x00000000fe001000 paddr=0x0000000010000000 size=4096",
  );
  writeFileSync(file, `${lines.join("\n")}\n`);
  const r = iovalab(["replay", file, "--machine", "qemu-q35-nvme", "--captured", "strict"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^warning: 1 map of 0000:00:01\.0 took IOVAs inside 0x00000000c0000000-0x00000000febfffff \(the first at line 7: 0x00000000fe000000\), which the machine's domain reserves \(a memory window of the host bridge\)/m,
  );
});
