/**
 * The DMA-FQ flush queue (docs/kernel-rules.md §2.4, DMA-4): per-CPU rings of
 * IOVA_DEFAULT_FQ_SIZE = 256 entries (255 usable), two flush counters, and
 * one timer armed by the first queued entry, IOVA_DEFAULT_FQ_TIMEOUT = 10 ms
 * rounded up to whole jiffies. Freed IOVAs land in the rcache of the CPU that
 * drains them: the queueing CPU, or the CPU the timer runs on (S-5).
 *
 * Which CPU the timer's base is and which CPU runs it is the timer policy's
 * (`fq-timer-policy.ts`), from the facts about idle CPUs its caller hands in.
 *
 * Profiles: `flushQueueIn` "iova.c" (5.10, 5.15) had the same ring, counters
 * and 10 ms timer inside iova.c (VER-5); the decisions modelled here are the
 * same for both places, so the switch changes nothing in this file.
 */

import type { IovaDomain } from "../iova/domain.ts";
import { assert } from "../stdx/assert.ts";
import { expiresNs, runsAtNs } from "../stdx/timer-wheel.ts";
import { type CpuIdleFacts, type FqTimerPolicy, NO_IDLE_FACTS, NOMINAL } from "./fq-timer-policy.ts";

export const IOVA_DEFAULT_FQ_SIZE = 256;
export const IOVA_DEFAULT_FQ_TIMEOUT_MS = 10;

const NO_ENTRIES = new Float64Array(0);

class FqRing {
  // Made at the ring's first entry (`ready`): on a machine of hundreds of CPUs, of which a few unmap, the other
  // rings stay empty, and a replay or an advice builds a queue for each domain it tries.
  pfn = NO_ENTRIES;
  pages = NO_ENTRIES;
  counter = NO_ENTRIES;
  head = 0;
  tail = 0;

  ready(): void {
    if (this.pfn.length > 0) return;
    this.pfn = new Float64Array(IOVA_DEFAULT_FQ_SIZE);
    this.pages = new Float64Array(IOVA_DEFAULT_FQ_SIZE);
    this.counter = new Float64Array(IOVA_DEFAULT_FQ_SIZE);
  }
}

const MASK = IOVA_DEFAULT_FQ_SIZE - 1;

/** The state `FlushQueue.snapshot()` copies out. */
export interface FlushQueueSnapshot {
  /**
   * Every ring's queued entries as (pfn, pages, counter) triples from its
   * `head`, ring after ring, with each ring's head and count: three arrays
   * whatever the CPUs (an object and an array per ring made a machine's idle
   * CPUs a tenth of a replay's time on 192 CPUs, a checkpoint at every flush).
   */
  readonly entries: Float64Array;
  readonly heads: Int32Array;
  readonly counts: Int32Array;
  readonly flushStartCnt: number;
  readonly flushFinishCnt: number;
  readonly flushes: number;
  readonly timerArmed: boolean;
  readonly timerDueNs: number;
  readonly timerCpu: number;
  readonly timerMoves: number;
}

export class FlushQueue {
  private readonly iovad: IovaDomain;
  private readonly rings: FqRing[] = [];
  /** `fq_flush_start_cnt` / `fq_flush_finish_cnt`. */
  flushStartCnt = 0;
  flushFinishCnt = 0;
  /** Full IOTLB flushes done (ring full or timer). */
  flushes = 0;
  timerArmed = false;
  /** The armed timer's nominal expiry: the jiffy `mod_timer()` asked for. */
  timerDueNs = 0;
  /** The CPU whose timer base holds the timer (the policy's choice at arming). */
  timerCpu = 0;
  /** Timers enqueued on another CPU than the one that armed them. */
  timerMoves = 0;
  /** Where the timer runs (see `fq-timer-policy.ts`). */
  policy: FqTimerPolicy;
  /** What the caller knows about idle CPUs, read by the policy. */
  facts: CpuIdleFacts = NO_IDLE_FACTS;
  /** `msecs_to_jiffies(IOVA_DEFAULT_FQ_TIMEOUT)`. */
  readonly timeoutJiffies: number;
  /** One jiffy (1/HZ), ns. */
  readonly tickNs: number;

  constructor(iovad: IovaDomain, cpus: number, hz: number, policy: FqTimerPolicy = NOMINAL) {
    this.iovad = iovad;
    this.policy = policy;
    for (let c = 0; c < cpus; c++) this.rings.push(new FqRing());
    this.tickNs = 1e9 / hz;
    assert(Number.isInteger(this.tickNs), "HZ must divide 1e9");
    // msecs_to_jiffies() rounds up to whole jiffies (10 ms = 3 jiffies at HZ=250).
    this.timeoutJiffies = Math.ceil((IOVA_DEFAULT_FQ_TIMEOUT_MS * hz) / 1000);
  }

