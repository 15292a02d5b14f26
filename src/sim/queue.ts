/**
 * The event queue of the discrete-event engine: a binary min-heap ordered by
 * (timeNs, priority, sequence). The sequence is the insertion number, so two
 * events at the same time and priority run in the order they were scheduled:
 * that tie-break is what makes a run reproducible from its seed.
 *
 * Hot structure, struct of arrays (house style): each pending event lives in a
 * slot of parallel typed arrays; the heap holds int32 slot numbers and freed
 * slots are reused through a free stack, so steady-state scheduling allocates
 * nothing.
 */

import { assert } from "../stdx/assert.ts";

/** Something that runs when its event fires; `arg` is the number it was scheduled with. */
export interface EventHandler {
  /** Names the handler in the event log (determinism tests compare logs). */
  readonly name: string;
  onEvent(arg: number): void;
}

export class EventQueue {
  private timeNs: Float64Array;
  private priority: Int32Array;
  private sequence: Float64Array;
  private arg: Float64Array;
  private handler: (EventHandler | null)[];
  private heap: Int32Array;
  private freeSlots: Int32Array;
  private freeCount = 0;
  private slotCount = 0;
  private nextSequence = 0;
  size = 0;

  constructor(initialCapacity = 1024) {
    assert(initialCapacity >= 1, "event queue capacity must be positive");
    this.timeNs = new Float64Array(initialCapacity);
    this.priority = new Int32Array(initialCapacity);
    this.sequence = new Float64Array(initialCapacity);
    this.arg = new Float64Array(initialCapacity);
    this.handler = new Array(initialCapacity).fill(null);
    this.heap = new Int32Array(initialCapacity);
    this.freeSlots = new Int32Array(initialCapacity);
  }

  push(timeNs: number, priority: number, handler: EventHandler, arg: number): void {
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount] : this.newSlot();
    this.timeNs[slot] = timeNs;
    this.priority[slot] = priority;
    this.sequence[slot] = this.nextSequence++;
    this.arg[slot] = arg;
    this.handler[slot] = handler;
    if (this.size === this.heap.length) this.heap = grow(this.heap);
    this.heap[this.size] = slot;
    this.siftUp(this.size++);
  }

  /** Time of the earliest event; the queue must not be empty. */
  peekTimeNs(): number {
    assert(this.size > 0, "peek at an empty event queue");
    return this.timeNs[this.heap[0]];
  }

  /**
   * Removes the earliest event and returns its slot; read it with the
   * accessors below before the next push (the slot is reused after that).
   */
  popSlot(): number {
    assert(this.size > 0, "pop from an empty event queue");
    const top = this.heap[0];
    const last = this.heap[--this.size];
    if (this.size > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    this.freeSlots[this.freeCount++] = top;
    return top;
  }

  slotTimeNs(slot: number): number {
    return this.timeNs[slot];
  }
  slotPriority(slot: number): number {
    return this.priority[slot];
  }
  slotSequence(slot: number): number {
    return this.sequence[slot];
  }
  slotArg(slot: number): number {
    return this.arg[slot];
  }
  /** Takes the handler out of the slot (so a freed slot keeps no reference alive). */
  takeHandler(slot: number): EventHandler {
    const h = this.handler[slot];
    assert(h !== null, "event slot without a handler");
    this.handler[slot] = null;
    return h;
  }

  /** Full walk: the heap property holds at every node and every live slot is distinct. */
  verifyInvariants(): void {
    assert(this.size + this.freeCount === this.slotCount, "event queue slot accounting");
    for (let i = 1; i < this.size; i++) {
      const parent = (i - 1) >> 1;
      assert(!this.less(this.heap[i], this.heap[parent]), `event heap order broken at ${i}`);
    }
    const seen = new Set<number>();
    for (let i = 0; i < this.size; i++) {
      assert(!seen.has(this.heap[i]), "event slot twice in the heap");
      seen.add(this.heap[i]);
      assert(this.handler[this.heap[i]] !== null, "live event slot without a handler");
    }
  }

  private newSlot(): number {
    if (this.slotCount === this.timeNs.length) {
      const n = this.timeNs.length * 2;
      this.timeNs = growF64(this.timeNs, n);
      this.sequence = growF64(this.sequence, n);
      this.arg = growF64(this.arg, n);
      const p = new Int32Array(n);
      p.set(this.priority);
      this.priority = p;
      const f = new Int32Array(n);
      f.set(this.freeSlots);
      this.freeSlots = f;
      for (let i = this.handler.length; i < n; i++) this.handler.push(null);
    }
    return this.slotCount++;
  }

  private less(a: number, b: number): boolean {
    const ta = this.timeNs[a];
    const tb = this.timeNs[b];
    if (ta !== tb) return ta < tb;
    const pa = this.priority[a];
    const pb = this.priority[b];
    if (pa !== pb) return pa < pb;
    return this.sequence[a] < this.sequence[b];
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const slot = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(slot, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = slot;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = this.size;
    const slot = heap[i];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.less(heap[child + 1], heap[child])) child++;
      if (!this.less(heap[child], slot)) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = slot;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}
