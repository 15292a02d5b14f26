/**
 * A group's `type` is its own: one device's domain can be strict (DMA)
 * while another's is lazy (DMA-FQ) in the same trace, as after a write to
 * one group's `type`. The trace tells them apart where it has the
 * flush-queue timer's events and `dma:*` events: a lazy domain's unmaps arm
 * its timer, a strict one's never do. No public capture has both, so the
 * trace here is made of two real ones: the repository's 6.12 lazy head
 * (0000:00:01.0, lazy, with its timer events, CPUs 0 and 1) and the events of
 * 0000:00:02.0 in the head of the 6.12 two-NVMe strict capture, on CPUs 2 and
 * 3 and 10 s later, merged in time order. Each domain's allocations are its
 * own, so each replays as it did in its own capture.
 */

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { TraceFacts } from "../../src/trace/facts.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LAZY = `${ROOT}samples/trace-6.12-lazy-timers.txt.gz`;
const STRICT = `${ROOT}test/fixtures/traces/linux-6.12-two-nvme-strict-head761.txt.gz`;
/** The whole two-NVMe capture, when ../shared is beside the repository: its 0000:00:02.0 maps enough to measure reuse. */
const STRICT_FULL = new URL("../../../shared/kernel-more/trace-6.12-two-nvme-strict.txt.gz", import.meta.url).pathname;
const STRICT_DEVICE = "0000:00:02.0";

const LINE = /^(.*?\[)(\d{3})(\].*?\s)(\d+\.\d{6})(: )(\S+?): (.*)$/;

/**
 * `device`'s events of a trace of several devices: each map or unmap line
 * goes with the `dma:*` line next to it on its CPU (after a map or an
 * unmap, before the unmaps of a `dma_unmap_sg`), as the reconstruction
 * pairs them; CPUs moved up by `cpuAdd` and times by `shiftS`.
 */
function eventsOf(text: string, device: string, cpuAdd: number, shiftS: number): string[] {
  const kept: string[] = [];
  const cpus = new Map<string, { pending: string[]; sgOwner: string | null }>();
  for (const l of text.split("\n")) {
    const m = LINE.exec(l);
    if (m === null) continue;
    const [, pre, cpu, mid, ts, colon, event, body] = m;
    let c = cpus.get(cpu);
    if (c === undefined) {
      c = { pending: [], sgOwner: null };
      cpus.set(cpu, c);
    }
    const moved = `${pre}${String(Number(cpu) + cpuAdd).padStart(3, "0")}${mid}${(Number(ts) + shiftS).toFixed(6)}${colon}${event}: ${body}`;
    if (event === "map" || event === "unmap") {
      if (event === "unmap" && c.sgOwner !== null) {
        if (c.sgOwner === device) kept.push(moved);
      } else c.pending.push(moved);
      continue;
    }
    c.sgOwner = null;
    const dev = /^(\S+) /.exec(body)?.[1];
    if (dev === undefined || !event.startsWith("dma_")) {
      c.pending = [];
      continue;
    }
    if (event === "dma_unmap_sg" || event.startsWith("dma_free")) {
      c.sgOwner = dev;
      if (dev === device) kept.push(moved);
      continue;
    }
    if (dev === device) kept.push(...c.pending, moved);
    c.pending = [];
  }
  return kept;
}

/**
 * The lazy head with the strict device's events of `strictFile` merged in, by time: a trace of four CPUs;
 * `timers` false: the lazy head's timer and work events left out, as a capture without them has none.
 */
function mixedTrace(strictFile = STRICT, timers = true, strictLines = Number.POSITIVE_INFINITY): string {
  const lazy = gunzipSync(readFileSync(LAZY))
    .toString()
    .split("\n")
    .filter(
      (l) =>
        timers ||
        !/ (timer_start|timer_expire_entry|timer_expire_exit|workqueue_execute_start|workqueue_execute_end): /.test(l),
    );
  const strictText = gunzipSync(readFileSync(strictFile)).toString().split("\n").slice(0, strictLines).join("\n");
  const strict = eventsOf(strictText, STRICT_DEVICE, 2, 10);
  const ts = (l: string) => Number(/\s(\d+\.\d{6}): /.exec(l)?.[1] ?? -1);
  const head = lazy.filter((l) => l.startsWith("#")).map((l) => l.replace("#P:2", "#P:4"));
  const tagged = [
    ...lazy.filter((l) => l !== "" && !l.startsWith("#")).map((l, i) => ({ t: ts(l), k: 0, i, l })),
    ...strict.map((l, i) => ({ t: ts(l), k: 1, i, l })),
  ].sort((a, b) => a.t - b.t || a.k - b.k || a.i - b.i);
  return [...head, ...tagged.map((x) => x.l), ""].join("\n");
}

