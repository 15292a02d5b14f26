/**
 * Where the kernel's magazines were cut, learned from an IOVA it handed out
 * (Linux 6.1 and 6.12 alike, `iova.c`'s `__iova_rcache_insert()` and
 * `__iova_rcache_get()`), in a trace that starts mid-life. Each CPU's
 * loaded magazine's fill level at the start is unknown, so the model's
 * magazines fill, swap with `prev` and go to the depot at other frees than
 * the kernel's: the IOVAs a CPU freed are the same, in the same order, but
 * cut into magazines elsewhere, and every pop after such a cut hands out
 * another IOVA.
 *
 * The kernel's rules fix the cut where an allocation shows it. A free moves
 * `loaded` away only when it is full (to `prev`, swapped in only once
 * `loaded` is empty, or to the depot), an allocation swaps `prev` in only
 * when `loaded` is empty, so `prev` is always empty or full, and depot
 * magazines are full. So the IOVA the kernel hands out is the top of its
 * loaded magazine, and what that CPU freed after it and still holds lies in
 * full magazines away from `loaded`:
 *
 * - `cutAbove`: the model holds that IOVA on the same CPU with exactly one
 *   magazine's worth freed after it on top. That magazine is in the
 *   kernel's depot (in `prev` it would have been swapped in before the one
 *   below it), the IOVA's magazine came back from `prev`, and `prev` is
 *   empty.
 * - `crossCut`: the model's magazines of that CPU are empty (it went to
 *   the tree) and another CPU's hold the IOVA. An IOVA freed on one CPU
 *   reaches another only through the depot: the other CPU's loaded
 *   magazine, full with the IOVA on top, went to the depot, and this CPU,
 *   its magazines empty too, took it. The IOVAs freed after it are that
 *   CPU's loaded magazine; the ones before it, its full `prev`. Where this
 *   CPU had already handed out IOVAs the model held in the other CPU's
 *   magazines (the learning phase took them from there), those were the
 *   magazine's top, popped before the IOVA: the magazine had that many
 *   slots above it. The learning phase cuts so too (`apply.ts`): adopting
 *   the IOVA out of the other CPU's magazine would leave the rest of the
 *   pushed magazine there, under that CPU's later frees.
 *
 * - `depotCut`: the model's magazines of that CPU were empty, it popped the
 *   depot's top magazine, and the kernel's IOVA lies in it with others
 *   above. The kernel's depot magazine, full, ended with that IOVA: the CPU
 *   that pushed it cut its magazines that many frees earlier. Its full
 *   `prev` (older than the pushed magazine) gave up its top IOVAs to the
 *   kernel's pushed magazine, and the IOVAs above went to its loaded one.
 * - `unpush`: the model's loaded magazine of that CPU was empty and it
 *   swapped its full `prev` in, and the kernel's IOVA is the top of the
 *   depot's top magazine. The kernel's CPU still had that magazine loaded:
 *   it never filled, for its magazines were cut later than the model's, so
 *   it was never pushed. It comes back from the depot as the loaded one.
 *
 * Where the model's own IOVAs do not fill a magazine the kernel's held
 * IOVAs from before the trace: placeholders (`start-state.ts`) take their
 * slots. Replay-only: it works through the domain's public state, as
 * `follow.ts` does.
 */

import type { IovaDomain } from "../iova/domain.ts";
import { Magazine } from "../iova/magazine.ts";

/** A CPU's cached IOVAs of one class in the order they were freed: `prev`'s, then `loaded`'s, then `top`. */
function freedOrder(prev: Magazine, loaded: Magazine, top: number | null): number[] {
  const held: number[] = [];
  for (let i = 0; i < prev.size; i++) held.push(prev.pfns[i]);
  for (let i = 0; i < loaded.size; i++) held.push(loaded.pfns[i]);
  if (top !== null) held.push(top);
  return held;
}

function magazineOf(cap: number, pfns: number[]): Magazine {
  const m = new Magazine(cap);
  for (const p of pfns) m.push(p);
  return m;
}

/**
 * The model popped `popped` from `cpu`'s loaded magazine of class `c` (no
 * swap, no depot) where the kernel handed out `pfn`, which the model holds
 * in that CPU's magazines with exactly one magazine's worth freed after it
 * (`popped` among them). Cuts that CPU's magazines as the kernel's were:
 * those IOVAs one full magazine pushed on the depot, the ones freed before
 * `pfn` the loaded magazine, `prev` empty; `pfn` is taken out. False, with
 * nothing changed, in any other case.
 */
