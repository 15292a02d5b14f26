/**
 * Traces that start mid-life (issue 13 part 2): the learning phase of
 * `src/replay/learning.ts`, and `replay --json` / `--help` (parts 5 and 6).
 * A mid-life trace is made by cutting a from-boot fixture in the middle
 * (test/fixtures/traces/README.md); its own `iova=` fields are the truth.
 * The full mid-life traces are read from ../shared when present.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { ProfileName } from "../../src/iova/profile.ts";
import { builtinMachine } from "../../src/machine/index.ts";
import { MAX_LEARNED, Replayer, type ReplayResult, traceMachineOf } from "../../src/replay/replay.ts";
import { isKernelWorkEvent } from "../../src/trace/events.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { sharedSkip } from "../helpers/quick.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
const SHARED = new URL("../../../shared/kernel-more/", import.meta.url).pathname;
const MACHINE = builtinMachine("qemu-q35-nvme");

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

function replayer(kernel: ProfileName) {
  assert.ok(MACHINE);
  const rp = new Replayer({ machine: MACHINE, kernel, strict: false });
  const rc = new Reconstructor({ machine: traceMachineOf(MACHINE, "0000:00:01.0") }, (c) => rp.push(c));
  return { rp, rc };
}

function replayText(text: string, kernel: ProfileName): ReplayResult {
  const { rp, rc } = replayer(kernel);
  for (const e of readTraceText(text, { file: "t", strictInput: true }).events) {
    if (isKernelWorkEvent(e)) rp.pushWork(e);
    else rc.push(e);
  }
  rc.end();
  return rp.end();
}

/** The trace from event line `from` on (1-based, the comment header kept): a capture started mid-life. */
function cut(text: string, from: number): string {
  const lines = text.split("\n");
  return [...lines.filter((l, i) => i < from - 1 && l.startsWith("#")), ...lines.slice(from - 1)].join("\n");
}

const FROM_BOOT = "linux-6.12-lazy-timers-head8000.txt.gz";

test("a trace from boot has no learning phase: every allocation counts after it", () => {
  const r = replayText(fixture(FROM_BOOT), "mainline");
  assert.equal(r.learning.midLife, false);
  assert.equal(r.learning.allocations, 0);
  assert.equal(r.afterLearning, r.allocations);
  assert.equal(r.exactAfterLearning, r.exact);
  assert.equal(r.adoptedAfterLearning, 0);
});

