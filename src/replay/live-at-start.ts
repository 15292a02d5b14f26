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
import type { IommuUnmapEvent, TraceEvent } from "../trace/events.ts";
import { type DmaCall, inInterrupt } from "../trace/reconstruct.ts";

/**
 * What an unmap of a mapping live at the start showed: the fields of the unmap
 * call it becomes (`device` is that of the `dma_unmap_*` event right after it
 * on its CPU, when the trace has one).
 */
export type LiveMapping = Pick<
  DmaCall,
  "iova" | "sizeBytes" | "cpu" | "irq" | "irqKnown" | "pid" | "comm" | "timestampNs" | "line" | "device"
>;

/** Allocation numbers of the replayed unmaps of live mappings start here, above any trace's own. */
export const PREMAPPED_ALLOCATION = 2 ** 40;

/** A map event the finder holds: its first page, its end address and its device (undefined: not named). */
interface MapSeen {
  p: number;
  end: number;
  device: string | undefined;
}

/** A CPU's events whose device the `dma:*` event next to them names, not yet named. */
interface Unnamed {
  /** Map events before their `dma_map_*`/`dma_alloc` (several for a scatter-gather list). */
  maps: MapSeen[];
  /** An unmap before its `dma_unmap_page`. */
  unmap: IommuUnmapEvent | null;
  /** The device of a `dma_unmap_sg`/`dma_free`, which comes before its unmap; null: none. */
  hint: string | null;
}

/** Whether a mapping of device `a` can be the one an unmap of device `b` frees (undefined: not named, either). */
function sameDevice(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b;
}

/**
 * Finds the unmaps of mappings live before the first event it is given.
 * Where the trace has `dma:*` events, map and unmap events carry no device
 * but several devices' domains hand out the same IOVAs: each event is
 * judged once the `dma:*` event next to it on its CPU names its device
 * (`dma_map_*`/`dma_alloc` and `dma_unmap_page` follow theirs,
 * `dma_unmap_sg`/`dma_free` come before), so one device's unmap of an IOVA
 * another device mapped in the trace is still an unmap of a mapping live at
 * the start. Before the first `dma:*` event, and in a trace without them,
 * an unmap is judged at once, after the maps before it, none of them named.
 */
export class LiveAtStart {
  /** Mappings the trace made and has not unmapped, by first page. */
  private readonly mapped = new Map<number, MapSeen[]>();
  /** First pages an unmap of the trace freed, mapped by the trace or not, and the devices of those unmaps. */
  private readonly freed = new Map<number, (string | undefined)[]>();
  /** Per CPU: the events waiting for the `dma:*` event that names their device. */
  private readonly unnamed = new Map<number, Unnamed>();
  /** Per CPU: a mapping found by an unmap judged before its device was named, for the `dma:*` event after it. */
  private readonly awaiting = new Map<number, LiveMapping>();
  /** The trace has shown a `dma:*` map or unmap event: events wait for theirs from then on. */
  private named = false;
  /** In line order. */
  readonly found: LiveMapping[] = [];
  private readonly granule: number;

  constructor(granule: number) {
    this.granule = granule;
  }

  push(e: TraceEvent): void {
    switch (e.type) {
      case "iommu_map": {
        this.cpu(e.cpu).maps.push({ p: Math.floor(e.iova / this.granule), end: e.iova + e.size, device: undefined });
        return;
      }
      case "iommu_unmap": {
        if (!this.named) {
          // No dma:* event yet (none in a trace without them): the maps so far are judged unnamed, then this unmap.
          for (const u of this.unnamed.values()) {
            for (const m of u.maps) this.mapSeen(m);
            u.maps.length = 0;
          }
          this.unmapSeen(e, undefined);
          return;
        }
        const u = this.cpu(e.cpu);
        if (u.unmap !== null) this.unmapSeen(u.unmap, undefined);
        u.unmap = null;
        if (u.hint !== null) this.unmapSeen(e, u.hint);
        else u.unmap = e;
        u.hint = null;
        return;
      }
      case "dma_map":
      case "dma_map_sg":
      case "dma_alloc": {
        this.named = true;
        const u = this.cpu(e.cpu);
        for (const m of u.maps) this.mapSeen({ ...m, device: e.device });
        u.maps.length = 0;
        return;
      }
      case "dma_unmap":
      case "dma_unmap_sg":
      case "dma_free": {
        this.named = true;
        this.name(e.cpu, e.device);
        const u = this.cpu(e.cpu);
        // The unmap before it: a dma_unmap_page names its device; a dma_unmap_sg or dma_free (none after it) is the
        // best guess at its own, and names the device of the unmap after it.
        if (u.unmap !== null) this.unmapSeen(u.unmap, e.device);
        u.unmap = null;
        if (e.type !== "dma_unmap") u.hint = e.device;
        return;
      }
    }
  }

