/**
 * The spinlock model, used for each IOVA domain's rbtree lock
 * (`iovad->iova_rbtree_lock`) and each size class's depot lock
 * (`rcache->lock`). A free lock costs the acquiring CPU `acquireNs` (the
 * atomic on the lock's cache line). A held lock makes the CPU spin; at
 * release the next waiter is chosen (FIFO as the kernel's queued/ticket
 * spinlocks do, or at random as a test-and-set lock would) and owns the lock
 * `handoffNs` later: the time the lock's cache line takes to move to the
 * waiter's core. Waiting time is accounted per lock and per CPU.
 */

import { F64_ZERO } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import type { Prng } from "../stdx/prng.ts";
import type { Cpu } from "./cpu.ts";
import type { Checked, Engine } from "./engine.ts";
import { Fifo } from "./fifo.ts";

export type LockOrder = "fifo" | "random";

export interface SpinLockOptions {
  acquireNs: number;
  handoffNs: number;
  order?: LockOrder;
}

export interface LockStats {
  acquisitions: number;
  contended: number;
  waitNs: number;
  holdNs: number;
  waitersMax: number;
  /** The longest single wait (spin plus hand-off) of a contended acquisition: lock_stat's waittime-max. */
  waitNsMax: number;
}

export class SpinLock implements Checked {
  readonly acquireNs: number;
  readonly handoffNs: number;
  readonly order: LockOrder;
  holder: Cpu | null = null;
  acquisitions = 0;
  /** Acquisitions that had to wait. */
  contended = 0;
  waitNs = F64_ZERO;
  holdNs = F64_ZERO;
  waitersMax = 0;
  waitNsMax = F64_ZERO;
  private heldSinceNs = F64_ZERO;
  private statsSinceNs = F64_ZERO;
  private readonly waiters = new Fifo<Cpu>();
  private readonly prng: Prng | null;

  private readonly engine: Engine;
  readonly name: string;

  constructor(engine: Engine, name: string, opts: SpinLockOptions) {
    this.engine = engine;
    this.name = name;
    assert(Number.isSafeInteger(opts.acquireNs) && opts.acquireNs >= 0, `${name}: acquireNs`);
    assert(Number.isSafeInteger(opts.handoffNs) && opts.handoffNs >= 0, `${name}: handoffNs`);
    this.acquireNs = opts.acquireNs;
    this.handoffNs = opts.handoffNs;
    this.order = opts.order ?? "fifo";
    // Only a random-order lock draws numbers; deriving it for FIFO locks too would
    // shift every later component's seed when a lock's order changes.
    this.prng = this.order === "random" ? engine.prng.derive() : null;
    engine.register(this);
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** `spin_lock()`: true if the lock was free and is now `cpu`'s; false if `cpu` now spins. */
  request(cpu: Cpu): boolean {
    // The message is built only on failure: this runs on every lock request.
    if (this.holder === cpu) assert(false, `${this.name}: ${cpu.name} takes a lock it holds (deadlock)`);
    if (this.holder === null) {
      this.holder = cpu;
      this.acquisitions++;
      // Held from the end of the acquiring atomic.
      this.heldSinceNs = this.engine.nowNs + this.acquireNs;
      return true;
    }
    this.waiters.push(cpu);
    if (this.waiters.size > this.waitersMax) this.waitersMax = this.waiters.size;
    return false;
  }

  /** `spin_unlock()`: hands the lock to the next waiter, if any. */
  release(cpu: Cpu): void {
    if (this.holder !== cpu) assert(false, `${this.name}: released by ${cpu.name}, which does not hold it`);
    const now = this.engine.nowNs;
    this.holdNs += now - Math.max(this.heldSinceNs, this.statsSinceNs);
    if (this.waiters.size === 0) {
      this.holder = null;
      return;
    }
    const next =
      this.order === "fifo"
        ? this.waiters.shift()
        : this.waiters.removeAt((this.prng as Prng).below(this.waiters.size));
    const grantNs = now + this.handoffNs;
    this.holder = next;
    this.acquisitions++;
    this.contended++;
    const waitNs = grantNs - Math.max(next.waitStartNs, this.statsSinceNs);
    this.waitNs += waitNs;
    if (waitNs > this.waitNsMax) this.waitNsMax = waitNs;
    this.heldSinceNs = grantNs;
    next.grantLock(grantNs);
  }

  stats(): LockStats {
    return {
      acquisitions: this.acquisitions,
      contended: this.contended,
      waitNs: this.waitNs,
      holdNs: this.holdNs,
      waitersMax: this.waitersMax,
      waitNsMax: this.waitNsMax,
    };
  }

  resetStats(): void {
    this.acquisitions = 0;
    this.contended = 0;
    this.waitNs = 0;
    this.holdNs = 0;
    this.waitersMax = this.waiters.size;
    this.waitNsMax = 0;
    this.statsSinceNs = this.engine.nowNs;
  }

  verifyInvariants(): void {
    if (this.holder === null) assert(this.waiters.size === 0, `${this.name}: waiters on a free lock`);
    else assert(this.holder.locksHeld > 0, `${this.name}: holder ${this.holder.name} counts no lock held`);
    for (let i = 0; i < this.waiters.size; i++) {
      const w = this.waiters.at(i);
      assert(w !== this.holder, `${this.name}: holder also waits`);
      assert(w.spinningOn === this, `${this.name}: waiter ${w.name} is not spinning on it`);
    }
    assert(this.contended <= this.acquisitions, `${this.name}: more contended than total acquisitions`);
  }
}

/**
 * One lock class's figures as `/proc/lock_stat` gives them (CONFIG_LOCK_STAT):
 * every lock of the class (one rbtree lock per IOVA domain, one depot lock
 * per size class and domain) summed into one line. Waits are lock_stat's
 * waittime (spin plus hand-off, contended acquisitions only); the hold
 * average is over all acquisitions, to two decimals so that equal runs
 * print equal JSON.
 */
export interface LockClassStats {
  acquisitions: number;
  contentions: number;
  waitNsMax: number;
  waitNsTotal: number;
  holdNsAvg: number;
}

export function lockClassStats(locks: readonly SpinLock[]): LockClassStats {
  let acquisitions = 0;
  let contentions = 0;
  let waitNsMax = 0;
  let waitNsTotal = 0;
  let holdNs = 0;
  for (const l of locks) {
    acquisitions += l.acquisitions;
    contentions += l.contended;
    if (l.waitNsMax > waitNsMax) waitNsMax = l.waitNsMax;
    waitNsTotal += l.waitNs;
    holdNs += l.holdNs;
  }
  const holdNsAvg = acquisitions === 0 ? 0 : Math.round((holdNs / acquisitions) * 100) / 100;
  return { acquisitions, contentions, waitNsMax, waitNsTotal, holdNsAvg };
}
