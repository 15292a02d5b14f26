/**
 * The replay's flush placement (`--infer-flushes`) against a history whose
 * flushes are known: a lazy workload run on the kernel model itself, with
 * every flush-queue timer made to run 1 to 3 jiffies late on a CPU drawn at
 * random, recorded as a trace of DMA calls. The replay sees only the calls
 * and their IOVAs, as it would see a real trace, and must find flushes that
 * reproduce those IOVAs, where the model's own timer (nominal expiry, the
 * arming CPU) does not.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { bootMachine, builtinMachine } from "../../src/machine/index.ts";
import { Replayer } from "../../src/replay/replay.ts";
import { Prng } from "../../src/stdx/prng.ts";
import type { DmaCall } from "../../src/trace/reconstruct.ts";
import { dmaCall } from "../helpers/dma-call.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { QUICK, quickSkip } from "../helpers/quick.ts";
import { requiredFlushes } from "./trace-oracle.ts";

const MACHINE = builtinMachine("qemu-q35-nvme");
const SIZES = [4096, 4096, 4096, 8192, 16384, 16384, 65536, 131072];

/** A lazy run of the model with late timers on random CPUs, as trace calls; `lateness` gets each timer's jiffies late. */
function recordedRun(seed: number, count: number, lateness: number[]): DmaCall[] {
  assert.ok(MACHINE);
  const k = bootMachine(MACHINE, { cmdline: "iommu.strict=0" });
  const dev = k.device("0000:00:01.0");
  assert.ok(dev);
  const fq = () => k.dma.cookieOf(dev)?.fq;
  const rng = new Prng(seed);
  const jiffy = 1e9 / MACHINE.hz;
  const calls: DmaCall[] = [];
  const live: { allocation: number; iova: number; size: number }[] = [];
  let now = k.nowNs + jiffy;
  let allocation = 0;
  for (let n = 0; n < count; n++) {
    now += 20_000 + rng.below(200_000);
    k.advanceTo(now);
    const cpu = rng.below(2);
    if (live.length < 24 && (live.length < 4 || rng.below(2) === 0)) {
      const size = SIZES[rng.below(SIZES.length)];
      const iova = k.dma.mapPhys(dev, cpu, 0, size);
      assert.ok(iova !== null);
      allocation++;
      live.push({ allocation, iova, size });
      calls.push(
        dmaCall({ kind: "map", allocation, cpu, timestampNs: now, iova, sizeBytes: size, line: calls.length + 1 }),
      );
    } else {
      const [m] = live.splice(rng.below(live.length), 1);
      const armed = fq()?.timerArmed ?? true;
      assert.ok(k.dma.unmapPhys(dev, cpu, m.iova, m.size));
      const q = fq();
      if (q && !armed && q.timerArmed) {
        const late = 1 + rng.below(3);
        lateness.push(late);
        q.timerDueNs += late * jiffy;
        q.timerCpu = rng.below(2);
      }
      calls.push(
        dmaCall({
          kind: "unmap",
          allocation: m.allocation,
          cpu,
          timestampNs: now,
          iova: m.iova,
          sizeBytes: m.size,
          line: calls.length + 1,
        }),
      );
    }
  }
  return calls;
}

function replay(calls: DmaCall[], inferFlushes: boolean, unseenFlushes = false, resync = false) {
  assert.ok(MACHINE);
  const r = new Replayer({ machine: MACHINE, strict: false, inferFlushes, unseenFlushes, resync, clockOffsetNs: 0 });
  for (const c of calls) r.push(c);
  const result = r.end();
  // Whatever the replay did to follow the trace, the kernel model stays consistent.
  r.kernel.verifyInvariants();
  return result;
}

