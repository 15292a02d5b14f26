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
  // The heap proper: slot numbers, with each one's order key beside it, so a sift compares
  // neighbouring numbers instead of chasing slots. The key is timeNs * 8 + priority (exact
  // below 2^50 ns, about 13 days); the sequence breaks ties between equal keys.
  private heap: Int32Array;
  private heapKey: Float64Array;
  private heapSeq: Float64Array;
  private freeSlots: Int32Array;
  private freeCount = 0;
  private slotCount = 0;
  private nextSequence = 0;
  /** Events pending. */
  size = 0;
  /** Entries of `heap` in use, the root's hole included. */
  private used = 0;
  /**
   * The root is a hole left by the last pop: the next push drops its event there and sifts it
   * down (a handler usually schedules the next event of its component, near the front, so that
   * sift is short), instead of the last entry sifting down from the root and the new one up.
   */
  private rootHole = false;

  constructor(initialCapacity = 1024) {
    assert(initialCapacity >= 1, "event queue capacity must be positive");
    this.timeNs = new Float64Array(initialCapacity);
    this.priority = new Int32Array(initialCapacity);
    this.sequence = new Float64Array(initialCapacity);
    this.arg = new Float64Array(initialCapacity);
    this.handler = new Array(initialCapacity).fill(null);
    this.heap = new Int32Array(initialCapacity);
    this.heapKey = new Float64Array(initialCapacity);
    this.heapSeq = new Float64Array(initialCapacity);
    this.freeSlots = new Int32Array(initialCapacity);
  }

  push(timeNs: number, priority: number, handler: EventHandler, arg: number): void {
    if (!(timeNs <= MAX_EVENT_NS && priority >= 0 && priority < 8)) {
      assert(false, "event time beyond 2^50 ns or priority outside 0..7");
    }
    const slot = this.freeCount > 0 ? this.freeSlots[--this.freeCount] : this.newSlot();
    const seq = this.nextSequence++;
    this.timeNs[slot] = timeNs;
    this.priority[slot] = priority;
    this.sequence[slot] = seq;
    this.arg[slot] = arg;
    this.handler[slot] = handler;
    this.size++;
    if (this.rootHole) {
      this.rootHole = false;
      this.siftDown(slot, timeNs * 8 + priority, seq);
      return;
    }
    if (this.used === this.heap.length) this.growHeap();
    this.siftUp(this.used++, slot, timeNs * 8 + priority, seq);
  }

  /** Time of the earliest event; the queue must not be empty. */
  peekTimeNs(): number {
    if (this.size === 0) assert(false, "peek at an empty event queue");
    if (this.rootHole) this.fillHole();
    return this.timeNs[this.heap[0]];
  }

  /**
   * Removes the earliest event and returns its slot; read it with the
   * accessors below before the next push (the slot is reused after that).
   */
  popSlot(): number {
    if (this.size === 0) assert(false, "pop from an empty event queue");
    if (this.rootHole) this.fillHole();
    const top = this.heap[0];
    if (--this.size > 0) this.rootHole = true;
    else this.used = 0;
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
    if (this.rootHole) this.fillHole();
    assert(this.used === this.size, "event heap entries");
    assert(this.size + this.freeCount === this.slotCount, "event queue slot accounting");
    for (let i = 0; i < this.size; i++) {
      const slot = this.heap[i];
      assert(
        this.heapKey[i] === this.timeNs[slot] * 8 + this.priority[slot] && this.heapSeq[i] === this.sequence[slot],
        `event heap key stale at ${i}`,
      );
    }
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

  private growHeap(): void {
    const n = this.heap.length * 2;
    this.heap = grow(this.heap);
    this.heapKey = growF64(this.heapKey, n);
    this.heapSeq = growF64(this.heapSeq, n);
  }

  /** The order of two slots, from their own fields (for the invariant check). */
  private less(a: number, b: number): boolean {
    const ta = this.timeNs[a];
    const tb = this.timeNs[b];
    if (ta !== tb) return ta < tb;
    const pa = this.priority[a];
    const pb = this.priority[b];
    if (pa !== pb) return pa < pb;
    return this.sequence[a] < this.sequence[b];
  }

  /** Places (slot, key, seq) at hole `i` or above it. */
  private siftUp(i: number, slot: number, key: number, seq: number): void {
    const heap = this.heap;
    const hk = this.heapKey;
    const hs = this.heapSeq;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pk = hk[parent];
      if (pk < key || (pk === key && hs[parent] < seq)) break;
      heap[i] = heap[parent];
      hk[i] = pk;
      hs[i] = hs[parent];
      i = parent;
    }
    heap[i] = slot;
    hk[i] = key;
    hs[i] = seq;
  }

  /** Fills the root's hole with the last entry. */
  private fillHole(): void {
    this.rootHole = false;
    const n = --this.used;
    this.siftDown(this.heap[n], this.heapKey[n], this.heapSeq[n]);
  }

  /** Places (slot, key, seq) at the root's hole or below it (the heap holds `used` entries). */
  private siftDown(slot: number, key: number, seq: number): void {
    const heap = this.heap;
    const hk = this.heapKey;
    const hs = this.heapSeq;
    const n = this.used;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      let ck = hk[child];
      let cs = hs[child];
      if (child + 1 < n) {
        const rk = hk[child + 1];
        if (rk < ck || (rk === ck && hs[child + 1] < cs)) {
          child++;
          ck = rk;
          cs = hs[child];
        }
      }
      if (key < ck || (key === ck && seq < cs)) break;
      heap[i] = heap[child];
      hk[i] = ck;
      hs[i] = cs;
      i = child;
    }
    heap[i] = slot;
    hk[i] = key;
    hs[i] = seq;
  }
}

/** Latest event time the heap key keeps exact: timeNs * 8 + priority stays below 2^53. */
export const MAX_EVENT_NS = 2 ** 50;

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
