/**
 * Virtual CPUs. A CPU runs one task at a time; a task is a state machine
 * whose `step()` asks the CPU for exactly one action: compute for some
 * nanoseconds, take or drop a spinlock, wait for a serial resource (the
 * IOMMU's invalidation queue: a strict-mode CMD_SYNC spins), post work to one
 * without waiting, or exit. The CPU accounts every nanosecond as busy, waiting
 * on a lock, waiting on a sync, or idle.
 *
 * Interrupts: `raiseIrq()` queues a task that runs before ordinary tasks and
 * preempts the current one at its next step boundary, unless it holds a
 * spinlock (the kernel's IOVA locks are taken with `spin_lock_irqsave`, so
 * interrupts wait until they are dropped). One level of nesting: an interrupt
 * task is not preempted by another.
 */

import { F64_ZERO } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import type { Checked, Engine, EventHandler } from "./engine.ts";
import { Priority } from "./engine.ts";
import { Fifo } from "./fifo.ts";
import type { SpinLock } from "./lock.ts";
import type { SerialResource } from "./serial.ts";

/** A unit of CPU work. `step()` must call exactly one action method of `cpu`. */
export interface Task {
  readonly name: string;
  step(cpu: Cpu): void;
}

// The action a task's step asked for (plain numbers: `erasableSyntaxOnly` rules out enums).
const A_NONE = 0;
const A_COMPUTE = 1;
const A_LOCK = 2;
const A_UNLOCK = 3;
const A_SYNC = 4;
const A_POST = 5;
const A_EXIT = 6;

// What the CPU's one pending event (if any) is waiting for.
const W_NONE = 0;
const W_KICK = 1;
const W_COMPUTE = 2;
const W_LOCK_ACQUIRE = 3;
const W_LOCK_WAIT = 4;
const W_SYNC = 5;

/** Time accounting of one CPU since its last `resetStats()`. */
export interface CpuStats {
  busyNs: number;
  lockWaitNs: number;
  syncWaitNs: number;
  idleNs: number;
  elapsedNs: number;
  tasks: number;
  irqs: number;
}

export class Cpu implements Checked, EventHandler {
  readonly name: string;
  busyNs = F64_ZERO;
  lockWaitNs = F64_ZERO;
  syncWaitNs = F64_ZERO;
  tasks = 0;
  irqs = 0;
  statsSinceNs = F64_ZERO;
  /** Spinlocks this CPU holds (or has been handed and is about to hold). */
  locksHeld = 0;
  /** When the CPU began its current wait for a lock (read by the lock for its own accounting). */
  waitStartNs = F64_ZERO;
  private current: Task | null = null;
  private currentIsIrq = false;
  private preempted: Task | null = null;
  private readonly runQueue = new Fifo<Task>();
  private readonly irqQueue = new Fifo<Task>();
  private waiting = W_NONE;
  private action = A_NONE;
  private actionNs = F64_ZERO;
  private actionLatencyNs = 0;
  private actionLock: SpinLock | null = null;
  private actionResource: SerialResource | null = null;
  /** The lock this CPU is spinning on, for invariant checks. */
  spinningOn: SpinLock | null = null;

  readonly engine: Engine;
  readonly id: number;

  constructor(engine: Engine, id: number) {
    this.engine = engine;
    this.id = id;
    this.name = `cpu${id}`;
    engine.register(this);
  }

  // ---- actions a task's step() calls ----

  compute(ns: number): void {
    assert(this.action === A_NONE, "one action per step");
    assert(Number.isSafeInteger(ns) && ns >= 0, "compute time must be a non-negative integer ns");
    this.action = A_COMPUTE;
    this.actionNs = ns;
  }

  lock(lock: SpinLock): void {
    assert(this.action === A_NONE, "one action per step");
    this.action = A_LOCK;
    this.actionLock = lock;
  }

  unlock(lock: SpinLock): void {
    assert(this.action === A_NONE, "one action per step");
    this.action = A_UNLOCK;
    this.actionLock = lock;
  }

