/**
 * The CPUs of a machine built from a trace, and calls on CPUs a machine
 * lacks. The header's count (`#P:N`, the kernel's num_online_cpus(); or
 * trace-cmd's `cpus=N`) sizes the built machine, so a CPU that does DMA
 * only late in the trace still has caches of its own; a call on a CPU the
 * machine lacks is replayed on its number modulo the machine's CPUs, and the
 * summary says so.
 *
 * The traces: the first 8,000 lines of the 6.12 lazy trace with timer
 * events (test/fixtures/traces/README.md), and the same lines with the CPU
 * numbers changed (0 to 17, 1 to 42) and the header's `#P:2` to `#P:48`,
 * as on a 48-CPU machine where those two CPUs did the I/O. Each CPU's caches
 * are its own, so renumbering them changes no IOVA.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { TraceReader } from "../../src/trace/reader.ts";
import { iovalab } from "../helpers/iovalab.ts";

const FIXTURE = new URL("../fixtures/traces/linux-6.12-lazy-timers-head8000.txt.gz", import.meta.url).pathname;
const TRACE_CMD = new URL("../fixtures/traces/linux-6.1-trace-cmd-report-head41.txt.gz", import.meta.url).pathname;
const text = gunzipSync(readFileSync(FIXTURE)).toString("utf8");
const renumbered = text
  .replace("#P:2", "#P:48")
  .replaceAll("[000]", "[017]")
  .replaceAll("[001]", "[042]")
  .replaceAll(" cpu=0 ", " cpu=17 ")
  .replaceAll(" cpu=1 ", " cpu=42 ");
const dir = mkdtempSync(join(tmpdir(), "iovalab-cpus-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const renumberedPath = join(dir, "renumbered.txt");
writeFileSync(renumberedPath, renumbered);

function figures(path: string, ...args: string[]): { stdout: string; stderr: string; exact: string } {
  const out = iovalab(["replay", path, ...args]);
  assert.equal(out.status, 0, out.stderr);
  const exact = /exact IOVA matches: .*/.exec(out.stdout)?.[0] ?? "";
  return { stdout: out.stdout, stderr: out.stderr, exact };
}

test("the reader takes the header's CPU count: #P:N of the kernel's file, cpus=N of trace-cmd report", () => {
  const r = new TraceReader({ file: "t" });
  r.push(renumbered.slice(0, 2000), () => {});
  assert.equal(r.stats.headerCpus, 48);
  const t = new TraceReader({ file: "t" });
  t.push(gunzipSync(readFileSync(TRACE_CMD)).toString("utf8"), () => {});
  assert.equal(t.stats.headerCpus, 2);
  const none = new TraceReader({ file: "t" });
  none.push(text.split("\n").slice(12, 40).join("\n"), () => {});
  assert.equal(none.stats.headerCpus, 0);
});

test("a machine built from a renumbered trace has the header's CPUs and replays it as the original", () => {
  const original = figures(FIXTURE);
  const moved = figures(renumberedPath);
  assert.match(moved.stderr, /built from the trace \(.*, 48 CPUs,/);
  assert.ok(original.exact.length > 0);
  assert.equal(moved.exact, original.exact);
  assert.doesNotMatch(moved.stdout, /CPUs the machine lacks/);
});

test("calls on CPUs the machine lacks: replayed modulo its CPUs, and the summary says how many and what to give", () => {
  const moved = figures(renumberedPath, "--cpus", "20");
  // --cpus sizes the machine built from the trace, and its note says so.
  assert.match(moved.stderr, /built from the trace \(.*, 20 CPUs,/);
  const calls = /warning: (\d+) calls ran on CPUs the machine lacks \(up to CPU 42; it has 20\)/.exec(moved.stdout);
  assert.ok(calls, moved.stdout);
  assert.match(moved.stdout, /give --cpus 43, or a machine with as many CPUs/);
  // Every call of CPU 42 (the kernel's CPU 1), none of CPU 17's; with 2 CPUs, every call of the domain.
  const allocs = /replayed: (\d+) allocations .*, (\d+) frees/.exec(moved.stdout);
  assert.ok(allocs);
  const all = Number(allocs[1]) + Number(allocs[2]);
  const cpu1Calls = Number(calls[1]);
  assert.ok(cpu1Calls > 0 && cpu1Calls < all, `${cpu1Calls}`);
  const two = figures(renumberedPath, "--cpus", "2");
  assert.match(
    two.stdout,
    new RegExp(`warning: ${all} calls ran on CPUs the machine lacks \\(up to CPU 42; it has 2\\)`),
  );
  const json = JSON.parse(iovalab(["replay", renumberedPath, "--cpus", "20", "--json"]).stdout);
  assert.equal(json.warnings.filter((w: string) => w.startsWith(`${cpu1Calls} calls ran on CPUs`)).length, 1);
});
