/**
 * Mappings already live when a trace starts (Linux 6.1 and 6.12 alike): an
 * `iommu:unmap` of pages no map of the trace mapped proves that IOVA was
 * allocated before the trace, so it is part of the start state. The first
 * reading of the trace finds them (`LiveAtStart`, among the learning
 * phase's events); the replay starts with each mapped, its tree node of the
 * size the allocator gave it in place, and replays its unmap where the
 * trace has it, as a call of an allocation number of its own
 * (`premappedUnmap`): the IOVA then goes through the flush queue and the
 * caches as the kernel's did. The reconstruction itself drops such unmaps
 * (it reports them as unmaps of never-mapped pages).
 *
 * Replay-only: it works through the domain's public state, as `follow.ts` does.
 */

import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import { NIL } from "../iova/rbtree.ts";
import type { TraceEvent } from "../trace/events.ts";
import { type DmaCall, inInterrupt } from "../trace/reconstruct.ts";

/**
 * What an unmap of a mapping live at the start showed: the fields of the unmap
 * call it becomes (`device` is that of the `dma_unmap_*` event right after it
 * on its CPU, when the trace has one).
 */
export type LiveMapping = Pick<
  DmaCall,
  "iova" | "sizeBytes" | "cpu" | "irq" | "pid" | "comm" | "timestampNs" | "line" | "device"
>;

/** Allocation numbers of the replayed unmaps of live mappings start here, above any trace's own. */
export const PREMAPPED_ALLOCATION = 2 ** 40;

/** Finds the unmaps of mappings live before the first event it is given. */
export class LiveAtStart {
  /** Mappings the trace made and has not unmapped: first page -> end address. */
  private readonly mapped = new Map<number, number>();
  /** First pages an unmap of the trace freed, mapped by the trace or not. */
  private readonly freed = new Set<number>();
  /** Per CPU: the last mapping found, waiting for the `dma_unmap_*` event that names its device. */
  private readonly awaiting = new Map<number, LiveMapping>();
  readonly found: LiveMapping[] = [];
  private readonly granule: number;

  constructor(granule: number) {
    this.granule = granule;
  }

  push(e: TraceEvent): void {
    if (e.type === "iommu_map") {
      const p = Math.floor(e.iova / this.granule);
      this.mapped.set(p, e.iova + e.size);
      this.freed.delete(p);
      return;
    }
    if (e.type === "dma_unmap" || e.type === "dma_unmap_sg") {
      const m = this.awaiting.get(e.cpu);
      if (m) {
        m.device = e.device;
        this.awaiting.delete(e.cpu);
      }
      return;
    }
    if (e.type !== "iommu_unmap") return;
    const p = Math.floor(e.iova / this.granule);
    if (this.mapped.delete(p) || this.freed.has(p) || this.inside(e.iova)) {
      this.freed.add(p);
      return;
    }
    this.freed.add(p);
    const m: LiveMapping = {
      iova: e.iova,
      sizeBytes: e.size,
      cpu: e.cpu,
      irq: inInterrupt(e.flags),
      pid: e.pid,
      comm: e.comm,
      timestampNs: e.timestampNs,
      line: e.line,
      device: undefined,
    };
    this.found.push(m);
    this.awaiting.set(e.cpu, m);
  }

  /** Whether `addr` lies inside a mapping the trace made (a partial unmap of it, not a mapping from before). */
  private inside(addr: number): boolean {
    for (const [p, end] of this.mapped) if (p * this.granule <= addr && addr < end) return true;
    return false;
  }
}

/**
 * Makes mapping `m` live in `cookie` as the allocator left it: a tree node of
 * the allocation's size (the cached nodes do not move: the kernel's tree
 * had it all along) and the mapping. False, with nothing changed, when the
 * model holds any of that space already.
 */
export function seedLive(cookie: IommuDmaCookie, m: LiveMapping): boolean {
  const iovad = cookie.iovad;
  const g = iovad.granule;
  if (m.iova % g !== 0 || m.sizeBytes <= 0) return false;
  const pfn = m.iova / g;
  const pages = Math.ceil(m.sizeBytes / g);
  const size = iovad.roundUpCacheable(pages);
  const t = iovad.tree;
  if (t.findContaining(pfn) !== NIL) return false;
  const above = t.lowestAtOrAbove(pfn);
  if (above !== NIL && t.pfnLo(above) <= pfn + size - 1) return false;
  const n = t.newNode(pfn, pfn + size - 1);
  t.insert(n);
  cookie.mapped.set(pfn, pages);
  return true;
}

/** The unmap call of live mapping `m`, the `k`th of the replay's, in `domain`. */
export function premappedUnmap(m: LiveMapping, k: number, domain: string): DmaCall {
  return {
    kind: "unmap",
    allocation: PREMAPPED_ALLOCATION + k,
    domain,
    device: m.device,
    api: undefined,
    iova: m.iova,
    sizeBytes: m.sizeBytes,
    requestedBytes: undefined,
    dmaAddr: undefined,
    pieces: 0,
    mapLines: [],
    mapOffsets: [],
    cpu: m.cpu,
    irq: m.irq,
    pid: m.pid,
    comm: m.comm,
    timestampNs: m.timestampNs,
    line: m.line,
    lines: [m.line],
    inferred: false,
  };
}