  /** Names the device of the mapping `cpu`'s last unmap judged without one found, if any. */
  private name(cpu: number, device: string): void {
    const m = this.awaiting.get(cpu);
    if (m === undefined) return;
    m.device = device;
    this.awaiting.delete(cpu);
  }

  private cpu(cpu: number): Unnamed {
    let u = this.unnamed.get(cpu);
    if (u === undefined) {
      u = { maps: [], unmap: null, hint: null };
      this.unnamed.set(cpu, u);
    }
    return u;
  }

  private mapSeen(m: MapSeen): void {
    const f = this.freed.get(m.p);
    if (f !== undefined) {
      const rest = f.filter((d) => !sameDevice(d, m.device));
      if (rest.length > 0) this.freed.set(m.p, rest);
      else this.freed.delete(m.p);
    }
    const list = (this.mapped.get(m.p) ?? []).filter((x) => x.device !== m.device);
    list.push(m);
    this.mapped.set(m.p, list);
  }

  private unmapSeen(e: IommuUnmapEvent, device: string | undefined): void {
    const p = Math.floor(e.iova / this.granule);
    const known = this.takeMapped(p, device) || this.wasFreed(p, device) || this.inside(e.iova, device);
    const f = this.freed.get(p);
    if (f === undefined) this.freed.set(p, [device]);
    else if (!f.includes(device)) f.push(device);
    if (known) return;
    const m: LiveMapping = {
      iova: e.iova,
      sizeBytes: e.size,
      cpu: e.cpu,
      irq: inInterrupt(e.flags),
      irqKnown: e.flags !== "",
      pid: e.pid,
      comm: e.comm,
      timestampNs: e.timestampNs,
      line: e.line,
      device,
    };
    // Named after a later event, an unmap may be judged after one traced below it.
    let i = this.found.length;
    while (i > 0 && this.found[i - 1].line > m.line) i--;
    this.found.splice(i, 0, m);
    if (device === undefined) this.awaiting.set(e.cpu, m);
  }

  /** Takes the trace's mapping at first page `p` that an unmap of `device` frees, if there is one. */
  private takeMapped(p: number, device: string | undefined): boolean {
    const list = this.mapped.get(p);
    const k = list === undefined ? -1 : list.findIndex((x) => sameDevice(x.device, device));
    if (list !== undefined && k >= 0) {
      list.splice(k, 1);
      if (list.length === 0) this.mapped.delete(p);
      return true;
    }
    // A map event still waiting for its device's name.
    for (const u of this.unnamed.values()) {
      const j = u.maps.findIndex((x) => x.p === p);
      if (j >= 0) {
        u.maps.splice(j, 1);
        return true;
      }
    }
    return false;
  }

  private wasFreed(p: number, device: string | undefined): boolean {
    return this.freed.get(p)?.some((d) => sameDevice(d, device)) === true;
  }

  /** Whether `addr` lies inside a mapping the trace made (a partial unmap of it, not a mapping from before). */
  private inside(addr: number, device: string | undefined): boolean {
    for (const list of this.mapped.values()) {
      for (const x of list) if (sameDevice(x.device, device) && x.p * this.granule <= addr && addr < x.end) return true;
    }
    for (const u of this.unnamed.values()) {
      for (const x of u.maps) if (x.p * this.granule <= addr && addr < x.end) return true;
    }
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
    irqKnown: m.irqKnown,
    reuses: 0,
    reusesCpu: -1,
    lostAtNs: -1,
    unmapLost: false,
    pid: m.pid,
    comm: m.comm,
    timestampNs: m.timestampNs,
    line: m.line,
    lines: [m.line],
    inferred: false,
  };
}