export function cutAbove(iovad: IovaDomain, cpu: number, c: number, popped: number, pfn: number): boolean {
  const cap = iovad.profile.magazineSize;
  const rcache = iovad.rcaches[c];
  const cr = rcache.cpu(cpu);
  // A prev neither empty nor full is no state the kernel reaches: no cut of it is the kernel's.
  if (cr.prev.size !== 0 && cr.prev.size !== cap) return false;
  // The one place in the freed order (prev, loaded, then `popped`) with a magazine's worth after it.
  const k = cr.prev.size + cr.loaded.size - cap;
  if (k < 0 || (k < cr.prev.size ? cr.prev.pfns[k] : cr.loaded.pfns[k - cr.prev.size]) !== pfn) return false;
  const held = freedOrder(cr.prev, cr.loaded, popped);
  if (iovad.profile.depotOverflowFreesToTree && rcache.depot.length >= iovad.profile.depotMax) return false;
  rcache.depot.push(magazineOf(cap, held.slice(k + 1)));
  iovad.stats.magazinesLive[c]++;
  iovad.stats.magazinesAllocated++;
  cr.loaded = magazineOf(cap, held.slice(0, k));
  cr.prev = new Magazine(cap);
  // `popped` is cached again and `pfn` handed out: the count stays.
  return true;
}

/** The CPU other than `cpu` whose magazines of class `c` hold `pfn` now (-1: none). */
export function holderOf(iovad: IovaDomain, cpu: number, c: number, pfn: number): number {
  const cprs = iovad.rcaches[c].everyCpu;
  for (let b = 0; b < cprs.length; b++) {
    if (b !== cpu && (cprs[b].loaded.indexOf(pfn) >= 0 || cprs[b].prev.indexOf(pfn) >= 0)) return b;
  }
  return -1;
}

/**
 * The CPU other than `cpu` whose magazines of class `c` hold `pfn`, when
 * `cpu`'s are empty (-1: none). `popped`: IOVAs `cpu` already took from
 * the top of the magazine that CPU pushed (`crossCut`). `held`: `cpu`'s
 * magazines hold only placeholders, which go (`placeholder-drop.ts`).
 */
export function crossCutFrom(iovad: IovaDomain, cpu: number, c: number, pfn: number, popped = 0, held = false): number {
  const cap = iovad.profile.magazineSize;
  const cprs = iovad.rcaches[c].everyCpu;
  if (!held && (!cprs[cpu].loaded.isEmpty() || !cprs[cpu].prev.isEmpty())) return -1;
  for (let b = 0; b < cprs.length; b++) {
    if (b === cpu) continue;
    const { prev, loaded } = cprs[b];
    const i = prev.indexOf(pfn);
    const k = i >= 0 ? i : loaded.indexOf(pfn) < 0 ? -1 : prev.size + loaded.indexOf(pfn);
    if (k < 0) continue;
    // The IOVAs freed after it fit its loaded magazine, the ones before its magazine its prev.
    return popped < cap && prev.size + loaded.size - 1 - k <= cap && k - (cap - 1 - popped) <= cap ? b : -1;
  }
  return -1;
}

/**
 * The kernel handed out `pfn` on `cpu` from a depot magazine CPU `from`
 * pushed (`crossCutFrom`): that magazine, `pfn` on top, becomes `cpu`'s
 * loaded magazine without it (placeholders below the IOVAs `from` freed
 * before it where those do not fill it); `from` keeps the IOVAs it freed
 * after `pfn` as its loaded magazine and the ones before the magazine as
 * its full `prev` (placeholders below them), or an empty one.
 * `popped` IOVAs above `pfn` in that magazine `cpu` had already handed out
 * (none left in the model: it took them from `from`'s magazines), so
 * `pfn`'s slot is that many below the top. `placeholder` makes a
 * placeholder of `pages` pages.
 */
export function crossCut(
  iovad: IovaDomain,
  cpu: number,
  from: number,
  c: number,
  pfn: number,
  placeholder: (pages: number) => number,
  popped = 0,
): void {
  const cap = iovad.profile.magazineSize;
  const own = iovad.rcaches[c].cpu(cpu);
  const other = iovad.rcaches[c].cpu(from);
  const held = freedOrder(other.prev, other.loaded, null);
  const k = held.indexOf(pfn);
  const below = cap - 1 - popped;
  const lo = Math.max(0, k - below);
  const pad = (n: number) => Array.from({ length: n }, () => placeholder(2 ** c));
  own.loaded = magazineOf(cap, [...pad(below - (k - lo)), ...held.slice(lo, k)]);
  const before = held.slice(0, lo);
  other.loaded = magazineOf(cap, held.slice(k + 1));
  other.prev = magazineOf(cap, before.length === 0 ? [] : [...pad(cap - before.length), ...before]);
  iovad.stats.cachedPfns[c] += own.loaded.size + other.loaded.size + other.prev.size - held.length;
}

