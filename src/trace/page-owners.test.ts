import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { PageOwners } from "./page-owners.ts";

type Op = [op: "claim" | "release" | "get", base: number, off: number, len: number, id: number];

/**
 * Runs `ops` on a PageOwners and on a page-by-page Map, the reference: every
 * claim's answer, every get, and at the end every page the Map holds and the
 * pages about each of `probes` must agree.
 */
function agreesWithMap(ops: Op[], probes: number[]): void {
  const t = new PageOwners();
  const ref = new Map<number, number>();
  for (const [op, base, off, len, id] of ops) {
    const from = base + off;
    const to = from + len;
    if (op === "claim") {
      let first = -1;
      for (let p = from; p < to; p++) {
        const was = ref.get(p);
        if (first < 0 && was !== undefined) first = was;
        ref.set(p, id);
      }
      assert.equal(t.claim(from, to, id), first);
    } else if (op === "release") {
      t.release(from, to, id);
      for (let p = from; p < to; p++) if (ref.get(p) === id) ref.delete(p);
    } else assert.equal(t.get(from), ref.get(from) ?? -1);
  }
  for (const [p, id] of ref) assert.equal(t.get(p), id, `page ${p}`);
  for (const base of probes)
    for (let p = Math.max(0, base - 2); p < base + 40; p++) assert.equal(t.get(p), ref.get(p) ?? -1, `page ${p}`);
}

const op = fc.constantFrom<Op[0]>("claim", "release", "get");

test("PageOwners behaves as a page-by-page Map under random claims and releases, across leaves", () => {
  // Pages near a leaf boundary (4096) and far up (a 64-bit IOVA's pfn).
  const bases = [0, 4090, 2 ** 40 - 3];
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          op,
          fc.constantFrom(...bases),
          fc.integer({ min: 0, max: 12 }),
          fc.integer({ min: 0, max: 20 }),
          fc.integer({ min: 0, max: 5 }),
        ),
        { maxLength: 300 },
      ),
      (ops) => agreesWithMap(ops, bases),
    ),
    { numRuns: 300, seed: 7 },
  );
});

test("PageOwners behaves as a page-by-page Map where claims and releases take whole leaves and parts of them", () => {
  // A leaf one claim takes whole keeps one owner for all its pages until a part of it is claimed
  // or released: the ranges here start at, just after and just before leaf boundaries and span
  // one, two or parts of leaves.
  const L = 4096;
  const bases = [0, L, 2 * L, 2 ** 40];
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          op,
          fc.constantFrom(...bases),
          fc.constantFrom(0, 1, L - 1, 7),
          fc.constantFrom(0, 1, 5, L - 1, L, L + 1, 2 * L, 2 * L - 1),
          fc.integer({ min: 0, max: 3 }),
        ),
        { maxLength: 40 },
      ),
      (ops) => agreesWithMap(ops, [...bases, 3 * L, 2 ** 40 + L]),
    ),
    { numRuns: 60, seed: 11 },
  );
});
