/**
 * The memory the replay's main thread and its trial threads share
 * (`trial-workers.ts`, `trial-worker.ts`): a table of slots, each holding one
 * trial of the busy-start search (`replay/busy-trial.ts`), its state, and its
 * result. The main thread writes trials in; a thread takes one by moving its
 * state from QUEUED to RUNNING with a compare-and-swap, so each trial runs
 * once; the result is written before the state becomes DONE.
 *
 * Layout: one `Int32Array` of the header and the slots' states, sequence
 * numbers, epochs and asks; one of the vectors (`len` numbers a slot, a new
 * one for a window of more CPUs); one `Float64Array` of the results.
 */

import type { TrialAsk, TrialResult } from "../face/kernel.ts";

export const SLOTS = 512;

/** Header words (word 0 unused). Bumped (and waited on) whenever trials are queued or the threads are to stop. */
export const H_WAKE = 1;
export const H_STOP = 2;
/** Trials the threads have run. */
export const H_RAN = 3;
const HEADER = 4;

/** Slot states. */
export const FREE = 0;
export const QUEUED = 1;
export const RUNNING = 2;
export const DONE = 3;
/** The trial threw: the main thread runs it again itself, and meets the error there. */
export const FAILED = 4;

/** Per slot: state, sequence number, epoch, stage, flags. */
const FIELDS = 5;

export class TrialSlots {
  readonly ctl: Int32Array;
  readonly results: Float64Array;
  vectors: Int32Array;
  len: number;

  constructor(ctl: SharedArrayBuffer, results: SharedArrayBuffer, vectors: SharedArrayBuffer, len: number) {
    this.ctl = new Int32Array(ctl);
    this.results = new Float64Array(results);
    this.vectors = new Int32Array(vectors);
    this.len = len;
  }

  static create(len: number): TrialSlots {
    return new TrialSlots(
      new SharedArrayBuffer(4 * (HEADER + FIELDS * SLOTS)),
      new SharedArrayBuffer(8 * 3 * SLOTS),
      new SharedArrayBuffer(4 * len * SLOTS),
      len,
    );
  }

  /** Index in `ctl` of slot `s`'s state word (what `Atomics.wait` and `notify` use). */
  stateAt(s: number): number {
    return HEADER + FIELDS * s;
  }

  state(s: number): number {
    return Atomics.load(this.ctl, this.stateAt(s));
  }

  /** Moves slot `s` from state `from` to `to`; false where another thread moved it first. */
  move(s: number, from: number, to: number): boolean {
    return Atomics.compareExchange(this.ctl, this.stateAt(s), from, to) === from;
  }

  /** Sets slot `s`'s state and wakes whoever waits on it. */
  settle(s: number, to: number): void {
    Atomics.store(this.ctl, this.stateAt(s), to);
    Atomics.notify(this.ctl, this.stateAt(s));
  }

  /** Writes `t` into free slot `s` as trial number `seq` of `epoch`, then queues it. */
  put(s: number, t: TrialAsk, seq: number, epoch: number): void {
    const i = this.stateAt(s);
    this.ctl[i + 1] = seq;
    this.ctl[i + 2] = epoch;
    this.ctl[i + 3] = t.primary;
    this.ctl[i + 4] = (t.tieBreak ? 1 : 0) | (t.judge ? 2 : 0);
    this.vectors.set(t.v, s * this.len);
    Atomics.store(this.ctl, i, QUEUED);
  }

  ask(s: number): TrialAsk {
    const i = this.stateAt(s);
    const f = this.ctl[i + 4];
    return {
      v: Array.from(this.vectors.subarray(s * this.len, (s + 1) * this.len)),
      primary: this.ctl[i + 3],
      tieBreak: (f & 1) !== 0,
      judge: (f & 2) !== 0,
    };
  }

  epochOf(s: number): number {
    return this.ctl[this.stateAt(s) + 2];
  }

  /** The queued trial of `epoch` asked first (lowest sequence number), or -1. */
  firstQueued(epoch: number): number {
    let best = -1;
    let bestSeq = 0;
    for (let s = 0; s < SLOTS; s++) {
      if (this.state(s) !== QUEUED) continue;
      const i = this.stateAt(s);
      if (this.ctl[i + 2] !== epoch) continue;
      const seq = this.ctl[i + 1];
      if (best < 0 || seq < bestSeq) {
        best = s;
        bestSeq = seq;
      }
    }
    return best;
  }

  writeResult(s: number, r: TrialResult): void {
    this.results[3 * s] = r.score;
    this.results[3 * s + 1] = r.replayed;
    this.results[3 * s + 2] = r.extra;
  }

  result(s: number): TrialResult {
    return { score: this.results[3 * s], replayed: this.results[3 * s + 1], extra: this.results[3 * s + 2] };
  }

  /** Wakes the threads waiting for trials (new ones queued, or the stop flag set). */
  wake(): void {
    Atomics.add(this.ctl, H_WAKE, 1);
    Atomics.notify(this.ctl, H_WAKE);
  }
}
