/**
 * Property tests of the allocator against the naive oracle (test/oracle), at
 * tiny magazine and depot sizes so that swaps, depot pushes and pops,
 * overflows, trims and flushes happen all the time (house style, after
 * sorted-btree's fanout-4 tests). The full-walk invariant check runs after
 * every operation.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { NaiveIova } from "../../test/oracle/naive-iova.ts";
import { IovaDomain } from "./domain.ts";
import { getProfile, type KernelProfile, PROFILE_NAMES } from "./profile.ts";

type Op =
  | { t: "alloc"; size: number; limit: number; aligned: boolean }
  | { t: "fast"; size: number; limit: number; flush: boolean }
  | { t: "free"; pick: number }
  | { t: "freeFast"; pick: number; count: number }
  | { t: "reserve"; lo: number; len: number }
  | { t: "find"; pfn: number }
  | { t: "cpu"; cpu: number }
  | { t: "cpuDead"; cpu: number }
  | { t: "burst"; size: number; count: number; to: number }
  | { t: "flushAll" }
  | { t: "advance"; ms: number };

const SPACE = 3000;
/** Above the 32-bit boundary (dma_32bit_pfn = 2^20 with 4 KiB granules): exercises cached_node. */
const HIGH = 2 ** 20 + 1500;

function opArb(cpus: number): fc.Arbitrary<Op> {
  const limit = fc.oneof(fc.integer({ min: 8, max: SPACE }), fc.constant(SPACE), fc.constant(HIGH), fc.constant(HIGH));
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant("alloc" as const),
        size: fc.integer({ min: 1, max: 40 }),
        limit,
        aligned: fc.boolean(),
      }),
    },
    {
      weight: 14,
      arbitrary: fc.record({
        t: fc.constant("fast" as const),
        size: fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(1, 1, 2, 3) },
          { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 }) },
        ),
        limit,
        flush: fc.boolean(),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("free" as const), pick: fc.nat() }) },
    {
      weight: 10,
      arbitrary: fc.record({
        t: fc.constant("freeFast" as const),
        pick: fc.nat(),
        count: fc.integer({ min: 1, max: 14 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant("reserve" as const),
        lo: fc.integer({ min: 0, max: SPACE }),
        len: fc.integer({ min: 0, max: 30 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant("find" as const),
        pfn: fc.oneof(fc.integer({ min: 0, max: SPACE + 2 }), fc.integer({ min: 2 ** 20, max: HIGH + 1 })),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("cpu" as const), cpu: fc.integer({ min: 0, max: cpus - 1 }) }) },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant("cpuDead" as const), cpu: fc.integer({ min: 0, max: cpus - 1 }) }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("flushAll" as const) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant("burst" as const),
        size: fc.constantFrom(1, 2),
        count: fc.integer({ min: 1, max: 20 }),
        to: fc.integer({ min: 0, max: cpus - 1 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 0, max: 250 }) }) },
  );
}

function tiny(name: (typeof PROFILE_NAMES)[number]): KernelProfile {
  const p = getProfile(name);
  return { ...p, magazineSize: 3, depotMax: Number.isFinite(p.depotMax) ? 1 : p.depotMax };
}

