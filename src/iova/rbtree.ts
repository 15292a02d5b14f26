/**
 * The IOVA red-black tree: models `lib/rbtree.c` as `drivers/iommu/iova.c`
 * uses it (every kernel profile: the rbtree code iova.c relies on is the same
 * in 5.10, 5.15, 6.1 and mainline).
 *
 * Why a real red-black tree and not any ordered structure: the placement of an
 * allocation does not depend on the tree's shape (IOVA-3.9), but the number of
 * `rb_prev` steps of a retry does, because `iova_find_limit()` (IOVA-3.8) walks
 * the root's right spine and returns either the node straddling the limit or
 * the one above it depending on where the straddler sits. iovalab reports walk
 * counts exactly, so it keeps the kernel's exact shape: the same insertion slot
 * (a new node always goes into the unique empty slot between its in-order
 * neighbours), the same rebalancing cases and colours on insert and erase, and
 * the same choice of the in-order successor when erasing a node with two
 * children.
 *
 * Storage is typed arrays (house style: typed arrays in hot paths), each
 * node's fields interleaved in one buffer (see STRIDE): float64 `pfnLo` (exact below 2^53; the anchor's ULONG_MAX is stored as 2^64,
 * which compares above every real pfn), `pfnHi` kept as a uint32 offset from
 * `pfnLo` (a node of 2^32 granules or more, only ever a huge reservation,
 * keeps its `pfnHi` in a side map), int32 links, with the colour packed into
 * the parent word as the kernel packs `__rb_parent_color`. Node indices are
 * stable for a node's lifetime; freed indices are reused LIFO.
 *
 * Augmentation (what lets the allocator find the kernel's answer without
 * walking, docs/decisions/0001-augmented-iova-tree.md): every node keeps its
 * subtree's node count (so a walk's length is a rank difference) and the
 * largest "fit key" in its subtree. A node's fit key describes the free space
 * between its predecessor's pfnHi and its own pfnLo so that one comparison
 * decides whether a size-aligned request fits there (see `fitKey`). Keys are
 * stored as float32 rounded up: a filter may only let extra candidates
 * through, and the allocator checks a candidate exactly where float32 is not
 * exact (keys of 2^24 and above), so an upper bound is enough and keeps a
 * node at 36 bytes.
 */

import { assert } from "../stdx/assert.ts";

/** "No node": the NULL of the kernel's rb_node pointers. */
export const NIL = -1;

const INITIAL_CAPACITY = 64;

/** `pfnHi - pfnLo` too large for the uint32 offset: look in the side map. */
const HI_IN_MAP = 0xffff_ffff;

/** POW2[k] = 2^k for k from 0 to 66: exact, and no call to Math.pow on the hot path. */
export const POW2 = Float64Array.from({ length: 67 }, (_, k) => 2 ** k);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The smallest float32 at or above `x` (x >= 0 or +Infinity). */
export function roundUpF32(x: number): number {
  f32[0] = x;
  if (f32[0] < x) u32[0]++;
  return f32[0];
}

/**
 * The largest k such that a 2^k-aligned block of 2^k pfns lies in
 * [from, to), or -1 when the range is empty. A range of length g holds an
 * aligned block of 2^(floor(log2 g) - 1), so only two sizes need checking.
 */
export function alignedRoom(from: number, to: number): number {
  const g = to - from;
  if (g < 1) return -1;
  const k = floorLog2(g);
  const block = POW2[k];
  return alignUp(from, block) + block <= to ? k : k - 1;
}

/** floor(log2(x)) for an integer x >= 1 below 2^53. */
function floorLog2(x: number): number {
  if (x < 0x8000_0000) return 31 - Math.clz32(x);
  let k = Math.floor(Math.log2(x));
  if (POW2[k] > x)
    k--; // log2 rounding near powers of two
  else if (POW2[k + 1] <= x) k++;
  return k;
}

/** Rounds x up to a multiple of the power of two a (division by a power of two is exact). */
function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/**
 * The fit key of the free range [from, to) below a node. With k its aligned
 * room (`alignedRoom`), the key is 2^(k+1) plus how much of a 2^(k+1)-aligned
 * request still fits, `to - alignUp(from, 2^(k+1))`, clamped to
 * [0, 2^(k+1) - 1]; 0 for an empty range. Keys of larger rooms are larger, so
 * a request of `size` aligned to 2^j (2^(j-1) < size <= 2^j) fits exactly when
 * the key is at least 2^j + size: a room of j or more always fits it, a room
 * of j-1 fits it when the part that fits is at least `size`, and less room
 * never does. For an unaligned request the key gives the gap within a factor
 * of four: at least 2^floor(log2 size) is necessary.
 */
