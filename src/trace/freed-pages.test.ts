import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FreedPages } from "./freed-pages.ts";

/** The bounded Map the reconstruction kept before: the oldest insertion goes once past the limit. */
function mapModel(limit: number) {
  const m = new Map<number, number>();
  return {
    m,
    set(p: number, line: number) {
      m.set(p, line);
      if (m.size > limit) m.delete(m.keys().next().value as number);
    },
  };
}

test("FreedPages forgets in a bounded Map's insertion order under random unmaps and remaps", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20 }),
      fc.array(fc.tuple(fc.constantFrom("set", "set", "delete", "get"), fc.integer({ min: 0, max: 60 }), fc.nat()), {
        maxLength: 3000,
        size: "max",
      }),
      (limit, ops) => {
        const f = new FreedPages(limit);
        const ref = mapModel(limit);
        for (const [op, p, line] of ops) {
          if (op === "set") {
            f.set(p, line);
            ref.set(p, line);
          } else if (op === "delete") {
            f.delete(p);
            ref.m.delete(p);
          } else assert.equal(f.get(p), ref.m.get(p));
          assert.equal(f.size, ref.m.size);
        }
        for (let p = 0; p <= 60; p++) assert.equal(f.get(p), ref.m.get(p), `page ${p}`);
      },
    ),
    { numRuns: 200, seed: 11 },
  );
});

test("a page unmapped again keeps its place in the order; one remapped and unmapped again goes last", () => {
  const f = new FreedPages(2);
  f.set(1, 10);
  f.set(2, 20);
  f.set(1, 11); // Still the oldest.
  f.set(3, 30);
  assert.equal(f.get(1), undefined);
  assert.equal(f.get(2), 20);
  f.delete(2);
  f.set(2, 21); // Now the newest.
  f.set(4, 40);
  assert.equal(f.get(3), undefined);
  assert.deepEqual([f.get(2), f.get(4)], [21, 40]);
});
