/**
 * A map from non-negative integer keys below 2^53 (pfns) to numbers, by open
 * addressing with linear probing in typed arrays and backward-shift deletion
 * (no tombstones). It replaces `Map<number, number>` where one entry is set
 * and deleted per DMA map/unmap: a JS Map's deleted entries make it rehash
 * and allocate, which cost as much as the rest of a cache-hit map.
 * Iteration order is slot order: deterministic, but not insertion order.
 */

const EMPTY = -1;

/**
 * The state `PfnMap.snapshot()` copies out: the table's size and its
 * occupied slots as (slot, key, value) triples in slot order. A plain array
 * of numbers, not a copy of the typed arrays: a replay's checkpoints copy
 * tables of a few dozen entries hundreds of thousands of times, and a typed
 * array of more than 64 bytes lives outside the heap, whose allocation and
 * release cost several times the copy (433,000 snapshots were 12% of an
 * inferred replay's profile).
 */
export interface PfnMapSnapshot {
  readonly slots: number;
  /** The triples, `count` of them (a recycled array may hold more past them). */
  readonly entries: number[];
  readonly count: number;
}

export class PfnMap {
  private keys: Float64Array;
  private values: Float64Array;
  private mask: number;
  private count = 0;
  /** The triples array of the last recycled snapshot, for the next one. */
  private spare: number[] | null = null;

  constructor(capacity = 64) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Float64Array(cap).fill(EMPTY);
    this.values = new Float64Array(cap);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  private slot(key: number): number {
    // Fibonacci hashing of the low 32 bits, mixed with the high ones.
    const h = Math.imul((key >>> 0) ^ Math.floor(key / 0x1_0000_0000), 0x9e3779b1);
    return (h ^ (h >>> 15)) & this.mask;
  }

  get(key: number): number | undefined {
    const keys = this.keys;
    for (let i = this.slot(key); ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  has(key: number): boolean {
    return this.get(key) !== undefined;
  }

  set(key: number, value: number): void {
    const keys = this.keys;
    for (let i = this.slot(key); ; i = (i + 1) & this.mask) {
      const k = keys[i];
      if (k === key) {
        this.values[i] = value;
        return;
      }
      if (k === EMPTY) {
        keys[i] = key;
        this.values[i] = value;
        if (++this.count * 2 > keys.length) this.grow();
        return;
      }
    }
  }

  /** Removes `key`; false if it was not there. */
  delete(key: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (; ; i = (i + 1) & mask) {
      const k = keys[i];
      if (k === EMPTY) return false;
      if (k === key) break;
    }
    // Backward-shift: pull later entries of the probe run into the hole.
    let hole = i;
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.slot(keys[j]);
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        keys[hole] = keys[j];
        this.values[hole] = this.values[j];
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    this.count--;
    return true;
  }

  /** Removes every key (a fill of the keys: no allocation, as a Set's clear and regrowth would make). */
  clear(): void {
    if (this.count === 0) return;
    this.keys.fill(EMPTY);
    this.count = 0;
  }

  /** A copy of the table; `restore()` puts it back, slot order included. */
  snapshot(): PfnMapSnapshot {
    const keys = this.keys;
    const values = this.values;
    const entries = this.spare ?? [];
    this.spare = null;
    let at = 0;
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === EMPTY) continue;
      entries[at++] = i;
      entries[at++] = keys[i];
      entries[at++] = values[i];
    }
    return { slots: keys.length, entries, count: this.count };
  }

  /** Takes back a snapshot that will never be restored: its array serves the next snapshot. */
  recycle(s: PfnMapSnapshot): void {
    this.spare = s.entries;
  }

  restore(s: PfnMapSnapshot): void {
    if (this.keys.length === s.slots) this.keys.fill(EMPTY);
    else {
      this.keys = new Float64Array(s.slots).fill(EMPTY);
      this.values = new Float64Array(s.slots);
    }
    const keys = this.keys;
    const values = this.values;
    const e = s.entries;
    for (let i = 0; i < 3 * s.count; i += 3) {
      keys[e[i]] = e[i + 1];
      values[e[i]] = e[i + 2];
    }
    this.mask = s.slots - 1;
    this.count = s.count;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldValues = this.values;
    this.keys = new Float64Array(oldKeys.length * 2).fill(EMPTY);
    this.values = new Float64Array(oldKeys.length * 2);
    this.mask = this.keys.length - 1;
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i], oldValues[i]);
  }

  /** Calls `fn` on each entry, in slot order: iteration without the iterator's per-entry arrays. */
  forEach(fn: (key: number, value: number) => void): void {
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) fn(keys[i], this.values[i]);
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== EMPTY) yield [this.keys[i], this.values[i]];
  }
}
