/**
 * Where the flush-queue timer (`cookie->fq_timer`, `fq_flush_timeout`) runs:
 * on which CPU's timer base `mod_timer()` enqueues it, and which CPU runs
 * the callback at expiry. It matters because the callback frees every
 * queued IOVA into the rcache of the CPU that runs it (DMA-4.5, S-5).
 *
 * The timer is an ordinary one: not pinned, not deferrable (`timer_setup(
 * &cookie->fq_timer, fq_flush_timeout, 0)`), so the kernel's own placement
 * applies, and it changed in 6.9:
 * - up to 6.8, `__mod_timer()` takes its base from `get_target_base()`,
 *   which for an unpinned timer asks `get_nohz_timer_target()`: a CPU that
 *   is idle (the idle task, here in the interrupt that unmapped) enqueues
 *   the timer on a busy CPU instead, which then runs it ("nohz-target");
 * - from 6.9 (the timer-migration hierarchy, kernel/time/timer_migration.c)
 *   the timer stays on the arming CPU's global base, and when that CPU is
 *   idle at expiry a busy CPU expires it remotely (`tmigr_handle_remote()`)
 *   ("tmigr").
 * Both need facts the kernel model does not have (which CPUs are idle): the
 * caller hands them in (`CpuIdleFacts`), the simulation from its scheduler
 * or a replay from the trace. With no facts no CPU is idle, and both
 * policies run the timer on the arming CPU, at the wheel's tick after its
 * nominal expiry as every policy that expires by the clock ("nominal").
 *
 * A replay that knows from the trace where each expiry ran places it from
 * outside ("external"): the timer then never expires by the model's clock,
 * and `FlushQueue.expire(cpu)` runs the callback where the trace shows.
 */

import type { ProfileName } from "../iova/profile.ts";
import { DMA_POLICY } from "./policy.ts";

export type FqTimerPolicyName = "nominal" | "nohz-target" | "tmigr" | "external";

/** What the caller knows about the CPUs when the timer is armed or expires. */
export interface CpuIdleFacts {
  /** Whether `cpu` is idle (only the idle task runs there, in an interrupt when it unmaps). */
  isIdle(cpu: number): boolean;
  /** A CPU that is not idle, the one `get_nohz_timer_target()` would find, or -1 when none is known. */
  busyCpu(): number;
}

/** No CPU is idle: what the kernel model assumes when nobody says otherwise. */
export const NO_IDLE_FACTS: CpuIdleFacts = {
  isIdle: () => false,
  busyCpu: () => -1,
};

export interface FqTimerPolicy {
  readonly name: FqTimerPolicyName;
  /** `mod_timer()` on `cpu`: the CPU whose timer base takes the timer (the `cpu=` of `timer_start`). */
  baseCpu(cpu: number, facts: CpuIdleFacts): number;
  /** At expiry: the CPU that runs `fq_flush_timeout()` for a timer on `base`'s base. */
  expiryCpu(base: number, facts: CpuIdleFacts): number;
  /** Whether the timer expires by the model's clock; false: only `FlushQueue.expire()` runs it. */
  readonly selfExpiring: boolean;
}

/** The timer runs where it was armed, at the wheel's tick after its nominal expiry. */
export const NOMINAL: FqTimerPolicy = {
  name: "nominal",
  baseCpu: (cpu) => cpu,
  expiryCpu: (base) => base,
  selfExpiring: true,
};

/** Up to 6.8: an idle CPU enqueues the timer on a busy one (`get_nohz_timer_target()`), which runs it. */
export const NOHZ_TARGET: FqTimerPolicy = {
  name: "nohz-target",
  baseCpu(cpu, facts) {
    if (!facts.isIdle(cpu)) return cpu;
    const busy = facts.busyCpu();
    return busy >= 0 ? busy : cpu;
  },
  expiryCpu: (base) => base,
  selfExpiring: true,
};

/** 6.9 and later: enqueued locally; a busy CPU expires an idle CPU's timer (timer migration). */
export const TMIGR: FqTimerPolicy = {
  name: "tmigr",
  baseCpu: (cpu) => cpu,
  expiryCpu(base, facts) {
    if (!facts.isIdle(base)) return base;
    const busy = facts.busyCpu();
    return busy >= 0 ? busy : base;
  },
  selfExpiring: true,
};

/**
 * Placed from outside: the base follows `inner` (so a model of the kernel's
 * choice is still there to compare with), but only `FlushQueue.expire()`
 * runs the callback, on the CPU it is given.
 */
export function external(inner: FqTimerPolicy): FqTimerPolicy {
  return {
    name: "external",
    baseCpu: (cpu, facts) => inner.baseCpu(cpu, facts),
    expiryCpu: (base) => base,
    selfExpiring: false,
  };
}

/** The kernel's own placement for a profile (`DmaPolicy.fqTimer`): nohz-target up to 6.8, timer migration from 6.9. */
export function fqTimerPolicyFor(profile: ProfileName): FqTimerPolicy {
  return DMA_POLICY[profile].fqTimer === "tmigr" ? TMIGR : NOHZ_TARGET;
}
