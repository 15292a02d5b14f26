/**
 * The `iovalab` command as a person or a script uses it: output on stdout,
 * errors as `FILE:LINE: expected ..., found ...` on stderr with exit status 2,
 * nothing half-written, and the same output for the same input and seed.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { iovalab } from "./helpers/iovalab.ts";
import { tempDir } from "./helpers/temp-dir.ts";

const ROOT = join(import.meta.dirname, "..");
const FIX = join(ROOT, "test", "fixtures", "conformance", "mainline");

function fixture(name: string): string {
  return gunzipSync(readFileSync(join(FIX, name))).toString("utf8");
}

test("ops reads a gzip'd script and writes the walks file", () => {
  const dir = tempDir("iovalab-");
  const walks = join(dir, "w.txt");
  const r = iovalab(["ops", join(FIX, "mixed-api.iovaops.gz"), "--walks", walks]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, fixture("mixed-api.expected.gz"));
  assert.equal(readFileSync(walks, "utf8"), fixture("mixed-api.walks.gz"));
});

test("ops reads stdin with -", () => {
  const r = iovalab(["ops", "-"], fixture("hand-worked-basics.iovaops.gz"));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, fixture("hand-worked-basics.expected.gz"));
});

const BAD: [string, string, RegExp][] = [
  ["no header", "alloc 1 100 0\n", /^iovalab: bad\.iovaops:1: expected the header line/],
  ["empty file", "# nothing\n", /bad\.iovaops:1: expected the header line .*found end of file/],
  [
    "granule not a power of two",
    "domain granule=3000 start_pfn=1 cpus=1\n",
    /bad\.iovaops:1: expected granule= a power of two.*found "3000"/,
  ],
  ["missing cpus", "domain granule=4096 start_pfn=1\n", /bad\.iovaops:1: expected a cpus= field/],
  [
    "rcache_orders out of range",
    "domain granule=4096 start_pfn=1 cpus=1 rcache_orders=21\n",
    /rcache_orders= from 1 to 20/,
  ],
  [
    "unknown kernel",
    "domain granule=4096 start_pfn=1 cpus=1 kernel=4.19\n",
    /expected kernel= one of mainline, 6\.1, 5\.15, 5\.10, found "4\.19"/,
  ],
  [
    "cpu out of range",
    "domain granule=4096 start_pfn=1 cpus=2\nalloc 1 100 0\ncpu 2\n",
    /bad\.iovaops:3: expected a CPU number below cpus=2, found "2"/,
  ],
  [
    "bad number",
    "domain granule=4096 start_pfn=1 cpus=1\n\n# c\nalloc 1 zz 0\n",
    /bad\.iovaops:4: expected a limit pfn, found "zz"/,
  ],
  [
    "unknown op",
    "domain granule=4096 start_pfn=1 cpus=1\nallocate 1 2 3\n",
    /bad\.iovaops:2: expected an operation .*found "allocate"/,
  ],
  [
    "wrong arity",
    "domain granule=4096 start_pfn=1 cpus=1\nfree\n",
    /bad\.iovaops:2: expected "free <pfn>", found "free"/,
  ],
  [
    "size zero",
    "domain granule=4096 start_pfn=1 cpus=1\nalloc 0 100 0\n",
    /expected a size of at least 1 granule, found "0"/,
  ],
];

for (const [what, script, message] of BAD) {
  test(`bad input: ${what} stops with exit 2, a located message and no output`, () => {
    const dir = tempDir("iovalab-");
    const file = join(dir, "bad.iovaops");
    writeFileSync(file, script);
    const walks = join(dir, "w.txt");
    const r = iovalab(["ops", file, "--walks", walks]);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr.replace(`${dir}/`, ""), message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.equal(existsSync(walks), false, "no walks file on bad input");
  });
}

test("--kernel that contradicts the header is an error; it applies to headers without one", () => {
  const dir = tempDir("iovalab-");
  const file = join(dir, "k.iovaops");
  writeFileSync(file, "domain granule=4096 start_pfn=1 cpus=1 kernel=6.1\nalloc 1 100 0\n");
  const r = iovalab(["ops", file, "--kernel", "mainline"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /k\.iovaops:1: expected kernel=mainline \(as --kernel says\), found "kernel=6\.1"/);
  const ok = iovalab([
    "ops",
    "--kernel",
    "5.10",
    join(ROOT, "test", "fixtures", "conformance", "5.10", "retry-from-last-node.iovaops.gz"),
  ]);
  assert.equal(ok.status, 0, ok.stderr);
  // A 5.10 header run under the mainline default would be refused; a mainline
  // vector run as 5.10 differs (no retry above the cached node, 5.10 README).
  const asOld = iovalab(["ops", "--kernel", "5.10", join(FIX, "retry-from-last-node.iovaops.gz")]);
  assert.equal(asOld.status, 0, asOld.stderr);
  assert.notEqual(asOld.stdout, fixture("retry-from-last-node.expected.gz"));
  const badK = iovalab(["ops", "--kernel", "4.19", join(FIX, "hand-worked-basics.iovaops.gz")]);
  assert.equal(badK.status, 2);
  assert.match(
    badK.stderr,
    /--kernel: expected one of mainline, 6\.1, 5\.15, 5\.10, found "4\.19": a release; `iovalab kernels` lists/,
  );
  // Ubuntu 24.04's release: the message says where its profile is found.
  const rel = iovalab(["ops", "--kernel", "6.8.0-45-generic", join(FIX, "hand-worked-basics.iovaops.gz")]);
  assert.equal(rel.status, 2);
  assert.match(
    rel.stderr,
    /found "6\.8\.0-45-generic": a release; `iovalab kernels` lists the profile each release from 5\.11 to 6\.11/,
  );
  const word = iovalab(["ops", "--kernel", "latest", join(FIX, "hand-worked-basics.iovaops.gz")]);
  assert.match(word.stderr, /found "latest"\n/);
});

test("a missing file is bad input, not a crash", () => {
  const r = iovalab(["ops", "/nonexistent/x.iovaops"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/nonexistent\/x\.iovaops: cannot read: no such file or directory/);
});

test("the demonstration is deterministic and compares the two ranges", () => {
  const a = iovalab(["demo", "--mappings", "20000", "--seed", "7"]);
  const b = iovalab(["demo", "--mappings", "20000", "--seed", "7"]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
  assert.match(a.stdout, /seed 7/);
  assert.match(a.stdout, /^default\s+6\s+128 KiB/m);
  assert.match(a.stdout, /^512 KiB\s+8\s+512 KiB/m);
  const c = iovalab(["demo", "--mappings", "20000", "--seed", "8"]);
  assert.notEqual(a.stdout, c.stdout);
});

test("kernels lists every profile with its sources", () => {
  const r = iovalab(["kernels"]);
  assert.equal(r.status, 0, r.stderr);
  for (const k of ["mainline:", "6.1:", "5.15:", "5.10:"])
    assert.match(r.stdout, new RegExp(`^${k.replace(".", "\\.")}`, "m"));
  assert.match(r.stdout, /IOVA_MAG_SIZE 128/);
  assert.match(r.stdout, /no retry above the cached node/);
  // Each layer's switches, printed from the layer that has them.
  for (const layer of ["iova/profile.ts", "iommu/policy.ts", "dma/policy.ts", "driver/policy.ts"])
    assert.equal(r.stdout.split(`(${layer}):`).length - 1, 4, layer);
  assert.match(r.stdout, /no DMA-FQ type/);
  assert.match(r.stdout, /SAC-first: until-first-failure/);
  assert.match(r.stdout, /SAC-first: every-allocation/);
  assert.match(r.stdout, /flush-queue timer: tmigr/);
  assert.match(r.stdout, /flush-queue timer: nohz-target/);
  // The versions between the profiles' own, by the profile a trace naming one replays with.
  assert.match(
    r.stdout,
    /^ {2}5\.11 to 5\.12: the 5\.15 profile \(its allocator\); differs in where a retried tree search starts/m,
  );
  assert.match(r.stdout, /^ {2}5\.13 to 5\.19: the 5\.15 profile \(its allocator\)$/m);
  assert.match(r.stdout, /^ {2}6\.0 to 6\.3: the 6\.1 profile \(its allocator\)$/m);
  assert.match(r.stdout, /^ {2}6\.4 to 6\.6: the 6\.1 profile \(its allocator\); differs in the 32-bit-first try/m);
  assert.match(
    r.stdout,
    /^ {2}6\.7 to 6\.8: the mainline profile \(its allocator\); differs in where the flush-queue timer runs/m,
  );
  assert.match(r.stdout, /^ {2}6\.9 to 6\.11: the mainline profile \(its allocator\)$/m);
});

test("--kernel is checked the same way by every command that boots a kernel", () => {
  for (const cmd of [["run", "--runs", "default-strict"], ["shell"], ["demo"]]) {
    // The shell reads its commands from stdin: an empty one.
    const r = iovalab([...cmd, "--kernel", "4.4"], cmd[0] === "shell" ? "" : undefined);
    assert.equal(r.status, 2, `${cmd[0]}: ${r.stderr}`);
    assert.match(r.stderr, /--kernel: expected .*found "4\.4"/, cmd[0]);
  }
});

test("run --warmup takes a duration with a unit, up to 24 h; anything else exits 2 before simulating", () => {
  for (const [v, msg] of [
    [
      "2x",
      '--warmup: expected milliseconds from 0 to 86400000 (24 h), in whole nanoseconds, or with a unit such as 500ms, 10s, 30min or 2h, found "2x"',
    ],
    [
      "25h",
      '--warmup: expected milliseconds from 0 to 86400000 (24 h), in whole nanoseconds, or with a unit such as 500ms, 10s, 30min or 2h, found "25h"',
    ],
    [
      "0.5ns",
      '--warmup: expected milliseconds from 0 to 86400000 (24 h), in whole nanoseconds, or with a unit such as 500ms, 10s, 30min or 2h, found "0.5ns"',
    ],
  ]) {
    const r = iovalab(["run", "--warmup", v, "--no-progress", "--out", tempDir("iovalab-")]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(msg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  }
});

test("replay --range reads sizes as the kernel's memparse does: 0x100000 and 1M are one range", () => {
  const trace = join(import.meta.dirname, "fixtures", "traces", "linux-6.1-strict-4k-head600.txt.gz");
  const run = (range: string) =>
    iovalab(["replay", trace, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--range", range]);
  const m = run("1M");
  assert.equal(m.status, 0, m.stderr);
  assert.equal(run("0x100000").stdout, m.stdout);
  assert.notEqual(run("0x80000").stdout, m.stdout);
});