for (const name of PROFILE_NAMES) {
  test(`allocator agrees with the naive oracle at tiny capacities (${name})`, () => {
    const profile = tiny(name);
    const coverage = { fast: 0, hits: 0, depot: 0, pops: 0 };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 2 }),
        fc.array(opArb(3), { minLength: 50, maxLength: 300, size: "max" }),
        (cpusRaw, k, startPfn, ops) => {
          const cpus = Math.min(cpusRaw, 3);
          const real = new IovaDomain({ granule: 4096, startPfn: startPfn + 1, cpus, rcacheOrders: k, profile });
          // The kernel's step-by-step walk, run beside the augmented search on
          // the same operations: same answers and the same walk counts (issue 6).
          const walk = new IovaDomain({
            granule: 4096,
            startPfn: startPfn + 1,
            cpus,
            rcacheOrders: k,
            profile,
            search: "walk",
          });
          const both = <T>(f: (d: IovaDomain) => T): T => {
            const a = f(real);
            assert.deepEqual(f(walk), a);
            assert.equal(walk.stats.walkSteps, real.stats.walkSteps);
            return a;
          };
          const naive = new NaiveIova(4096, startPfn + 1, cpus, k, profile);
          const plain: number[] = [];
          const fast: [number, number][] = [];
          let cpu = 0;
          let now = 0;
          for (const op of ops) {
            if (op.t === "fast") coverage.fast++;
            switch (op.t) {
              case "alloc": {
                const a: number = both((d) => d.allocIova(op.size, op.limit, op.aligned));
                assert.equal(a, naive.alloc(op.size, op.limit, op.aligned));
                if (a >= 0) plain.push(a);
                break;
              }
              case "fast": {
                // On 5.x the round-up is dma-iommu's, before alloc_iova_fast (VER-3).
                const size = real.roundUpForDmaApi(op.size);
                const a: number = both((d) => d.allocIovaFast(cpu % cpus, size, op.limit, op.flush));
                assert.equal(a, naive.allocFast(cpu % cpus, op.size, op.limit, op.flush));
                if (a !== 0) fast.push([a, op.size]);
                break;
              }
              case "free":
                if (plain.length > 0) {
                  const [pfn] = plain.splice(op.pick % plain.length, 1);
                  both((d) => d.freeIova(pfn));
                  naive.free(pfn);
                }
                break;
              case "freeFast":
                // Bursts of completions, as a device's queue drains: they fill
                // magazines and push them to the depot.
                for (let i = 0; i < op.count && fast.length > 0; i++) {
                  const [[pfn, size]] = fast.splice(op.pick % fast.length, 1);
                  both((d) => d.freeIovaFast(cpu % cpus, pfn, size));
                  naive.freeFast(cpu % cpus, pfn, size);
                }
                break;
              case "reserve":
                // Reserving over live IOVAs changes what they are; keep it to
                // free space or plain allocations so later frees stay valid.
                if (!fast.some(([p, s]) => p <= op.lo + op.len && op.lo <= p + s)) {
                  assert.equal(
                    both((d) => d.reserveIova(op.lo, op.lo + op.len)),
                    naive.reserve(op.lo, op.lo + op.len),
                  );
                }
                break;
              case "find": {
                const f = real.findIova(op.pfn);
                const g = naive.find(op.pfn);
                assert.deepEqual(f, g ? [g.lo, g.hi] : null);
                break;
              }
              case "cpu":
                cpu = op.cpu;
                break;
              case "burst": {
                // A queue's worth of mappings on this CPU, completed on another:
                // fills magazines there and pushes them to the depot.
                const got: number[] = [];
                for (let i = 0; i < op.count; i++) {
                  const a: number = both((d) => d.allocIovaFast(cpu % cpus, op.size, SPACE, false));
                  assert.equal(a, naive.allocFast(cpu % cpus, op.size, SPACE, false));
                  if (a !== 0) got.push(a);
                }
                for (const pfn of got) {
                  both((d) => d.freeIovaFast(op.to % cpus, pfn, op.size));
                  naive.freeFast(op.to % cpus, pfn, op.size);
                }
                break;
              }
              case "cpuDead":
                both((d) => d.freeCpuCachedIovas(op.cpu % cpus));
                naive.cpuDead(op.cpu % cpus);
                break;
              case "flushAll":
                for (let c = 0; c < cpus; c++) both((d) => d.freeCpuCachedIovas(c));
                if (profile.flushDrainsDepot) both((d) => d.freeGlobalCachedIovas());
                for (let c = 0; c < cpus; c++) naive.cpuDead(c);
                if (profile.flushDrainsDepot) naive.freeGlobal();
                break;
              case "advance":
                now += op.ms;
                both((d) => d.advanceTo(now * 1_000_000));
                naive.advance(op.ms);
                break;
            }
            real.verifyInvariants();
            const tree: string[] = [];
            real.forEachIova((lo, hi) => tree.push(`${lo} ${hi}`));
            assert.deepEqual(tree, naive.dump());
            assert.equal(real.max32AllocSize, naive.max32);
            assert.equal(real.tree.pfnLo(real.cachedNode), naive.cached.lo);
            assert.equal(real.tree.pfnLo(real.cached32Node), naive.cached32.lo);
          }
          const s = real.stats;
          for (let c = 0; c < k; c++) {
            coverage.hits += s.rcacheHits[c];
            coverage.depot += s.depotPushes[c] + s.depotOverflows[c];
            coverage.pops += s.depotPops[c];
          }
        },
      ),
      { numRuns: 200, seed: 20261123 },
    );
    // The rare paths must have run, or the property says little.
    assert.ok(coverage.hits > 100 && coverage.depot > 50 && coverage.pops > 10, JSON.stringify(coverage));
  });
}

