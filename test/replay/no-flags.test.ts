/**
 * Traces without the flags column: `trace-cmd report` without `-l` and
 * `perf script` print no irq-info, so no event says it ran in an interrupt.
 * Every unmap is then taken as possibly an interrupt's, and the IOVAs alone
 * say which maps allocated before one (`irq-reorder.ts`, `mayInterrupt`).
 * The traces here are real lines: the repository's excerpts with the column
 * taken out by a plain regular expression, and perf's own output verbatim;
 * every expected IOVA is the trace's own `iova=`.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { IrqReorder } from "../../src/replay/irq-reorder.ts";
import type { DmaCall } from "../../src/trace/reconstruct.ts";
import { dmaCall } from "../helpers/dma-call.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { quickSkip } from "../helpers/quick.ts";
import { replayStrict } from "../helpers/strict-replay.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
/** ../shared beside the repository (IOVALAB_SHARED names a copy elsewhere). */
const SHARED = process.env.IOVALAB_SHARED ?? new URL("../../../shared/", import.meta.url).pathname;

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

/** The text without its flags column (`fio-269 [000] d.H.. 11.909381:` becomes `fio-269 [000] 11.909381:`), as `trace-cmd report` prints it. */
function withoutFlags(text: string): string {
  return text.replace(/^(\s*\S.*?-\d+\s+\[\d+\]) [.a-zA-Z0-9]{4,6}(\s+\d+\.\d{6}:)/gm, "$1$2");
}

/** The `iova=` of every map event but group 3's 16 MiB direct map, as printed. */
function traceMaps(text: string): string[] {
  const out: string[] = [];
  for (const l of text.split("\n")) {
    const m = / map: +IOMMU: iova=(0x[0-9a-f]{16}) - (0x[0-9a-f]{16}) /.exec(l);
    if (m && !(m[1] === "0x0000000000000000" && m[2] === "0x0000000001000000")) out.push(m[1]);
  }
  return out;
}

// Lines 498-511 of the 6.1 strict 4 KiB capture (the fixture's first 600 lines): a completion hardirq stops fio-269
// on CPU 0 and unmaps 13 IOVAs (`d.H..`), 0xfffb9000 down to 0xfffad000, then 0xfffa9000; fio-269's next map takes
// 0xfffac000, none of them, though strict frees go onto the top of CPU 0's magazine: it allocated before the
// interrupt. Its next unmap and map (lines 512-513) free and take 0xfffac000: in that order.
test("6.1 strict 4 KiB, first 600 lines without the flags column: every IOVA is the kernel's, the interrupted map found", () => {
  const text = fixture("linux-6.1-strict-4k-head600.txt.gz");
  const bare = withoutFlags(text);
  assert.ok(!/ d\.H\.\. /.test(bare) && / d\.H\.\. /.test(text), "the column is gone");
  assert.equal(bare.split("\n").length, text.split("\n").length);
  const { result, emitted } = replayStrict(bare, "6.1");
  assert.deepEqual(emitted, traceMaps(text));
  assert.equal(result.exact, result.allocations);
  assert.equal(result.reordered, 1);
  // The same as the replay that reads the column.
  const flagged = replayStrict(text, "6.1");
  assert.deepEqual(flagged.emitted, emitted);
  assert.equal(flagged.result.reordered, 1);
});

/** Calls of lines 498-513 as a trace without the column gives them (pid 269, CPU 0, 4 KiB each). */
function calls(): DmaCall[] {
  const unmapped = [
    0xfffb9000, 0xfffb7000, 0xfffb6000, 0xfffb5000, 0xfffb4000, 0xfffb3000, 0xfffb2000, 0xfffb1000, 0xfffb0000,
    0xfffaf000, 0xfffae000, 0xfffad000, 0xfffa9000,
  ];
  const out = unmapped.map((iova, i) =>
    dmaCall({
      kind: "unmap",
      allocation: 0,
      cpu: 0,
      timestampNs: 11_909_381_000 + i,
      iova,
      pid: 269,
      irqKnown: false,
      line: 498 + i,
    }),
  );
  const base = { allocation: 1, cpu: 0, iova: 0xfffac000, pid: 269, irqKnown: false };
  out.push(dmaCall({ ...base, kind: "map", timestampNs: 11_909_514_000, line: 511 }));
  out.push(dmaCall({ ...base, kind: "unmap", timestampNs: 11_909_617_000, line: 512 }));
  out.push(dmaCall({ ...base, kind: "map", allocation: 2, timestampNs: 11_909_727_000, line: 513 }));
  return out;
}