export function fitKey(from: number, to: number): number {
  const k = alignedRoom(from, to);
  if (k < 0) return 0;
  const block = POW2[k + 1];
  const part = to - alignUp(from, block);
  return block + Math.max(0, Math.min(part, block - 1));
}

/** The fit-key threshold of a request of `size` aligned to `align` (1: unaligned). */
export function fitThreshold(size: number, align: number): number {
  if (align > 1) return align + size;
  return size < 2 ? 2 : 2 ** Math.floor(Math.log2(size));
}

/**
 * A node's fields, interleaved: node `n` is the 32-bit words
 * `[n * STRIDE, (n + 1) * STRIDE)` of one buffer, seen through three views
 * (float64, int32, float32). A descent or a climb reads a node's pfnLo,
 * links, count and keys together, so one node is one or two cache lines
 * rather than one line in each of eight arrays. `pfnLo` is the float64 at
 * words 0-1 (index `n * HALF` of the float64 view), so STRIDE is even; at
 * 32 bytes, the ninth field (`pfn_hi`'s offset, read only where a search
 * has reached a node at or below its pfn) lives in an array of its own,
 * which keeps a node at 36 bytes rather than 40.
 */
const STRIDE = 8;
const HALF = STRIDE / 2;
/** Word offsets within a node. */
const LEFT = 2;
const RIGHT = 3;
/** (parent + 1) * 2 + colour, colour 1 = black; 0 = root-less red. */
const PARENT = 4;
/** Nodes in the node's subtree, itself included. */
const COUNT = 5;
/** The node's fit key of the space below it, rounded up to float32 (+Infinity: the lowest node). */
const KEY = 6;
/** The largest KEY in the node's subtree (float32). */
const KMAX = 7;
/** Bytes of one node in the node buffer; `hiOffset` holds 4 more. */
const NODE_BYTES = STRIDE * 4;
/** Bytes of one node in all. */
const BYTES_PER_NODE = NODE_BYTES + 4;

const NO_BIG_HI: readonly (readonly [number, number])[] = [];
/** Room for this many more nodes in a fresh snapshot buffer (see `snapshot`). */
const SNAPSHOT_SLACK_NODES = 32;
/** Recycled snapshot buffers kept for reuse. */
const SPARE_SNAPSHOTS = 4;

/** The state `IovaTree.snapshot()` copies out. */
export interface IovaTreeSnapshot {
  /**
   * The first `used` nodes, a byte copy of the node buffer followed by
   * their `hiOffset` words: one backing store per snapshot, as the replay
   * takes one before every allocation it may try again.
   */
  readonly nodes: ArrayBuffer;
  readonly bigHi: readonly (readonly [number, number])[];
  readonly root: number;
  readonly count: number;
  readonly freeHead: number;
  readonly used: number;
}