  /**
   * Queues `serviceNs` of work on a serial resource and spins until it is
   * done, plus `latencyNs` that does not occupy the resource.
   */
  sync(resource: SerialResource, serviceNs: number, latencyNs = 0): void {
    assert(this.action === A_NONE, "one action per step");
    assert(Number.isSafeInteger(latencyNs) && latencyNs >= 0, "sync latency must be a non-negative integer ns");
    this.action = A_SYNC;
    this.actionResource = resource;
    this.actionNs = serviceNs;
    this.actionLatencyNs = latencyNs;
  }

  /** Queues `serviceNs` of work on a serial resource and goes on without waiting. */
  post(resource: SerialResource, serviceNs: number): void {
    assert(this.action === A_NONE, "one action per step");
    this.action = A_POST;
    this.actionResource = resource;
    this.actionNs = serviceNs;
  }

  exit(): void {
    assert(this.action === A_NONE, "one action per step");
    this.action = A_EXIT;
  }

  // ---- giving the CPU work ----

  enqueue(task: Task): void {
    this.runQueue.push(task);
    this.kickIfIdle();
  }

  raiseIrq(task: Task): void {
    this.irqQueue.push(task);
    this.kickIfIdle();
  }

  get isIdle(): boolean {
    return this.current === null && this.waiting === W_NONE;
  }

  /**
   * Whether the CPU runs only its idle task: no ordinary task running,
   * preempted or queued, an interrupt on top of the idle loop allowed (the
   * kernel's `idle_cpu()` seen from inside that interrupt).
   */
  get runsIdleTask(): boolean {
    if (this.runQueue.size > 0) return false;
    if (this.current === null) return true;
    return this.currentIsIrq && this.preempted === null;
  }

  /**
   * Whether an interrupt may preempt the running task at its next step
   * boundary: not inside an interrupt, not with a spinlock held.
   */
  get preemptible(): boolean {
    return !this.currentIsIrq && this.locksHeld === 0;
  }

  get queuedTasks(): number {
    return this.runQueue.size + this.irqQueue.size;
  }

  /** Called by a lock at hand-off: the lock is this CPU's from `grantNs` on. */
  grantLock(grantNs: number): void {
    assert(this.waiting === W_LOCK_WAIT, "lock granted to a CPU that is not waiting for one");
    this.engine.at(grantNs, Priority.lock, this);
  }

  stats(): CpuStats {
    const now = this.engine.nowNs;
    // The wait in progress counts up to now, so the four parts always add up to the elapsed time.
    let busy = this.busyNs;
    let lockWait = this.lockWaitNs;
    let syncWait = this.syncWaitNs;
    const open = now - Math.max(this.waitStartNs, this.statsSinceNs);
    if (this.waiting === W_COMPUTE || this.waiting === W_LOCK_ACQUIRE) busy += open;
    else if (this.waiting === W_LOCK_WAIT) lockWait += open;
    else if (this.waiting === W_SYNC) syncWait += open;
    const elapsedNs = now - this.statsSinceNs;
    return {
      busyNs: busy,
      lockWaitNs: lockWait,
      syncWaitNs: syncWait,
      idleNs: elapsedNs - busy - lockWait - syncWait,
      elapsedNs,
      tasks: this.tasks,
      irqs: this.irqs,
    };
  }

  /** Starts the accounting afresh at the current time (end of warm-up). */
  resetStats(): void {
    this.busyNs = 0;
    this.lockWaitNs = 0;
    this.syncWaitNs = 0;
    this.tasks = 0;
    this.irqs = 0;
    this.statsSinceNs = this.engine.nowNs;
  }

  verifyInvariants(): void {
    assert(this.action === A_NONE, `${this.name}: action left pending between events`);
    assert(this.locksHeld >= 0, `${this.name}: negative lock count`);
    assert((this.waiting === W_LOCK_WAIT) === (this.spinningOn !== null), `${this.name}: spin state`);
    if (this.current === null) assert(this.preempted === null, `${this.name}: preempted task without a current one`);
    if (this.preempted !== null) assert(this.currentIsIrq, `${this.name}: only an interrupt preempts`);
    const s = this.stats();
    assert(s.busyNs >= 0 && s.lockWaitNs >= 0 && s.syncWaitNs >= 0, `${this.name}: negative time`);
    assert(s.idleNs >= 0, `${this.name}: accounted more time than elapsed`);
    if (this.current === null && this.waiting === W_NONE) {
      assert(this.runQueue.size + this.irqQueue.size === 0, `${this.name}: idle with queued work`);
    }
  }