  /** Entries waiting in `cpu`'s ring. */
  queued(cpu: number): number {
    const r = this.rings[cpu];
    return (r.tail - r.head + IOVA_DEFAULT_FQ_SIZE) & MASK;
  }

  /** The first pfn of the `k`-th entry waiting in `cpu`'s ring, oldest first (`k` below `queued(cpu)`). */
  queuedPfn(cpu: number, k: number): number {
    const r = this.rings[cpu];
    return r.pfn[(r.head + k) & MASK];
  }

  /** The pages of the `k`-th entry waiting in `cpu`'s ring, oldest first (`k` below `queued(cpu)`). */
  queuedPages(cpu: number, k: number): number {
    const r = this.rings[cpu];
    return r.pages[(r.head + k) & MASK];
  }

  /** Where the entry whose first pfn is `pfn` waits in `cpu`'s ring (`k`, oldest first), or -1: one scan of the ring. */
  queuedIndexOf(cpu: number, pfn: number): number {
    const r = this.rings[cpu];
    const n = (r.tail - r.head + IOVA_DEFAULT_FQ_SIZE) & MASK;
    const pfns = r.pfn;
    for (let k = 0, i = r.head; k < n; k++, i = (i + 1) & MASK) if (pfns[i] === pfn) return k;
    return -1;
  }

  /** The counter (the flush start count it waits for) of the `k`-th entry waiting in `cpu`'s ring, oldest first. */
  queuedCounter(cpu: number, k: number): number {
    const r = this.rings[cpu];
    return r.counter[(r.head + k) & MASK];
  }

  /**
   * Puts `n` (pfn, pages, counter) triples of `entries` in `cpu`'s ring from
   * its head, oldest first, in place of what it held: `restore` for one ring,
   * so that a change to one CPU's entries copies that ring only.
   */
  restoreRing(cpu: number, entries: Float64Array, n: number): void {
    const r = this.rings[cpu];
    if (n > 0) r.ready();
    let i = r.head;
    for (let k = 0; k < 3 * n; k += 3, i = (i + 1) & MASK) {
      r.pfn[i] = entries[k];
      r.pages[i] = entries[k + 1];
      r.counter[i] = entries[k + 2];
    }
    r.tail = i;
  }

  /** Models `fq_ring_free_locked()` (DMA-4.4 step 2): frees on `cpu`. */
  private ringFree(ring: FqRing, cpu: number): void {
    while (ring.head !== ring.tail) {
      const i = ring.head;
      if (ring.counter[i] >= this.flushFinishCnt) break;
      this.iovad.freeIovaFast(cpu, ring.pfn[i], ring.pages[i]);
      ring.head = (i + 1) & MASK;
    }
  }

  /**
   * An entry `cpu`'s ring held before the model's first call: queued under
   * the current start count, so the first flush to finish frees it. For a
   * replay whose trace starts with the queues not empty; arms no timer.
   */
  seedQueued(cpu: number, pfn: number, pages: number): void {
    const ring = this.rings[cpu];
    assert(((ring.tail + 1) & MASK) !== ring.head, "seeded ring full");
    ring.ready();
    const t = ring.tail;
    ring.pfn[t] = pfn;
    ring.pages[t] = pages;
    ring.counter[t] = this.flushStartCnt;
    ring.tail = (t + 1) & MASK;
  }

  /** Models `fq_flush_iotlb()`: one full IOTLB flush. */
  private flushIotlb(): void {
    this.flushStartCnt++;
    this.flushes++;
    this.flushFinishCnt++;
  }

  /** Models `queue_iova()` (DMA-4.4) on `cpu` at `nowNs`. */
  queue(cpu: number, pfn: number, pages: number, nowNs: number): void {
    const ring = this.rings[cpu];
    this.ringFree(ring, cpu);
    if (((ring.tail + 1) & MASK) === ring.head) {
      this.flushIotlb();
      this.ringFree(ring, cpu);
    }
    ring.ready();
    const t = ring.tail;
    ring.pfn[t] = pfn;
    ring.pages[t] = pages;
    ring.counter[t] = this.flushStartCnt;
    ring.tail = (t + 1) & MASK;
    if (!this.timerArmed) {
      this.timerArmed = true;
      this.timerCpu = this.policy.baseCpu(cpu, this.facts);
      if (this.timerCpu !== cpu) this.timerMoves++;
      this.timerDueNs = expiresNs(nowNs, this.timeoutJiffies, this.tickNs);
    }
  }

  /**
   * The entry `cpu` queued last reads `fq_flush_start_cnt` again, now: its
   * `queue_iova()` flushed the IOTLB because the ring was full (DMA-4.4 step
   * 3) and reads the count only once that flush is done (step 4), so a flush
   * another CPU began meanwhile counts for it; that entry then waits for the
   * flush after that one. For a caller that knows the flushes overlapped.
   */
  rereadLastCounter(cpu: number): void {
    const r = this.rings[cpu];
    assert(r.head !== r.tail, "no queued entry to re-read the start count for");
    r.counter[(r.tail - 1) & MASK] = this.flushStartCnt;
  }

