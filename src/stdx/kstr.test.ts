/**
 * The kernel's string helpers on the inputs whose answers lib/kstrtox.c and
 * lib/cmdline.c make plain: bases by prefix, suffix shifts, the newline sysfs
 * stores allow, and the errors.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { kstrtobool, kstrtoull, memparse, sysfsStreq } from "./kstr.ts";

test("memparse reads decimal, 0x hex and 0 octal, then a K..E suffix in either case", () => {
  assert.equal(memparse("131072"), 131072n);
  assert.equal(memparse("0x80000"), 0x80000n);
  assert.equal(memparse("0X20000"), 0x20000n);
  assert.equal(memparse("010"), 8n);
  assert.equal(memparse("128K"), 128n << 10n);
  assert.equal(memparse("1m"), 1n << 20n);
  assert.equal(memparse("0x1G"), 1n << 30n);
  assert.equal(memparse("2T"), 2n << 40n);
  assert.equal(memparse("16E"), 0n); // 2^64 wraps in unsigned long long
  for (const bad of ["", "K", "lots", "12Q", "1KB", "0x", "-1", " 1"]) assert.equal(memparse(bad), null, bad);
});

test("kstrtoull: base by prefix, one trailing newline, EINVAL and ERANGE", () => {
  assert.equal(kstrtoull("42\n"), 42n);
  assert.equal(kstrtoull("+0x1f"), 31n);
  assert.equal(kstrtoull("017"), 15n);
  assert.equal(kstrtoull("0"), 0n);
  assert.equal(kstrtoull("18446744073709551615"), (1n << 64n) - 1n);
  assert.equal(kstrtoull("18446744073709551616"), "ERANGE");
  for (const bad of ["", "\n", "08", "1 ", "1\n\n", "-1", "0x"])
    assert.equal(kstrtoull(bad), "EINVAL", JSON.stringify(bad));
});

test("kstrtobool and sysfs_streq", () => {
  for (const t of ["y", "Y", "1", "t", "on", "ON"]) assert.equal(kstrtobool(t), true, t);
  for (const f of ["n", "0", "f", "off", "Of"]) assert.equal(kstrtobool(f), false, f);
  for (const x of ["", "o", "x", "2"]) assert.equal(kstrtobool(x), null, x);
  assert.ok(sysfsStreq("DMA\n", "DMA"));
  assert.ok(sysfsStreq("DMA", "DMA\n"));
  assert.ok(!sysfsStreq("DMA\n\n", "DMA"));
  assert.ok(!sysfsStreq("DMA ", "DMA"));
});