test("the worked example of IOVA-2.6 (hand-derived in kernel-behaviour.md)", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  assert.equal(d.allocIova(1, 0xfffff, true), 0xfffff);
  assert.equal(d.allocIova(2, 0xfffff, true), 0xffffc);
  assert.equal(d.allocIova(1, 0xfffff, true), 0xffffb);
  d.freeIova(0xfffff);
  assert.equal(d.cachedNode, d.anchor);
  assert.equal(d.cached32Node, d.anchor);
  assert.equal(d.allocIova(1, 0xfffff, true), 0xfffff);
});

test("magazine pop under a limit swap-removes (T-5)", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  const a = d.allocIovaFast(0, 1, 0x3fffff, false);
  assert.equal(a, 0x3fffff);
  assert.equal(d.allocIovaFast(0, 1, 0x1f, false), 0x1f);
  assert.equal(d.allocIovaFast(0, 1, 0x3fffff, false), 0x3ffffe);
  d.freeIovaFast(0, 0x3fffff, 1);
  d.freeIovaFast(0, 0x1f, 1);
  d.freeIovaFast(0, 0x3ffffe, 1);
  // Loaded is [A, B, C]; under the 32-bit limit only B fits: C fills its slot.
  assert.equal(d.allocIovaFast(0, 1, 0xfffff, false), 0x1f);
  const mag = d.rcaches[0].cpu(0).loaded;
  assert.deepEqual([...mag.pfns.subarray(0, mag.size)], [0x3fffff, 0x3ffffe]);
});

test("magazine pop fills the hole with the last entry, not by shifting (IOVA-6.4)", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 1 });
  const hi1 = d.allocIovaFast(0, 1, 0x3fffff, false);
  const low = d.allocIovaFast(0, 1, 0x1f, false);
  const hi2 = d.allocIovaFast(0, 1, 0x3fffff, false);
  const hi3 = d.allocIovaFast(0, 1, 0x3fffff, false);
  for (const pfn of [hi1, low, hi2, hi3]) d.freeIovaFast(0, pfn, 1);
  assert.equal(d.allocIovaFast(0, 1, 0xfffff, false), low);
  const mag = d.rcaches[0].cpu(0).loaded;
  assert.deepEqual([...mag.pfns.subarray(0, mag.size)], [hi1, hi3, hi2]);
});