test("without the flags column a map that took none of the unmapped IOVAs of its class goes before them; one that took its own freed IOVA stays", () => {
  const out: number[] = [];
  const r = new IrqReorder(true, 4096, (c) => out.push(c.line));
  for (const c of calls()) r.push(c);
  r.drain(true);
  assert.deepEqual(out, [511, ...Array.from({ length: 13 }, (_, i) => 498 + i), 512, 513]);
  assert.equal(r.reordered, 1);
  // With the column saying these unmaps ran in process context, nothing moves.
  const plain: number[] = [];
  const q = new IrqReorder(true, 4096, (c) => plain.push(c.line));
  for (const c of calls()) q.push({ ...c, irqKnown: true });
  q.drain(true);
  assert.deepEqual(
    plain,
    calls().map((c) => c.line),
  );
});

// `perf script` of a second strict 4 KiB run in the same boot (verbatim): it starts mid-life. At lines 260-261
// fio 150 unmaps 0xfffa6000 on CPU 1 and its next map takes 0xfffbe000; read in trace order, the model pops
// 0xfffa6000 there and its magazine's order is the kernel's no more (312 of the 457 the trace could show).
test("perf script, verbatim: every allocation the trace could show is exact", () => {
  const r = iovalab(["replay", new URL("linux-6.1-perf-script.txt.gz", FIXTURES).pathname, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout).devices[0];
  assert.equal(d.allocations, 512);
  assert.equal(d.exactOfKnowable, 1);
  // The learning phase's 51 and 4 taken from caches filled before the trace are not counted exact.
  assert.equal(d.exact, 496);
  assert.match(r.stderr, /captured strict/);
});

const FULL: { path: string; kernel: string }[] = [
  { path: "kernel/trace-strict-4k.txt.gz", kernel: "6.1" },
  { path: "kernel-more/trace-6.1-strict-mixed.txt.gz", kernel: "6.1" },
  { path: "kernel-more/trace-6.12-strict-mixed.txt.gz", kernel: "mainline" },
  { path: "kernel-more/trace-6.12-two-nvme-strict.txt.gz", kernel: "mainline" },
  { path: "kernel-timers/trace-6.1-lazy-timers.txt.gz", kernel: "6.1" },
  { path: "kernel-timers/trace-6.12-lazy-timers.txt.gz", kernel: "mainline" },
];

const haveShared = FULL.every((f) => existsSync(`${SHARED}${f.path}`));

test("the strict and lazy-timer traces of ../shared without the flags column: every IOVA exact, as with it", {
  skip: haveShared ? quickSkip("the full traces of ../shared") : `${SHARED} is not present`,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "iovalab-no-flags-"));
  try {
    for (const f of FULL) {
      const text = gunzipSync(readFileSync(`${SHARED}${f.path}`)).toString("utf8");
      const file = join(dir, f.path.replace("/", "-"));
      writeFileSync(file, gzipSync(withoutFlags(text)));
      const r = iovalab(["replay", file, "--json"]);
      assert.equal(r.status, 0, `${f.path}: ${r.stderr}`);
      const j = JSON.parse(r.stdout);
      assert.equal(j.kernel, f.kernel, f.path);
      assert.ok(
        j.warnings.some((w: string) => w.startsWith("the trace has no flags column")),
        `${f.path}: the column is gone`,
      );
      // From boot: nothing to learn, so every allocation of every device counts.
      assert.equal(j.total.exact, j.total.allocations, f.path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