  /**
   * When the model's clock fires the timer: the wheel's tick after its
   * nominal expiry (`timer-wheel.ts`), or never (not armed, or placed from
   * outside). Every flush-queue expiry of the lazy traces of 6.1 and 6.12 had
   * its wheel clock (`baseclk=`) one past `expires=`, and 6.12's
   * `bucket_expiry=` says so.
   */
  get nextExpiryNs(): number {
    return this.timerArmed && this.policy.selfExpiring
      ? runsAtNs(this.timerDueNs, this.tickNs)
      : Number.POSITIVE_INFINITY;
  }

  /** The timer expires by the model's clock: `fq_flush_timeout()` on the CPU the policy names. */
  timeout(): void {
    assert(this.timerArmed, "flush-queue timer fired unarmed");
    this.expire(this.policy.expiryCpu(this.timerCpu, this.facts));
  }

  /**
   * Models `fq_flush_timeout()` (DMA-4.5) running on `cpu`: flush, then drain
   * every ring in CPU order into `cpu`'s rcache. A policy placed from outside
   * calls it where the timer ran; the callback runs whether or not the model
   * has the timer armed (the kernel's was).
   */
  expire(cpu: number): void {
    this.expireStart();
    for (let r = 0; r < this.rings.length; r++) this.expireDrain(r, cpu);
  }

  /** The start of `fq_flush_timeout()`: `fq_timer_on` cleared, then `fq_flush_iotlb()`. */
  expireStart(): void {
    this.expireBegin();
    this.expireIotlbDone();
  }

  /**
   * The first statements of `fq_flush_timeout()`: `fq_timer_on` cleared (an
   * unmap may arm the timer again from here on) and `fq_flush_iotlb()`'s
   * start count raised (entries queued from here on wait for the next flush).
   */
  expireBegin(): void {
    this.timerArmed = false;
    this.flushStartCnt++;
  }

  /** `fq_flush_iotlb()` returns: its IOTLB flush is done, what was queued before `expireBegin()` may be freed. */
  expireIotlbDone(): void {
    this.flushes++;
    this.flushFinishCnt++;
  }

  /** One turn of `fq_flush_timeout()`'s loop: `ring`'s queue drained, under its lock with irqs off, into `cpu`'s rcache. */
  expireDrain(ring: number, cpu: number): void {
    this.ringFree(this.rings[ring], cpu);
  }

  /** CPUs, one ring each. */
  get cpus(): number {
    return this.rings.length;
  }

  /** A copy of the queued entries, counters and timer, for the replay's flush placement. */
  snapshot(): FlushQueueSnapshot {
    const rings = this.rings.length;
    const heads = new Int32Array(rings);
    const counts = new Int32Array(rings);
    let total = 0;
    for (let c = 0; c < rings; c++) {
      heads[c] = this.rings[c].head;
      counts[c] = this.queued(c);
      total += counts[c];
    }
    const e = new Float64Array(3 * total);
    let o = 0;
    for (let c = 0; c < rings; c++) {
      const r = this.rings[c];
      for (let k = 0, i = r.head; k < counts[c]; k++, i = (i + 1) & MASK) {
        e[o++] = r.pfn[i];
        e[o++] = r.pages[i];
        e[o++] = r.counter[i];
      }
    }
    return {
      entries: e,
      heads,
      counts,
      flushStartCnt: this.flushStartCnt,
      flushFinishCnt: this.flushFinishCnt,
      flushes: this.flushes,
      timerArmed: this.timerArmed,
      timerDueNs: this.timerDueNs,
      timerCpu: this.timerCpu,
      timerMoves: this.timerMoves,
    };
  }

  restore(s: FlushQueueSnapshot): void {
    const e = s.entries;
    let o = 0;
    for (let c = 0; c < this.rings.length; c++) {
      const r = this.rings[c];
      const n = s.counts[c];
      let i = s.heads[c];
      r.head = i;
      if (n > 0) r.ready();
      for (let k = 0; k < n; k++, i = (i + 1) & MASK) {
        r.pfn[i] = e[o++];
        r.pages[i] = e[o++];
        r.counter[i] = e[o++];
      }
      r.tail = i;
    }
    this.flushStartCnt = s.flushStartCnt;
    this.flushFinishCnt = s.flushFinishCnt;
    this.flushes = s.flushes;
    this.timerArmed = s.timerArmed;
    this.timerDueNs = s.timerDueNs;
    this.timerCpu = s.timerCpu;
    this.timerMoves = s.timerMoves;
  }

  /** Models the teardown of DMA-4.8: the timer is deleted, queued IOVAs go with the domain. */
  destroy(): void {
    this.timerArmed = false;
  }
}
