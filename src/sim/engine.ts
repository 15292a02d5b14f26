/**
 * The discrete-event engine (the shape of SimPy's, the determinism of
 * TigerBeetle's simulator): integer-nanosecond virtual time, one event queue
 * ordered by (time, priority, sequence), one seeded PRNG from which every
 * component derives its own. It knows nothing of IOVAs or devices; components
 * (CPUs, locks, devices) schedule events on it and register invariant checks.
 */

import { F64_ZERO } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import { InputError } from "../stdx/errors.ts";
import { Prng } from "../stdx/prng.ts";
import { type EventHandler, EventQueue, MAX_EVENT_NS } from "./queue.ts";

export type { EventHandler } from "./queue.ts";

/**
 * Event priorities: lower runs first among events at the same nanosecond.
 * Hardware finishing (a device completion) happens before the CPU work it
 * makes ready, lock grants before CPU steps so a CPU that is handed a lock at
 * t sees it held at t, and new workload arrivals last.
 */
export const Priority = {
  device: 0,
  lock: 1,
  cpu: 2,
  timer: 3,
  source: 4,
} as const;

/** A component whose whole state can be checked (house style: `verifyInvariants()`). */
export interface Checked {
  readonly name: string;
  verifyInvariants(): void;
}

export interface EngineOptions {
  seed: number;
  /** Run every registered component's `verifyInvariants()` every this many events (0 = never). */
  checkEveryEvents?: number;
  /** Keep a text log of every event (for determinism tests; slow). */
  logEvents?: boolean;
}

export class Engine {
  /** Virtual time of the event being run, in integer nanoseconds. */
  nowNs = F64_ZERO;
  readonly seed: number;
  /** The run's root PRNG; components take `prng.derive()` once, at construction. */
  readonly prng: Prng;
  eventsRun = 0;
  invariantChecks = 0;
  readonly log: string[] | null;
  private readonly queue = new EventQueue();
  private readonly checked: Checked[] = [];
  private readonly checkEveryEvents: number;
  private stopRequested = false;

  constructor(opts: EngineOptions) {
    assert(Number.isSafeInteger(opts.seed), "engine seed must be an integer");
    this.seed = opts.seed;
    this.prng = new Prng(opts.seed);
    this.checkEveryEvents = opts.checkEveryEvents ?? 0;
    assert(Number.isSafeInteger(this.checkEveryEvents) && this.checkEveryEvents >= 0, "checkEveryEvents");
    this.log = opts.logEvents ? [] : null;
  }

  /** Schedules `handler.onEvent(arg)` at absolute time `atNs` (integer, not in the past). */
  at(atNs: number, priority: number, handler: EventHandler, arg = 0): void {
    // Reachable from the figures a run is given (a cost of weeks, a device of one command a
    // second behind a deep queue), not a bug: said as one, and the run stops.
    if (!(atNs <= MAX_EVENT_NS)) {
      throw new InputError(
        `expected simulated times below 2^50 ns (about 13 days), found ${handler.name}'s event at ${atNs} ns: a cost, device or workload figure is too large to simulate`,
      );
    }
    // One check covers both: a non-integer or a past time is a bug in the caller.
    assert(Number.isSafeInteger(atNs) && atNs >= this.nowNs, "event time must be an integer ns, not in the past");
    this.queue.push(atNs, priority, handler, arg);
  }

  /** Schedules after `delayNs` (integer, >= 0) from now. */
  after(delayNs: number, priority: number, handler: EventHandler, arg = 0): void {
    this.at(this.nowNs + delayNs, priority, handler, arg);
  }

  get pendingEvents(): number {
    return this.queue.size;
  }

  /** Registers a component for the periodic invariant check (and `checkAll()`). */
  register(component: Checked): void {
    this.checked.push(component);
  }

  /** Runs every registered invariant check now. */
  checkAll(): void {
    this.invariantChecks++;
    this.queue.verifyInvariants();
    for (const c of this.checked) c.verifyInvariants();
  }

  /** Makes `run()` return after the current event. */
  stop(): void {
    this.stopRequested = true;
  }

  /**
   * Runs events in order until the queue is empty, the next event lies after
   * `untilNs` (time then advances to `untilNs`), `stop()` is called, or
   * `maxEvents` more events have run.
   */
  run(untilNs = Number.MAX_SAFE_INTEGER, maxEvents = Number.MAX_SAFE_INTEGER): void {
    this.stopRequested = false;
    const queue = this.queue;
    const every = this.checkEveryEvents;
    const log = this.log;
    const stopAt = this.eventsRun + maxEvents;
    while (queue.size > 0 && !this.stopRequested && this.eventsRun < stopAt) {
      if (queue.peekTimeNs() > untilNs) {
        this.nowNs = untilNs;
        return;
      }
      const slot = queue.popSlot();
      const t = queue.slotTimeNs(slot);
      const arg = queue.slotArg(slot);
      const handler = queue.takeHandler(slot);
      if (log !== null) {
        log.push(`${t} ${queue.slotPriority(slot)} ${queue.slotSequence(slot)} ${handler.name} ${arg}`);
      }
      this.nowNs = t;
      this.eventsRun++;
      handler.onEvent(arg);
      if (every > 0 && this.eventsRun % every === 0) this.checkAll();
    }
    if (queue.size === 0 && untilNs !== Number.MAX_SAFE_INTEGER && untilNs > this.nowNs) this.nowNs = untilNs;
  }
}
