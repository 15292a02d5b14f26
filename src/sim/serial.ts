/**
 * A serial resource: work items served one at a time, first come first
 * served. It models the IOMMU's invalidation queue (the SMMUv3 command queue,
 * the VT-d queued invalidation): CPUs queue TLB invalidations and syncs, the
 * IOMMU processes them in order, and a strict-mode unmap spins until its sync
 * completes. Service times are known when work is queued, so the finish time
 * is computed at once from the time the resource becomes free, and no event
 * is needed for the resource itself.
 */

import { F64_ZERO } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import type { Checked, Engine } from "./engine.ts";

export interface SerialStats {
  jobs: number;
  busyNs: number;
  /** Total time jobs waited for earlier jobs to finish. */
  queueWaitNs: number;
}

export class SerialResource implements Checked {
  busyUntilNs = F64_ZERO;
  jobs = 0;
  busyNs = F64_ZERO;
  queueWaitNs = F64_ZERO;

  private readonly engine: Engine;
  readonly name: string;

  constructor(engine: Engine, name: string) {
    this.engine = engine;
    this.name = name;
    engine.register(this);
  }

  /** Queues `serviceNs` of work now; returns the time it completes. */
  submit(serviceNs: number): number {
    // Guarded: a message built from a template would be built on every call (a strict unmap's sync).
    if (!(Number.isSafeInteger(serviceNs) && serviceNs >= 0)) {
      assert(false, `${this.name}: service time must be an integer ns`);
    }
    const now = this.engine.nowNs;
    const start = Math.max(this.busyUntilNs, now);
    this.queueWaitNs += start - now;
    this.busyNs += serviceNs;
    this.jobs++;
    this.busyUntilNs = start + serviceNs;
    return this.busyUntilNs;
  }

  /** Work queued but not finished, in ns. */
  get backlogNs(): number {
    return Math.max(0, this.busyUntilNs - this.engine.nowNs);
  }

  stats(): SerialStats {
    return { jobs: this.jobs, busyNs: this.busyNs, queueWaitNs: this.queueWaitNs };
  }

  resetStats(): void {
    this.jobs = 0;
    this.busyNs = 0;
    this.queueWaitNs = 0;
  }

  verifyInvariants(): void {
    assert(Number.isSafeInteger(this.busyUntilNs), `${this.name}: busyUntilNs not an integer`);
    assert(this.queueWaitNs >= 0 && this.busyNs >= 0, `${this.name}: negative accounting`);
  }
}