  private kickIfIdle(): void {
    if (this.current === null && this.waiting === W_NONE) {
      this.waiting = W_KICK;
      this.engine.at(this.engine.nowNs, Priority.cpu, this);
    }
  }

  /** The CPU's one event fired: close the accounting of what it waited for, then go on. */
  onEvent(): void {
    const now = this.engine.nowNs;
    const spent = now - Math.max(this.waitStartNs, this.statsSinceNs);
    switch (this.waiting) {
      case W_COMPUTE:
      case W_LOCK_ACQUIRE:
        this.busyNs += spent;
        break;
      case W_LOCK_WAIT:
        this.lockWaitNs += spent;
        this.spinningOn = null;
        break;
      case W_SYNC:
        this.syncWaitNs += spent;
        break;
      case W_KICK:
        break;
      default:
        assert(false, `${this.name}: woken without a pending wait`);
    }
    this.waiting = W_NONE;
    this.advance();
  }

  /** Runs steps until one needs simulated time (then schedules its end) or there is no work. */
  private advance(): void {
    const engine = this.engine;
    for (;;) {
      if (this.current === null) {
        if (this.irqQueue.size > 0) {
          this.current = this.irqQueue.shift();
          this.currentIsIrq = true;
          this.irqs++;
        } else if (this.preempted !== null) {
          this.current = this.preempted;
          this.preempted = null;
          this.currentIsIrq = false;
        } else if (this.runQueue.size > 0) {
          this.current = this.runQueue.shift();
          this.currentIsIrq = false;
          this.tasks++;
        } else {
          return;
        }
      } else if (!this.currentIsIrq && this.irqQueue.size > 0 && this.locksHeld === 0) {
        this.preempted = this.current;
        this.current = this.irqQueue.shift();
        this.currentIsIrq = true;
        this.irqs++;
      }
      this.current.step(this);
      const action = this.action;
      this.action = A_NONE;
      switch (action) {
        case A_COMPUTE:
          if (this.actionNs === 0) continue;
          this.waiting = W_COMPUTE;
          this.waitStartNs = engine.nowNs;
          engine.at(engine.nowNs + this.actionNs, Priority.cpu, this);
          return;
        case A_LOCK: {
          const lock = this.actionLock as SpinLock;
          this.actionLock = null;
          this.waitStartNs = engine.nowNs;
          if (lock.request(this)) {
            this.locksHeld++;
            if (lock.acquireNs === 0) continue;
            this.waiting = W_LOCK_ACQUIRE;
            engine.at(engine.nowNs + lock.acquireNs, Priority.cpu, this);
          } else {
            // Counted as held from the request on: the hand-off makes it ours without another step.
            this.locksHeld++;
            this.waiting = W_LOCK_WAIT;
            this.spinningOn = lock;
          }
          return;
        }
        case A_UNLOCK: {
          const lock = this.actionLock as SpinLock;
          this.actionLock = null;
          lock.release(this);
          this.locksHeld--;
          continue;
        }
        case A_SYNC: {
          const res = this.actionResource as SerialResource;
          this.actionResource = null;
          const doneNs = res.submit(this.actionNs) + this.actionLatencyNs;
          if (doneNs === engine.nowNs) continue;
          this.waiting = W_SYNC;
          this.waitStartNs = engine.nowNs;
          engine.at(doneNs, Priority.cpu, this);
          return;
        }
        case A_POST: {
          const res = this.actionResource as SerialResource;
          this.actionResource = null;
          res.submit(this.actionNs);
          continue;
        }
        case A_EXIT:
          if (this.locksHeld !== 0) assert(false, `${this.name}: task exited holding a lock`);
          this.current = null;
          continue;
        default:
          assert(false, `${this.name}: task ${this.current.name} stepped without an action`);
      }
    }
  }
}
