/**
 * The busy-start search's trials on worker threads (`replay/busy-trial.ts`,
 * `TrialPool`): the search names the trials it will ask for next, the
 * threads run them from a shared table (`trial-slots.ts`), and the search
 * takes each result when it comes to it. While a thread still runs the one
 * it asks for, the main thread runs the next queued one itself, so on two
 * processors both run trials.
 *
 * A trial is a pure function of what it asks, so the search's course, the
 * state it finds and what it counts against its bounds are the same with
 * any number of threads (`--search-threads 0`: none). The main thread blocks
 * while it waits (the search is synchronous); a thread that never takes up a
 * trial costs nothing, for the main thread takes back what is still queued;
 * one that has run a single trial for `STALL_MS` is given up on, and the
 * search goes on without threads.
 */

import { availableParallelism } from "node:os";
import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import type { BusyWindow, TrialAsk, TrialPool, TrialResult } from "../face/kernel.ts";
import { trialKey } from "../face/kernel.ts";
import { DONE, FAILED, FREE, H_RAN, H_STOP, QUEUED, RUNNING, SLOTS, TrialSlots } from "./trial-slots.ts";
import { workerEntry } from "./worker-entry.ts";

/** Threads by default: one processor left to the main thread, at most 3 (each holds its own copy of the window and its replays, about 270 MB on a 2-CPU cut; past four, the readings and the loops' ends that run alone cut the gain). */
export function defaultSearchThreads(): number {
  return Math.max(0, Math.min(3, availableParallelism() - 1));
}

/** How long one trial may run on a thread before the search gives the threads up (a trial takes milliseconds). */
const STALL_MS = 120_000;

export class TrialWorkers implements TrialPool {
  private readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private slots: TrialSlots | null = null;
  private window: BusyWindow | null = null;
  private epoch = 0;
  private seq = 0;
  /** The current window's queued or running trials by key, and the results of those done and not taken yet. */
  private readonly byKey = new Map<string, number>();
  private readonly done = new Map<string, TrialResult>();
  /** Set once a thread stalled: every trial is then run by the search itself. */
  private stalled = false;

  constructor(threads: number) {
    this.threads = threads;
  }

  begin(window: BusyWindow): void {
    if (window === this.window || this.stalled) return;
    this.window = window;
    const len = 3 * window.cpus + 1;
    const fresh = this.slots === null || this.slots.len !== len;
    if (this.slots === null) this.slots = TrialSlots.create(len);
    else if (fresh)
      this.slots = new TrialSlots(
        this.slots.ctl.buffer as SharedArrayBuffer,
        this.slots.results.buffer as SharedArrayBuffer,
        new SharedArrayBuffer(4 * len * SLOTS),
        len,
      );
    const slots = this.slots;
    this.epoch++;
    this.drop();
    this.done.clear();
    this.byKey.clear();
    if (this.workers.length === 0) this.start(slots);
    const vectors = fresh ? slots.vectors.buffer : undefined;
    try {
      for (const p of this.ports) p.postMessage({ epoch: this.epoch, window, vectors, len: slots.len });
    } catch {
      // A window that cannot be copied to a thread (an option that is a function, say): the search runs alone.
      this.stalled = true;
    }
  }

  ahead(asks: readonly TrialAsk[]): void {
    const slots = this.slots;
    if (slots === null || this.stalled) return;
    this.drop();
    let s = 0;
    for (const t of asks) {
      const key = trialKey(t);
      if (this.byKey.has(key) || this.done.has(key)) continue;
      while (s < SLOTS && slots.state(s) !== FREE) s++;
      if (s === SLOTS) break;
      slots.put(s, t, this.seq++, this.epoch);
      this.byKey.set(key, s);
    }
    slots.wake();
  }

  take(ask: TrialAsk, local: (t: TrialAsk) => TrialResult): TrialResult | null {
    const slots = this.slots;
    if (slots === null) return null;
    const key = trialKey(ask);
    const kept = this.done.get(key);
    if (kept !== undefined) {
      this.done.delete(key);
      return kept;
    }
    const s = this.byKey.get(key);
    if (s === undefined || this.stalled) return null;
    let waitedMs = 0;
    for (;;) {
      const st = slots.state(s);
      if (st === DONE) {
        this.byKey.delete(key);
        const r = slots.result(s);
        slots.settle(s, FREE);
        return r;
      }
      if (st === FAILED || (st === QUEUED && slots.move(s, QUEUED, FREE))) {
        this.byKey.delete(key);
        slots.settle(s, FREE);
        return null;
      }
      if (st !== RUNNING) continue;
      // A thread runs it: meanwhile the next queued trial is run here.
      const h = slots.firstQueued(this.epoch);
      if (h >= 0 && slots.move(h, QUEUED, RUNNING)) {
        slots.writeResult(h, local(slots.ask(h)));
        slots.settle(h, DONE);
        continue;
      }
      const t0 = performance.now();
      Atomics.wait(slots.ctl, slots.stateAt(s), RUNNING, 1000);
      waitedMs += performance.now() - t0;
      if (waitedMs > STALL_MS && slots.state(s) === RUNNING) {
        this.stalled = true;
        this.byKey.delete(key);
        return null;
      }
    }
  }

  /** Trials the threads have run (some of them may never be asked for). */
  get threadTrials(): number {
    return this.slots === null ? 0 : Atomics.load(this.slots.ctl, H_RAN);
  }

  /** Stops the threads (they hold nothing the process needs). */
  close(): void {
    if (this.slots !== null) {
      Atomics.store(this.slots.ctl, H_STOP, 1);
      this.slots.wake();
    }
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close();
    this.workers.length = 0;
  }

  /**
   * Takes back the trials named before that no thread has begun, and keeps the results of those done (a trial
   * the search asks for later is not run again); a running one stays until it is done.
   */
  private drop(): void {
    const slots = this.slots as TrialSlots;
    for (let s = 0; s < SLOTS; s++) {
      const st = slots.state(s);
      if (st === QUEUED) {
        if (slots.move(s, QUEUED, FREE)) this.forget(s, null);
      } else if (st === DONE || st === FAILED) {
        this.forget(s, st === DONE ? slots.result(s) : null);
        slots.settle(s, FREE);
      }
    }
  }

  /** Slot `s` no longer holds its trial; its result, where given, is kept by key. */
  private forget(s: number, r: TrialResult | null): void {
    if (this.slots === null || this.slots.epochOf(s) !== this.epoch) return;
    const key = trialKey(this.slots.ask(s));
    if (this.byKey.get(key) === s) this.byKey.delete(key);
    if (r !== null) this.done.set(key, r);
  }

  private start(slots: TrialSlots): void {
    for (let i = 0; i < this.threads; i++) {
      const { port1, port2 } = new MessageChannel();
      const w = new Worker(new URL(workerEntry(import.meta.url, "./trial-worker.ts")), {
        workerData: { ctl: slots.ctl.buffer, results: slots.results.buffer, port: port2 },
        transferList: [port2],
      });
      w.unref();
      // A thread that fails to start or dies leaves its trials queued or running: the main thread takes the queued
      // back, and gives a running one up after STALL_MS.
      w.on("error", () => {});
      this.workers.push(w);
      this.ports.push(port1);
    }
  }
}