for (const seed of [7, 2]) {
  test(`flushes placed from the trace reproduce a run whose timers ran late on random CPUs (seed ${seed})`, {
    skip: seed === 2 ? quickSkip("a second seed's 6,000-call run") : false,
  }, () => {
    const lateness: number[] = [];
    // The quick tier records a third of the run: its flushes still come late on both CPUs.
    const calls = recordedRun(seed, QUICK ? 2000 : 6000, lateness);
    const allocations = calls.filter((c) => c.kind === "map").length;
    const nominal = replay(calls, false);
    const inferred = replay(calls, true);
    assert.equal(inferred.allocations, allocations);
    // The model's figures are those of the whole run, not of the last placed flush.
    const lookups = (r: typeof nominal) => r.iovad.stats.rcacheHitsTotal + r.iovad.stats.rcacheMissesTotal;
    assert.equal(lookups(inferred), lookups(nominal));
    // The model's own timers (nominal expiry, arming CPU) lose the run early on.
    assert.ok(nominal.exact < allocations / 2, `nominal timers matched ${nominal.exact}/${allocations}`);
    // Placed from the reused IOVAs, the flushes give back every IOVA.
    assert.equal(inferred.exact, allocations, `placed flushes matched ${inferred.exact}/${allocations}`);
    const fi = inferred.flushInference;
    assert.ok(fi);
    assert.ok(fi.flushes > 0 && fi.flushes <= lateness.length, `${fi.flushes} flushes for ${lateness.length} timers`);
    // Also trying flushes the trace cannot show must not lose what the shown ones give.
    assert.equal(replay(calls, true, true).exact, allocations);
    // Going on from the trace's IOVA after each miss: more of the model's own decisions are the kernel's...
    const resynced = replay(calls, false, false, true);
    assert.ok(resynced.exact > nominal.exact, `${resynced.exact} vs ${nominal.exact}`);
    assert.equal(resynced.resyncs + resynced.resyncFailures, allocations - resynced.exact);
    // ...and where nothing is missed, nothing is resynchronised.
    const both = replay(calls, true, false, true);
    assert.equal(both.exact, allocations);
    assert.equal(both.resyncs + both.resyncFailures, 0);
  });
}

test("flush placement is off in strict replays and leaves a lazy replay's bookkeeping whole", () => {
  const calls = recordedRun(11, 800, []);
  const strict = new Replayer({ machine: MACHINE as never, strict: true, inferFlushes: true, clockOffsetNs: 0 });
  // Strict, the lazy run's IOVAs nearly all miss and each miss is diagnosed (seconds): the quick tier replays a prefix.
  for (const c of QUICK ? calls.slice(0, 100) : calls) strict.push(c);
  const rs = strict.end();
  assert.equal(rs.flushInference, null);
  const lazy = replay(calls, true);
  assert.equal(lazy.allocations + lazy.frees, calls.length);
  assert.equal(lazy.failures, 0);
  assert.equal(lazy.refusedUnmaps, 0);
});

const FIXTURES = new URL("../fixtures/traces/", import.meta.url).pathname;

function cli(args: string[]) {
  return iovalab(["replay", ...args]);
}

function exactOf(stdout: string): number {
  const m = /exact IOVA matches: (\d+)\//.exec(stdout);
  assert.ok(m, stdout);
  return Number(m[1]);
}

for (const [file, kernel] of [
  ["linux-6.1-lazy-mixed-head1100.txt.gz", "6.1"],
  ["linux-6.12-lazy-mixed-head600.txt.gz", "mainline"],
] as const) {
  test(`--infer-flushes on ${file}: the flushes the trace requires, and more IOVAs than the model's own timer`, () => {
    const path = FIXTURES + file;
    const args = [path, "--machine", "qemu-q35-nvme", "--kernel", kernel, "--captured", "lazy"];
    const free = cli(args);
    const placed = cli([...args, "--infer-flushes"]);
    assert.equal(placed.status, 0, placed.stderr);
    const m = /flushes placed from the trace: (\d+) /.exec(placed.stdout);
    assert.ok(m, placed.stdout);
    // Counted independently from the raw text (test/replay/trace-oracle.ts).
    assert.equal(Number(m[1]), requiredFlushes(gunzipSync(readFileSync(path)).toString()));
    assert.ok(exactOf(placed.stdout) > exactOf(free.stdout), `${exactOf(placed.stdout)} vs ${exactOf(free.stdout)}`);
  });
}

