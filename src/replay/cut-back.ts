/**
 * A magazine cut made too early, taken back where the kernel's `prev` shows
 * it (Linux 6.1 and 6.12 alike, `iova.c`'s `__iova_rcache_get()`), in a
 * trace that starts mid-life. A cut (`magazine-cut.ts`) reads where the
 * kernel's magazine ended from the model's order of one CPU's frees, but the
 * kernel's flush queues held entries from before the trace, freed with the
 * trace's own into the same magazines: the kernel's magazine held IOVAs the
 * model never saw, so it began later in the model's order than the cut
 * took it, and the model gave another CPU that magazine with IOVAs at its
 * bottom that stayed in the kernel's `prev` (padded with placeholders
 * there, where the model had too few).
 *
 * The model's CPU swapped its full `prev` in and popped its top, and the
 * kernel handed out an IOVA the model holds at the bottom of another CPU's
 * loaded magazine, no higher than the placeholders at the bottom of that
 * `prev`, it and those below it freed while such entries could still be
 * freed after them (`PushEvidence.isEarly`): those IOVAs were that `prev`'s
 * top. They go back on top of it, as
 * many of its bottom placeholders go, and as many placeholders take their
 * place in the other CPU's magazine (the IOVAs from before the trace the
 * kernel's held). The model's popped IOVA goes back; the kernel's is
 * handed out.
 *
 * Replay-only: it works through the domain's public state, as `follow.ts`
 * does.
 */

import type { IovaDomain } from "../iova/domain.ts";
import { Magazine } from "../iova/magazine.ts";
import { dropNode } from "./placeholder-drop.ts";

/** The CPU other than `cpu` whose loaded magazine of class `c` holds `pfn` at its bottom, no higher than `depth`, or -1. */
function bottomHolder(iovad: IovaDomain, cpu: number, c: number, pfn: number, depth: number): number {
  const cprs = iovad.rcaches[c].everyCpu;
  for (let b = 0; b < cprs.length; b++) {
    if (b === cpu) continue;
    const i = cprs[b].loaded.indexOf(pfn);
    if (i >= 0 && i < depth) return b;
  }
  return -1;
}

/** How many of the IOVAs at the bottom of `m` lie below `top` (placeholders). */
function placeholdersAtBottom(m: Magazine, top: number): number {
  let n = 0;
  while (n < m.size && m.pfns[n] < top) n++;
  return n;
}

/**
 * The model's `cpu` swapped its full `prev` of class `c` in and popped
 * `popped`; the kernel handed out `pfn`. Takes the cut back as above;
 * false, with nothing changed, where it does not hold. `top`: the bound
 * below which every IOVA is a placeholder; `early` whether an IOVA was
 * freed while entries from before the trace could be freed after it;
 * `placeholder` makes one of `pages` pages.
 */
export function cutBack(
  iovad: IovaDomain,
  cpu: number,
  c: number,
  popped: number,
  pfn: number,
  top: number,
  early: (pfn: number) => boolean,
  placeholder: (pages: number) => number,
): boolean {
  const cap = iovad.profile.magazineSize;
  const cr = iovad.rcaches[c].cpu(cpu);
  if (!cr.prev.isEmpty() || cr.loaded.size !== cap - 1 || popped < top) return false;
  const pad = placeholdersAtBottom(cr.loaded, top);
  const from = bottomHolder(iovad, cpu, c, pfn, pad);
  if (from < 0) return false;
  const other = iovad.rcaches[c].cpu(from).loaded;
  const k = other.indexOf(pfn);
  const moved = Array.from(other.pfns.subarray(0, k + 1));
  // Only IOVAs freed while entries from before the trace could still be freed after them can be misplaced so.
  if (!moved.every(early)) return false;
  const mine = [...Array.from(cr.loaded.pfns.subarray(k + 1, cr.loaded.size)), popped, ...moved];
  const theirs = Array.from(other.pfns.subarray(k + 1, other.size));
  for (let i = 0; i <= k; i++) dropNode(iovad, cr.loaded.pfns[i]);
  const loaded = new Magazine(cap);
  for (const p of mine.slice(0, -1)) loaded.push(p);
  cr.loaded = loaded;
  const refill = new Magazine(cap);
  for (let i = 0; i <= k; i++) refill.push(placeholder(2 ** c));
  for (const p of theirs) refill.push(p);
  iovad.rcaches[c].cpu(from).loaded = refill;
  // `k + 1` placeholders went from this CPU's magazine (their nodes too) and new ones came to the other's;
  // `popped` is cached again and `pfn` handed out.
  return true;
}
