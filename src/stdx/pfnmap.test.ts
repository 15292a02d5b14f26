import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { PfnMap } from "./pfnmap.ts";

test("PfnMap behaves as a Map under random sets and deletes", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.constantFrom("set", "delete", "get"),
          fc.oneof(fc.integer({ min: 0, max: 40 }), fc.maxSafeNat()),
          fc.nat(),
        ),
        { maxLength: 500, size: "max" },
      ),
      (ops) => {
        const m = new PfnMap(4);
        const ref = new Map<number, number>();
        for (const [op, k, v] of ops) {
          if (op === "set") {
            m.set(k, v);
            ref.set(k, v);
          } else if (op === "delete") assert.equal(m.delete(k), ref.delete(k));
          else assert.equal(m.get(k), ref.get(k));
          assert.equal(m.size, ref.size);
        }
        assert.deepEqual(
          [...m].sort((a, b) => a[0] - b[0]),
          [...ref].sort((a, b) => a[0] - b[0]),
        );
        const each: [number, number][] = [];
        m.forEach((k, v) => {
          each.push([k, v]);
        });
        assert.deepEqual(each, [...m], "forEach visits what the iterator does, in its order");
      },
    ),
    { numRuns: 300, seed: 5 },
  );
});

test("a snapshot restores the table exactly, slot order included, across growth and shrinking", () => {
  const m = new PfnMap();
  for (let i = 0; i < 20; i++) m.set(i * 7, i);
  const a = m.snapshot();
  const want = [...m];
  // Grown past its size, then put back: the smaller table and its slot order return.
  for (let i = 0; i < 200; i++) m.set(10_000 + i, i);
  m.delete(7);
  m.restore(a);
  assert.deepEqual([...m], want);
  assert.equal(m.size, 20);
  // And forward again to a larger snapshot.
  for (let i = 0; i < 200; i++) m.set(10_000 + i, i);
  const b = m.snapshot();
  const big = [...m];
  m.restore(a);
  m.restore(b);
  assert.deepEqual([...m], big);
  assert.equal(m.get(10_199), 199);
  assert.equal(m.get(7), 1);
});

test("a recycled snapshot's array serves the next snapshot, which restores exactly", () => {
  const m = new PfnMap();
  for (let i = 0; i < 20; i++) m.set(i * 7, i);
  const a = m.snapshot();
  m.recycle(a);
  // Fewer entries than the recycled array holds: only the snapshot's own count is restored.
  for (let i = 0; i < 15; i++) m.delete(i * 7);
  const b = m.snapshot();
  assert.equal(b.entries, a.entries, "the recycled array is reused");
  const want = [...m];
  m.set(1000, 1);
  m.set(5, 5);
  m.restore(b);
  assert.deepEqual([...m], want);
  assert.equal(m.size, 5);
  // A snapshot taken without recycling is a fresh copy.
  assert.notEqual(m.snapshot().entries, b.entries);
});
