/**
 * Traces that start mid-life (issue 13 part 2): the learning phase of
 * `src/replay/learning.ts`, and `replay --json` / `--help` (parts 5 and 6).
 * A mid-life trace is made by cutting a from-boot fixture in the middle
 * (test/fixtures/traces/README.md); its own `iova=` fields are the truth.
 * The full mid-life traces are read from ../shared when present.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import type { ProfileName } from "../../src/iova/profile.ts";
import { builtinMachine } from "../../src/machine/index.ts";
import { capAgrees, LearningPhase } from "../../src/replay/learning.ts";
import { LiveAtStart } from "../../src/replay/live-at-start.ts";
import { learningCap, Replayer, type ReplayResult, TURNOVER, traceMachineOf } from "../../src/replay/replay.ts";
import { LearningWindow } from "../../src/replay/start-search.ts";
import { emptyStartState, isEmptyStartState, type StartState } from "../../src/replay/start-state.ts";
import { isKernelWorkEvent, type TraceEvent } from "../../src/trace/events.ts";
import { readTraceFile } from "../../src/trace/node-source.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";
import { feedEvents } from "../helpers/feed-events.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { cutFrom } from "../helpers/window-replay.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url);
const SHARED = new URL("../../../shared/kernel-more/", import.meta.url).pathname;
const MACHINE = builtinMachine("qemu-q35-nvme");

function fixture(name: string): string {
  return gunzipSync(readFileSync(new URL(name, FIXTURES))).toString("utf8");
}

const RC_OPTS = { machine: traceMachineOf(MACHINE as NonNullable<typeof MACHINE>, "0000:00:01.0") };

function replayer(kernel: ProfileName, more: Partial<ConstructorParameters<typeof Replayer>[0]> = {}) {
  assert.ok(MACHINE);
  const rp = new Replayer({ machine: MACHINE, kernel, strict: false, ...more });
  const rc = new Reconstructor(RC_OPTS, (c) => rp.push(c));
  return { rp, rc };
}

function replayEvents(events: TraceEvent[], kernel: ProfileName, more = {}): ReplayResult {
  const { rp, rc } = replayer(kernel, more);
  return feedEvents(events, rp, rc);
}

function events(text: string): TraceEvent[] {
  return readTraceText(text, { file: "t", strictInput: true }).events;
}

function replayText(text: string, kernel: ProfileName): ReplayResult {
  return replayEvents(events(text), kernel);
}

/** The two readings of `replay` (`start-search.ts`): the window, then the replay from what it found. */
function replayTwice(text: string, kernel: ProfileName, search: boolean) {
  assert.ok(MACHINE);
  const evs = events(text);
  const w = new LearningWindow({ machine: MACHINE, kernel, strict: false }, RC_OPTS);
  for (const e of evs) w.push(e);
  const allocations = w.end();
  const start: StartState | undefined = search ? w.search(allocations) : undefined;
  const r = replayEvents(evs, kernel, { start, live: w.live, traceAllocations: allocations });
  return { r, w, allocations, start };
}

/** The trace from event line `from` on (1-based, the comment header kept): a capture started mid-life. */
function cut(text: string, from: number): string {
  return cutFrom(text, from);
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
  // The phase ends by its own rule: each CPU made TURNOVER x 2 x IOVA_MAG_SIZE (127 on 6.12) allocations (the
  // length of the trace unknown here, no tenth caps it).
  assert.ok(r.learning.allocations >= TURNOVER * 2 * 127, String(r.learning.allocations));
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
    // Measured 2026-12-04 after the causes pinned below (ring-full flushes beside the other CPU's unmaps, a map
    // allocated before a flush with the other CPU's calls inside, drains between two of the other CPU's calls,
    // late-queue re-runs, an interrupt's unmap before the callback's first statements, two CPUs' overlapping
    // ring-full flushes, their depot pushes' order left open until the later IOVAs; then the ring-full flush's
    // finish count 63 us after its unmap, the count read of an unmap just before or in the same microsecond as a
    // flushing unmap left open, a timer flush's begin from another CPU's timer_start inside it or after the other
    // CPU's unmaps within BEGIN_NS of its entry): 6.1 261148 of 261149 (the other, line 85961, from a cache filled
    // before the trace, adopted), 6.12
    // 192702 of 192705 (the 3 others from caches filled before the trace, adopted) after the phase. The floors guard against losing that; the goal is 95%.
    const [floor, line] = file.includes("6.12") ? [0.999, 665000] : [0.999, 85000];
    assert.ok(r.exactAfterLearning / r.afterLearning >= floor, `${r.exactAfterLearning}/${r.afterLearning}`);
    assert.ok(r.firstMismatch === null || r.firstMismatch.line > line, String(r.firstMismatch?.line));
  });
}

test("a from-boot trace cut at line 4000: the unmaps of mappings made before the cut are the mappings live at its start", () => {
  const full = fixture(FROM_BOOT);
  const text = cut(full, 4000);
  const finder = new LiveAtStart(4096);
  for (const e of events(text)) finder.push(e);
  assert.ok(finder.found.length > 0);
  // The truth from the full trace: the mappings its first 3999 lines leave live.
  const live = new Map<number, number>();
  for (const e of events(full)) {
    if (e.line >= 4000) break;
    if (e.type === "iommu_map") live.set(e.iova, e.size);
    else if (e.type === "iommu_unmap") live.delete(e.iova);
  }
  for (const m of finder.found)
    assert.ok(live.has(m.iova), `0x${m.iova.toString(16)} (cut line ${m.line}) was not live at the cut`);
  // Every one the cut unmaps is found (a direct map of the boot excepted: the cut has none).
  const unmappedInCut = new Set<number>();
  const mappedInCut = new Set<number>();
  for (const e of events(text)) {
    if (e.type === "iommu_map") mappedInCut.add(e.iova);
    else if (e.type === "iommu_unmap" && !mappedInCut.has(e.iova) && live.has(e.iova)) unmappedInCut.add(e.iova);
  }
  assert.deepEqual(new Set(finder.found.map((m) => m.iova)), unmappedInCut);
});

test("the replay of a cut starts with its live mappings mapped and replays their unmaps; the phase covers at most a tenth", () => {
  const text = cut(fixture(FROM_BOOT), 4000);
  const { r, w, allocations } = replayTwice(text, "mainline", false);
  assert.equal(r.allocations, allocations);
  assert.ok(w.live.length > 0);
  const without = replayText(text, "mainline");
  // The reconstruction drops an unmap of a page it never saw mapped; the replay frees those from its start state.
  assert.equal(r.frees, without.frees + w.live.length);
  assert.equal(r.refusedUnmaps, 0);
  assert.ok(r.learning.allocations <= learningCap(r.allocations), `${r.learning.allocations}/${r.allocations}`);
  assert.equal(r.learning.allocations + r.afterLearning, r.allocations);
});

/** The figures of `replay FILE --json` for the replayed device that depend on the learning phase. */
function jsonFigures(stdout: string) {
  const d = JSON.parse(stdout).devices[0];
  return {
    allocations: d.allocations,
    exact: d.exact,
    learned: d.learned,
    exactAfterLearning: d.exactAfterLearning,
    exactOfKnowable: d.exactOfKnowable,
  };
}

function figures(r: ReplayResult) {
  return {
    allocations: r.allocations,
    exact: r.exact,
    learned: r.learning.allocations,
    exactAfterLearning: r.afterLearning === 0 ? 1 : r.exactAfterLearning / r.afterLearning,
    // Those taken from caches filled before the trace left out.
    exactOfKnowable:
      r.afterLearning === r.adoptedAfterLearning
        ? null
        : r.exactAfterLearning / (r.afterLearning - r.adoptedAfterLearning),
  };
}

test("the phase without a cap ends where the cap of a trace of N allocations ends it exactly when capAgrees(N, its count)", () => {
  // Allocations on 2 CPUs in runs of random lengths; IOVA_MAG_SIZE 6 (the phase ends after 12 per CPU).
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  let agreed = 0;
  let differed = 0;
  for (let trial = 0; trial < 300; trial++) {
    const total = 1 + rand(400);
    const cpus: number[] = [];
    // Some traces keep one CPU nearly silent: the phase then runs long or to the end.
    const skew = rand(3) === 0 ? 40 : 2;
    for (let i = 0; i < total; i++) cpus.push(rand(skew) === 0 ? 1 : 0);
    const run = (cap: number | undefined) => {
      const p = new LearningPhase(2, 6, cap);
      p.first(false, true, 0);
      for (let i = 0; i < total; i++) {
        p.next(i + 1, i);
        if (p.learning) p.count(cpus[i], false, false);
      }
      p.end(total);
      return p.stats;
    };
    const uncapped = run(undefined);
    const capped = run(total ? learningCap(total) : undefined);
    const same = JSON.stringify(uncapped) === JSON.stringify(capped);
    assert.equal(same, capAgrees(total, uncapped.allocations), `trial ${trial}: ${total} allocations`);
    if (same) agreed++;
    else differed++;
  }
  // Both sides of the rule are tried.
  assert.ok(agreed > 20 && differed > 20, `${agreed} / ${differed}`);
});