/** Each device's mode in the replay's `--json`, as [device, mode]. */
function modesOf(file: string): string[][] {
  const json = JSON.parse(iovalab(["replay", file, "--json"]).stdout) as {
    devices: { device: string; mode: string }[];
  };
  return json.devices.map((d) => [d.device, d.mode]);
}

test("a strict group beside a lazy one: the trace's timer arming tells them apart, and each domain replays in its mode", () => {
  const text = mixedTrace();
  const f = new TraceFacts();
  const { events, reader } = readTraceText(text, { file: "mixed" });
  for (const e of events) f.observe(e);
  const fq = reader.stats.fqTimerEvents;
  assert.ok(fq > 0);
  assert.equal(f.deviceCapture("0000:00:01.0", fq)?.mode, "lazy");
  assert.equal(f.deviceCapture(STRICT_DEVICE, fq)?.mode, "strict");
  // Without the timer's events nothing tells a domain's mode apart.
  assert.equal(f.deviceCapture(STRICT_DEVICE, 0), null);

  const file = join(tempDir("iovalab-device-mode-"), "mixed.txt");
  writeFileSync(file, text);
  const r = iovalab(["replay", file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /captured lazy \(from the trace: \d+ flush-queue timer events/);
  assert.match(
    r.stderr,
    /captured strict for 0000:00:02\.0, unlike the trace's mode \(from the trace: its \d+ unmaps over \d+ ms armed no flush-queue timer/,
  );
  assert.match(r.stdout, /devices 0000:00:01\.0 \(group1\), 0000:00:02\.0 \(group2, strict\)/);
  // Each domain as in its own capture: the lazy head whole, the strict device's allocations of its capture's head.
  const exactOf = (out: string, device: string) =>
    new RegExp(`  ${device.replaceAll(".", "\\.")} \\(group\\d\\): (\\d+)/(\\d+) allocations exact`)
      .exec(out)
      ?.slice(1);
  const lazyAlone = iovalab(["replay", LAZY]);
  const strictAlone = iovalab(["replay", STRICT, "--device", STRICT_DEVICE]);
  const whole = (out: string) => /exact IOVA matches: (\d+)\/(\d+) allocations/.exec(out)?.slice(1);
  assert.deepEqual(exactOf(r.stdout, "0000:00:01.0"), whole(lazyAlone.stdout));
  assert.deepEqual(exactOf(r.stdout, STRICT_DEVICE), whole(strictAlone.stdout));
  const [x, n] = exactOf(r.stdout, STRICT_DEVICE) as string[];
  assert.equal(x, n);
  assert.deepEqual(modesOf(file), [
    ["0000:00:01.0", "lazy"],
    [STRICT_DEVICE, "strict"],
  ]);
  // --captured is every domain's: the strict device then replays lazy, and misses.
  const asked = iovalab(["replay", file, "--captured", "lazy"]);
  assert.doesNotMatch(asked.stderr, /captured strict for/);
  const [y] = exactOf(asked.stdout, STRICT_DEVICE) as string[];
  assert.ok(Number(y) < Number(n), `${y} of ${n}`);
});

test("without the timer's events: each device's own immediate reuse tells its domain's mode", {
  skip: sharedSkip(STRICT_FULL),
}, () => {
  // The strict capture's first 12,000 lines: 0000:00:02.0's events from its probe on, 13.8 s of them.
  const text = mixedTrace(STRICT_FULL, false, 12000);
  const f = new TraceFacts();
  const { events, reader } = readTraceText(text, { file: "mixed" });
  for (const e of events) f.observe(e);
  assert.equal(reader.stats.fqTimerEvents, 0);
  const lazy = f.reuseByDevice.get("0000:00:01.0");
  const strict = f.reuseByDevice.get(STRICT_DEVICE);
  assert.ok(lazy !== undefined && strict !== undefined);
  assert.equal(f.deviceCapture("0000:00:01.0", 0)?.mode, "lazy", JSON.stringify(lazy));
  assert.equal(f.deviceCapture(STRICT_DEVICE, 0)?.mode, "strict", JSON.stringify(strict));
  // Each device's pairs are its own: together they are the trace's.
  assert.ok(lazy.pairs + strict.pairs <= f.reusePairs);
  const file = join(tempDir("iovalab-device-reuse-"), "mixed.txt");
  writeFileSync(file, text);
  const r = iovalab(["replay", file]);
  assert.equal(r.status, 0, r.stderr);
  // The two together look strict (the strict device's reuse outweighs the other's); the lazy device is its own.
  assert.match(r.stderr, /captured strict \(from the trace: \d+ of \d+ allocations after an unmap/);
  assert.match(
    r.stderr,
    /captured lazy for 0000:00:01\.0, unlike the trace's mode \(from the trace: \d+ of its \d+ allocations after its unmap/,
  );
  assert.doesNotMatch(r.stderr, /captured strict for/);
  assert.deepEqual(modesOf(file), [
    ["0000:00:01.0", "lazy"],
    [STRICT_DEVICE, "strict"],
  ]);
});
