/** The flush queue's timer: where the policy puts it, and `fq_flush_timeout()` in its steps. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { IovaDomain } from "../iova/domain.ts";
import { FlushQueue } from "./flush-queue.ts";
import { external, NOHZ_TARGET, TMIGR } from "./fq-timer-policy.ts";

function setup(policy = NOHZ_TARGET) {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const fq = new FlushQueue(d, 2, 250, policy);
  let idle = -1;
  let busy = -1;
  fq.facts = { isIdle: (c) => c === idle, busyCpu: () => busy };
  const pfn = () => d.allocIovaFast(0, 1, 0xfffff, false);
  return {
    d,
    fq,
    pfn,
    set: (i: number, b: number) => {
      idle = i;
      busy = b;
    },
  };
}

test("nohz-target (up to 6.8): a timer armed on an idle CPU goes to the busy CPU, which frees every queue into its rcache", () => {
  const { d, fq, pfn, set } = setup();
  set(1, 0);
  const a = pfn();
  fq.queue(1, a, 1, 0);
  assert.equal(fq.timerCpu, 0);
  assert.equal(fq.timerMoves, 1);
  // Armed in jiffy 0: expires at jiffy 3 (10 ms at HZ=250), runs at the tick of jiffy 4, the wheel's bucket.
  assert.equal(fq.timerDueNs, 12_000_000);
  assert.equal(fq.nextExpiryNs, 16_000_000);
  fq.timeout();
  assert.equal(d.cachedOn(a), 0);
  // Armed on a busy CPU: stays there.
  set(-1, 0);
  fq.queue(1, pfn(), 1, 0);
  assert.equal(fq.timerCpu, 1);
});

test("tmigr (6.9+): the timer stays on the arming CPU; a busy CPU expires it when that CPU is idle", () => {
  const { d, fq, pfn, set } = setup(TMIGR);
  const a = pfn();
  fq.queue(1, a, 1, 0);
  assert.equal(fq.timerCpu, 1);
  set(1, 0);
  fq.timeout();
  assert.equal(d.cachedOn(a), 0);
});

test("external: the timer never expires by the clock; expire() runs it on the CPU given, in its steps", () => {
  const { d, fq, pfn } = setup(external(NOHZ_TARGET));
  const a = pfn();
  const b = pfn();
  fq.queue(0, a, 1, 0);
  assert.equal(fq.nextExpiryNs, Number.POSITIVE_INFINITY);
  fq.expireBegin();
  // Queued after the start count rose: waits for the next flush.
  fq.queue(1, b, 1, 0);
  assert.equal(fq.timerArmed, true);
  fq.expireIotlbDone();
  fq.expireDrain(0, 1);
  fq.expireDrain(1, 1);
  assert.equal(d.cachedOn(a), 1);
  assert.equal(fq.queued(1), 1);
});

test("rereadLastCounter: a ring-full entry that reads another CPU's later flush waits for the flush after that one", () => {
  const { d, fq, pfn } = setup();
  // CPU 1 fills its ring (255 usable entries); its 256th unmap flushes, frees them, and queues `last`.
  for (let i = 0; i < 255; i++) fq.queue(1, pfn(), 1, 0);
  const last = pfn();
  fq.queue(1, last, 1, 0);
  assert.equal(fq.queued(1), 1);
  // CPU 0's ring fills too and flushes while CPU 1's flush still runs: CPU 1 reads that flush's start count.
  for (let i = 0; i < 256; i++) fq.queue(0, pfn(), 1, 0);
  fq.rereadLastCounter(1);
  // CPU 1's next queue_iova() after both flushes finished: `last` is not covered by a finished flush.
  fq.queue(1, pfn(), 1, 0);
  assert.equal(fq.queued(1), 2);
  assert.equal(d.cachedOn(last), -1);
  // Without the re-read it would have been freed there, into CPU 1's rcache.
  const { d: d2, fq: fq2, pfn: pfn2 } = setup();
  for (let i = 0; i < 255; i++) fq2.queue(1, pfn2(), 1, 0);
  const last2 = pfn2();
  fq2.queue(1, last2, 1, 0);
  for (let i = 0; i < 256; i++) fq2.queue(0, pfn2(), 1, 0);
  fq2.queue(1, pfn2(), 1, 0);
  assert.equal(fq2.queued(1), 1);
  assert.equal(d2.cachedOn(last2), 1);
});