/**
 * The CPU other than `cpu` that pushed the depot magazine `cpu`'s loaded
 * one now is (the model popped it for `popped`) when the kernel handed out
 * `pfn` from it (`depotCut`), or -1. The kernel pushes a loaded magazine
 * on the depot only once its `prev` is full, so the pusher is the one CPU
 * whose `prev` is full and whose loaded magazine has room for the IOVAs
 * above `pfn`.
 */
export function depotCutFrom(iovad: IovaDomain, cpu: number, c: number, popped: number, pfn: number): number {
  const cap = iovad.profile.magazineSize;
  const cprs = iovad.rcaches[c].everyCpu;
  const own = cprs[cpu].loaded;
  // The popped magazine was full, and `pfn` lies below its top.
  if (own.size !== cap - 1 || !cprs[cpu].prev.isEmpty() || popped === pfn) return -1;
  const k = own.indexOf(pfn);
  if (k < 0) return -1;
  const above = own.size - k;
  let from = -1;
  for (let b = 0; b < cprs.length; b++) {
    if (b === cpu || cprs[b].prev.size !== cap || cprs[b].loaded.size + above > cap) continue;
    if (from >= 0) return -1;
    from = b;
  }
  return from;
}

/**
 * The kernel handed out `pfn` on `cpu` from the depot magazine `from`
 * pushed (`depotCutFrom`), where the model popped `popped`, that
 * magazine's top: `from` cut its magazines as many frees earlier as lay
 * above `pfn`. Those IOVAs go below `from`'s loaded ones, the top ones of
 * its `prev` below `cpu`'s (the kernel's pushed magazine), and `prev` takes
 * as many placeholders at its bottom (IOVAs from before the trace);
 * `pfn` is taken out. `placeholder` makes a placeholder of `pages` pages.
 */
export function depotCut(
  iovad: IovaDomain,
  cpu: number,
  from: number,
  c: number,
  popped: number,
  pfn: number,
  placeholder: (pages: number) => number,
): void {
  const cap = iovad.profile.magazineSize;
  const own = iovad.rcaches[c].cpu(cpu);
  const other = iovad.rcaches[c].cpu(from);
  const mag = [...own.loaded.pfns.subarray(0, own.loaded.size), popped];
  const k = mag.indexOf(pfn);
  const above = mag.length - 1 - k;
  const prev = Array.from(other.prev.pfns.subarray(0, other.prev.size));
  const pad = Array.from({ length: above }, () => placeholder(2 ** c));
  other.loaded = magazineOf(cap, [
    ...mag.slice(k + 1),
    ...Array.from(other.loaded.pfns.subarray(0, other.loaded.size)),
  ]);
  own.loaded = magazineOf(cap, [...prev.slice(cap - above), ...mag.slice(0, k)]);
  other.prev = magazineOf(cap, [...pad, ...prev.slice(0, cap - above)]);
  // `popped` is cached again, `pfn` handed out, and the placeholders are new.
  iovad.stats.cachedPfns[c] += above;
}

/**
 * The model swapped `cpu`'s full `prev` in for its empty loaded magazine of
 * class `c` and popped `popped`, where the kernel handed out `pfn`, the top
 * of the depot's top magazine (`unpush`): the swap is taken back and that
 * magazine, `pfn` popped, becomes the loaded one. False, with nothing
 * changed, in any other case.
 */
export function unpush(iovad: IovaDomain, cpu: number, c: number, popped: number, pfn: number): boolean {
  const cap = iovad.profile.magazineSize;
  const rcache = iovad.rcaches[c];
  const cr = rcache.cpu(cpu);
  const top = rcache.depot.length > 0 ? rcache.depot[rcache.depot.length - 1] : null;
  if (top === null || top.size !== cap || top.pfns[cap - 1] !== pfn) return false;
  if (!cr.prev.isEmpty() || cr.loaded.size !== cap - 1) return false;
  cr.loaded.push(popped);
  cr.swap();
  rcache.depot.pop();
  top.removeAt(cap - 1);
  cr.loaded = top;
  // The empty loaded magazine is gone, as after a depot pop; `popped` is cached again and `pfn` handed out.
  iovad.stats.magazinesLive[c]--;
  return true;
}
