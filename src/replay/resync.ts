/**
 * Resynchronisation (`ReplayOptions.resync`): after an allocation the model
 * placed elsewhere than the kernel, the model's state is put back to the
 * kernel's placement, so that every later match counts a decision made from
 * the kernel's own state, not one inherited from an earlier difference.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { claimIova, takeQueued } from "./follow.ts";

/**
 * The model placed an allocation of `sizeBytes` on `cpu` at `addr`, the
 * kernel at `traceIova`. Gives `addr` back where it came from (the tree
 * when `fromTree`, else the rcache of `cpu`) and takes the trace's IOVA
 * from wherever the model holds it (its flush queue, an rcache, free
 * space). Not possible when the model holds that IOVA otherwise (live, in a
 * depot, inside another): then nothing changes. Returns the allocation's
 * address from now on (`traceIova` when done, else `addr`) and whether it
 * was done.
 */
export function resync(
  cookie: IommuDmaCookie,
  traceIova: number,
  sizeBytes: number,
  cpu: number,
  addr: number,
  fromTree: boolean,
): { addr: number; done: boolean } | null {
  const iovad = cookie.iovad;
  const g = iovad.granule;
  const x = addr / g;
  const y = traceIova / g;
  const node = iovad.findIova(x);
  if (!node) return null;
  const pages = node[1] - node[0] + 1;
  const len = sizeBytes / g;
  cookie.mapped.delete(x);
  if (fromTree) iovad.freeIova(x);
  else iovad.freeIovaFast(cpu, x, pages);
  if (!cookie.mapped.has(y) && ((cookie.fq !== null && takeQueued(cookie.fq, y)) || claimIova(iovad, y, pages))) {
    cookie.mapped.set(y, len);
    return { addr: traceIova, done: true };
  }
  // Keep the model's own choice.
  claimIova(iovad, x, pages);
  cookie.mapped.set(x, len);
  return { addr, done: false };
}
