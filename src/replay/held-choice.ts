/**
 * What the replay's open choices share (`late-queue.ts`, `count-read.ts`,
 * `depot-order.ts`): the state saved before the choice, the operation
 * log's head in it, and the calls replayed since, whose results are held
 * until the trace's later reuse of an IOVA decides the choice, or until too
 * many are held to wait longer. Each choice says which reuse decides it.
 */

import type { DmaCall } from "../trace/reconstruct.ts";
import type { OpLog } from "./late-queue.ts";

/** Calls held at most before the choice is made without the IOVA's reuse. */
export const WATCH_CALLS = 8192;

export abstract class HeldChoice {
  readonly state: unknown;
  /** The log's head in `state`. */
  readonly base: OpLog | null;
  /** Results counted once the choice is made, in order. */
  readonly held: { c: DmaCall; o: unknown }[] = [];

  constructor(state: unknown, base: OpLog | null) {
    this.state = state;
    this.base = base;
  }

  /** A call replayed while the choice is open, and its outcome. */
  hold(c: DmaCall, o: unknown): void {
    this.held.push({ c, o });
    this.saw(c, o);
  }

  /** Whether the choice is due (the reuse it waits for seen, or the calls too many to hold). */
  get due(): boolean {
    return this.decided() || this.held.length >= WATCH_CALLS;
  }

  /** Whether the choice leaves open where the IOVA at DMA address `addr` went when freed. */
  leavesOpen(_addr: number): boolean {
    return false;
  }

  /** Notes what a held call shows of the reuse the choice waits for. */
  protected abstract saw(c: DmaCall, o: unknown): void;

  /** Whether the reuse the choice waits for has been seen. */
  protected abstract decided(): boolean;
}
