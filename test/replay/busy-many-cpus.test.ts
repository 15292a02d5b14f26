/**
 * Traces of machines with more CPUs than do DMA. A server's trace names the
 * CPUs its I/O ran on, most often a few of many; each CPU's caches are its
 * own, so which numbers those CPUs have changes no IOVA, and the replay must
 * give what it gives with the CPUs numbered 0 and 1.
 *
 * - A trace without `dma:*` events (Linux 6.1) replays on the built-in
 *   qemu-q35-nvme machine, which has two CPUs. With CPU 1's events moved to
 *   CPU 2, that machine folded them onto CPU 0 (calls past its CPUs wrap
 *   around): 51 of 2,425 allocations exact against 2,425. It now has the
 *   trace's CPUs, its header's count or one past the highest CPU it names.
 * - A lazy trace begun while the disk was busy has its start searched
 *   (`replay/busy-start.ts`): each CPU's loaded fill, `prev` and ring, then
 *   the depot. Every CPU of the machine was searched, those that did no DMA
 *   too, at about 390 trials a CPU a round; a trial's run went on until
 *   every CPU had met its differences, which a CPU without allocations
 *   never does; and the placements a flush's phases are tried at
 *   (`replay/timer-flushes.ts`) counted every ring, so they grew as a power
 *   of the CPUs' count. With CPU 1's events on CPU 5: on 8 CPUs 6.70% of
 *   what the trace could show (23 s), on 64 CPUs 50.90% (75 s), against
 *   100.00% (5.5 s) on 2 CPUs. Only the CPUs that map or unmap in the
 *   window are searched now, a trial ends when those with allocations
 *   have, and an idle CPU's empty ring is placed once: 100.00% on both, the
 *   state found on 2 CPUs (6.1 s and 8.9 s).
 *
 * Fixtures (test/fixtures/traces/README.md): the first 8,000 lines of the
 * 6.1 lazy trace with timer events, from boot; 6,000 lines of the 6.1
 * mid-life capture from its line 237,251, begun while 4 KiB reads ran.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { cpu1Moved } from "../helpers/cpu-moved.ts";
import { iovalab } from "../helpers/iovalab.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url).pathname;
const FROM_BOOT = `${FIXTURES}linux-6.1-lazy-timers-head8000.txt.gz`;
const BUSY = `${FIXTURES}linux-6.1-midlife-lazy-report-l-lines237251-243250.txt.gz`;

const dir = mkdtempSync(join(tmpdir(), "iovalab-many-cpus-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `path`'s text with CPU 1's events (the CPU column and the timer's `cpu=`) on CPU `to`, written to a file. */
function cpu1On(path: string, to: number): string {
  const text = gunzipSync(readFileSync(path)).toString("utf8");
  const moved = cpu1Moved(text, to);
  assert.notEqual(moved, text);
  const out = join(dir, `cpu1-on-${to}-${path.split("/").at(-1)?.replace(/\.gz$/, "")}`);
  writeFileSync(out, moved);
  return out;
}

interface Replayed {
  total: { allocations: number; exact: number; exactOfKnowable: number };
  stderr: string;
}

/** The state the busy-start search found, from the line that says so: each CPU's `loaded+prev (ring N)`, the depot. */
function stateFound(stderr: string): { cpus: Map<number, string>; depot: number } {
  const line = /searched, 1p: (.*?) depot (\d+): /.exec(stderr);
  assert.ok(line, stderr);
  const cpus = new Map<number, string>();
  for (const m of line[1].matchAll(/cpu(\d+)(?:-(\d+))? (\d+\+\d+(?: \(ring \d+\))?)/g)) {
    // A run of CPUs holding nothing is one range: `cpu6-63 0+0`.
    for (let cpu = Number(m[1]); cpu <= Number(m[2] ?? m[1]); cpu++) cpus.set(cpu, m[3]);
  }
  return { cpus, depot: Number(line[2]) };
}

function replay(path: string, ...args: string[]): Replayed {
  const out = iovalab(["replay", path, "--json", ...args]);
  assert.equal(out.status, 0, out.stderr);
  return { total: JSON.parse(out.stdout).total, stderr: out.stderr };
}

test("a trace without dma:* events replays on the built-in machine with the trace's CPUs, not folded onto two", () => {
  const original = replay(FROM_BOOT);
  // The header says #P:2 (CPU 1 offline, CPU 2 online, as a kernel may have them); the trace names CPU 2.
  const moved = replay(cpu1On(FROM_BOOT, 2));
  assert.match(original.stderr, /replaying on the built-in qemu-q35-nvme machine\n/);
  assert.match(moved.stderr, /replaying on the built-in qemu-q35-nvme machine with 3 CPUs\n/);
  assert.ok(original.total.allocations > 2000, `${original.total.allocations}`);
  assert.deepEqual(moved.total, original.total);
  // --cpus is the machine's CPU count there too.
  assert.match(replay(cpu1On(FROM_BOOT, 2), "--cpus", "4").stderr, /machine with 4 CPUs\n/);
});

test("a busy start on a machine of more CPUs than do DMA: the CPUs that do are searched, as on two", () => {
  const original = replay(BUSY);
  const a = stateFound(original.stderr);
  assert.equal(a.cpus.size, 2);
  assert.equal(original.total.exactOfKnowable, 1);
  const moved = cpu1On(BUSY, 5);
  for (const cpus of [8, 64]) {
    const r = replay(moved, "--cpus", String(cpus));
    assert.match(r.stderr, new RegExp(`machine with ${cpus} CPUs\n`));
    // The state found: CPU 1's numbers on CPU 5, every other CPU's 0 (no ring named), the same depot.
    const b = stateFound(r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `cpu0 \\S+ (\\(ring \\d+\\) )?cpu1-4 0\\+0 cpu5 .* cpu6${cpus === 8 ? " 0\\+0 cpu7" : `-${cpus - 1}`} 0\\+0 depot`,
      ),
    );
    assert.equal(b.cpus.size, cpus);
    assert.deepEqual(b.cpus.get(0), a.cpus.get(0));
    assert.deepEqual(b.cpus.get(5), a.cpus.get(1));
    for (let cpu = 1; cpu < cpus; cpu++) if (cpu !== 5) assert.equal(b.cpus.get(cpu), "0+0", `cpu${cpu} of ${cpus}`);
    assert.equal(b.depot, a.depot);
    assert.deepEqual(r.total, original.total, `${cpus} CPUs`);
  }
});
