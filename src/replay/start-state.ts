/**
 * The rcache state a replay starts from when its trace starts mid-life
 * (Linux 6.1 and 6.12 alike): how many IOVAs each CPU's loaded and previous
 * magazines held, per size class, and how many full magazines the depot
 * held. Nothing in a trace names those IOVAs before they are handed out, so
 * the model's magazines are filled with placeholders: IOVAs of the right
 * size at the bottom of the domain, where no top-down tree allocation
 * reaches. A placeholder keeps the fill levels the kernel had, so the
 * model's magazine swaps, depot pushes and depot pops happen when the
 * kernel's did; when the model hands one out, the kernel handed out an IOVA
 * it had cached before the trace, and the replay adopts the trace's IOVA in
 * its place (`takePlaceholder`).
 *
 * Replay-only: none of this is kernel behaviour; it works through the
 * domain's public state, as `follow.ts` does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import type { IovaDomain } from "../iova/domain.ts";
import { Magazine } from "../iova/magazine.ts";
import { NIL } from "../iova/rbtree.ts";

/** One size class's fill levels at the start of the trace. */
export interface ClassFill {
  /** Per CPU: entries in the loaded magazine. */
  loaded: number[];
  /** Per CPU: entries in the previous magazine. */
  prev: number[];
  /** Full magazines in the depot. */
  depot: number;
  /** Per CPU: entries of this class its flush-queue ring held, unmapped before the trace (`pre-trace-ring.ts`); absent: none. */
  queued?: number[];
}

/** Fill levels by size class (index = class); a class left out starts empty. */
export interface StartState {
  classes: ClassFill[];
  /**
   * Every number found from where the trace's allocations pin it (`busy-start.ts`): the learning phase must not
   * adopt the trace's IOVAs, which would break an equivalent split of the same IOVAs.
   */
  pinned?: boolean;
}

/** The empty start state: every magazine empty, as after boot. */
export function emptyStartState(classes: number, cpus: number): StartState {
  const out: StartState = { classes: [] };
  for (let c = 0; c < classes; c++)
    out.classes.push({ loaded: new Array(cpus).fill(0), prev: new Array(cpus).fill(0), depot: 0 });
  return out;
}

/** A deep copy of `s`. */
export function copyStartState(s: StartState): StartState {
  return {
    classes: s.classes.map((c) => ({
      loaded: [...c.loaded],
      prev: [...c.prev],
      depot: c.depot,
      ...(c.queued ? { queued: [...c.queued] } : {}),
    })),
    ...(s.pinned ? { pinned: true } : {}),
  };
}

/** Whether `s` holds no placeholder at all. */
export function isEmptyStartState(s: StartState): boolean {
  return s.classes.every(
    (c) =>
      c.depot === 0 &&
      c.loaded.every((x) => x === 0) &&
      c.prev.every((x) => x === 0) &&
      (c.queued ?? []).every((x) => x === 0),
  );
}

/**
 * A short text of the fill levels, e.g. `1p: cpu0 128+101 cpu1 128+109 depot 0`,
 * or `1p: cpu0 97+0 (ring 47) cpu1-4 0+0 cpu5 18+127 (ring 35) cpu6 0+0 cpu7 0+0 depot 31`.
 */
export function describeStartState(s: StartState): string {
  const parts: string[] = [];
  s.classes.forEach((c, k) => {
    const q = c.queued ?? [];
    if (c.depot === 0 && c.loaded.every((x) => x === 0) && c.prev.every((x) => x === 0) && q.every((x) => x === 0))
      return;
    const ring = (cpu: number) => ((q[cpu] ?? 0) > 0 ? ` (ring ${q[cpu]})` : "");
    const each = c.loaded.map((l, cpu) => `${l}+${c.prev[cpu]}${ring(cpu)}`);
    // A run of three or more CPUs holding nothing is one range (`cpu6-63 0+0`): a server's CPUs that do no DMA.
    const cpus: string[] = [];
    for (let cpu = 0; cpu < each.length; ) {
      let end = cpu + 1;
      if (each[cpu] === "0+0") while (end < each.length && each[end] === "0+0") end++;
      if (end - cpu >= 3) cpus.push(`cpu${cpu}-${end - 1} 0+0`);
      else for (let i = cpu; i < end; i++) cpus.push(`cpu${i} ${each[i]}`);
      cpu = end;
    }
    parts.push(`${2 ** k}p: ${cpus.join(" ")} depot ${c.depot}`);
  });
  return parts.length === 0 ? "empty" : parts.join("; ");
}

/**
 * Fills `iovad`'s magazines as `s` says with placeholder IOVAs, each a tree
 * node of its class's size at the bottom of the domain, and returns the
 * pfn below which every placeholder lies (the domain's start pfn: none). The
 * cached nodes do not move: the kernel's tree already held what its caches
 * held. No allocation of a replay reaches that low (the tree hands out IOVAs
 * top-down), so a pfn below the bound is a placeholder for the whole replay,
 * checkpoints included.
 */
