/**
 * A set of pfns that a replay checkpoint keeps without copying it: `save`
 * hands out the set as it is, and the first change after a `save` or a
 * `restore` copies it, so a checkpoint taken before every risky call costs
 * nothing until the set changes. The mid-life rules' records of IOVAs
 * (`swapped-prev.ts`, `pre-trace-queue.ts`, `pushed-before-hit.ts`) are such sets.
 *
 * Replay-only.
 */
export class CheckpointPfns {
  private pfns = new Set<number>();
  /** `pfns` is a checkpoint's too: copied before it changes. */
  private shared = false;

  has(pfn: number): boolean {
    return this.pfns.has(pfn);
  }

  add(pfn: number): void {
    if (!this.pfns.has(pfn)) this.own().add(pfn);
  }

  delete(pfn: number): void {
    if (this.pfns.has(pfn)) this.own().delete(pfn);
  }

  save(): Set<number> {
    this.shared = true;
    return this.pfns;
  }

  restore(s: Set<number>): void {
    this.pfns = s;
    this.shared = true;
  }

  private own(): Set<number> {
    if (this.shared) this.pfns = new Set(this.pfns);
    this.shared = false;
    return this.pfns;
  }
}