export class IovaTree {
  /** The node buffer's views (replaced together when it grows). */
  private f64: Float64Array;
  private i32: Int32Array;
  private f32: Float32Array;
  /** `pfn_hi - pfn_lo` of each node, or HI_IN_MAP. */
  private hiOffset: Uint32Array;
  private readonly bigHi = new Map<number, number>();
  root = NIL;
  /** Nodes in the tree, the anchor included. */
  count = 0;
  private freeHead = NIL;
  /** Buffers of recycled snapshots. */
  private readonly spare: ArrayBuffer[] = [];
  private used = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    const buf = new ArrayBuffer(capacity * NODE_BYTES);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    this.f32 = new Float32Array(buf);
    this.hiOffset = new Uint32Array(capacity);
  }

  /** `struct iova.pfn_lo` of node `n`. */
  pfnLo(n: number): number {
    return this.f64[n * HALF];
  }

  /** The left child of `n`, or NIL. */
  left(n: number): number {
    return this.i32[n * STRIDE + LEFT];
  }

  /** The right child of `n`, or NIL. */
  right(n: number): number {
    return this.i32[n * STRIDE + RIGHT];
  }

  /** Node `n`'s fit key of the free space below it (float32, rounded up; +Infinity for the lowest node). */
  fitKeyBelow(n: number): number {
    return this.f32[n * STRIDE + KEY];
  }

  /**
   * A copy of the whole tree (nodes in use, links, colours, augmentation and
   * the free list): `restore()` puts it back exactly, shape included, so walk
   * counts after a restore are those of the copied tree.
   */
  snapshot(): IovaTreeSnapshot {
    const n = this.used;
    const need = n * BYTES_PER_NODE;
    let nodes = this.spare.pop();
    // Sized for the nodes in use and an eighth more, so a recycled buffer still fits after the tree
    // grows a little; not for the buffer's capacity: most snapshots are never recycled, and a fresh
    // zero-filled buffer of a mostly empty tree's capacity cost more than the copy.
    if (nodes === undefined || nodes.byteLength < need)
      nodes = new ArrayBuffer((n + (n >> 3) + SNAPSHOT_SLACK_NODES) * BYTES_PER_NODE);
    new Int32Array(nodes, 0, n * STRIDE).set(this.i32.subarray(0, n * STRIDE));
    new Uint32Array(nodes, n * NODE_BYTES, n).set(this.hiOffset.subarray(0, n));
    return {
      nodes,
      bigHi: this.bigHi.size === 0 ? NO_BIG_HI : [...this.bigHi],
      root: this.root,
      count: this.count,
      freeHead: this.freeHead,
      used: n,
    };
  }

  /**
   * Takes back a snapshot that will never be restored: its buffer serves a
   * later snapshot (a fresh buffer each time grows the engine's external
   * memory until a full collection).
   */
  recycle(s: IovaTreeSnapshot): void {
    if (this.spare.length < SPARE_SNAPSHOTS) this.spare.push(s.nodes);
  }

  restore(s: IovaTreeSnapshot): void {
    while (this.capacity < s.used) this.grow();
    this.i32.set(new Int32Array(s.nodes, 0, s.used * STRIDE));
    this.hiOffset.set(new Uint32Array(s.nodes, s.used * NODE_BYTES, s.used));
    this.bigHi.clear();
    for (const [k, v] of s.bigHi) this.bigHi.set(k, v);
    this.root = s.root;
    this.count = s.count;
    this.freeHead = s.freeHead;
    this.used = s.used;
  }

  /** `struct iova.pfn_hi` of node `n` (inclusive). */
  hi(n: number): number {
    const off = this.hiOffset[n];
    return off === HI_IN_MAP ? (this.bigHi.get(n) as number) : this.f64[n * HALF] + off;
  }

  private setHi(n: number, hi: number): void {
    const off = hi - this.f64[n * HALF];
    if (off < HI_IN_MAP) {
      this.hiOffset[n] = off;
      // (Map calls cost even on an empty map; huge nodes are rare.)
      if (this.bigHi.size !== 0) this.bigHi.delete(n);
    } else {
      this.hiOffset[n] = HI_IN_MAP;
      this.bigHi.set(n, hi);
    }
  }

  get capacity(): number {
    return this.f64.length / HALF;
  }

  /** Bytes held by the node buffer and the side map (for the bytes-per-IOVA figure). */
  get bytesHeld(): number {
    return this.capacity * BYTES_PER_NODE + this.bigHi.size * 16;
  }

  parent(n: number): number {
    return (this.i32[n * STRIDE + PARENT] >> 1) - 1;
  }

  isBlack(n: number): boolean {
    return n === NIL || (this.i32[n * STRIDE + PARENT] & 1) === 1;
  }

  isRed(n: number): boolean {
    return n !== NIL && (this.i32[n * STRIDE + PARENT] & 1) === 0;
  }

  private setParent(n: number, p: number): void {
    this.i32[n * STRIDE + PARENT] = ((p + 1) << 1) | (this.i32[n * STRIDE + PARENT] & 1);
  }

  private setBlack(n: number): void {
    this.i32[n * STRIDE + PARENT] |= 1;
  }

  private setRed(n: number): void {
    this.i32[n * STRIDE + PARENT] &= ~1;
  }

  private setColorOf(n: number, from: number): void {
    this.i32[n * STRIDE + PARENT] = (this.i32[n * STRIDE + PARENT] & ~1) | (this.i32[from * STRIDE + PARENT] & 1);
  }

  /** A fresh unlinked node `[pfnLo, pfnHi]` (`alloc_iova_mem`). */
  newNode(pfnLo: number, pfnHi: number): number {
    let n = this.freeHead;
    if (n !== NIL) {
      this.freeHead = this.i32[n * STRIDE + LEFT];
    } else {
      if (this.used === this.capacity) this.grow();
      n = this.used++;
    }
    this.f64[n * HALF] = pfnLo;
    this.setHi(n, pfnHi);
    this.i32[n * STRIDE + LEFT] = NIL;
    this.i32[n * STRIDE + RIGHT] = NIL;
    this.i32[n * STRIDE + PARENT] = 0;
    this.i32[n * STRIDE + COUNT] = 1;
    return n;
  }

  /** Returns an unlinked node's index to the free list (`free_iova_mem`). */
  freeNode(n: number): void {
    this.f64[n * HALF] = Number.NaN;
    if (this.bigHi.size !== 0) this.bigHi.delete(n);
    this.i32[n * STRIDE + LEFT] = this.freeHead;
    this.freeHead = n;
  }

  private grow(): void {
    const cap = this.capacity * 2;
    const buf = new ArrayBuffer(cap * NODE_BYTES);
    const i32 = new Int32Array(buf);
    i32.set(this.i32);
    this.f64 = new Float64Array(buf);
    this.i32 = i32;
    this.f32 = new Float32Array(buf);
    const hiOffset = new Uint32Array(cap);
    hiOffset.set(this.hiOffset);
    this.hiOffset = hiOffset;
  }

  /** `rb_first()`. */
  first(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    while (this.i32[n * STRIDE + LEFT] !== NIL) n = this.i32[n * STRIDE + LEFT];
    return n;
  }

  /** `rb_last()`. */
  last(): number {
    let n = this.root;
    if (n === NIL) return NIL;
    while (this.i32[n * STRIDE + RIGHT] !== NIL) n = this.i32[n * STRIDE + RIGHT];
    return n;
  }

  /** `rb_next()`: the in-order successor, or NIL. */
  next(n: number): number {
    let r = this.i32[n * STRIDE + RIGHT];
    if (r !== NIL) {
      while (this.i32[r * STRIDE + LEFT] !== NIL) r = this.i32[r * STRIDE + LEFT];
      return r;
    }
    let p = this.parent(n);
    while (p !== NIL && n === this.i32[p * STRIDE + RIGHT]) {
      n = p;
      p = this.parent(p);
    }
    return p;
  }

  /** `rb_prev()`: the in-order predecessor, or NIL. */
  prev(n: number): number {
    let l = this.i32[n * STRIDE + LEFT];
    if (l !== NIL) {
      while (this.i32[l * STRIDE + RIGHT] !== NIL) l = this.i32[l * STRIDE + RIGHT];
      return l;
    }
    let p = this.parent(n);
    while (p !== NIL && n === this.i32[p * STRIDE + LEFT]) {
      n = p;
      p = this.parent(p);
    }
    return p;
  }

  /** Models `private_find_iova()`: the node containing `pfn`, or NIL. */
  findContaining(pfn: number): number {
    let n = this.root;
    while (n !== NIL) {
      if (pfn < this.f64[n * HALF]) n = this.i32[n * STRIDE + LEFT];
      else if (pfn > this.hi(n)) n = this.i32[n * STRIDE + RIGHT];
      else return n;
    }
    return NIL;
  }

  /** The lowest node whose pfnLo is at least `pfn`, or NIL. */
  lowestAtOrAbove(pfn: number): number {
    let n = this.root;
    let best = NIL;
    while (n !== NIL) {
      if (this.f64[n * HALF] >= pfn) {
        best = n;
        n = this.i32[n * STRIDE + LEFT];
      } else n = this.i32[n * STRIDE + RIGHT];
    }
    return best;
  }

  /** The highest node whose pfnLo is below `pfn`, or NIL. */
  highestBelow(pfn: number): number {
    let n = this.root;
    let best = NIL;
    while (n !== NIL) {
      if (this.f64[n * HALF] < pfn) {
        best = n;
        n = this.i32[n * STRIDE + RIGHT];
      } else n = this.i32[n * STRIDE + LEFT];
    }
    return best;
  }

  /** Nodes before `n` in address order (O(log n) from the subtree counts). */
  rank(n: number): number {
    const w = this.i32;
    let l = w[n * STRIDE + LEFT];
    let r = l === NIL ? 0 : w[l * STRIDE + COUNT];
    let p = this.parent(n);
    while (p !== NIL) {
      if (n === w[p * STRIDE + RIGHT]) {
        l = w[p * STRIDE + LEFT];
        r += 1 + (l === NIL ? 0 : w[l * STRIDE + COUNT]);
      }
      n = p;
      p = this.parent(p);
    }
    return r;
  }

  /**
   * Nodes from `low` to `high` inclusive in address order (`low` at or below
   * `high`): a walk's rb_prev steps. A walk that stops where it starts (over
   * a quarter of ageing's tree searches) needs no rank at all.
   */
  span(low: number, high: number): number {
    if (low === high) return 1;
    // Two ranks taken within a subtree holding both nodes differ as their
    // ranks in the whole tree do, so neither climb need go to the root: climb
    // from `low` until the subtree climbed out of is known to hold `high` (the
    // node above it, entered from the left, is at or above `high`), then from
    // `high` up to that subtree's top. A walk's two ends are near each other,
    // so both climbs are short.
    const w = this.i32;
    const highLo = this.f64[high * HALF];
    let n = low;
    let l = w[n * STRIDE + LEFT];
    let r = l === NIL ? 0 : w[l * STRIDE + COUNT];
    for (;;) {
      const p = this.parent(n);
      if (p === NIL) break;
      if (n === w[p * STRIDE + RIGHT]) {
        l = w[p * STRIDE + LEFT];
        r += 1 + (l === NIL ? 0 : w[l * STRIDE + COUNT]);
      } else if (this.f64[p * HALF] >= highLo) {
        // `p` is above every node of n's subtree, `low` is in it, so `high`
        // is `p` or in n's subtree.
        if (p === high) return w[n * STRIDE + COUNT] - r + 1;
        break;
      }
      n = p;
    }
    // `high` is in the subtree of `n`: its rank there.
    const top = n;
    n = high;
    l = w[n * STRIDE + LEFT];
    let h = l === NIL ? 0 : w[l * STRIDE + COUNT];
    while (n !== top) {
      const p = this.parent(n);
      if (n === w[p * STRIDE + RIGHT]) {
        l = w[p * STRIDE + LEFT];
        h += 1 + (l === NIL ? 0 : w[l * STRIDE + COUNT]);
      }
      n = p;
    }
    return h - r + 1;
  }

  /**
   * The highest node at or below `start` (strictly below with `strict`) whose
   * fit key is at least `threshold`, or NIL. O(log n).
   */
  prevWithKey(start: number, threshold: number, strict: boolean): number {
    const w = this.i32;
    const f = this.f32;
    let n = start;
    if (!strict && f[n * STRIDE + KEY] >= threshold) return n;
    let l = w[n * STRIDE + LEFT];
    if (l !== NIL && f[l * STRIDE + KMAX] >= threshold) return this.rightmostWithKey(l, threshold);
    for (;;) {
      const p = this.parent(n);
      if (p === NIL) return NIL;
      if (n === w[p * STRIDE + RIGHT]) {
        if (f[p * STRIDE + KEY] >= threshold) return p;
        l = w[p * STRIDE + LEFT];
        if (l !== NIL && f[l * STRIDE + KMAX] >= threshold) return this.rightmostWithKey(l, threshold);
      }
      n = p;
    }
  }

  private rightmostWithKey(t: number, threshold: number): number {
    const w = this.i32;
    const f = this.f32;
    for (;;) {
      const r = w[t * STRIDE + RIGHT];
      if (r !== NIL && f[r * STRIDE + KMAX] >= threshold) {
        t = r;
        continue;
      }
      if (f[t * STRIDE + KEY] >= threshold) return t;
      t = w[t * STRIDE + LEFT];
    }
  }

  /** Recomputes node `n`'s aggregates from its children (the augment callback). */
  private pull(n: number): void {
    const l = this.i32[n * STRIDE + LEFT];
    const r = this.i32[n * STRIDE + RIGHT];
    let c = 1;
    let k = this.f32[n * STRIDE + KEY];
    if (l !== NIL) {
      c += this.i32[l * STRIDE + COUNT];
      const kl = this.f32[l * STRIDE + KMAX];
      if (kl > k) k = kl;
    }
    if (r !== NIL) {
      c += this.i32[r * STRIDE + COUNT];
      const kr = this.f32[r * STRIDE + KMAX];
      if (kr > k) k = kr;
    }
    this.i32[n * STRIDE + COUNT] = c;
    this.f32[n * STRIDE + KMAX] = k;
  }

  private propagate(n: number): void {
    while (n !== NIL) {
      this.pull(n);
      n = this.parent(n);
    }
  }

  /** Sets node `n`'s fit key from its predecessor `p` (NIL: lowest node). */
  private setFitKey(n: number, p: number): void {
    this.f32[n * STRIDE + KEY] =
      p === NIL ? Number.POSITIVE_INFINITY : roundUpF32(fitKey(this.hi(p) + 1, this.f64[n * HALF]));
  }

  /**
   * Lowers node `n`'s pfnLo in place (what `reserve_iova` does to the first
   * overlapped node, IOVA-4.2); its pfnHi and position stay.
   */
  lowerPfnLo(n: number, pfnLo: number): void {
    const hi = this.hi(n);
    this.f64[n * HALF] = pfnLo;
    this.setHi(n, hi);
    this.setFitKey(n, this.prev(n));
    this.propagate(n);
  }

  /**
   * Models `iova_insert_rbtree()` + `rb_insert_color()`: links `n` into the
   * slot its `pfnLo` orders it to and rebalances. The kernel may start the
   * descent at a node other than the root; the slot is the same (it is the
   * unique empty link between the in-order neighbours).
   */
  insert(n: number): void {
    const key = this.f64[n * HALF];
    let p = NIL;
    let cur = this.root;
    let goLeft = false;
    while (cur !== NIL) {
      p = cur;
      const k = this.f64[cur * HALF];
      assert(key !== k, "iova tree: duplicate pfn_lo on insert");
      goLeft = key < k;
      cur = goLeft ? this.i32[cur * STRIDE + LEFT] : this.i32[cur * STRIDE + RIGHT];
    }
    this.i32[n * STRIDE + PARENT] = (p + 1) << 1; // red, parent p
    if (p === NIL) this.root = n;
    else if (goLeft) this.i32[p * STRIDE + LEFT] = n;
    else this.i32[p * STRIDE + RIGHT] = n;
    this.count++;
    this.linked(n, this.prev(n), this.next(n));
  }

  /**
   * Inserts `n` just below `succ`, whose in-order neighbour it becomes: the
   * slot the kernel's descent from its last walked node reaches, found here
   * without a descent from the root.
   */
  insertBefore(n: number, succ: number): void {
    let p = this.i32[succ * STRIDE + LEFT];
    let pred: number;
    if (p === NIL) {
      this.i32[succ * STRIDE + LEFT] = n;
      p = succ;
      pred = this.prevByClimb(succ);
    } else {
      while (this.i32[p * STRIDE + RIGHT] !== NIL) p = this.i32[p * STRIDE + RIGHT];
      this.i32[p * STRIDE + RIGHT] = n;
      pred = p;
    }
    this.i32[n * STRIDE + PARENT] = (p + 1) << 1; // red, parent p
    this.count++;
    this.linked(n, pred, succ);
  }

  /** The predecessor of a node with no left child: the nearest ancestor it is right of. */
  private prevByClimb(n: number): number {
    let p = this.parent(n);
    while (p !== NIL && n === this.i32[p * STRIDE + LEFT]) {
      n = p;
      p = this.parent(p);
    }
    return p;
  }

  /**
   * Aggregates and colours after `n` was linked as a leaf between `pred` and
   * `succ`. The successor of a new leaf is one of its ancestors, so one pass
   * up the path refreshes every subtree that changed.
   */
  private linked(n: number, pred: number, succ: number): void {
    this.setFitKey(n, pred);
    this.f32[n * STRIDE + KMAX] = this.f32[n * STRIDE + KEY];
    this.i32[n * STRIDE + COUNT] = 1;
    if (succ !== NIL) this.setFitKey(succ, n);
    this.propagateCount(this.parent(n), succ, 1);
    this.insertFixup(n);
  }

  /**
   * `propagate` after linking a leaf below `a` (`delta` 1) or erasing a node
   * from `a` up (`delta` -1): every ancestor holds one node more or fewer, but
   * the key maxima change only up to `succ` (the successor whose key changed:
   * an ancestor on the path, or NIL) and then up to the first node whose
   * maximum comes out the same; above it only the counts move.
   */
  private propagateCount(a: number, succ: number, delta: 1 | -1): void {
    const f = this.f32;
    let pastSucc = succ === NIL;
    while (a !== NIL) {
      const before = f[a * STRIDE + KMAX];
      this.pull(a);
      const same = f[a * STRIDE + KMAX] === before;
      if (a === succ) pastSucc = true;
      a = this.parent(a);
      if (pastSucc && same) break;
    }
    const w = this.i32;
    for (; a !== NIL; a = this.parent(a)) w[a * STRIDE + COUNT] += delta;
  }

  /**
   * `rb_insert_color()`. The kernel writes each case twice, once per side;
   * here a side is a word offset: `d` is the side of `p` under `g` (0 left,
   * 1 right), so `LEFT + d` is that side and `RIGHT - d` the other. One copy
   * of the cases is half the code for the compiler to optimize.
   */
  private insertFixup(z: number): void {
    const w = this.i32;
    for (;;) {
      const p = this.parent(z);
      if (p === NIL) {
        this.setBlack(z);
        return;
      }
      if (this.isBlack(p)) return;
      const g = this.parent(p); // p is red, so it is not the root
      const d = w[g * STRIDE + LEFT] === p ? 0 : 1;
      const u = w[g * STRIDE + RIGHT - d];
      if (this.isRed(u)) {
        this.setBlack(p);
        this.setBlack(u);
        this.setRed(g);
        z = g;
        continue;
      }
      let q = p;
      if (z === w[p * STRIDE + RIGHT - d]) {
        this.rotate(p, d);
        q = z;
      }
      this.setBlack(q);
      this.setRed(g);
      this.rotate(g, 1 - d);
      return;
    }
  }

  private replaceChild(p: number, oldChild: number, newChild: number): void {
    if (p === NIL) this.root = newChild;
    else if (this.i32[p * STRIDE + LEFT] === oldChild) this.i32[p * STRIDE + LEFT] = newChild;
    else this.i32[p * STRIDE + RIGHT] = newChild;
  }

  /**
   * A rotation at `x`: with `d` 0 a left rotation (its right child takes its
   * place), with `d` 1 a right rotation (its left child does).
   */
  private rotate(x: number, d: number): void {
    const w = this.i32;
    const near = LEFT + d;
    const far = RIGHT - d;
    const y = w[x * STRIDE + far];
    const b = w[y * STRIDE + near];
    const p = this.parent(x);
    w[x * STRIDE + far] = b;
    if (b !== NIL) this.setParent(b, x);
    this.replaceChild(p, x, y);
    this.setParent(y, p);
    w[y * STRIDE + near] = x;
    this.setParent(x, y);
    this.pull(x);
    this.pull(y);
  }

  /**
   * Models `rb_erase()`: unlinks `z` (the node itself stays allocated; the
   * caller frees it). With two children the in-order successor takes `z`'s
   * place and colour, as the kernel does. `succ` is `z`'s successor, for a
   * caller that already has it.
   */
  erase(z: number, succ: number = this.next(z)): void {
    // The node above z gets z's predecessor as its own once z is gone.
    const pred = this.prev(z);
    const zl = this.i32[z * STRIDE + LEFT];
    const zr = this.i32[z * STRIDE + RIGHT];
    const zp = this.parent(z);
    let rebalanceParent = NIL;
    let needFix = false;
    let changedFrom = zp;
    if (zl === NIL || zr === NIL) {
      const child = zl === NIL ? zr : zl;
      this.replaceChild(zp, z, child);
      if (child !== NIL) {
        // The lone child is red under a black node: it takes z's place and
        // colour, which restores the black height with no rebalancing.
        this.i32[child * STRIDE + PARENT] = this.i32[z * STRIDE + PARENT];
      } else if (this.isBlack(z)) {
        needFix = true;
        rebalanceParent = zp;
      }
    } else {
      let s = zr;
      let sp: number;
      let child2: number;
      if (this.i32[s * STRIDE + LEFT] === NIL) {
        sp = s;
        child2 = this.i32[s * STRIDE + RIGHT];
      } else {
        do {
          sp = s;
          s = this.i32[s * STRIDE + LEFT];
        } while (this.i32[s * STRIDE + LEFT] !== NIL);
        child2 = this.i32[s * STRIDE + RIGHT];
        this.i32[sp * STRIDE + LEFT] = child2;
        this.i32[s * STRIDE + RIGHT] = zr;
        this.setParent(zr, s);
      }
      this.i32[s * STRIDE + LEFT] = zl;
      this.setParent(zl, s);
      this.replaceChild(zp, z, s);
      const sWasBlack = this.isBlack(s);
      this.i32[s * STRIDE + PARENT] = this.i32[z * STRIDE + PARENT];
      changedFrom = sp;
      if (child2 !== NIL) {
        this.i32[child2 * STRIDE + PARENT] = ((sp + 1) << 1) | 1;
      } else if (sWasBlack) {
        needFix = true;
        rebalanceParent = sp;
      }
    }
    this.count--;
    // z's successor now sits above z's predecessor. It is either on the
    // changed path (an ancestor of z, or moved into z's place) or the lone
    // child that replaced z, so refreshing it first and then the path covers
    // every changed subtree; the fixup's rotations then keep the aggregates
    // (each rotation recomputes its two nodes).
    if (succ !== NIL) this.setFitKey(succ, pred);
    // The successor is on the path up from changedFrom except when it is the
    // lone right child that took z's place: then it sits below, refreshed here.
    const succBelow = succ !== NIL && zl === NIL && zr !== NIL;
    if (succBelow) this.pull(succ);
    // A successor moved into z's place starts from that place's old maximum,
    // so that the walk up compares each node with what it held before.
    else if (zl !== NIL && zr !== NIL) this.f32[succ * STRIDE + KMAX] = this.f32[z * STRIDE + KMAX];
    this.propagateCount(changedFrom, succBelow ? NIL : succ, -1);
    if (needFix && rebalanceParent !== NIL) this.eraseFixup(rebalanceParent);
  }

  /**
   * Rebalancing after removing a black leaf below `parent`
   * (`____rb_erase_color`), its two mirrored halves as one: `d` is the side
   * of `node` under `parent` (0 left, 1 right), as in `insertFixup`.
   */
  private eraseFixup(parent: number): void {
    const w = this.i32;
    let node = NIL;
    for (;;) {
      let sibling = w[parent * STRIDE + RIGHT];
      // node is the left child unless it is the right one (both may be NIL: then the right).
      const d = node !== sibling ? 0 : 1;
      if (d === 1) sibling = w[parent * STRIDE + LEFT];
      if (this.isRed(sibling)) {
        this.setBlack(sibling);
        this.setRed(parent);
        this.rotate(parent, d);
        sibling = w[parent * STRIDE + RIGHT - d];
      }
      let far = w[sibling * STRIDE + RIGHT - d];
      if (this.isBlack(far)) {
        const near = w[sibling * STRIDE + LEFT + d];
        if (this.isBlack(near)) {
          this.setRed(sibling);
          if (this.isRed(parent)) {
            this.setBlack(parent);
            return;
          }
          node = parent;
          parent = this.parent(node);
          if (parent === NIL) return;
          continue;
        }
        this.setBlack(near);
        this.setRed(sibling);
        this.rotate(sibling, 1 - d);
        far = sibling;
        sibling = near;
      }
      this.setColorOf(sibling, parent);
      this.setBlack(parent);
      this.setBlack(far);
      this.rotate(parent, d);
      return;
    }
  }

  /**
   * Full-walk check of the red-black and ordering invariants: parent links,
   * in-order ascending and non-overlapping intervals, red nodes with black
   * children, equal black height, black root, and the node count.
   */
  verifyInvariants(): void {
    if (this.root === NIL) {
      assert(this.count === 0, "iova tree: empty tree with nonzero count");
      return;
    }
    assert(this.parent(this.root) === NIL, "iova tree: root has a parent");
    assert(this.isBlack(this.root), "iova tree: red root");
    let seen = 0;
    let lastHi = -1;
    const blackHeight = (n: number): number => {
      if (n === NIL) return 1;
      const l = this.i32[n * STRIDE + LEFT];
      const r = this.i32[n * STRIDE + RIGHT];
      if (l !== NIL) assert(this.parent(l) === n, "iova tree: bad parent link");
      if (r !== NIL) assert(this.parent(r) === n, "iova tree: bad parent link");
      if (this.isRed(n)) {
        assert(this.isBlack(l) && this.isBlack(r), "iova tree: red node with red child");
      }
      const hl = blackHeight(l);
      assert(this.f64[n * HALF] <= this.hi(n), "iova tree: pfn_lo above pfn_hi");
      assert(this.f64[n * HALF] > lastHi, "iova tree: nodes out of order or overlapping");
      const wantKey = seen === 0 ? Number.POSITIVE_INFINITY : roundUpF32(fitKey(lastHi + 1, this.f64[n * HALF]));
      assert(this.f32[n * STRIDE + KEY] === wantKey, "iova tree: stale fit key");
      lastHi = this.hi(n);
      seen++;
      const hr = blackHeight(r);
      let c = 1;
      let k = this.f32[n * STRIDE + KEY];
      if (l !== NIL) {
        c += this.i32[l * STRIDE + COUNT];
        k = Math.max(k, this.f32[l * STRIDE + KMAX]);
      }
      if (r !== NIL) {
        c += this.i32[r * STRIDE + COUNT];
        k = Math.max(k, this.f32[r * STRIDE + KMAX]);
      }
      assert(this.i32[n * STRIDE + COUNT] === c, "iova tree: stale subtree count");
      assert(this.f32[n * STRIDE + KMAX] === k, "iova tree: stale subtree fit key");
      assert(hl === hr, "iova tree: unequal black heights");
      return hl + (this.isBlack(n) ? 1 : 0);
    };
    blackHeight(this.root);
    assert(seen === this.count, "iova tree: count does not match the nodes");
  }
}