for (const name of PROFILE_NAMES) {
  test(`restore() puts back a snapshot exactly: the same answers, counts and walks after it (${name})`, () => {
    const profile = tiny(name);
    fc.assert(
      fc.property(
        fc.array(opArb(2), { minLength: 20, maxLength: 150, size: "max" }),
        fc.array(opArb(2), { minLength: 20, maxLength: 150, size: "max" }),
        (before, after) => {
          const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2, rcacheOrders: 3, profile });
          const live: [number, number][] = [];
          let cpu = 0;
          let now = 0;
          // Only the operations a replay makes: fast allocations and frees, bursts, time.
          const run = (ops: Op[]): string[] => {
            const out: string[] = [];
            for (const op of ops) {
              if (op.t === "fast") {
                const size = d.roundUpForDmaApi(op.size);
                const a = d.allocIovaFast(cpu, size, op.limit, op.flush);
                out.push(`a${a}`);
                if (a !== 0) live.push([a, op.size]);
              } else if (op.t === "freeFast") {
                for (let i = 0; i < op.count && live.length > 0; i++) {
                  const [[pfn, size]] = live.splice(op.pick % live.length, 1);
                  d.freeIovaFast(cpu, pfn, size);
                }
              } else if (op.t === "cpu") {
                cpu = op.cpu % 2;
              } else if (op.t === "advance") {
                now += op.ms * 1_000_000;
                d.advanceTo(now);
              }
            }
            const tree: string[] = [];
            d.forEachIova((lo, hi) => tree.push(`${lo}-${hi}`));
            out.push(
              tree.join(","),
              JSON.stringify(d.stats.snapshot(), (_k, v) => (v instanceof Float64Array ? [...v] : v)),
            );
            return out;
          };
          run(before);
          const snap = d.snapshot();
          const keep = { live: live.slice(), cpu, now };
          const first = run(after);
          d.restore(snap);
          live.length = 0;
          live.push(...keep.live);
          cpu = keep.cpu;
          now = keep.now;
          d.verifyInvariants();
          assert.deepEqual(run(after), first);
          d.verifyInvariants();
        },
      ),
      { numRuns: 60, seed: 20261124 },
    );
  });
}

test("a recycled snapshot's buffers serve the next snapshot, which restores exactly (replay checkpoints)", () => {
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 2 });
  const live: number[] = [];
  const step = (i: number) => {
    const pfn = d.allocIovaFast(i % 2, 1 + (i % 3), 0xfffff, true);
    if (pfn !== 0) live.push(pfn, 1 + (i % 3));
    if (i % 3 === 1 && live.length > 0) {
      const p = live.shift() as number;
      d.freeIovaFast((i >> 1) % 2, p, live.shift() as number);
    }
  };
  const state = () => {
    const tree: string[] = [];
    d.forEachIova((lo, hi) => tree.push(`${lo}-${hi}`));
    return `${tree.join(",")} ${JSON.stringify(d.stats.snapshot(), (_k, v) => (v instanceof Float64Array ? [...v] : v))}`;
  };
  for (let i = 0; i < 200; i++) step(i);
  d.recycle(d.snapshot());
  for (let i = 200; i < 260; i++) step(i);
  const snap = d.snapshot();
  const want = state();
  const keepLive = live.slice();
  for (let i = 260; i < 400; i++) step(i);
  d.restore(snap);
  d.verifyInvariants();
  assert.equal(state(), want);
  live.length = 0;
  live.push(...keepLive);
  for (let i = 260; i < 300; i++) step(i);
  d.verifyInvariants();
});

test("turnDepot: two CPUs' depot pushes as if the second's had come first; the depot's top is then the first's", () => {
  const profile = { ...getProfile("6.1"), magazineSize: 3 };
  const d = new IovaDomain({ granule: 4096, startPfn: 1, cpus: 3, profile });
  const pfns = Array.from({ length: 14 }, () => d.allocIovaFast(0, 1, 0x3fffff, false));
  // Seven frees on a CPU: the loaded magazine fills, swaps with the empty prev, fills again, then goes to the depot.
  for (const p of pfns.slice(0, 7)) d.freeIovaFast(0, p, 1);
  const before = d.depotTurnover;
  const mid = d.depotLengths()[0];
  for (const p of pfns.slice(7)) d.freeIovaFast(1, p, 1);
  const to = d.depotLengths()[0];
  assert.deepEqual([mid, to, d.depotTurnover], [1, 2, before]);
  const top = (i: number) => {
    const m = d.rcaches[0].depot[i];
    return m.pfns[m.size - 1];
  };
  assert.deepEqual([top(0), top(1)], [pfns[5], pfns[12]]);
  d.turnDepot(0, 0, mid, to);
  assert.deepEqual([top(0), top(1)], [pfns[12], pfns[5]]);
  // CPU 2, its magazines empty, pops the depot's top: the first CPU's magazine, newest first.
  assert.equal(d.allocIovaFast(2, 1, 0x3fffff, false), pfns[5]);
  assert.equal(d.depotTurnover, before + 1);
});
