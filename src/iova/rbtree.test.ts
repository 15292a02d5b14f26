/**
 * The red-black tree under random inserts and erases, checked against a
 * sorted array and its own full-walk invariants after every step, and the
 * kernel's exact shape on a case worked out by hand.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { IovaTree, NIL } from "./rbtree.ts";

test("random inserts and erases keep order and red-black invariants", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 500 })), { maxLength: 400, size: "max" }),
      (steps) => {
        const t = new IovaTree(4);
        const model: number[] = [];
        const nodeOf = new Map<number, number>();
        for (const [insert, key] of steps) {
          if (insert && !nodeOf.has(key)) {
            const n = t.newNode(key, key);
            t.insert(n);
            nodeOf.set(key, n);
            model.push(key);
            model.sort((a, b) => a - b);
          } else if (!insert && model.length > 0) {
            const k = model[key % model.length];
            const n = nodeOf.get(k)!;
            t.erase(n);
            t.freeNode(n);
            nodeOf.delete(k);
            model.splice(model.indexOf(k), 1);
          }
          t.verifyInvariants();
          const walked: number[] = [];
          for (let n = t.first(); n !== NIL; n = t.next(n)) walked.push(t.pfnLo(n));
          assert.deepEqual(walked, model);
          const back: number[] = [];
          for (let n = t.last(); n !== NIL; n = t.prev(n)) back.push(t.pfnLo(n));
          assert.deepEqual(back.reverse(), model);
        }
      },
    ),
    { numRuns: 100, seed: 7 },
  );
});

test("span counts the nodes from low to high as the sorted order does, for every pair", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { maxLength: 120 }), fc.nat(), (keys, drop) => {
      const t = new IovaTree(4);
      const nodes: number[] = [];
      for (const k of keys) {
        const n = t.newNode(k, k);
        t.insert(n);
        nodes.push(n);
      }
      // Erase some so the shape is not only an insert order's.
      for (let i = 0; i < nodes.length; i += 3 + (drop % 4)) {
        t.erase(nodes[i]);
        t.freeNode(nodes[i]);
      }
      const inOrder: number[] = [];
      for (let n = t.first(); n !== NIL; n = t.next(n)) inOrder.push(n);
      for (let i = 0; i < inOrder.length; i++) {
        for (let j = i; j < inOrder.length; j++) assert.equal(t.span(inOrder[i], inOrder[j]), j - i + 1);
      }
    }),
  );
});

test("findContaining finds what a scan of the nodes finds, through erases, snapshots and restores", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 200 })), { maxLength: 300 }),
      (steps) => {
        const t = new IovaTree(4);
        let live: number[] = [];
        let saved: { snap: ReturnType<IovaTree["snapshot"]>; live: number[] } | null = null;
        const expect = (pfn: number): number => live.find((n) => t.pfnLo(n) <= pfn && pfn <= t.hi(n)) ?? NIL;
        for (const [what, v] of steps) {
          const pfn = v * 4;
          if (what === 0 && expect(pfn) === NIL && expect(pfn + 1) === NIL) {
            const n = t.newNode(pfn, pfn + 1);
            t.insert(n);
            live.push(n);
          } else if (what === 1 && live.length > 0) {
            const n = live[v % live.length];
            // Erased and not yet freed: no longer in the tree.
            t.erase(n);
            live = live.filter((m) => m !== n);
            assert.equal(t.findContaining(t.pfnLo(n)), NIL);
            t.freeNode(n);
          } else if (what === 2) {
            saved = { snap: t.snapshot(), live: [...live] };
          } else if (what === 3 && saved !== null) {
            t.restore(saved.snap);
            live = [...saved.live];
          }
          for (let p = 0; p <= 805; p += 1 + (v % 3)) assert.equal(t.findContaining(p), expect(p));
        }
      },
    ),
  );
});

test("inserting 1..7 in order gives the kernel's shape (worked by hand)", () => {
  // rb_insert_color on ascending keys: after 1,2,3 the root is 2; 4 recolours;
  // 5 rotates at 3; 6 recolours 5's parent chain; 7 rotates at 5.
  // Result: 2 (black) with 1 (black) and 4 (red); 4 has 3 (black) and 6 (black);
  // 6 has 5 (red) and 7 (red).
  const t = new IovaTree();
  const n: number[] = [];
  for (let k = 1; k <= 7; k++) {
    n[k] = t.newNode(k, k);
    t.insert(n[k]);
  }
  const key = (x: number) => (x === NIL ? 0 : t.pfnLo(x));
  assert.equal(key(t.root), 2);
  assert.deepEqual([key(t.left(n[2])), key(t.right(n[2]))], [1, 4]);
  assert.deepEqual([key(t.left(n[4])), key(t.right(n[4]))], [3, 6]);
  assert.deepEqual([key(t.left(n[6])), key(t.right(n[6]))], [5, 7]);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((k) => (t.isRed(n[k]) ? "r" : "b")).join(""), "bbbrrbr");
});

test("the fit key admits exactly the size-aligned requests that fit (brute force)", async () => {
  const { fitKey, fitThreshold, alignedRoom } = await import("./rbtree.ts");
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 3000 }),
      fc.integer({ min: 0, max: 700 }),
      fc.integer({ min: 1, max: 600 }),
      (from, len, size) => {
        const to = from + len;
        // alignedRoom by brute force
        let room = -1;
        for (let k = 0; 2 ** k <= len; k++) {
          for (let a = 0; a + 2 ** k <= to; a += 2 ** k) if (a >= from) room = Math.max(room, k);
        }
        assert.equal(alignedRoom(from, to), room);
        // the kernel's aligned candidate: (to - size) & ~(A - 1), fitting iff >= from
        const align = 2 ** Math.ceil(Math.log2(size));
        const cand = to >= size ? Math.floor((to - size) / align) * align : -1;
        const fits = cand >= from;
        if (align > 1) assert.equal(fitKey(from, to) >= fitThreshold(size, align), fits);
        // unaligned: the key is a necessary condition for a gap of `size`
        if (len >= size) assert.ok(fitKey(from, to) >= fitThreshold(size, 1));
        // the same range moved up by a multiple of 2^20 (beyond int32 too) has the same room and key
        for (const base of [2 ** 20, 2 ** 36, 2 ** 51]) {
          assert.equal(alignedRoom(base + from, base + to), room);
          assert.equal(fitKey(base + from, base + to), fitKey(from, to));
        }
      },
    ),
    { numRuns: 3000, seed: 11 },
  );
});
