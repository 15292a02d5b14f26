/**
 * The flush-queue timer's expiry against the kernel's timer wheel, from the
 * trace's own lines: each `timer_start` of `fq_flush_timeout` gives the
 * jiffy it was armed in (`expires` - `timeout`), and the `timer_expire_entry`
 * after it the wheel clock that ran it (`baseclk`). The model's timer, armed
 * in that jiffy, must run at the tick of that clock: `expires` + 1, the
 * bucket `calc_index()` puts a level-0 timer in (DMA-4.5). The lines the
 * wheel ran late (`now` past `baseclk`) are the softirq's lateness, which
 * the model does not have; the wheel clock is what it must match.
 */

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { FlushQueue } from "../../src/dma/flush-queue.ts";
import { IovaDomain } from "../../src/iova/domain.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SHARED = join(ROOT, "..", "shared", "kernel-timers");
const HZ = 250;
const TICK_NS = 1e9 / HZ;

interface Expiry {
  line: number;
  armedJiffy: number;
  expires: number;
  baseclk: number;
}

/** Each fq_flush_timeout timer_start paired with the expire_entry that ran it (the next one). */
function expiries(path: string): Expiry[] {
  const out: Expiry[] = [];
  let armed: { line: number; expires: number; timeout: number } | null = null;
  const lines = gunzipSync(readFileSync(path)).toString("utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (!l.includes("function=fq_flush_timeout")) continue;
    const start = / timer_start: .* expires=(\d+) \[timeout=(\d+)\]/.exec(l);
    if (start) {
      armed = { line: i + 1, expires: Number(start[1]), timeout: Number(start[2]) };
      continue;
    }
    const entry = / timer_expire_entry: .* baseclk=(\d+)/.exec(l);
    if (entry && armed !== null) {
      // msecs_to_jiffies(10) is 3 at HZ=250; one 6.1 line (148216) reads [timeout=2]: jiffies ticked between
      // mod_timer() computing `expires` and the tracepoint reading it, so the arming jiffy is `expires` - 3.
      assert.ok(armed.timeout === 3 || armed.timeout === 2, `${path}:${armed.line}: timeout ${armed.timeout}`);
      out.push({
        line: armed.line,
        armedJiffy: armed.expires - 3,
        expires: armed.expires,
        baseclk: Number(entry[1]),
      });
      armed = null;
    }
  }
  return out;
}

function check(path: string): number {
  const all = expiries(path);
  assert.ok(all.length > 0, `${path}: no fq_flush_timeout timer events`);
  // Jiffies from the first arming: the trace's jiffies (near 2^32) in ns are past what a double holds exactly.
  const j0 = all[0].armedJiffy;
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const fq = new FlushQueue(d, 2, HZ);
  for (const e of all) {
    // Armed somewhere inside its jiffy: a third of the way in.
    const armNs = (e.armedJiffy - j0) * TICK_NS + TICK_NS / 3;
    d.advanceTo(armNs);
    const pfn = d.allocIovaFast(0, 1, 0xfffff, false);
    fq.queue(0, pfn, 1, armNs);
    assert.equal(fq.timerDueNs / TICK_NS + j0, e.expires, `${path}:${e.line}: the jiffy mod_timer asked for`);
    assert.equal(
      fq.nextExpiryNs / TICK_NS + j0,
      e.baseclk,
      `${path}:${e.line}: the model's timer runs at the tick of jiffy ${fq.nextExpiryNs / TICK_NS + j0}, the wheel's clock was ${e.baseclk}`,
    );
    fq.expire(0);
  }
  return all.length;
}

test("the flush-queue timer runs at the wheel's tick after its expiry: every fq expiry of the repository's 6.12 and 6.1 heads", () => {
  assert.equal(check(join(ROOT, "samples", "trace-6.12-lazy-timers.txt.gz")), 35);
  assert.equal(check(join(ROOT, "test", "fixtures", "traces", "linux-6.1-lazy-timers-head8000.txt.gz")), 48);
});

for (const v of ["6.1", "6.12"]) {
  const path = join(SHARED, `trace-${v}-lazy-timers.txt.gz`);
  test(`the flush-queue timer runs at the wheel's tick after its expiry: every fq expiry of the ${v} lazy-timers trace`, {
    skip: existsSync(path) ? false : `${path} is not beside the repository`,
  }, () => {
    assert.ok(check(path) > 600);
  });
}