test("replay of a mid-life cut whose phase runs past a tenth of its allocations: read again, the two readings' figures and IOVA lines", () => {
  // Cut at line 1000, the window (the phase and 4096 events after it) is over before the trace ends: the replay
  // starts in the first reading.
  const text = cut(fixture(FROM_BOOT), 1000);
  const { r, w, allocations } = replayTwice(text, "mainline", false);
  // The cap is due: the phase of that replay, not capped, covers more.
  const uncapped = replayEvents(events(text), "mainline", { live: w.live });
  assert.ok(!capAgrees(allocations, uncapped.learning.allocations), `${uncapped.learning.allocations}/${allocations}`);
  assert.notDeepEqual(figures(uncapped), figures(r));
  const dir = mkdtempSync(join(tmpdir(), "iovalab-midlife-"));
  try {
    const path = join(dir, "cut1000.txt");
    writeFileSync(path, text);
    const out = iovalab(["replay", path, "--machine", "qemu-q35-nvme", "--json"]);
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(jsonFigures(out.stdout), figures(r));
    // Allocations after the phase took IOVAs cached before the trace: the rate of what it could show leaves them out.
    assert.ok(r.adoptedAfterLearning > 0);
    const knowable = r.afterLearning - r.adoptedAfterLearning;
    const summary = iovalab(["replay", path, "--machine", "qemu-q35-nvme"]).stdout;
    assert.match(summary, new RegExp(`; of the ${knowable} the trace could show, ${r.exactAfterLearning} exact \\(`));
    // Its defaults are said once, though two replays began.
    assert.equal(out.stderr.split("captured lazy").length, 2, out.stderr);
    // Its IOVA lines: those of the replay with the cap.
    const lines: string[] = [];
    replayEvents(events(text), "mainline", {
      live: w.live,
      traceAllocations: allocations,
      emitIova: (t: string) => lines.push(t),
    });
    const emitted = iovalab(["replay", path, "--machine", "qemu-q35-nvme", "--emit-iovas"]);
    assert.equal(emitted.status, 0, emitted.stderr);
    assert.equal(emitted.stdout, `${lines.join("\n")}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a mid-life cut's unmaps of mappings made before it are no DMA-API finding: counted apart in the summary", () => {
  const text = cut(fixture(FROM_BOOT), 1000);
  const evs = events(text);
  assert.ok(MACHINE);
  const w = new LearningWindow({ machine: MACHINE, kernel: "mainline", strict: false }, RC_OPTS);
  for (const e of evs) w.push(e);
  w.end();
  const liveLines = w.live.map((m) => m.line);
  // Read alone, the reconstruction takes each of those unmaps for one of memory never mapped.
  const plain = new Reconstructor(RC_OPTS, () => {});
  for (const e of evs) plain.push(e);
  plain.end();
  const never = plain.findings.filter((f) => f.kind === "unmap-never-mapped").map((f) => f.line);
  assert.ok(never.length > 0);
  assert.deepEqual(never, liveLines);
  // Told the lines the window proved, it reports none of them and counts them apart; every other finding stays but
  // one: the cut begins inside a dma_map_sg of 0xffb7c000 (its last two segments at lines 13-14), whose unmap at line
  // 77 is one of those, and now ends them too. Left live, they were a mapping the map of 0xffb7c000 at line 363
  // overlapped.
  const told = new Reconstructor({ ...RC_OPTS, madeBeforeTrace: new Set(liveLines) }, () => {});
  for (const e of evs) told.push(e);
  told.end();
  assert.equal(told.stats.beforeTraceUnmaps, never.length);
  assert.ok(liveLines.includes(77));
  const tail = ["map-overlap", 363];
  const others = plain.findings.filter((f) => f.kind !== "unmap-never-mapped").map((f) => [f.kind, f.line]);
  assert.deepEqual(others[0], tail);
  assert.deepEqual(
    told.findings.map((f) => [f.kind, f.line]),
    others.slice(1),
  );
  const dir = mkdtempSync(join(tmpdir(), "iovalab-midlife-"));
  try {
    const path = join(dir, "cut1000.txt");
    writeFileSync(path, text);
    const out = iovalab(["replay", path, "--machine", "qemu-q35-nvme"]);
    assert.equal(out.status, 0, out.stderr);
    assert.match(
      out.stdout,
      new RegExp(`; not counted: ${never.length} unmaps of mappings made before the trace began`),
    );
    assert.doesNotMatch(out.stdout, /unmap-never-mapped|tries to free DMA memory it has not allocated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

{
  const path = SHARED + "trace-6.12-midlife-lazy.txt.gz";
  test("full trace-6.12-midlife-lazy: replayed in one reading (its phase well within a tenth), the two readings' figures and IOVA lines", {
    skip: sharedSkip(path),
  }, async () => {
    assert.ok(MACHINE);
    const w = new LearningWindow({ machine: MACHINE, kernel: "mainline", strict: false }, RC_OPTS);
    await readTraceFile(path, (e) => w.push(e));
    const allocations = w.end();
    const lines: string[] = [];
    const { rp, rc } = replayer("mainline", {
      start: emptyStartState(0, 0),
      live: w.live,
      traceAllocations: allocations,
      emitIova: (t: string) => lines.push(t),
    });
    await readTraceFile(path, (e) => (isKernelWorkEvent(e) ? rp.pushWork(e) : rc.push(e)));
    rc.end();
    const r = rp.end();
    assert.ok(capAgrees(allocations, r.learning.allocations));
    const out = iovalab(["replay", path, "--machine", "qemu-q35-nvme", "--json"]);
    assert.equal(out.status, 0, out.stderr);
    assert.deepEqual(jsonFigures(out.stdout), figures(r));
    // The IOVA lines too, written as they come once the phase is over and a tenth of the allocations so far covers it.
    const emitted = iovalab(["replay", path, "--machine", "qemu-q35-nvme", "--emit-iovas"]);
    assert.equal(emitted.status, 0, emitted.stderr);
    assert.ok(emitted.stdout === `${lines.join("\n")}\n`, "the IOVA lines differ");
  });
}

test("start state: placeholders fill the magazines as it says, at the bottom of the domain; the allocator's invariants hold", () => {
  assert.ok(MACHINE);
  const start = emptyStartState(6, 2);
  start.classes[0] = { loaded: [3, 127], prev: [127, 0], depot: 1 };
  start.classes[2] = { loaded: [0, 5], prev: [0, 0], depot: 0 };
  const rp = new Replayer({ machine: MACHINE, kernel: "6.1", strict: false, start });
  const iovad = rp.kernel.dma.cookieOf(rp.dev)?.iovad;
  assert.ok(iovad);
  iovad.verifyInvariants();
  const r0 = iovad.rcaches[0];
  assert.deepEqual(
    r0.everyCpu.map((c) => [c.loaded.size, c.prev.size]),
    [
      [3, 127],
      [127, 0],
    ],
  );
  assert.equal(r0.depot.length, 1);
  assert.equal(iovad.rcaches[2].cpu(1).loaded.size, 5);
  // Below every IOVA a top-down tree allocation of the trace reaches.
  assert.ok(r0.cpu(0).loaded.pfns[0] < 0x1000);
  assert.ok(isEmptyStartState(emptyStartState(6, 2)));
});

test("a mid-life trace's first allocations pop the placeholders: each takes the trace's IOVA and counts as learned", () => {
  const text = fixture("linux-6.12-midlife-lazy-report-l-head600.txt.gz");
  const start = emptyStartState(6, 2);
  start.classes[0] = { loaded: [127, 127], prev: [127, 127], depot: 0 };
  const r = replayEvents(events(text), "mainline", { start });
  assert.equal(r.learning.midLife, true);
  // Every allocation of this head is 4 KiB and pops an IOVA cached before the trace or one it freed itself.
  assert.ok(r.learning.adopted > 0);
  assert.equal(r.failures, 0);
  assert.equal(r.refusedUnmaps, 0);
  r.iovad.verifyInvariants();
});

for (const [file, kernel, floor] of [
  ["../kernel-timers/trace-6.12-lazy-timers.txt.gz", "mainline", 0.16],
  ["../kernel-timers/trace-6.1-lazy-timers.txt.gz", "6.1", 0.09],
] as const) {
  const path = SHARED + file;
  const skip = sharedSkip(path);
  test(`full ${file} cut in the middle: replayed from what its first allocations show, compared with the full trace`, {
    skip,
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const lines = text.split("\n");
    const at = Math.floor(lines.length / 2);
    const mid = cut(text, at);
    const { r, w } = replayTwice(mid, kernel, false);
    assert.equal(r.learning.midLife, true);
    // The truth from the full trace: the mappings live at the cut line.
    const live = new Map<number, number>();
    for (const e of events(lines.slice(0, at - 1).join("\n"))) {
      if (e.type === "iommu_map") live.set(e.iova, e.size);
      else if (e.type === "iommu_unmap") live.delete(e.iova);
    }
    assert.ok(w.live.length > 0);
    for (const m of w.live) assert.equal(live.get(m.iova), m.sizeBytes, `0x${m.iova.toString(16)}`);
    assert.ok(r.learning.allocations <= learningCap(r.allocations));
    // The cut's own iova= fields are the full trace's (whose replay from boot is exact: full-traces.test.ts).
    // Measured 2026-12-04: 6.12 16.6%, 6.1 9.8% of the allocations after the phase (README, "Traces that start
    // mid-life": a magazine one entry off stays off); the floor guards against losing more.
    assert.ok(r.exactAfterLearning / r.afterLearning >= floor, `${r.exactAfterLearning}/${r.afterLearning}`);
  });
}

const STRICT_CUT = "linux-6.12-strict-mixed-lines26254-29253.txt.gz";

test("a strict 6.12 trace cut at line 26254: replayed from the mappings its unmaps prove live, 95% after the phase", () => {
  const text = fixture(STRICT_CUT);
  assert.ok(MACHINE);
  const evs = events(text);
  const w = new LearningWindow({ machine: MACHINE, kernel: "mainline", strict: true }, RC_OPTS, false);
  for (const e of evs) w.push(e);
  const allocations = w.end();
  assert.equal(w.midLife, true);
  // Its lines 14-26 and 73-87 (26255-26267 and 26314-26328 of the full trace) unmap fifteen mappings it never
  // shows being made.
  assert.equal(w.live.length, 15);
  assert.deepEqual(
    w.live.slice(0, 3).map((m) => [m.line, m.iova.toString(16), m.sizeBytes]),
    [
      [14, "ff128000", 32768],
      [16, "ff2a0000", 131072],
      [18, "ffc7e000", 8192],
    ],
  );
  const r = replayEvents(evs, "mainline", { strict: true, live: w.live, traceAllocations: allocations });
  assert.equal(r.refusedUnmaps, 0);
  assert.equal(r.frees, replayEvents(evs, "mainline", { strict: true }).frees + 15);
  assert.ok(r.learning.allocations <= learningCap(allocations));
  // Measured: 628 of the 657 allocations after the 72 learned are exact (95.6%).
  assert.ok(r.exactAfterLearning / r.afterLearning >= 0.95, `${r.exactAfterLearning}/${r.afterLearning}`);
});

test("the cut's live mappings are the full trace's: mapped before line 26254 and not unmapped by then", {
  skip: sharedSkip(`${SHARED}trace-6.12-strict-mixed.txt.gz`),
}, () => {
  assert.ok(MACHINE);
  const w = new LearningWindow({ machine: MACHINE, kernel: "mainline", strict: true }, RC_OPTS, false);
  for (const e of events(fixture(STRICT_CUT))) w.push(e);
  w.end();
  const full = gunzipSync(readFileSync(`${SHARED}trace-6.12-strict-mixed.txt.gz`)).toString("utf8");
  const live = new Map<number, number>();
  for (const e of events(full.split("\n").slice(0, 26253).join("\n"))) {
    if (e.type === "iommu_map") live.set(e.iova, e.size);
    else if (e.type === "iommu_unmap") live.delete(e.iova);
  }
  for (const m of w.live) assert.equal(live.get(m.iova), m.sizeBytes, `0x${m.iova.toString(16)}`);
});

test("unmaps of mappings the trace never made prove a mid-life start even where the first allocation looks fresh", () => {
  const phase = new LearningPhase(2, 127);
  assert.equal(phase.first(true, false, 0, true), true);
  assert.equal(phase.stats.midLife, true);
  const fresh = new LearningPhase(2, 127);
  assert.equal(fresh.first(true, false, 0, false), false);
  assert.equal(fresh.stats.midLife, false);
});

test("replay --search-start: says the fill levels it found at the trace's start; the same output twice", () => {
  const f = new URL("linux-6.12-midlife-lazy-report-l-head600.txt.gz", FIXTURES).pathname;
  const args = ["replay", f, "--machine", "qemu-q35-nvme", "--search-start", "--json"];
  const a = iovalab(args);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stderr, /--search-start: at the trace's start: (empty|\d+p: cpu0 \d+\+\d+)/);
  const j = JSON.parse(a.stdout);
  assert.ok(j.total.learned > 0 && j.total.learned <= learningCap(j.total.allocations));
  const b = iovalab(args);
  assert.equal(b.stdout, a.stdout);
  assert.equal(b.stderr, a.stderr);
});

/** The IOVAs of `kind` events on `cpu` between lines `from` and `to` (exclusive), in trace order. */
function iovasOn(evs: readonly TraceEvent[], kind: "iommu_map" | "iommu_unmap", cpu: number, from: number, to: number) {
  const out: string[] = [];
  for (const e of evs)
    if (e.line > from && e.line < to && e.cpu === cpu && (e.type === "iommu_map" || e.type === "iommu_unmap"))
      if (e.type === kind) out.push(e.iova.toString(16));
  return out;
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  const skip = sharedSkip(path);
  // The first mismatch after the learning phase (line 26664), down to its cause, from the trace's own lines.
  test("6.1 mid-life line 26664: CPU 0's magazines after the flush at line 26638 as the trace's allocations show them", {
    skip,
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const lines = text.split("\n");
    // Lines 25000-27100 (1-based numbers kept: the slice is read with its own numbering, offset added back).
    const OFF = 24999;
    const evs = events(lines.slice(OFF, 27100).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // Two fq_flush_timeout runs: on CPU 1 at line 25919, on CPU 0 at line 26638; none between.
    assert.deepEqual(
      [at(25919)?.type, at(25919)?.cpu, at(26638)?.type, at(26638)?.cpu],
      ["timer_expire_entry", 1, "timer_expire_entry", 0],
    );
    const ring0 = iovasOn(evs, "iommu_unmap", 0, 25919, 26638);
    const ring1 = iovasOn(evs, "iommu_unmap", 1, 25919, 26638);
    assert.deepEqual([ring0.length, ring1.length], [217, 140]);
    // The second flush frees CPU 0's queue, then CPU 1's, into CPU 0's rcache (6.1 fq_flush_timeout). CPU 0 then
    // allocates the last 23 of CPU 1's, newest first: its loaded magazine held those 23 alone.
    const cpu0 = iovasOn(evs, "iommu_map", 0, 26638, 27100);
    assert.deepEqual(cpu0.slice(0, 23), ring1.slice(-23).reverse());
    assert.equal(cpu0[23], "ff2fb000");
    // Then its previous magazine, full, topped by CPU 0's 80th unmap after the first flush: the 80 newest first,
    // then the 47 IOVAs CPU 0 held before (allocated at lines 26961-27056 in the order the replay's loaded
    // magazine held them). 47 + 80 = 127 = IOVA_MAG_SIZE: the replay's fill level of CPU 0 was right.
    assert.deepEqual(cpu0.slice(23, 103), ring0.slice(0, 80).reverse());
    // The IOVA CPU 0 unmapped at line 25911 is not in it. That unmap found CPU 0's queue full (255 entries):
    // its queue_iova() flushed the IOTLB and freed the queue into CPU 0's rcache (CPU 0 allocates be23e000,
    // fef5c000, be97e000 right after, newest first), then queued fecfa000. CPU 1's unmaps traced while that
    // IOTLB flush ran (lines 25912-25918, before CPU 0's next call) still read the old finish count: CPU 1's
    // queue stays whole until the timer flush at line 25919 frees fecfa000, then all of CPU 1's queue, into
    // CPU 1's rcache. CPU 1 allocates fecfa000 at line 27019, right after the oldest of that queue
    // (fef5e000, unmapped at line 25057, the unmap that armed the timer at line 25061).
    const u = at(25911);
    assert.ok(u?.type === "iommu_unmap" && u.cpu === 0);
    assert.equal(u.iova.toString(16), "fecfa000");
    assert.ok(!cpu0.slice(0, 103).includes("fecfa000"));
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 25919, 25931), ["be23e000", "fef5c000", "be97e000"]);
    assert.deepEqual(iovasOn(evs, "iommu_unmap", 0, 25905, 25912), ["be97e000", "fef5c000", "be23e000", "fecfa000"]);
    assert.deepEqual(iovasOn(evs, "iommu_map", 1, 27017, 27020), ["fef5e000", "fecfa000"]);
    assert.equal(iovasOn(evs, "iommu_unmap", 1, 25056, 25058)[0], "fef5e000");
  });
}

test("6.1 mid-life: the replay hands out ff2fb000 at line 26664 and ffeee000 at line 28257, as the kernel did; bfb72000 at line 126048; b937d000 at line 132859; b93cd000 at line 148844; ba1c7000 at line 177818; bf47e000 at line 198571; b945f000 at line 216945; b9409000 at line 227447; b9399000 at line 238106", {
  skip: sharedSkip(`${SHARED}trace-6.1-midlife-lazy.txt.gz`),
}, async () => {
  const emitted: string[] = [];
  const mapLines: number[] = [];
  /** The trace's IOVA of each map line, as emitted. */
  const e61 = new Map<number, string>();
  const { rp, rc } = replayer("6.1", { emitIova: (t: string) => emitted.push(t) });
  await readTraceFile(
    `${SHARED}trace-6.1-midlife-lazy.txt.gz`,
    (e) => {
      if (e.type === "iommu_map") {
        mapLines.push(e.line);
        e61.set(e.line, e.iova.toString(16).padStart(16, "0"));
      }
      if (isKernelWorkEvent(e)) rp.pushWork(e);
      else rc.push(e);
    },
    {
      strictInput: true,
    },
  );
  rc.end();
  const r = rp.end();
  assert.ok(r.firstMismatch === null || r.firstMismatch.line > 30075, String(r.firstMismatch?.line));
  // Overlapping ring-full flushes (see the test of lines 124963-126100): CPU 1's first map after the timer flush
  // at line 126046 pops bfb72000, its last IOVA freed by its own ring-full flush; b93ff000, queued by that flush's
  // unmap, stays queued until the timer flush moves it to CPU 0, which maps it at line 126100.
  const at = (line: number) => emitted[mapLines.indexOf(line)];
  assert.equal(emitted.length, mapLines.length);
  assert.deepEqual([at(126048), at(126100)], ["0x00000000bfb72000", "0x00000000b93ff000"]);
  // An unmap in the same microsecond as another CPU's flushing unmap (see the test of lines 129247-129397).
  assert.deepEqual([at(129397), at(129400)], ["0x00000000b93c7000", "0x00000000b936a000"]);
  // Overlapping ring-full flushes whose depot pushes came second CPU first (see the test of lines 131171-133010):
  // left open, then turned by the later IOVAs; CPU 1 pops CPU 0's magazine at line 132859, CPU 0 CPU 1's at 132999.
  assert.deepEqual([at(132859), at(132999)], ["0x00000000b937d000", "0x00000000b93de000"]);
  assert.ok((r.timerFlushes?.depotTurned ?? 0) >= 1);
  const exactUpTo = (from: number, to: number) =>
    mapLines.every((l, i) => l <= from || l >= to || emitted[i] === `0x${e61.get(l)}`);
  // The timer flush at line 133048 with two CPUs' interrupts alternating inside (see the test of lines
  // 133048-133130): its drains are tried among the first runs, and ring 1 goes to CPU 0 as traced.
  assert.equal(at(133114), "0x00000000b93f2000");
  // An unmap a microsecond after another CPU's flushing unmap (see the test of lines 133954-134104): left open, then
  // read as the old count by the later IOVAs.
  assert.equal(at(134098), "0x00000000bfdf7000");
  assert.ok((r.timerFlushes?.countTurned ?? 0) >= 1);
  // Another CPU's unmap 1 us after a timer flush's entry (see the test of lines 142440-142480): placed by trial.
  assert.equal(at(142478), "0x00000000b93e3000");
  // A ring-full flush whose IOTLB flush ended within 70 us (see the test of lines 147772-148920): CPU 1 pops CPU 0's
  // queue, drained by the timer flush at line 148827, down to b93cd000 at line 148844.
  assert.equal(at(148844), "0x00000000b93cd000");
  // An unmap 3 us before another CPU's ring-full unmap, left open and then read as the new count by the later IOVAs
  // (see the test of lines 176933-178760): CPU 0 pops ba1c7000 at line 177818.
  assert.equal(at(177818), "0x00000000ba1c7000");
  assert.ok((r.timerFlushes?.countBeforeTurned ?? 0) >= 1);
  // A timer flush whose callback began after another CPU's unmaps inside it (see the test of lines 197850-198580):
  // CPU 0 pops bf47e000 at line 198571, drained by that flush.
  assert.equal(at(198571), "0x00000000bf47e000");
  assert.ok((r.timerFlushes?.beginsByEvidence ?? 0) >= 1);
  // The arming unmap inside a flush read the old count there (see the test of lines 216934-216960): CPU 0 pops it
  // first after the exit, at line 216945.
  assert.equal(at(216945), "0x00000000b945f000");
  // An unmap in the same microsecond as another CPU's flushing unmap, left open and read as the new count by the
  // later IOVAs (see the test of lines 226429-227900): CPU 1 pops b9409000 at line 227447.
  assert.equal(at(227447), "0x00000000b9409000");
  // Another CPU's two unmaps within BEGIN_NS of a timer flush's entry, both before its begin (see the test of lines
  // 238102-238112): CPU 0 pops b9399000 at line 238106. From there on every allocation is the trace's.
  assert.equal(at(238106), "0x00000000b9399000");
  assert.ok(exactUpTo(126000, Number.POSITIVE_INFINITY));
});

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 124963-126100: two CPUs' ring-full flushes overlap; the first CPU's new entry reads the second's start count", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 124899;
    const evs = events(text.split("\n").slice(OFF, 126200).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // Timer flushes on CPU 1 at line 124963 and on CPU 0 at line 126046; none between: both queues start empty.
    assert.deepEqual(
      [at(124963)?.type, at(124963)?.cpu, at(126046)?.type, at(126046)?.cpu],
      ["timer_expire_entry", 1, "timer_expire_entry", 0],
    );
    assert.deepEqual(
      evs.filter((e) => e.line > 124963 && e.line < 126046 && e.type === "timer_expire_entry"),
      [],
    );
    // 256 unmaps on each CPU up to its 256th: the 256th finds the ring full (255 usable entries) and flushes.
    const u1 = iovasOn(evs, "iommu_unmap", 1, 124963, 125994);
    const u0 = iovasOn(evs, "iommu_unmap", 0, 124963, 126018);
    assert.deepEqual([u1.length, u1[255], u0.length, u0[255]], [256, "b93ff000", 256, "bf57e000"]);
    // Both flushes show as gaps in their CPU's interrupt unmaps (1-2 us apart otherwise): CPU 1 from line 125993
    // (34.785467) to its next call at 34.785574, CPU 0 from line 126017 (34.785507) to 34.785601. CPU 0's began
    // while CPU 1's ran, so CPU 1's queue_iova() read the start count CPU 0's flush had raised for b93ff000.
    const ts = (line: number) => at(line)?.timestampNs ?? 0;
    const next = (line: number, cpu: number) => evs.find((e) => e.line > line && e.cpu === cpu)?.timestampNs ?? 0;
    assert.ok(ts(126017) > ts(125993) && ts(126017) < next(125993, 1));
    assert.ok(next(125993, 1) - ts(125993) > 100_000 && next(126017, 0) - ts(126017) > 90_000);
    // So CPU 1's next queue_iova() (line 126008, after CPU 0's flush finished) did not free b93ff000: CPU 1's first
    // map after the timer flush pops bfb72000, the newest its own ring-full flush freed, and the timer flush at
    // line 126046 frees b93ff000 with the rest of CPU 1's queue into CPU 0's rcache (CPU 0 maps it at line 126100).
    assert.equal(u1[254], "bfb72000");
    assert.equal(iovasOn(evs, "iommu_map", 1, 126046, 126100)[0], "bfb72000");
    assert.ok(!iovasOn(evs, "iommu_map", 1, 125993, 126100).includes("b93ff000"));
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 126099, 126101), ["b93ff000"]);
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 129247-129397: an unmap in the same microsecond as another CPU's flushing unmap reads the start count from before that flush", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 128199;
    const evs = events(text.split("\n").slice(OFF, 129500).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // The timer flush on CPU 0 at line 128299 emptied both queues; the next is at line 129487.
    assert.deepEqual(
      evs.filter((e) => e.line > 128299 && e.line < 129487 && e.type === "timer_expire_entry"),
      [],
    );
    // CPU 1's 256th unmap since then (line 129248, 0xb9400000) found its ring full and flushed; CPU 1's next call
    // is 266 us later and maps 0xfefff000, its unmap before: the ring-full flush freed its queue into its rcache.
    const u1 = iovasOn(evs, "iommu_unmap", 1, 128299, 129249);
    assert.deepEqual([u1.length, u1[255], u1[254]], [256, "b9400000", "fefff000"]);
    assert.equal(iovasOn(evs, "iommu_map", 1, 129249, 129487)[0], "fefff000");
    // CPU 0's unmaps at lines 129247 (0xb936a000), 129249 (0xb93c7000, the same microsecond as CPU 1's) and 129250
    // (0xb93f3000, 2 us later).
    assert.deepEqual(
      [129247, 129248, 129249, 129250].map((l) => [at(l)?.cpu, at(l)?.timestampNs]),
      [
        [0, 34846846000],
        [1, 34846847000],
        [0, 34846847000],
        [0, 34846849000],
      ],
    );
    // CPU 0 later pops 0xb93c7000, then the IOVAs it unmapped before it, newest first: a fq_ring_free() on CPU 0
    // freed its queue up to 0xb93c7000 and stopped at 0xb93f3000. So 0xb93c7000's entry read the start count from
    // before CPU 1's flush (which that flush's finish count covers), 0xb93f3000's the one it raised.
    const u0 = iovasOn(evs, "iommu_unmap", 0, 128299, 129250);
    const m0 = iovasOn(evs, "iommu_map", 0, 129396, 129487);
    assert.deepEqual(m0.slice(0, 8), u0.slice(-8).reverse());
    assert.equal(m0[0], "b93c7000");
    assert.ok(!m0.includes("b93f3000"));
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  // The first cascade (line 132859), as the trace shows it; `depot-order.ts` leaves the order open and the later IOVAs turn it.
  test("6.1 mid-life lines 131171-133010: overlapping ring-full flushes push their depot magazines in the order the later allocations show", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 131099;
    const evs = events(text.split("\n").slice(OFF, 133010).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // After the timer flush at line 131171 both CPUs unmap 256 times: CPU 0's 256th at line 132191 (34.897144),
    // CPU 1's at line 132203 (34.897162, inside CPU 0's flush); both resume 1 us apart (34.897274 / 34.897275).
    const u0 = iovasOn(evs, "iommu_unmap", 0, 131171, 132192);
    const u1 = iovasOn(evs, "iommu_unmap", 1, 131171, 132204);
    assert.deepEqual([u0.length, u1.length], [256, 256]);
    assert.deepEqual(
      [at(132191)?.timestampNs, at(132203)?.timestampNs, at(132204)?.timestampNs, at(132205)?.timestampNs],
      [34897144000, 34897162000, 34897274000, 34897275000],
    );
    // Each ring free crosses a magazine boundary: CPU 0's magazine topped by its 207th entry (b937d000) goes to the
    // depot, and CPU 1's topped by its 204th (b93de000).
    assert.deepEqual([u0[206], u1[203]], ["b937d000", "b93de000"]);
    // CPU 1, its own magazines empty, pops CPU 0's (line 132859: b937d000 and the entries before it, newest first);
    // CPU 0 pops CPU 1's later (line 132999). The 6.1 depot is a stack, so CPU 1's push came first, then CPU 0's,
    // though CPU 0's flush began 18 us earlier: consistent with the two ring frees running side by side after both
    // flushes ended, CPU 1's boundary (entry 204) coming before CPU 0's (entry 207); at lines 125993/126017, where
    // the second CPU resumed 27 us after the first, the first CPU's push came first. The replay frees CPU 0's ring
    // whole at its unmap and so pushes CPU 0's magazine first; timing cannot tell the two orders apart, so the
    // replay keeps the order that places more of the later IOVAs (`depot-order.ts`).
    assert.deepEqual(iovasOn(evs, "iommu_map", 1, 132858, 132868), u0.slice(202, 207).reverse());
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 132998, 133007), u1.slice(200, 204).reverse());
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 133048-133130: a timer flush with two CPUs' interrupts alternating inside drained both queues before the first", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 132899;
    const evs = events(text.split("\n").slice(OFF, 133130).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // The timer flush on CPU 0: entry at line 133048 (34.913880), exit at line 133115 (34.914248).
    assert.deepEqual(
      [at(133048)?.type, at(133048)?.cpu, at(133115)?.type, at(133115)?.cpu],
      ["timer_expire_entry", 0, "timer_expire_exit", 0],
    );
    // Inside it, only interrupt unmaps, CPU 0's (nested in the flush) and CPU 1's alternating: 64 calls, far more
    // runs than the phase trials take, the first 141 us after the entry.
    const inside = evs.filter((e) => e.line > 133048 && e.line < 133115 && e.type === "iommu_unmap");
    let runs = 0;
    for (let i = 0; i < inside.length; i++) if (i === 0 || inside[i].cpu !== inside[i - 1].cpu) runs++;
    assert.deepEqual([inside.length, runs > 8], [64, true]);
    assert.equal((at(133049)?.timestampNs ?? 0) - (at(133048)?.timestampNs ?? 0), 141_000);
    // CPU 1's queue before the flush ends with ff59d000, b9344000, b9366000, ffffc000 (lines 132980-132983): the
    // flush's loop drained it into CPU 0's rcache before CPU 1's first unmap inside (line 133050) could free it
    // into CPU 1's, for CPU 0 maps them after the exit, newest first.
    const u1 = iovasOn(evs, "iommu_unmap", 1, 132979, 132984);
    assert.deepEqual(u1, ["ff59d000", "b9344000", "b9366000", "ffffc000"]);
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 133115, 133129), u1.slice().reverse());
    // CPU 1's first map (line 133114, before the exit), its magazines empty, pops the depot instead (b93f2000,
    // unmapped by CPU 0 at line 131778), and none of its own queue's.
    assert.equal(iovasOn(evs, "iommu_map", 1, 133048, 133117)[0], "b93f2000");
    assert.ok(!iovasOn(evs, "iommu_map", 1, 133048, 133130).some((a) => u1.includes(a)));
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 133954-134104: an unmap traced a microsecond after another CPU's flushing unmap read the start count from before that flush", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 133899;
    const evs = events(text.split("\n").slice(OFF, 134110).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // No timer flush between the one at line 133048 and line 134110: CPU 1's 256th unmap since (line 133959,
    // 34.926686) found its queue full and flushed; CPU 0's unmaps at lines 133958 (1 us before), 133960 (1 us
    // after) and 133961 (2 us after).
    assert.deepEqual(
      evs.filter((e) => e.type === "timer_expire_entry"),
      [],
    );
    assert.deepEqual(
      [133958, 133959, 133960, 133961].map((l) => [at(l)?.cpu, at(l)?.timestampNs]),
      [
        [0, 34926685000],
        [1, 34926686000],
        [0, 34926687000],
        [0, 34926688000],
      ],
    );
    // CPU 0 pops bfdf7000 (line 133960), then the entries before it, newest first: its next fq_ring_free() freed
    // its queue through bfdf7000, so that entry read the start count from before CPU 1's flush; bf13e000 (line
    // 133961) waited.
    const u0 = iovasOn(evs, "iommu_unmap", 0, 133953, 133962);
    assert.deepEqual(u0, ["bedfe000", "bef79000", "b93a6000", "bfdf7000", "bf13e000"]);
    const m0 = iovasOn(evs, "iommu_map", 0, 134097, 134110);
    assert.deepEqual(m0.slice(0, 4), u0.slice(0, 4).reverse());
    assert.ok(!m0.includes("bf13e000"));
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 147772-148920: another CPU's unmaps 70 us after a ring-full unmap read the finish count it raised", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 147699;
    const evs = events(text.split("\n").slice(OFF, 148920).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // Timer flushes on CPU 0 at line 147772 and on CPU 1 at line 148827; none between: both queues start empty.
    assert.deepEqual(
      [at(147772)?.type, at(147772)?.cpu, at(148827)?.type, at(148827)?.cpu],
      ["timer_expire_entry", 0, "timer_expire_entry", 1],
    );
    assert.deepEqual(
      evs.filter((e) => e.line > 147772 && e.line < 148827 && e.type === "timer_expire_entry"),
      [],
    );
    // CPU 1's 256th unmap since (line 148789, b93ae000, 35.191580) finds its queue full and flushes; CPU 1's next
    // call comes 116 us later. CPU 0 unmaps 23 times in between (lines 148790-148812, 1 to 70 us after), its 234th
    // to 256th since the flush: with none of its queue freed, the 256th (line 148812, b93d1000) finds it full.
    const u1 = iovasOn(evs, "iommu_unmap", 1, 147772, 148790);
    const u0 = iovasOn(evs, "iommu_unmap", 0, 147772, 148813);
    assert.deepEqual([u1.length, u1[255], u0.length, u0[255]], [256, "b93ae000", 256, "b93d1000"]);
    const ts = (line: number) => at(line)?.timestampNs ?? 0;
    assert.deepEqual(
      [ts(148790) - ts(148789), ts(148812) - ts(148789), ts(148813) - ts(148789)],
      [1_000, 70_000, 116_000],
    );
    // After the timer flush CPU 1 pops, newest first: its own 5 unmaps after the flushing one, b93ae000 (queued by
    // the flushing unmap with the start count it raised), then CPU 0's 8 + 23 unmaps since line 148790, then
    // (after its own interrupt's unmaps) the rest of its queue before b93ae000. So the timer flush drained CPU 0's
    // queue holding only those 31 (CPU 0's 233 older entries had been freed into CPU 0's rcache, which CPU 0 pops
    // from line 148861: its unmaps at lines 148699, 148698, ...), and CPU 1's holding b93ae000 and the 5 after;
    // the ring-full flush had freed CPU 1's 255 before into CPU 1's rcache. CPU 0's 23 entries all read the start
    // count CPU 1's flush raised, and a ring free of CPU 0's by its 256th unmap (line 148812, 70 us after the
    // flushing unmap) read the finish count it raised, so that unmap did not flush: the IOTLB flush had ended.
    const m1 = iovasOn(evs, "iommu_map", 1, 148827, 148920);
    const own = iovasOn(evs, "iommu_unmap", 1, 148812, 148818);
    const cpu0 = iovasOn(evs, "iommu_unmap", 0, 148789, 148826);
    assert.deepEqual([own.length, cpu0.length], [5, 31]);
    assert.deepEqual(m1.slice(0, 5 + 1 + 31), [...own.slice().reverse(), "b93ae000", ...cpu0.slice().reverse()]);
    assert.deepEqual(m1.slice(37), u1.slice(248, 255).reverse());
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 148827, 148900).slice(0, 2), ["ffb79000", "b9397000"]);
    assert.deepEqual(iovasOn(evs, "iommu_unmap", 0, 148697, 148700), ["b9397000", "ffb79000"]);
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 176933-178760: an unmap traced 3 us before another CPU's ring-full unmap read the start count that flush raised", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 176899;
    const evs = events(text.split("\n").slice(OFF, 178760).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // Timer flushes on CPU 0 at line 176933 and on CPU 1 at line 177931; none between.
    assert.deepEqual(
      [at(176933)?.type, at(176933)?.cpu, at(177931)?.type, at(177931)?.cpu],
      ["timer_expire_entry", 0, "timer_expire_entry", 1],
    );
    assert.deepEqual(
      evs.filter((e) => e.line > 176933 && e.line < 177931 && e.type === "timer_expire_entry"),
      [],
    );
    // CPU 1's 256th unmap since (line 177700, ffffc000) finds its queue full and flushes. CPU 0's first unmap of an
    // interrupt, baff3000 (line 177697), is traced 3 us before it; CPU 0's next call comes 9 us after that one, its
    // later unmaps 3 us apart.
    const u1 = iovasOn(evs, "iommu_unmap", 1, 176933, 177701);
    assert.deepEqual([u1.length, u1[255]], [256, "ffffc000"]);
    const ts = (line: number) => at(line)?.timestampNs ?? 0;
    assert.deepEqual([at(177697)?.cpu, at(177701)?.cpu], [0, 0]);
    assert.deepEqual(
      [ts(177700) - ts(177697), ts(177701) - ts(177697), ts(177702) - ts(177701)],
      [3_000, 9_000, 3_000],
    );
    assert.deepEqual(iovasOn(evs, "iommu_unmap", 0, 177676, 177701), ["baff3000"]);
    // CPU 0 unmaps nothing else until line 177775, long after that flush ended; its ring free there freed its queue
    // up to ba1c7000 (its unmap before baff3000, line 177624), which CPU 0 pops first at line 177818, then the ones
    // before, newest first. baff3000 stayed queued: its entry read the start count CPU 1's flush had raised, so the
    // timer flush at line 177931 frees it, into CPU 1's rcache (CPU 1 maps it at line 178754).
    const u0 = iovasOn(evs, "iommu_unmap", 0, 177500, 177697);
    assert.equal(u0[u0.length - 1], "ba1c7000");
    assert.deepEqual(iovasOn(evs, "iommu_unmap", 0, 177717, 177775), []);
    const m0 = iovasOn(evs, "iommu_map", 0, 177775, 177830);
    assert.deepEqual(m0.slice(0, 3), u0.slice(-3).reverse());
    assert.ok(!iovasOn(evs, "iommu_map", 0, 177697, 178760).includes("baff3000"));
    assert.deepEqual(iovasOn(evs, "iommu_map", 1, 178753, 178755), ["baff3000"]);
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 197850-198580: another CPU's unmaps inside a timer flush before the one that re-armed the timer read the old start count", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 197799;
    const evs = events(text.split("\n").slice(OFF, 198600).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // The timer flush on CPU 1: entry at line 197850, exit at line 197865. Inside it CPU 0's interrupt unmaps
    // b941d000, b9423000, bf47e000, b93c3000 (lines 197851-197854, 0 to 5 us after the entry), then CPU 0's
    // timer_start (line 197855): the queue_iova() of b93c3000 found fq_timer_on cleared, those before it did not.
    assert.deepEqual(
      [197850, 197855, 197865].map((l) => [at(l)?.type, at(l)?.cpu]),
      [
        ["timer_expire_entry", 1],
        ["timer_start", 0],
        ["timer_expire_exit", 1],
      ],
    );
    const inside = iovasOn(evs, "iommu_unmap", 0, 197850, 197855);
    assert.deepEqual(inside, ["b941d000", "b9423000", "bf47e000", "b93c3000"]);
    // fq_flush_timeout() clears fq_timer_on and then raises the start count; queue_iova() reads the count into the
    // entry and then tests fq_timer_on. So the three that found the timer on read the old count, and the flush
    // freed them with the rest of CPU 0's queue: CPU 0 pops them later, newest first, right before its unmaps
    // traced before the entry (lines 197849, 197848). b93c3000 waited for the next flush (CPU 1 maps it at line
    // 199025, with b93d6000, CPU 0's next unmap inside the flush).
    const before = iovasOn(evs, "iommu_unmap", 0, 197845, 197850);
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 198570, 198581), [
      ...inside.slice(0, 3).reverse(),
      ...before.slice(-2).reverse(),
    ]);
    assert.ok(!iovasOn(evs, "iommu_map", 0, 197850, 198600).includes("b93c3000"));
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 216934-216960: the unmap that re-armed the timer inside a flush may still have read the old start count", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 216899;
    const evs = events(text.split("\n").slice(OFF, 216960).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // The timer flush on CPU 0: entry at line 216934, exit at line 216943. Inside it CPU 1's interrupt unmaps
    // b9385000, bee7d000, fef5d000, b945f000 (lines 216935-216938), then CPU 1's timer_start (line 216939).
    assert.deepEqual(
      [216934, 216939, 216943].map((l) => [at(l)?.type, at(l)?.cpu]),
      [
        ["timer_expire_entry", 0],
        ["timer_start", 1],
        ["timer_expire_exit", 0],
      ],
    );
    const inside = iovasOn(evs, "iommu_unmap", 1, 216934, 216939);
    assert.deepEqual(inside, ["b9385000", "bee7d000", "fef5d000", "b945f000"]);
    // CPU 0's first maps after the exit pop all four, newest first, then CPU 1's unmaps before the entry: the flush
    // drained b945f000 too. Its queue_iova() read the start count before the callback raised it and tested
    // fq_timer_on after the callback cleared it; at line 197854 the arming unmap read the new count instead (see
    // the test of lines 197850-198580), so the replay tries the begin on both sides of the arming unmap.
    const before = iovasOn(evs, "iommu_unmap", 1, 216925, 216934);
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 216943, 216951), [
      ...inside.slice().reverse(),
      ...before.slice(-2).reverse(),
    ]);
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 226429-227900: an unmap in the same microsecond as another CPU's flushing unmap read the start count that flush raised", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 226399;
    const evs = events(text.split("\n").slice(OFF, 227900).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // Timer flushes on CPU 0 at lines 226429 and 227659; none between. CPU 0's 256th unmap since (line 227305,
    // b9410000) finds its queue full and flushes; CPU 1 unmaps bf676000, b9409000 (lines 227301, 227303: 5 and 2 us
    // before) and b93d4000 (line 227306, the same microsecond).
    assert.deepEqual([at(226429)?.type, at(227659)?.type], ["timer_expire_entry", "timer_expire_entry"]);
    assert.deepEqual(
      evs.filter((e) => e.line > 226429 && e.line < 227659 && e.type === "timer_expire_entry"),
      [],
    );
    const u0 = iovasOn(evs, "iommu_unmap", 0, 226429, 227306);
    assert.deepEqual([u0.length, u0[255]], [256, "b9410000"]);
    const ts = (line: number) => at(line)?.timestampNs ?? 0;
    assert.deepEqual(iovasOn(evs, "iommu_unmap", 1, 227300, 227307), ["bf676000", "b9409000", "b93d4000"]);
    assert.equal(ts(227306), ts(227305));
    // CPU 1's ring free after that flush freed its queue through b9409000 and stopped at b93d4000: CPU 1 pops
    // b9409000 and bf676000, newest first (lines 227447, 227450), and b93d4000 waits for the timer flush at line
    // 227659, which frees it into CPU 0's rcache (CPU 0 maps it at line 227897). At line 129249 an unmap in the same
    // microsecond read the old count (see the test of lines 129247-129397): the replay leaves it open.
    const m1 = iovasOn(evs, "iommu_map", 1, 227306, 227451);
    assert.deepEqual(m1.slice(-2), ["b9409000", "bf676000"]);
    assert.ok(!iovasOn(evs, "iommu_map", 1, 227306, 227659).includes("b93d4000"));
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 227896, 227898), ["b93d4000"]);
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 238102-238112: another CPU's unmaps 0 and 1 us after a timer flush's entry are both freed by that flush", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 238049;
    const evs = events(text.split("\n").slice(OFF, 238115).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // The timer flush on CPU 0: entry at line 238102, exit at line 238105; CPU 1's interrupt unmaps b939d000 and
    // b9399000 inside it, 0 and 1 us after the entry.
    assert.deepEqual(
      [238102, 238103, 238104, 238105].map((l) => [at(l)?.type, at(l)?.cpu]),
      [
        ["timer_expire_entry", 0],
        ["iommu_unmap", 1],
        ["iommu_unmap", 1],
        ["timer_expire_exit", 0],
      ],
    );
    const ts = (line: number) => at(line)?.timestampNs ?? 0;
    assert.deepEqual([ts(238103) - ts(238102), ts(238104) - ts(238102)], [0, 1_000]);
    // CPU 0 pops both first after the exit, newest first, then CPU 1's unmaps before the entry: both read the start
    // count before the callback raised it (as line 142442 did, 1 us after its entry), and the flush drained them.
    const inside = iovasOn(evs, "iommu_unmap", 1, 238102, 238105);
    assert.deepEqual(inside, ["b939d000", "b9399000"]);
    const before = iovasOn(evs, "iommu_unmap", 1, 238095, 238102);
    assert.deepEqual(iovasOn(evs, "iommu_map", 0, 238105, 238113), [
      ...inside.slice().reverse(),
      ...before.slice(-3).reverse(),
    ]);
  });
}

{
  const path = `${SHARED}trace-6.1-midlife-lazy.txt.gz`;
  test("6.1 mid-life lines 142440-142480: another CPU's unmap traced 1 us after a timer flush's entry is freed by that flush", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const OFF = 142399;
    const evs = events(text.split("\n").slice(OFF, 142490).join("\n")).map((e) => ({ ...e, line: e.line + OFF }));
    const at = (line: number) => evs.find((e) => e.line === line);
    // The timer flush on CPU 1: entry at line 142441 (35.078563), exit at line 142443; CPU 0's interrupt unmaps
    // b93b2000 2 us before the entry (line 142440) and b93e3000 1 us after it (line 142442).
    assert.deepEqual(
      [142440, 142441, 142442, 142443].map((l) => [at(l)?.type, at(l)?.cpu, at(l)?.timestampNs]),
      [
        ["iommu_unmap", 0, 35078561000],
        ["timer_expire_entry", 1, 35078563000],
        ["iommu_unmap", 0, 35078564000],
        ["timer_expire_exit", 1, 35078583000],
      ],
    );
    assert.deepEqual(iovasOn(evs, "iommu_unmap", 0, 142439, 142443), ["b93b2000", "b93e3000"]);
    // CPU 1 maps b93e3000 and then b93b2000, the 34th and 35th calls after the exit: the flush freed both into CPU
    // 1's rcache, so b93e3000's entry read the start count before the callback raised it.
    const m1 = iovasOn(evs, "iommu_map", 1, 142443, 142481);
    assert.deepEqual(m1.slice(-2), ["b93e3000", "b93b2000"]);
    const calls = evs.filter(
      (e) => e.line > 142443 && e.line <= 142478 && (e.type === "iommu_map" || e.type === "iommu_unmap"),
    );
    assert.equal(calls.length, 34);
  });
}

/**
 * A lazy trace from `pct`% of its lines on (`at`, the first line kept), replayed as `replay` does (the window,
 * then the replay) with `more` options; `at(line)` is the model's IOVA of a map line, `traceAt` the trace's.
 */
function lazyCut(path: string, kernel: "6.1" | "mainline", pct: number) {
  const text = gunzipSync(readFileSync(path)).toString("utf8");
  const at = Math.floor(text.split("\n").length * (pct / 100));
  const evs = events(cut(text, at));
  const maps = evs.filter((e) => e.type === "iommu_map");
  const mapLines = maps.map((e) => e.line);
  const traceAt = new Map(maps.map((e) => [e.line, `0x${e.iova.toString(16).padStart(16, "0")}`]));
  const run = (more: {
    timerEvents?: boolean;
    magazineCuts?: boolean;
    swappedPrev?: boolean;
    swappedPrevHitOver?: boolean;
    phaseCrossCuts?: boolean;
  }) => {
    assert.ok(MACHINE);
    const w = new LearningWindow({ machine: MACHINE, kernel, strict: false, ...more }, RC_OPTS, false);
    for (const e of evs) w.push(e);
    const allocations = w.end();
    const emitted: string[] = [];
    const r = replayEvents(evs, kernel, {
      live: w.live,
      traceAllocations: allocations,
      emitIova: (t: string) => emitted.push(t),
      ...more,
    });
    assert.equal(emitted.length, mapLines.length);
    return { r, at: (line: number) => emitted[mapLines.indexOf(line)] };
  };
  const mapAt = (line: number) => {
    const e = maps.find((x) => x.line === line);
    return e ? [e.cpu, e.iova.toString(16), e.size] : null;
  };
  return { at, evs, mapLines, traceAt, run, mapAt };
}

{
  const path = `${SHARED}../kernel-timers/trace-6.1-lazy-timers.txt.gz`;
  test("6.1 lazy timers cut at 30% (line 67532): CPU 0's map at line 13150 is the top of the magazine the model pushed on the depot", {
    skip: sharedSkip(path),
  }, () => {
    const { at, evs, mapLines, traceAt, run: runWith } = lazyCut(path, "6.1", 30);
    assert.equal(at, 67532);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts });
    const cuts = run(true);
    const none = run(false);
    const exactBetween = (x: typeof cuts, a: number, b: number) =>
      mapLines.filter((l) => l > a && l < b && x.at(l) === traceAt.get(l)).length;
    assert.equal(cuts.r.learning.endLine, 1501);
    // Line 13150: CPU 0's loaded magazine is empty in the model, its prev full; the model swaps prev in and hands
    // out 0xbef3f000, the kernel 0xbf1d8000, the top of the depot's top magazine, which CPU 0 pushed in the
    // model. In the kernel that magazine never filled (its cut came later than the model's): still loaded, it
    // was never pushed. Taken back from the depot, CPU 0 goes on with the kernel's IOVAs: its next three 4 KiB
    // maps, and 448 of the 484 maps up to line 14000 (114 without the cuts).
    assert.equal(traceAt.get(13150), "0x00000000bf1d8000");
    assert.equal(cuts.at(13150), "0x00000000bef3f000");
    const next = evs
      .filter((e) => e.type === "iommu_map" && e.line > 13150 && e.cpu === 0 && e.size === 4096)
      .slice(0, 3)
      .map((e) => e.line);
    assert.deepEqual(
      next.map((l) => traceAt.get(l)),
      ["0x00000000befc7000", "0x00000000bf76f000", "0x00000000be871000"],
    );
    for (const l of next) assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
    assert.equal(mapLines.filter((l) => l > 13150 && l < 14000).length, 484);
    assert.ok(exactBetween(cuts, 13150, 14000) >= 440, String(exactBetween(cuts, 13150, 14000)));
    assert.ok(exactBetween(none, 13150, 14000) < 200, String(exactBetween(none, 13150, 14000)));
    // Measured 2026-12-05: 62863/64284 after the phase (97.79%); 38463 (59.83%) before this cut (`unpush`);
    // without any magazine cut 11234 (17.48%).
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.975, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.2, String(none.r.exactAfterLearning));
  });

  test("6.1 lazy timers cut at 60% (line 135064): CPU 0's map at line 7167 shows CPU 1 pushed its magazine 19 frees before the model did", {
    skip: sharedSkip(path),
  }, () => {
    const { at, mapLines, traceAt, run: runWith, mapAt } = lazyCut(path, "6.1", 60);
    assert.equal(at, 135064);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts });
    // CPU 0 maps 0xbf1df000 at line 7167; CPU 1 then maps 0xffcdc000 at line 7226, 0xff437000 at 7240 and
    // 0xffa0b000 at 7242, and CPU 0 0xbee7b000 at 7229 and 0xbeefe000 at 7237.
    assert.deepEqual([7167, 7226, 7240, 7242, 7229, 7237].map(mapAt), [
      [0, "bf1df000", 4096],
      [1, "ffcdc000", 4096],
      [1, "ff437000", 4096],
      [1, "ffa0b000", 4096],
      [0, "bee7b000", 4096],
      [0, "beefe000", 4096],
    ]);
    const cuts = run(true);
    const none = run(false);
    assert.equal(cuts.r.learning.endLine, 1324);
    // Line 7167: CPU 0's magazines are empty and the model pops the depot's one magazine, CPU 1's frees with
    // 0xffcdc000 on top and 0xbf1df000 19 below it. The kernel's depot magazine, full, ended with 0xbf1df000: CPU 1
    // pushed it 19 frees earlier, so the 19 above are CPU 1's loaded ones and the top 19 of its full prev went into
    // the pushed magazine. Cut so, CPU 1 hands out 0xffcdc000, 0xff437000, 0xffa0b000 as the kernel did, and CPU 0
    // the IOVAs below 0xbf1df000.
    assert.equal(cuts.at(7167), "0x00000000ffcdc000");
    for (const l of [7226, 7240, 7242, 7229, 7237]) assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
    for (const l of [7226, 7229]) assert.notEqual(none.at(l), traceAt.get(l), `line ${l} without the cuts`);
    const exactBetween = (x: typeof cuts, a: number, b: number) =>
      mapLines.filter((l) => l > a && l < b && x.at(l) === traceAt.get(l)).length;
    // Up to line 9000, 886 of the 1036 maps are the kernel's (438 without the cuts).
    assert.equal(mapLines.filter((l) => l > 7167 && l < 9000).length, 1036);
    assert.ok(exactBetween(cuts, 7167, 9000) >= 880, String(exactBetween(cuts, 7167, 9000)));
    // Measured 2026-12-05: 34098/35164 after the phase (96.97%); 21196 (60.28%) before this cut (`depotCut`);
    // without any magazine cut 11682 (33.22%).
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.96, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.35, String(none.r.exactAfterLearning));
  });

  test("6.1 lazy timers cut at 12% (line 27012): CPU 1 takes the magazine CPU 0 pushed, where the model had guessed IOVAs from before the trace", {
    skip: sharedSkip(path),
  }, () => {
    const { at, evs, mapLines, traceAt, run: runWith, mapAt } = lazyCut(path, "6.1", 12);
    assert.equal(at, 27012);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts });
    // Line 14307: CPU 1 maps 0xbecae000, which CPU 0's timer flush at line 13040 freed (unmapped at 13037); CPU 1
    // then maps 0xff53e000, 0xffffd000 and 0xbee7b000, freed on CPU 0 before it.
    assert.deepEqual([14307, 14309, 14315, 14318].map(mapAt), [
      [1, "becae000", 4096],
      [1, "ff53e000", 4096],
      [1, "ffffd000", 4096],
      [1, "bee7b000", 4096],
    ]);
    const unmap = evs.find((e) => e.type === "iommu_unmap" && e.iova === 0xbecae000 && e.line > 13000);
    assert.equal(unmap?.line, 13037);
    const cuts = run(true);
    const none = run(false);
    assert.equal(cuts.r.learning.endLine, 1386);
    // At line 2157 an earlier cut (`crossCut`) gave CPU 1 the magazine CPU 0 had pushed, padded with placeholders
    // as if full: the kernel's held fewer. At line 14307 the model's CPU 1 holds only placeholders, and CPU 0
    // holds 0xbecae000 on top of its loaded magazine: an IOVA freed on CPU 0 reaches CPU 1 only through the
    // depot, which CPU 1 pops only with both its magazines empty. So the placeholders go and CPU 0's magazine,
    // 0xbecae000 on top, becomes CPU 1's (adopted, not exact); the IOVAs below it follow as the kernel's.
    for (const l of [14309, 14315, 14318]) {
      assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
      assert.notEqual(none.at(l), traceAt.get(l), `line ${l} without the cuts`);
    }
    const exactBetween = (x: typeof cuts, a: number, b: number) =>
      mapLines.filter((l) => l > a && l < b && x.at(l) === traceAt.get(l)).length;
    assert.equal(mapLines.filter((l) => l > 14307 && l < 15000).length, 400);
    // All 400 maps up to line 15000 are the kernel's (235 without the cuts).
    assert.equal(exactBetween(cuts, 14307, 15000), 400);
    assert.ok(exactBetween(none, 14307, 15000) < 300, String(exactBetween(none, 14307, 15000)));
    // Measured 2026-12-05: 79574/80068 after the phase (99.38%); 75739 (94.59%) without the drop where the
    // kernel pops the depot (the cut at 47%), 44547 (55.64%) before the placeholders went, 20381 without any
    // magazine cut.
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.99, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.3, String(none.r.exactAfterLearning));
    // Line 968: CPU 0 maps 0xff6bf000, never shown before (cached before the trace), where the model pops
    // 0xbf05e000; line 1082: CPU 0 maps 0xbe24d000, never shown before either, where the model, the earlier hit
    // taken back, pops 0xbf1fb000 from under 0xbf05e000 (both freed on CPU 1, at lines 771 and 909, and put in
    // CPU 0's magazine by the timer flush at line 925).
    assert.deepEqual([968, 1082].map(mapAt), [
      [0, "ff6bf000", 4096],
      [0, "be24d000", 4096],
    ]);
    const seen = (iova: number, before: number) =>
      evs.some((e) => e.line < before && (e.type === "iommu_map" || e.type === "iommu_unmap") && e.iova === iova);
    assert.ok(!seen(0xff6bf000, 968) && !seen(0xbe24d000, 1082));
    const freedOn = (iova: number) => evs.find((e) => e.type === "iommu_unmap" && e.iova === iova && e.line > 700);
    assert.deepEqual(
      [freedOn(0xbf1fb000), freedOn(0xbf05e000)].map((e) => [e?.line, e?.cpu]),
      [
        [771, 1],
        [909, 1],
      ],
    );
    // The hit at line 968 showed the kernel's loaded magazine topped by an IOVA from before the trace while the
    // model's CPU 0 held 0xbf1fb000: it was not on top of the kernel's, so the hit at line 1082 shows no full
    // prev swapped in (`HitOver`). Swapped in there, the model's CPU 0 goes on with placeholders the kernel's
    // never held, and the maps from line 14309 on (see above) are others. The cross-CPU cut in the learning phase
    // (at line 1028 CPU 1 takes the magazine CPU 0 pushed, 0xbf05e000 on top) leaves no such hit either: without
    // HitOver but with it, 79578 (99.39%), as with both; so both go here.
    const over = runWith({ swappedPrevHitOver: false, phaseCrossCuts: false });
    assert.notEqual(over.at(14309), traceAt.get(14309), "line 14309 without HitOver");
    // Measured 2026-12-05: 49172 (61.41%) without them.
    assert.ok(over.r.exactAfterLearning / over.r.afterLearning < 0.7, String(over.r.exactAfterLearning));
  });

  test("6.1 lazy timers cut at 47% (line 105800): CPU 0 pops the depot's top magazine where the model had guessed IOVAs from before the trace", {
    skip: sharedSkip(path),
  }, () => {
    const { at, mapLines, traceAt, run: runWith, mapAt } = lazyCut(path, "6.1", 47);
    assert.equal(at, 105800);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts });
    // Line 3103: CPU 0 maps 0xffe3f000, then 0xbf12b000, 0xbfa3f000 and 0xbf97f000: the top of the magazine CPU 1
    // pushed on the depot, in its order.
    assert.deepEqual([3103, 3112, 3137, 3138].map(mapAt), [
      [0, "ffe3f000", 4096],
      [0, "bf12b000", 4096],
      [0, "bfa3f000", 4096],
      [0, "bf97f000", 4096],
    ]);
    const cuts = run(true);
    const none = run(false);
    assert.equal(cuts.r.learning.endLine, 1391);
    // The model's CPU 0 holds only placeholders (a cut padded its magazine), and the depot's top magazine has
    // 0xffe3f000 on top: the kernel's CPU 0 popped the depot, so its magazines were empty. The placeholders go and
    // the model pops the depot too; the IOVAs below 0xffe3f000 follow as the kernel's.
    for (const l of [3112, 3137, 3138]) {
      assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
      assert.notEqual(none.at(l), traceAt.get(l), `line ${l} without the cuts`);
    }
    const exactBetween = (x: typeof cuts, a: number, b: number) =>
      mapLines.filter((l) => l > a && l < b && x.at(l) === traceAt.get(l)).length;
    // 352 of the 483 maps up to line 4000 are the kernel's (the others mostly IOVAs cached before the trace), 192
    // without the cuts.
    assert.equal(mapLines.filter((l) => l > 3103 && l < 4000).length, 483);
    assert.ok(exactBetween(cuts, 3103, 4000) >= 350, String(exactBetween(cuts, 3103, 4000)));
    assert.ok(exactBetween(none, 3103, 4000) < 250, String(exactBetween(none, 3103, 4000)));
    // Measured 2026-12-05: 47181/48088 after the phase (98.11%); 27087 (56.33%) before this drop (with the one of
    // the cut at 12%), 5813 without any magazine cut.
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.98, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.15, String(none.r.exactAfterLearning));
  });

  test("6.1 lazy timers cut at 67% (line 150822): CPU 1's prev shows a cut of the learning phase's frees made five IOVAs too early", {
    skip: sharedSkip(path),
  }, () => {
    const { at, evs, traceAt, run: runWith, mapAt } = lazyCut(path, "6.1", 67);
    assert.equal(at, 150822);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts, timerEvents: true });
    // CPU 0 maps and unmaps 0xbf56f000, 0xff37e000, 0xff45e000, 0xbee3f000 and 0xbc470000 in the learning phase
    // (unmapped at lines 112-198); CPU 1 maps them again at lines 1499-1509, last freed first.
    const lines = [1499, 1500, 1501, 1503, 1509];
    assert.deepEqual(lines.map(mapAt), [
      [1, "bc470000", 4096],
      [1, "bee3f000", 4096],
      [1, "ff45e000", 4096],
      [1, "ff37e000", 4096],
      [1, "bf56f000", 4096],
    ]);
    const unmapped = [0xbf56f000, 0xff37e000, 0xff45e000, 0xbee3f000, 0xbc470000].map(
      (iova) => evs.find((e) => e.type === "iommu_unmap" && e.iova === iova)?.line,
    );
    assert.deepEqual(unmapped, [112, 121, 122, 176, 198]);
    // The five IOVAs from before the trace in the magazine CPU 0 pops at line 1267 (the replay from boot shows
    // them): the trace names none of them before.
    const before = [0xbf17a000, 0xbe24d000, 0xff0fd000, 0xbf1fb000, 0xbe8dd000];
    assert.ok(
      !evs.some(
        (e) => e.line < 1267 && (e.type === "iommu_map" || e.type === "iommu_unmap") && before.includes(e.iova),
      ),
    );
    const cuts = run(true);
    const none = run(false);
    assert.equal(cuts.r.learning.endLine, 1212);
    // At line 1267 CPU 0, its magazines empty, pops the magazine CPU 1 pushed; a cut reads where it began from the
    // model's order of CPU 1's frees, but the kernel's also held five IOVAs from before the trace (queued before
    // it, freed with the trace's own), so it began five IOVAs later: the kernel's CPU 1 kept those five atop its
    // full prev, and the model gave them to CPU 0's magazine, padding CPU 1's prev with placeholders. At line
    // 1499 CPU 1 swaps that prev in and the kernel hands out 0xbc470000, fifth from the bottom of CPU 0's loaded
    // magazine in the model: the five go back on top of CPU 1's (adopted, not exact) and follow as the kernel's.
    for (const l of lines.slice(1)) {
      assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
      assert.notEqual(none.at(l), traceAt.get(l), `line ${l} without the cuts`);
    }
    // Measured 2026-12-05: 27073/28109 after the phase (96.31%); 17654 (62.81%) before this cut (`cutBack`).
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.96, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.5, String(none.r.exactAfterLearning));
  });

  test("6.1 lazy timers cut at 65% (line 146320): CPU 0's prev shows it pushed its loaded magazine ten frees after the model did", {
    skip: sharedSkip(path),
  }, () => {
    const { at, mapLines, traceAt, run: runWith, mapAt } = lazyCut(path, "6.1", 65);
    assert.equal(at, 146320);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts, timerEvents: true });
    // CPU 0 maps 0xbe873000 at line 4205, then 0xbe53f000, 0xbfcff000, 0xbecad000 and 0xfecbb000.
    const lines = [4205, 4207, 4211, 4223, 4225];
    assert.deepEqual(lines.map(mapAt), [
      [0, "be873000", 4096],
      [0, "be53f000", 4096],
      [0, "bfcff000", 4096],
      [0, "becad000", 4096],
      [0, "fecbb000", 4096],
    ]);
    const cuts = run(true);
    const none = run(false);
    assert.equal(cuts.r.learning.endLine, 1334);
    // At line 4205 the model's CPU 0 holds ten IOVAs in its loaded magazine, a full prev, and the depot's top
    // magazine it pushed ten frees earlier than the kernel did: 0xbe873000 is tenth from that magazine's bottom,
    // so one magazine's worth lies above it (117 there, the ten loaded). The kernel pushed those, its loaded
    // magazine emptied and its full prev, topped by 0xbe873000, came in: cut so, CPU 0 hands out the IOVAs below
    // 0xbe873000 as the kernel did.
    for (const l of lines.slice(1)) {
      assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
      assert.notEqual(none.at(l), traceAt.get(l), `line ${l} without the cuts`);
    }
    const exactBetween = (x: typeof cuts, a: number, b: number) =>
      mapLines.filter((l) => l > a && l < b && x.at(l) === traceAt.get(l)).length;
    // 332 of the 415 maps up to line 5000 are the kernel's (the others mostly IOVAs cached before the trace), 164
    // without the cuts.
    assert.equal(mapLines.filter((l) => l > 4205 && l < 5000).length, 415);
    assert.ok(exactBetween(cuts, 4205, 5000) >= 330, String(exactBetween(cuts, 4205, 5000)));
    assert.ok(exactBetween(none, 4205, 5000) < 250, String(exactBetween(none, 4205, 5000)));
    // Measured 2026-12-05: 29091/30116 after the phase (96.60%); 17254 (57.29%) before this cut (`depotShift`),
    // 10893 without any magazine cut.
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.96, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.4, String(none.r.exactAfterLearning));
  });

  test("6.1 lazy timers cut at 27% (line 60779): CPU 1's hits of IOVAs from before the trace show its loaded magazine went to the depot", {
    skip: sharedSkip(path),
  }, () => {
    const { at, evs, traceAt, run: runWith, mapAt } = lazyCut(path, "6.1", 27);
    assert.equal(at, 60779);
    const run = (magazineCuts: boolean) => runWith({ magazineCuts });
    // CPU 1 unmaps 0xbf12c000 at line 1686 and its timer flush at line 1691 frees it; at lines 1701 and 1704 CPU 1
    // maps 0xbfb3e000 and 0xbfc7d000, which the trace never showed before (cached before it). CPU 0 maps
    // 0xbf12c000 at line 4202, then 0xbe45a000, 0xbef7b000 and 0xbe73c000.
    assert.deepEqual([1701, 1704, 4202, 4207, 4208, 4209].map(mapAt), [
      [1, "bfb3e000", 4096],
      [1, "bfc7d000", 4096],
      [0, "bf12c000", 4096],
      [0, "be45a000", 4096],
      [0, "bef7b000", 4096],
      [0, "be73c000", 4096],
    ]);
    const seen = (iova: number, before: number) =>
      evs.some((e) => e.line < before && (e.type === "iommu_map" || e.type === "iommu_unmap") && e.iova === iova);
    assert.ok(!seen(0xbfb3e000, 1701) && !seen(0xbfc7d000, 1704));
    const unmap = evs.find((e) => e.type === "iommu_unmap" && e.iova === 0xbf12c000 && e.line > 1600);
    assert.deepEqual([unmap?.line, unmap?.cpu], [1686, 1]);
    const cuts = run(true);
    const none = run(false);
    assert.equal(cuts.r.learning.endLine, 1340);
    // The model's CPU 1 pops 0xbf12c000, its own last free, twice where the kernel hands out IOVAs from before the
    // trace: frees go on top of the loaded magazine, so the kernel's had left with 0xbf12c000 on top (a free when
    // it and prev were full pushes it on the depot) and its full prev was swapped in. Cut so, CPU 0, its
    // magazines empty, pops that magazine at line 4202 as the kernel did: 0xbf12c000 and the IOVAs below it.
    for (const l of [4202, 4207, 4208, 4209]) {
      assert.equal(cuts.at(l), traceAt.get(l), `line ${l}`);
      assert.notEqual(none.at(l), traceAt.get(l), `line ${l} without the cuts`);
    }
    // Measured 2026-12-05: 66073/67145 after the phase (98.40%); 38312 (57.06%) before this cut (`pushBeforeHit`),
    // 10682 without any magazine cut.
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.98, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.2, String(none.r.exactAfterLearning));
  });
}

{
  const path = `${SHARED}../kernel-timers/trace-6.1-lazy-timers.txt.gz`;
  test("6.1 lazy timers cut at 75% (line 168831): tree-only allocations of the learning phase prove the space the kernel's walks passed taken", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    const lines = text.split("\n");
    const at = Math.floor(lines.length * 0.75);
    assert.equal(at, 168831);
    const mid = cut(text, at);
    const evs = events(mid);
    // The cut keeps the 12 comment lines of the header: full line = cut line + 168818.
    const map = (line: number) => evs.find((e) => e.line === line && e.type === "iommu_map");
    const facts = (line: number) => {
      const e = map(line);
      return e && e.type === "iommu_map" ? [e.iova.toString(16), e.size] : null;
    };
    // Sizes beyond 6.1's 32-page rcache range, so tree allocations: the kernel maps 0xba480000 at cut lines 1130
    // and 1722 (full 169948 and 170540), and 0xba280000 at cut lines 797, 1145 and 1732 (full 169615, 169963,
    // 170550), with 0xba500000 and 0xba300000, the slots just above, never mapped in between.
    assert.deepEqual([1130, 1722, 797, 1145, 1732].map(facts), [
      ["ba480000", 282624],
      ["ba480000", 303104],
      ["ba280000", 524288],
      ["ba280000", 524288],
      ["ba280000", 409600],
    ]);
    const between = evs.filter((e) => e.line > 797 && e.line < 1732 && e.type === "iommu_map");
    assert.ok(!between.some((e) => e.type === "iommu_map" && (e.iova === 0xba500000 || e.iova === 0xba300000)));
    assert.ok(MACHINE);
    const w = new LearningWindow({ machine: MACHINE, kernel: "6.1", strict: false }, RC_OPTS, false);
    for (const e of evs) w.push(e);
    const allocations = w.end();
    const run = (hiddenSpace: boolean) => {
      const emitted: string[] = [];
      const r = replayEvents(evs, "6.1", {
        live: w.live,
        traceAllocations: allocations,
        hiddenSpace,
        emitIova: (t: string) => emitted.push(t),
      });
      const mapLines = evs.filter((e) => e.type === "iommu_map").map((e) => e.line);
      assert.equal(emitted.length, mapLines.length);
      return { r, at: (line: number) => emitted[mapLines.indexOf(line)] };
    };
    const on = run(true);
    const off = run(false);
    // Both are after the learning phase (it ends at cut line 1715), so they count.
    assert.equal(on.r.learning.endLine, 1715);
    // The model's walk found the slots above (0xba500000, 0xba300000) at lines 1130 and 797/1145, where the kernel's
    // passed them: taken before the trace. With that proof, the model's own walks at lines 1722 and 1732 pass them
    // too; without it, they take them.
    assert.deepEqual([on.at(1722), on.at(1732)], ["0x00000000ba480000", "0x00000000ba280000"]);
    assert.deepEqual([off.at(1722), off.at(1732)], ["0x00000000ba500000", "0x00000000ba300000"]);
    // Measured 2026-12-05: 5421/20501 after the phase (26.44%), 5412 without the proofs (26.40%). Since the
    // magazine cuts and pre-trace hits (`magazine-cut.ts`, `pre-trace-hit.ts`), 19146 (93.39%) and 19247
    // without the proofs: the cut replays nearly whole either way, and which of two nearly whole replays misses
    // more after its first difference is no measure of the proofs, whose own lines are pinned above.
    for (const x of [on, off])
      assert.ok(x.r.exactAfterLearning / x.r.afterLearning >= 0.93, `${x.r.exactAfterLearning}/${x.r.afterLearning}`);
  });
}

{
  const path = `${SHARED}../kernel-timers/trace-6.12-lazy-timers.txt.gz`;
  const cutAt = (pct: number) => lazyCut(path, "mainline", pct);

  test("6.12 lazy timers cut at 25%: the flush-queue timer was armed before the trace; the model's own timer runs at the wheel's tick after its expiry", {
    skip: sharedSkip(path),
  }, () => {
    const { evs, run, mapAt } = cutAt(25);
    // CPU 1 unmaps 0xbf100000 at cut line 66 (a mapping from before the cut); the trace's first fq_flush_timeout
    // runs at line 215, 9.3 ms later, so its timer was armed before the cut; the kernel hands 0xbf100000 out again
    // at line 3325.
    const unmap = evs.find((e) => e.line === 66);
    assert.ok(unmap && unmap.type === "iommu_unmap" && unmap.iova === 0xbf100000 && unmap.cpu === 1);
    const firstExpiry = evs.find((e) => e.type === "timer_expire_entry" && e.function === "fq_flush_timeout");
    assert.equal(firstExpiry?.line, 215);
    assert.deepEqual(mapAt(3325), [0, "bf100000", 131072]);
    const withEvents = run({ timerEvents: true });
    const ownTimer = run({ timerEvents: false });
    assert.equal(withEvents.at(3325), "0x00000000bf100000");
    // Without the events, the model arms its own timer at line 66. Due 3 jiffies later, it runs at the tick after
    // that (DMA-4.5: the timer wheel's bucket is `expires + 1`), 12 to 16 ms after the unmap: after line 215, as
    // the kernel's flush, and 0xbf100000 reaches CPU 0's magazine in the kernel's order. Run at the tick of
    // `expires` itself (8 to 12 ms, as the model did up to 2026-12-07), it flushed before line 215, and line 3325
    // got 0x00000000be780000.
    assert.equal(ownTimer.at(3325), "0x00000000bf100000");
    // Measured 2026-12-07: 70747/71455 after the phase (99.009%), with the events and with the model's own timer.
    const rate = (x: ReplayResult) => x.exactAfterLearning / x.afterLearning;
    assert.ok(rate(withEvents.r) >= 0.989, `${withEvents.r.exactAfterLearning}/${withEvents.r.afterLearning}`);
    assert.ok(rate(ownTimer.r) >= 0.989, `${ownTimer.r.exactAfterLearning}/${ownTimer.r.afterLearning}`);
  });

  test("6.12 lazy timers cut at 38% (line 151795): CPU 1's hit at line 2056 shows its full prev swapped in; CPU 0 takes the magazine pushed at line 2244", {
    skip: sharedSkip(path),
  }, () => {
    const { at, evs, traceAt, run, mapAt } = cutAt(38);
    assert.equal(at, 151795);
    // CPU 0 unmaps 0xbef2e000 at line 1127; CPU 1's timer flush at line 1258 frees it into CPU 1's magazine. At line
    // 2056 CPU 1 maps 0xffffc000, which the trace never showed before (cached before it); at line 2244 CPU 0 maps
    // 0xbef2e000.
    assert.deepEqual([2056, 2244].map(mapAt), [
      [1, "ffffc000", 4096],
      [0, "bef2e000", 4096],
    ]);
    const unmap = evs.find((e) => e.type === "iommu_unmap" && e.iova === 0xbef2e000);
    assert.deepEqual([unmap?.line, unmap?.cpu], [1127, 0]);
    const flush = evs.find(
      (e) => e.type === "timer_expire_entry" && e.function === "fq_flush_timeout" && e.line > 1127,
    );
    assert.deepEqual([flush?.line, flush?.cpu], [1258, 1]);
    assert.ok(!evs.some((e) => e.line < 2056 && e.type === "iommu_map" && e.iova === 0xffffc000));
    const swapped = run({ timerEvents: true });
    // Line 2244 lies in the learning phase, where the cross-CPU cut takes CPU 1's magazine for CPU 0 too (its
    // magazines empty, 0xbef2e000 held on top of CPU 1's): either rule alone gives 58239 (98.77%), so both go here.
    const none = run({ timerEvents: true, swappedPrev: false, phaseCrossCuts: false });
    assert.equal(swapped.r.learning.endLine, 2793);
    // Line 2056: the model's CPU 1 pops 0xbef2e000, the last IOVA its magazines took, off its loaded magazine,
    // its prev empty; the kernel hands out an IOVA from before the trace. Frees go on top of the loaded magazine,
    // so the kernel's had left with 0xbef2e000 in it: swapped to an empty prev it would come back with
    // 0xbef2e000 on top, so it went to the depot (prev full) and the full prev, IOVAs from before the trace, was
    // swapped in. Cut so, CPU 0 pops that magazine at line 2244 as the kernel did.
    assert.equal(swapped.at(2244), traceAt.get(2244));
    assert.notEqual(none.at(2244), traceAt.get(2244));
    // Measured 2026-12-05: 58239/58967 after the phase (98.77%); 38892 (65.96%) without it and the cut in the phase.
    assert.ok(swapped.r.exactAfterLearning / swapped.r.afterLearning >= 0.98, String(swapped.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.75, String(none.r.exactAfterLearning));
  });

  test("6.12 lazy timers cut at 75%: CPU 0's maps at lines 5061 and 8949 show where the kernel's magazines were cut", {
    skip: sharedSkip(path),
  }, () => {
    const { mapLines, traceAt, run, mapAt } = cutAt(75);
    assert.deepEqual(mapAt(5061), [0, "bdef9000", 4096]);
    assert.deepEqual(mapAt(8949), [0, "be3e0000", 131072]);
    const cuts = run({ timerEvents: true });
    const none = run({ timerEvents: true, magazineCuts: false });
    assert.equal(cuts.r.learning.endLine, 2143);
    const exactBetween = (x: typeof cuts, a: number, b: number) =>
      mapLines.filter((l) => l > a && l < b && x.at(l) === traceAt.get(l)).length;
    const between = mapLines.filter((l) => l > 5061 && l < 5145).length;
    // Line 5061: the model holds 0xbdef9000 on CPU 0 with one magazine's worth freed after it, the kernel hands it
    // out: that magazine went to the depot. Cut so, the model hands out the kernel's IOVAs up to line 5145 (an IOVA
    // cached before the trace, adopted); without, from line 5071 on it hands out others.
    assert.equal(cuts.at(5061), "0x00000000bfa1e000");
    assert.equal(exactBetween(cuts, 5061, 5145), between);
    assert.notEqual(none.at(5071), traceAt.get(5071));
    // Line 8949: CPU 0's magazines are empty (the model goes to its tree), CPU 1's hold 0xbe3e0000: CPU 1's full
    // loaded magazine went to the depot and CPU 0 took it. Cut so, the next 200 maps are the kernel's.
    const next200 = mapLines.filter((l) => l > 8949).slice(0, 200);
    assert.equal(exactBetween(cuts, 8949, next200[199] + 1), 200);
    // Measured 2026-12-05: 22674/23597 after the phase (96.09%); without the cuts 4870 (20.64%).
    assert.ok(cuts.r.exactAfterLearning / cuts.r.afterLearning >= 0.96, String(cuts.r.exactAfterLearning));
    assert.ok(none.r.exactAfterLearning / none.r.afterLearning < 0.25, String(none.r.exactAfterLearning));
  });
}

{
  const path = `${SHARED}trace-6.1-strict-mixed.txt.gz`;
  test("6.1 strict mixed cut at 25% (line 11449): a 32-page IOVA cached before the trace reaches past the slot a tree walk proved taken", {
    skip: sharedSkip(path),
  }, () => {
    const text = gunzipSync(readFileSync(path)).toString("utf8");
    // 25% of its 45,799 lines (the text ends with a newline).
    const at = Math.floor((text.split("\n").length - 1) * 0.25);
    assert.equal(at, 11449);
    const evs = events(cut(text, at));
    const maps = evs.filter((e) => e.type === "iommu_map");
    const mapLines = maps.map((e) => e.line);
    const facts = (line: number) => {
      const e = maps.find((x) => x.line === line);
      return e ? [e.cpu, e.iova.toString(16), e.size] : null;
    };
    // The cut keeps the 12 comment lines of the header: full line = cut line + 11436. Line 101 (full 11537):
    // CPU 0's 63-page allocation (two map events), beyond 6.1's 32-page rcache range, so a tree allocation, at
    // 0xffc80000, where the model's walk finds the 64-aligned slot 0xffcc0000-0xffcfefff above it: taken before
    // the trace. Line 511 (full 11947): CPU 0 maps 26 pages (a 32-page IOVA) at 0xffce0000, from a cache (the
    // tree walk would have taken the free space above): its IOVA 0xffce0000-0xffcfffff holds the slot's top and
    // the page past it, which no 63-page slot aligned to 64 contains. Lines 513, 686 (0xffe00000) and 688,
    // 879 (0xffb80000): CPU 0 and 1 map 512 KiB, tree allocations, where the model's allocation of line 511
    // stood when it could not follow the kernel's IOVA.
    assert.deepEqual([101, 102, 511, 512, 513, 686, 688, 879].map(facts), [
      [0, "ffc80000", 90112],
      [0, "ffc96000", 167936],
      [0, "ffce0000", 90112],
      [0, "ffcf6000", 16384],
      [0, "ffe00000", 90112],
      [1, "ffe00000", 90112],
      [1, "ffb80000", 524288],
      [0, "ffb80000", 524288],
    ]);
    assert.ok(MACHINE);
    const w = new LearningWindow({ machine: MACHINE, kernel: "6.1", strict: true }, RC_OPTS, false);
    for (const e of evs) w.push(e);
    const allocations = w.end();
    const emitted: string[] = [];
    const r = replayEvents(evs, "6.1", {
      strict: true,
      live: w.live,
      traceAllocations: allocations,
      emitIova: (s: string) => emitted.push(s),
    });
    assert.equal(emitted.length, mapLines.length);
    const model = (line: number) => emitted[mapLines.indexOf(line)];
    assert.equal(r.learning.endLine, 1488);
    // The span widened to the IOVA, line 511 follows the kernel, and the 512 KiB maps land where the kernel's did;
    // so does CPU 0's map at line 1492 (0xffb00000), the first mismatch after the phase before this rule.
    for (const l of [513, 686, 688, 879]) assert.equal(model(l), `0x00000000${facts(l)?.[1]}`, `line ${l}`);
    assert.deepEqual(facts(1492), [0, "ffb00000", 90112]);
    assert.equal(model(1492), "0x00000000ffb00000");
    // Measured 2026-12-05: 14467/14519 after the phase (99.64%); 12758 (87.87%) before this rule.
    assert.ok(r.exactAfterLearning / r.afterLearning >= 0.995, `${r.exactAfterLearning}/${r.afterLearning}`);
  });
}

{
  const path = `${SHARED}trace-6.12-two-nvme-strict.txt.gz`;
  test("the two-NVMe strict trace cut at 33% of its lines replays (it crashed: a placeholder took the kernel's IOVA)", {
    skip: sharedSkip(path),
  }, () => {
    const full = gunzipSync(readFileSync(path)).toString("utf8");
    const text = cutFrom(full, Math.floor((full.split("\n").length * 33) / 100));
    const dir = mkdtempSync(join(tmpdir(), "iovalab-two-nvme-"));
    try {
      const f = join(dir, "cut33.txt");
      writeFileSync(f, text);
      const out = iovalab(["replay", f]);
      assert.equal(out.status, 0, out.stderr);
      const m = /of the (\d+) the trace could show, (\d+) exact/.exec(out.stdout);
      assert.ok(m, out.stdout);
      // Measured 2026-12-05: 8428 of the 8479 (99.40%).
      assert.ok(Number(m[2]) / Number(m[1]) >= 0.99, m[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
