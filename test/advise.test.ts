/**
 * `iovalab advise` (issue 16 part 3): the JSON's shape, the recommendation
 * re-derived from the candidates' own figures by the 95% rule, and a trace
 * built by hand whose tree allocations are known under every range.
 */

import assert from "node:assert/strict";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { iovalab } from "./helpers/iovalab.ts";
import { sharedSkip } from "./helpers/quick.ts";
import { tempDir } from "./helpers/temp-dir.ts";

const ROOT = join(import.meta.dirname, "..");
const SHARED = join(ROOT, "../shared");

interface Candidate {
  bytes: number;
  rcacheOrders: number;
  treeAllocs: number;
  walkSteps: number;
  lockWaitNs: number | null;
  cachedIovaBytes: number;
  magazineBytes: number;
}
interface Group {
  group: string;
  devices: string[];
  currentBytes: number;
  recommendedBytes: number;
  reason: string;
  candidates: Candidate[];
}

function advise(input: string): Group[] {
  const r = iovalab(["advise", "--json", input]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { groups: Group[] };
  assert.deepEqual(Object.keys(j), ["groups"]);
  return j.groups;
}

/** The shape, and the rule recomputed from the figures. */
function check(groups: Group[], timed: boolean): void {
  assert.ok(groups.length >= 1);
  for (const g of groups) {
    assert.deepEqual(Object.keys(g), ["group", "devices", "currentBytes", "recommendedBytes", "reason", "candidates"]);
    assert.match(g.group, /^group\d+$/);
    assert.ok(g.devices.length >= 1);
    const c = g.candidates;
    assert.equal(c[0].bytes, g.currentBytes);
    for (let i = 0; i < c.length; i++) {
      assert.deepEqual(Object.keys(c[i]), [
        "bytes",
        "rcacheOrders",
        "treeAllocs",
        "walkSteps",
        "lockWaitNs",
        "cachedIovaBytes",
        "magazineBytes",
      ]);
      // Each candidate one more size class, the range granule << (classes - 1), up to 4 MiB.
      if (i > 0) assert.equal(c[i].rcacheOrders, c[i - 1].rcacheOrders + 1);
      assert.equal(c[i].bytes, (c[0].bytes / 2 ** (c[0].rcacheOrders - 1)) * 2 ** (c[i].rcacheOrders - 1));
      assert.ok(c[i].bytes <= 4 << 20);
      assert.equal(c[i].lockWaitNs === null, !timed);
      assert.ok(c[i].magazineBytes > 0 && c[i].cachedIovaBytes >= 0);
    }
    assert.equal(c[c.length - 1].bytes, 4 << 20);
    const best = c[0].treeAllocs - c[c.length - 1].treeAllocs;
    const want =
      best <= 0 ? c[0].bytes : (c.find((x) => c[0].treeAllocs - x.treeAllocs >= 0.95 * best) as Candidate).bytes;
    assert.equal(g.recommendedBytes, want);
    if (want === c[0].bytes) assert.match(g.reason, /^keep /);
  }
}

const traces = [
  ...readdirSync(join(ROOT, "samples"))
    .filter((f) => f.endsWith(".txt.gz"))
    .map((f) => join(ROOT, "samples", f)),
  ...["linux-6.1-strict-mixed-head3200.txt.gz", "linux-6.12-lazy-mixed-head600.txt.gz"].map((f) =>
    join(ROOT, "test/fixtures/traces", f),
  ),
];

for (const t of traces) {
  test(`advise ${t.slice(ROOT.length + 1)}: shape and the 95% rule`, () => check(advise(t), false));
}

test("advise: a hand-built strict trace of one 256 KiB buffer mapped and unmapped 8 times", () => {
  // At the default 128 KiB every map is a tree allocation (64 pages have no
  // class); from 256 KiB the first unmap puts the IOVA in class 6's magazine
  // and the 7 maps after it take it from there: 8, then 1, 1, 1, 1, 1.
  const lines = ["# tracer: nop", "#"];
  let t = 6.0;
  for (let i = 0; i < 8; i++) {
    const ts = (x: number) => x.toFixed(6).padStart(12);
    lines.push(
      `    kworker/u4:1-25      [000] ..... ${ts(t)}: map: IOMMU: iova=0x00000000fffc0000 - 0x0000000100000000 paddr=0x000000002ec00000 size=262144`,
    );
    lines.push(
      `    kworker/u4:1-25      [000] ..... ${ts(t + 0.0005)}: unmap: IOMMU: iova=0x00000000fffc0000 - 0x0000000100000000 size=262144 unmapped_size=262144`,
    );
    t += 0.001;
  }
  const dir = tempDir("iovalab-advise-");
  const file = join(dir, "hand.txt");
  writeFileSync(file, `${lines.join("\n")}\n`);
  const [g] = advise(file);
  check([g], false);
  assert.deepEqual(
    g.candidates.map((c) => [c.bytes, c.treeAllocs]),
    [
      [128 << 10, 8],
      [256 << 10, 1],
      [512 << 10, 1],
      [1 << 20, 1],
      [2 << 20, 1],
      [4 << 20, 1],
    ],
  );
  assert.equal(g.recommendedBytes, 256 << 10);
  // 256 KiB cached after the last unmap: one IOVA of 64 pages.
  assert.equal(g.candidates[1].cachedIovaBytes, 256 << 10);
  assert.equal(g.candidates[0].cachedIovaBytes, 0);
  const text = iovalab(["advise", file]);
  assert.match(text.stdout, /^recommendation: 256 KiB avoids 7 of 8 tree allocations/m);
});

test("advise scenarios/seed-short.yaml: shape, the rule, lock wait measured", () => {
  check(advise(join(ROOT, "scenarios/seed-short.yaml")), true);
});

test("advise the seed scenario: the HBA's group only, the one whose domain maps (the NIC's stays idle)", () => {
  const dir = tempDir("iovalab-advise-");
  const file = join(dir, "seed.yaml");
  writeFileSync(file, "name: seed\n");
  const groups = advise(file);
  check(groups, true);
  assert.deepEqual(
    groups.map((g) => [g.group, g.devices]),
    [["group0", ["0000:74:02.0"]]],
  );
});

/** Two NVMe controllers, each its own group and domain: one advice per group, each from its own device's maps. */
function checkTwoNvme(groups: Group[]): void {
  check(groups, false);
  assert.deepEqual(
    groups.map((g) => g.devices),
    [["0000:00:01.0"], ["0000:00:02.0"]],
  );
  assert.notEqual(groups[0].group, groups[1].group);
  // Different devices, different traffic: their figures are their own.
  assert.notDeepEqual(groups[0].candidates[0], groups[1].candidates[0]);
}

test("advise the two-NVMe trace's cut: one advice per IOMMU group", () => {
  checkTwoNvme(advise(join(ROOT, "test/fixtures/traces/linux-6.12-two-nvme-strict-head761.txt.gz")));
});

const twoNvme = join(SHARED, "kernel-more/trace-6.12-two-nvme-strict.txt.gz");
test("advise the whole two-NVMe trace: each group's advice", {
  skip: sharedSkip(twoNvme),
}, () => {
  const groups = advise(twoNvme);
  checkTwoNvme(groups);
  // 6.12's nvme caps requests at 128 KiB (dma_opt_mapping_size): a larger range avoids no tree allocation.
  for (const g of groups) assert.equal(g.recommendedBytes, g.currentBytes);
});

test("advise: bad input exits 2 with a message", () => {
  const dir = tempDir("iovalab-advise-");
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "name: x\nmachine: [\n");
  const r = iovalab(["advise", bad]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /bad\.yaml/);
});

test("advise: a trace with no DMA map events exits 2 and says so", () => {
  const dir = tempDir("iovalab-advise-");
  const file = join(dir, "none.txt");
  writeFileSync(file, "garbage line\n");
  const r = iovalab(["advise", file]);
  assert.equal(r.status, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /none\.txt: expected DMA map events of 0000:00:01\.0 to advise on, found none/);
});

const full = [join(SHARED, "kernel/trace-strict-4k.txt.gz"), join(SHARED, "kernel/trace-lazy-mixed.txt.gz")];
for (const f of full) {
  test(`advise the full public trace ${f.slice(SHARED.length + 1)}`, { skip: sharedSkip(f) }, () =>
    check(advise(f), false),
  );
}