for (const extra of [[], ["--unseen-flushes"]]) {
  test(`--infer-flushes ${extra.join(" ")} reproduces every IOVA of the 6.12 lazy head`, () => {
    // The first 600 lines of ../shared/kernel-6.12/trace-lazy-mixed.txt.gz: 130 allocations
    // (`zcat | grep -cE " (dma_map_page|dma_map_sg|dma_alloc): "`).
    const head = FIXTURES + "linux-6.12-lazy-mixed-head600.txt.gz";
    const r = cli([
      head,
      "--machine",
      "qemu-q35-nvme",
      "--kernel",
      "mainline",
      "--captured",
      "lazy",
      "--infer-flushes",
      ...extra,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /exact IOVA matches: 130\/130 allocations/);
  });
}

test("--flush-histories takes a positive integer", () => {
  const r = cli([
    FIXTURES + "linux-6.12-lazy-mixed-head600.txt.gz",
    "--machine",
    "qemu-q35-nvme",
    "--infer-flushes",
    "--flush-histories",
    "0",
  ]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--flush-histories: expected an integer from 1 to 4096, found "0"/);
});

test("--resync: the mismatches after which the replay went on from the trace's IOVA", () => {
  const head = FIXTURES + "linux-6.1-lazy-mixed-head1100.txt.gz";
  const args = [head, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--captured", "lazy", "--infer-flushes"];
  const plain = cli(args);
  const resync = cli([...args, "--resync"]);
  assert.equal(resync.status, 0, resync.stderr);
  const m = /resynchronised: after (\d+) of the mismatches .*; (\d+) could not be/.exec(resync.stdout);
  assert.ok(m, resync.stdout);
  const allocations = Number(/\/(\d+) allocations/.exec(resync.stdout)?.[1]);
  assert.equal(Number(m[1]) + Number(m[2]), allocations - exactOf(resync.stdout));
  assert.ok(exactOf(resync.stdout) >= exactOf(plain.stdout));
  assert.doesNotMatch(plain.stdout, /resynchronised/);
});

test("--infer-flushes on a trace that starts mid-life: the learning phase ends where its rule says, and nothing after it adopts the trace's IOVA", () => {
  // The 6.1 mid-life capture's first 6,450 lines (trace-cmd report -l), its timer events taken out: a user's
  // mid-life lazy trace that did not record them. The inference counts each call only once its flushes are
  // placed; the phase, counted there, ended only then, and every call replayed before was applied as one of its,
  // adopting the trace's IOVA: "resynchronised: after 115 of the mismatches" without --resync.
  const text = gunzipSync(readFileSync(`${FIXTURES}linux-6.1-midlife-lazy-report-l-head6450.txt.gz`)).toString();
  const stripped = text
    .split("\n")
    .filter((l) => !/ timer_(start|expire_entry|expire_exit): /.test(l))
    .join("\n");
  assert.ok(stripped.length < text.length, "the fixture has timer events to take out");
  const dir = mkdtempSync(join(tmpdir(), "iovalab-inference-phase-"));
  try {
    const file = join(dir, "midlife-no-timers.txt");
    writeFileSync(file, stripped);
    const timer = cli([file]);
    const placed = cli([file, "--infer-flushes"]);
    assert.equal(placed.status, 0, placed.stderr);
    const phase = (out: string) =>
      /learning phase: the trace starts mid-life; its first (\d+) allocations \([^)]*up to line (\d+)\)/
        .exec(out)
        ?.slice(1);
    // The same phase as the model's own timer finds: the rule reads only how many allocations each CPU made.
    assert.deepEqual(phase(placed.stdout), phase(timer.stdout));
    assert.ok(phase(placed.stdout), placed.stdout);
    assert.doesNotMatch(placed.stdout, /resynchronised/);
    // With --resync, resynchronising is what is asked for.
    assert.match(cli([file, "--infer-flushes", "--resync"]).stdout, /resynchronised: after \d+ of the mismatches/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