export function seedPlaceholders(iovad: IovaDomain, s: StartState, placer: Placer = placingEach(iovad)): number {
  let next = iovad.startPfn;
  const place = (pages: number): number => {
    const pfn = placer.place(pages, next);
    next = pfn + pages;
    return pfn;
  };
  const cap = iovad.profile.magazineSize;
  for (let c = 0; c < Math.min(s.classes.length, iovad.rcacheOrders); c++) {
    const fill = s.classes[c];
    const rcache = iovad.rcaches[c];
    const pages = 2 ** c;
    const fillMag = (m: Magazine, n: number) => {
      const k = Math.min(n, cap - m.size);
      for (let i = 0; i < k; i++) {
        m.push(place(pages));
        iovad.stats.cachedPfns[c]++;
      }
    };
    for (let cpu = 0; cpu < iovad.cpus; cpu++) {
      const loaded = fill.loaded[cpu] ?? 0;
      const prev = fill.prev[cpu] ?? 0;
      // A CPU the state gives nothing stays unused (`Rcache.used`).
      if (loaded === 0 && prev === 0) continue;
      fillMag(rcache.cpu(cpu).loaded, loaded);
      fillMag(rcache.cpu(cpu).prev, prev);
    }
    for (let d = 0; d < Math.min(fill.depot, iovad.profile.depotMax); d++)
      rcache.depot.push(placeholderMagazine(iovad, c, place));
  }
  return next;
}

/**
 * A full magazine of size class `c` holding placeholders (`place` gives each
 * one's pfn), counted in the domain's statistics as a live magazine, for the
 * depot: one the kernel held before the trace.
 */
export function placeholderMagazine(iovad: IovaDomain, c: number, place: (pages: number) => number): Magazine {
  const cap = iovad.profile.magazineSize;
  const m = new Magazine(cap);
  for (let i = 0; i < cap; i++) m.push(place(2 ** c));
  iovad.stats.cachedPfns[c] += cap;
  iovad.stats.magazinesLive[c]++;
  iovad.stats.magazinesAllocated++;
  return m;
}

/** Places a start state's placeholders one after another (`seedPlaceholders`, then `seedQueued`). */
export interface Placer {
  /** The next placeholder of `pages` pages at or above `from`, in the tree; its pfn. */
  place(pages: number, from: number): number;
}

/** Each placeholder inserted into the tree as it comes. */
export function placingEach(iovad: IovaDomain): Placer {
  return { place: (pages, from) => placePlaceholder(iovad, pages, from) };
}

/**
 * A placeholder of `pages` pages (a power of two): a tree node at the first
 * free size-aligned slot at or above `from`, at the bottom of the domain.
 * Returns its pfn; the cached nodes do not move (see `seedPlaceholders`).
 */
export function placePlaceholder(iovad: IovaDomain, pages: number, from: number): number {
  const t = iovad.tree;
  let next = from;
  for (;;) {
    const pfn = Math.ceil(next / pages) * pages;
    const above = t.lowestAtOrAbove(pfn);
    const clash = t.findContaining(pfn) !== NIL || (above !== NIL && t.pfnLo(above) <= pfn + pages - 1);
    if (!clash) {
      t.insert(t.newNode(pfn, pfn + pages - 1));
      return pfn;
    }
    next = pfn + pages;
  }
}

/**
 * The pages of the node that starts at `pfn`, when the trace's IOVA
 * `traceIova` has that many pages free in the tree; -1 when no node starts
 * at `pfn` or that space is not free. Both adoptions of a cache hit the
 * model could not know (a placeholder, `pre-trace-hit.ts`) swap the one
 * node for the other in place.
 */
export function pagesFreeAt(iovad: IovaDomain, pfn: number, traceIova: number): number {
  const t = iovad.tree;
  const n = t.findContaining(pfn);
  if (n === NIL || t.pfnLo(n) !== pfn) return -1;
  const pages = t.hi(n) - pfn + 1;
  const y = traceIova / iovad.granule;
  if (t.findContaining(y) !== NIL) return -1;
  const above = t.lowestAtOrAbove(y);
  return above !== NIL && t.pfnLo(above) <= y + pages - 1 ? -1 : pages;
}

/**
 * The model handed out placeholder `pfn` where the kernel handed out
 * `traceIova` (`len` pages), an IOVA free in the model: the kernel's cache held that
 * IOVA. The placeholder's node goes, the trace's IOVA becomes a node and
 * the mapping's address, and neither cached node moves (a cache hit never
 * touches the tree). False, with nothing changed, when the trace's IOVA is
 * not free in the model.
 */
export function takePlaceholder(cookie: IommuDmaCookie, pfn: number, traceIova: number, len: number): boolean {
  const iovad = cookie.iovad;
  const t = iovad.tree;
  const pages = pagesFreeAt(iovad, pfn, traceIova);
  if (pages < 0) return false;
  const n = t.findContaining(pfn);
  const y = traceIova / iovad.granule;
  // The cached nodes cannot point at a placeholder: no tree allocation or free ever touched one.
  t.erase(n);
  t.freeNode(n);
  const m = t.newNode(y, y + pages - 1);
  t.insert(m);
  const live = cookie.mapped.get(pfn);
  cookie.mapped.delete(pfn);
  cookie.mapped.set(y, live ?? len);
  return true;
}