test("a from-boot trace cut at line 4000 starts mid-life: its first map is not a fresh domain's first IOVA", () => {
  const text = cut(fixture(FROM_BOOT), 4000);
  const first = /\n[^#\n]* map: IOMMU: iova=(0x[0-9a-f]+) /.exec(text);
  // A fresh 6.12 domain hands out its first 4 KiB IOVA at the top of the 32-bit space.
  assert.ok(first && first[1] !== "0x00000000fffff000", first?.[1]);
  const r = replayText(text, "mainline");
  assert.equal(r.learning.midLife, true);
  // The phase ends by its own rule: each CPU made 2 x IOVA_MAG_SIZE (127 on 6.12) allocations, or MAX_LEARNED.
  assert.ok(r.learning.allocations >= 2 * 127 && r.learning.allocations <= MAX_LEARNED, String(r.learning.allocations));
  assert.ok(r.learning.adopted > 0 && r.learning.adopted <= r.learning.allocations);
  assert.ok(r.learning.endLine > 0 && r.learning.durationNs > 0);
  assert.equal(r.afterLearning + r.learning.allocations, r.allocations);
  assert.ok(r.exactAfterLearning <= r.afterLearning);
});

test("the learning phase's end does not depend on the model's results: the same with the results made worse", () => {
  // Without its timer events the lazy replay places flushes elsewhere and matches far less; the phase, counted
  // from allocations per CPU only, ends at the same line.
  const text = cut(fixture(FROM_BOOT), 4000);
  const noTimers = text
    .split("\n")
    .filter(
      (l) =>
        !/ (timer_start|timer_expire_entry|timer_expire_exit|workqueue_execute_start|workqueue_execute_end): /.test(l),
    )
    .join("\n");
  const a = replayText(text, "mainline");
  const b = replayText(noTimers, "mainline");
  assert.notEqual(a.exactAfterLearning, b.exactAfterLearning);
  assert.equal(a.learning.allocations, b.learning.allocations);
});

test("replay --json: one object with per-device and total figures; learned 0 for a trace from boot", () => {
  const f = new URL("linux-6.1-strict-4k-head600.txt.gz", FIXTURES).pathname;
  const out = iovalab(["replay", f, "--machine", "qemu-q35-nvme", "--json"]);
  assert.equal(out.status, 0, out.stderr);
  const lines = out.stdout.trim().split("\n");
  assert.equal(lines.length, 1);
  const j = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(j), [
    "trace",
    "kernel",
    "mode",
    "flushes",
    "malformedLines",
    "unparsedLines",
    "warnings",
    "devices",
    "total",
  ]);
  assert.equal(j.mode, "strict");
  assert.equal(j.flushes, null);
  assert.equal(j.devices.length, 1);
  assert.equal(j.devices[0].device, "0000:00:01.0");
  assert.equal(j.devices[0].group, 1);
  assert.equal(j.total.learned, 0);
  // The text summary of the same replay gives the same counts.
  const text = iovalab(["replay", f, "--machine", "qemu-q35-nvme"]).stdout;
  const m = /exact IOVA matches: (\d+)\/(\d+) allocations/.exec(text);
  assert.ok(m);
  assert.equal(j.total.exact, Number(m[1]));
  assert.equal(j.total.allocations, Number(m[2]));
  assert.equal(j.total.exactAfterLearning, j.total.exact / j.total.allocations);
});

test("replay --json of a lazy trace without timer events warns what that costs; --help gives the capture", () => {
  const text = fixture("linux-6.1-lazy-mixed-head1100.txt.gz");
  assert.doesNotMatch(text, /timer_expire_entry/);
  const f = new URL("linux-6.1-lazy-mixed-head1100.txt.gz", FIXTURES).pathname;
  const out = iovalab(["replay", f, "--machine", "qemu-q35-nvme", "--captured", "lazy", "--json"]);
  assert.equal(out.status, 0, out.stderr);
  const j = JSON.parse(out.stdout);
  assert.equal(j.flushes, "model-timer");
  assert.ok(j.warnings.some((w: string) => /no flush-queue timer events/.test(w)));
  const help = iovalab(["replay", "--help"]).stdout;
  assert.match(help, /trace-cmd record --no-filter -C global -b 65536/);
  assert.match(help, /'function\.function == fq_flush_timeout '/);
  assert.match(help, /workqueue:workqueue_execute_start/);
  assert.match(help, /\/proc\/kallsyms/);
});

for (const file of ["trace-6.1-midlife-lazy.txt.gz", "trace-6.12-midlife-lazy.txt.gz"]) {
  const path = SHARED + file;
  const skip = sharedSkip(path);
  test(`full ${file}: starts mid-life; the learning phase covers at most 10% of its allocations`, {
    skip,
  }, async () => {
    const kernel: ProfileName = file.includes("6.12") ? "mainline" : "6.1";
    const { rp, rc } = replayer(kernel);
    await readTraceFile(path, (e) => (isKernelWorkEvent(e) ? rp.pushWork(e) : rc.push(e)), { strictInput: true });
    rc.end();
    const r = rp.end();
    assert.equal(r.flushSource, "timer-events");
    assert.equal(r.learning.midLife, true);
    assert.ok(r.learning.allocations <= r.allocations * 0.1, `${r.learning.allocations}/${r.allocations}`);
  });
}
