/**
 * What a simulation tells the flush-queue timer policy (dma/fq-timer-policy.ts)
 * about its CPUs: which of them are idle at the instant the policy asks (when
 * `queue_iova()` arms the timer, and when the timer expires), and which busy
 * CPU the kernel's search would find. The engine's CPUs (sim/cpu.ts) know
 * whether they run only their idle task; this file turns that into the facts
 * the kernel model reads, so the policy of the kernel profile — 6.1's move
 * off an idle CPU (`get_nohz_timer_target()`), 6.9+'s remote expiry by
 * timer migration — decides where the simulated timer runs.
 *
 * The busy CPU: `get_nohz_timer_target()` walks the arming CPU's scheduling
 * domains and takes the first CPU of the smallest one that is not idle; the
 * simulated machines have one flat domain, so it is the lowest-numbered busy
 * CPU. Timer migration (kernel/time/timer_migration.c) hands an idle CPU's
 * timer to the group's active migrator; with one flat group that is a busy
 * CPU, taken the same way.
 */

import type { CpuIdleFacts } from "../dma/fq-timer-policy.ts";
import type { Cpu } from "../sim/cpu.ts";

/** The facts of the engine's CPUs, read at the instant the policy asks. */
export function simulatedIdleFacts(cpus: readonly Cpu[]): CpuIdleFacts {
  return {
    isIdle: (cpu) => cpus[cpu]?.runsIdleTask ?? false,
    busyCpu: () => {
      for (let c = 0; c < cpus.length; c++) if (!cpus[c].runsIdleTask) return c;
      return -1;
    },
  };
}

/**
 * The facts of a recorded call stream (a fast-forward repeats one without
 * the engine): the calling CPU is idle when it was idle when the recording
 * made that call; the busy CPU is the last one recorded busy; a CPU is
 * idle at a timer's expiry when its last recorded call was made idle.
 */
export class RecordedIdleFacts implements CpuIdleFacts {
  private readonly lastIdle: Uint8Array;
  private busy = -1;

  constructor(cpus: number) {
    this.lastIdle = new Uint8Array(cpus);
  }

  /** The call about to be issued: made on `cpu`, idle or not. */
  call(cpu: number, idle: boolean): void {
    this.lastIdle[cpu] = idle ? 1 : 0;
    if (!idle) this.busy = cpu;
  }

  isIdle(cpu: number): boolean {
    return this.lastIdle[cpu] === 1;
  }

  busyCpu(): number {
    return this.busy;
  }
}
