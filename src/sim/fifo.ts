/**
 * A growable ring-buffer FIFO: run queues, lock waiters and device queues
 * push and shift millions of times per run, and `Array.prototype.shift` is
 * O(n) on long arrays.
 */

import { assert } from "../stdx/assert.ts";

export class Fifo<T> {
  private items: (T | undefined)[];
  private head = 0;
  size = 0;

  constructor(initialCapacity = 16) {
    // A power of two, so the index wraps with a mask.
    let cap = 1;
    while (cap < initialCapacity) cap *= 2;
    this.items = new Array(cap).fill(undefined);
  }

  push(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.items[(this.head + this.size) & (this.items.length - 1)] = item;
    this.size++;
  }

  /** Puts an item back at the head (it leaves next). */
  unshift(item: T): void {
    if (this.size === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.size++;
  }

  shift(): T {
    assert(this.size > 0, "shift from an empty fifo");
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.size--;
    return item;
  }

  peek(): T {
    assert(this.size > 0, "peek at an empty fifo");
    return this.items[this.head] as T;
  }

  /** The i-th item from the head (0 = next out). */
  at(i: number): T {
    assert(i >= 0 && i < this.size, "fifo index out of range");
    return this.items[(this.head + i) & (this.items.length - 1)] as T;
  }

  /** Removes and returns the i-th item from the head, keeping the order of the rest. */
  removeAt(i: number): T {
    const item = this.at(i);
    const mask = this.items.length - 1;
    for (let j = i; j < this.size - 1; j++) {
      this.items[(this.head + j) & mask] = this.items[(this.head + j + 1) & mask];
    }
    this.items[(this.head + this.size - 1) & mask] = undefined;
    this.size--;
    return item;
  }

  private grow(): void {
    const old = this.items;
    const next: (T | undefined)[] = new Array(old.length * 2).fill(undefined);
    for (let i = 0; i < this.size; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.items = next;
    this.head = 0;
  }
}
