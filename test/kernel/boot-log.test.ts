/**
 * The boot log against the real kernels' consoles (../shared/kernel/boot-notes.txt
 * for 6.1, ../shared/kernel-6.12/sysfs-tree.txt for 6.12): the IOMMU and
 * driver lines, in order and word for word (including 6.1's trailing space
 * after "Translated"). Skips when ../shared is absent. Also: the same input
 * gives byte-identical shell output.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";

const SHARED = new URL("../../../shared/", import.meta.url);
const PICK =
  /(iommu: Default domain type|DMA domain TLB invalidation policy|Adding to iommu group|nvme nvme0: |e1000e 0000)/;

/** The picked lines of the first console section that contains `marker`. */
function realLines(file: string, marker: string, stopAt: RegExp): string[] {
  const text = readFileSync(new URL(file, SHARED), "utf8");
  const start = text.indexOf(marker);
  assert.ok(start >= 0, `${file}: ${marker}`);
  const out: string[] = [];
  for (const line of text.slice(start).split("\n").slice(1)) {
    if (stopAt.test(line)) break;
    const m = /^\[\s*\d+\.\d+\] (.*)$/.exec(line);
    if (m && PICK.test(m[1]) && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

function modelLines(kernel: "6.1" | "mainline", cmdline: string): string[] {
  const k = bootMachine("qemu-q35-nvme", { kernel, cmdline });
  return k.log.map((l) => l.text).filter((t) => PICK.test(t));
}

const skip = existsSync(new URL("kernel/boot-notes.txt", SHARED)) ? false : "../shared/kernel is absent";

test("6.1 strict workload boot: the console's IOMMU and nvme lines", { skip }, () => {
  const want = realLines("kernel/boot-notes.txt", "BOOT: strict4k-smp2", /^--- fio output/);
  assert.ok(want.length >= 9);
  assert.deepEqual(modelLines("6.1", "modprobe.blacklist=e1000e"), want);
});

test("6.1 lazy workload boot: lazy mode set via the command line", { skip }, () => {
  const want = realLines("kernel/boot-notes.txt", "BOOT: mixedlazy", /^--- fio output/);
  assert.ok(want.some((l) => l.includes("lazy mode (set via kernel command line)")));
  assert.deepEqual(modelLines("6.1", "iommu.strict=0 modprobe.blacklist=e1000e"), want);
});

test("6.12 sysfs boot: the same lines in mainline's wording (no trailing space)", { skip }, () => {
  const want = realLines("kernel-6.12/sysfs-tree.txt", "SECTION A", /=== DMESG IOMMU END ===/);
  assert.ok(want.some((l) => l === "iommu: Default domain type: Translated"));
  assert.deepEqual(modelLines("mainline", ""), want);
});

test("the shell is deterministic: the same input gives byte-identical output", () => {
  const script = [
    "dmesg",
    "map 0000:00:01.0 12288 --cpu 1",
    "map-sg 0000:00:01.0 4096,8192,100",
    "unmap 0000:00:01.0 0xffffc000 12288 --cpu 1",
    "sleep 20",
    "cat /sys/kernel/debug/iova/1/range",
    "dmesg",
  ].join("\n");
  const run = () =>
    new Shell(bootMachine("qemu-q35-nvme", { kernel: "mainline", cmdline: "iommu.strict=0" })).runScript(script);
  const a = run();
  const b = run();
  assert.equal(a.stdout, b.stdout);
  assert.equal(a.stderr, b.stderr);
  assert.ok(a.stdout.includes("0xffffc000\n"));
});
