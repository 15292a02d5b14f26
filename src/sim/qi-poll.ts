/**
 * VT-d's wait for an invalidation, as `qi_submit_sync()` does it
 * (drivers/iommu/intel/dmar.c; the same loop in 5.15, 6.1 and mainline).
 * Under the unit's `qi->q_lock` (a raw spinlock, interrupts off) the CPU
 * writes its descriptors and a wait descriptor and moves the queue's tail;
 * then, while the wait descriptor's status word is not yet written, it
 * checks the fault status (`qi_check_fault()`: one uncached read of
 * DMAR_FSTS_REG) with the lock held, drops the lock, `cpu_relax()`, and
 * takes it again. On a queued spinlock the re-take queues behind every CPU
 * already waiting, so the unit's waiting CPUs take turns on the lock, one
 * poll each, and every turn is a hand-off. Once the status is written the
 * CPU frees its descriptors and drops the lock for good.
 *
 * This file knows nothing of IOVAs: `charge.ts` calls it for a record whose
 * invalidations go through a polled queue.
 */

import { assert } from "../stdx/assert.ts";
import type { Engine } from "./engine.ts";
import type { SpinLock } from "./lock.ts";
import type { Hook, Script } from "./script.ts";
import { SerialResource } from "./serial.ts";

/** A hook's arg packs the queue's service time and the wait's latency (each below 2^32 ns). */
const HIGH = 2 ** 32;

export class PolledQueueWait {
  readonly lock: SpinLock;
  readonly iq: SerialResource;
  /** The lock-held check between two polls (the fault status register's read), ns. */
  readonly checkNs: number;
  /** Polls that found the wait not yet done, since the last `resetStats()`. */
  polls = 0;
  private readonly engine: Engine;
  /** The register read: a wait of its own that occupies nothing shared (the CPU spins on the read). */
  private readonly register: SerialResource;
  private readonly submitHook: Hook;
  private readonly pollHook: Hook;

  constructor(engine: Engine, lock: SpinLock, iq: SerialResource, checkNs: number) {
    assert(Number.isSafeInteger(checkNs) && checkNs > 0, `${lock.name}: a poll takes time`);
    this.engine = engine;
    this.lock = lock;
    this.iq = iq;
    this.checkNs = checkNs;
    this.register = new SerialResource(engine, `${iq.name}:fault-status`);
    // Runs with the lock held: queue the commands, then poll for their completion.
    this.submitHook = {
      name: "qi_submit_sync",
      run: (_cpu, arg, out) => {
        const doneNs = this.iq.submit(arg % HIGH) + Math.floor(arg / HIGH);
        out.hook(this.pollHook, doneNs);
      },
    };
    // Runs each time the lock is (re-)taken: the status word is read first.
    this.pollHook = {
      name: "qi_poll",
      run: (_cpu, doneNs, out) => {
        if (this.engine.nowNs >= doneNs) {
          out.unlock(this.lock);
          return;
        }
        this.polls++;
        out.sync(this.register, 0, this.checkNs).unlock(this.lock).lock(this.lock).hook(this.pollHook, doneNs);
      },
    };
  }

  /** Appends a submission of `serviceNs` of commands and the wait for them (`latencyNs` after the queue is done). */
  charge(out: Script, serviceNs: number, latencyNs: number): void {
    assert(serviceNs < HIGH && latencyNs < HIGH, "queue times below 2^32 ns");
    out.lock(this.lock).hook(this.submitHook, serviceNs + latencyNs * HIGH);
  }

  resetStats(): void {
    this.polls = 0;
    this.register.resetStats();
  }
}
