/**
 * Rebuilds the DMA allocations of a trace (issue 4 part 2) and checks them
 * as the kernel's DMA-API debugging would (part 6), from the events of
 * `events.ts` in trace order, in bounded memory.
 *
 * How events relate to an IOVA allocation (docs/trace-formats.md §1 and docs/reference-machines.md,
 * from the 6.1.192 and 6.12.95 sources):
 * - dma-iommu allocates one IOVA range per mapping and maps it with one
 *   `iommu:map` per physically contiguous run, in ascending IOVA order on
 *   the mapping CPU: a scatter-gather list or a coherent buffer of scattered
 *   pages shows as several map events with consecutive IOVAs.
 * - It unmaps the whole mapping with one `iommu:unmap` of its page-aligned
 *   length, so the unmap that later covers a run of map events says which
 *   of them formed one allocation.
 * - Where `dma:*` events exist (6.12+) they follow the map events of their
 *   mapping on the same CPU and give the device and the whole size
 *   directly; `dma_unmap_page` follows its `unmap`, while `dma_unmap_sg` and
 *   `dma_free` precede theirs.
 *
 * The grouping is decided by the first of: a `dma_map_*`/`dma_alloc*` event
 * naming the range, the unmap covering it, or (for mappings still live after
 * `lookAheadEvents` further events, e.g. a driver's queues) a heuristic:
 * the map events that followed each other on one CPU and task with
 * consecutive IOVAs. Calls come out in trace order once their grouping is
 * decided, so memory holds at most the look-ahead window plus the live
 * mappings (with `dma:*` events, a live streaming mapping holds the calls
 * behind it for `LOST_HOLD` windows).
 */

import { assert } from "../stdx/assert.ts";
import { hex16 } from "../stdx/hex.ts";
import { PfnMap } from "../stdx/pfnmap.ts";
import { Completions } from "./completions.ts";
import type {
  DmaAllocEvent,
  DmaFreeEvent,
  DmaMapEvent,
  DmaMapSgEvent,
  DmaUnmapEvent,
  DmaUnmapSgEvent,
  EventHead,
  IommuMapEvent,
  IommuUnmapEvent,
  TraceEvent,
} from "./events.ts";
import { isKernelWorkEvent } from "./events.ts";
import { FreedPages } from "./freed-pages.ts";
import type { TraceDomainSpec, TraceMachine } from "./machine.ts";
import { PageOwners } from "./page-owners.ts";

/** One reconstructed DMA-API call on one IOVA allocation. */
export interface DmaCall {
  kind: "map" | "unmap";
  /** The nth allocation of its domain (1-based, in trace order of the maps); its unmap carries the same number. */
  allocation: number;
  domain: string;
  /** The device, where a `dma:*` event named it. */
  device: string | undefined;
  /** The `dma:*` event of the call (`dma_map_page`, `dma_map_sg`, `dma_alloc`, `dma_unmap_page`, ...), where the trace has one. */
  api: string | undefined;
  /** IOVA of the mapping, granule-aligned. */
  iova: number;
  /** The page-aligned mapped length: what dma-iommu allocates (before the allocator's power-of-two round-up) and unmaps. */
  sizeBytes: number;
  /** The size the driver asked for (`dma:*` events), e.g. 512 for a 4 KiB mapping. */
  requestedBytes: number | undefined;
  /** The DMA address the driver got (`dma:*` events), with its in-page offset. */
  dmaAddr: number | undefined;
  /** `iommu:map` events the mapping took (1 for a contiguous buffer); 0 for unmaps. */
  pieces: number;
  /** Map only: each `iommu:map` event's line and its offset in bytes from `iova`, in IOVA order. */
  mapLines: number[];
  mapOffsets: number[];
  /** CPU that allocated (map) or freed (unmap) the IOVA. */
  cpu: number;
  /**
   * The event ran in interrupt context (hardirq, softirq or NMI in the
   * flags column): an unmap from a completion interrupt, say. A process
   * context map may have taken its IOVA before such an interrupt that the
   * trace shows before its map event (the map is traced after the IOVA
   * allocation).
   */
  irq: boolean;
  /**
   * The trace said whether the event ran in interrupt context. A trace without
   * the flags column (`trace-cmd report` without `-l`, `perf script`) does not:
   * `irq` is then false, and an unmap may still have come from an interrupt.
   */
  irqKnown: boolean;
  pid: number;
  comm: string;
  /** Map: the first map event's time (the IOVA is allocated just before it); unmap: the unmap event's. */
  timestampNs: number;
  /** The line that places the call in trace order: the first map event, or the unmap event. Calls come out ascending in it. */
  line: number;
  /** Every trace line of the call, ascending (a `dma_unmap_sg` or `dma_free` comes before its unmap's line). */
  lines: number[];
  /**
   * Map only: the allocation whose IOVA range this one overlaps while the
   * trace still holds it mapped, or 0. The kernel never hands out an IOVA
   * that is still allocated, so that allocation's unmap happened and the
   * trace lost it (`trace-cmd record` without `--no-filter` drops the events
   * of interrupts that stop its own threads).
   */
  reuses: number;
  /**
   * Map only: the trace lost this allocation's unmap (a later map takes its
   * range while the trace still holds it mapped: that map's `reuses`), known
   * when that map comes within the reconstruction's look-ahead.
   */
  unmapLost: boolean;
  /** Map only: the CPU whose map event began allocation `reuses` (its lost unmap's interrupt most likely ran there), or -1. */
  reusesCpu: number;
  /**
   * Map only, where `unmapLost`: the trace time its lost unmap most likely
   * ran. The device completes a CPU's requests about in their order, so it
   * ran after the traced unmaps of earlier mappings of that CPU and domain,
   * and before those of later ones and before the map that took its range
   * (`completions.ts`): the middle of that interval. -1 otherwise.
   */
  lostAtNs: number;
  /** Map only: the grouping came from the look-ahead heuristic, not from an unmap or a `dma:*` event. */
  inferred: boolean;
}

export type FindingKind = "unmap-never-mapped" | "double-unmap" | "size-mismatch" | "live-at-end" | "map-overlap";

/** A problem the kernel's DMA-API debugging (kernel/dma/debug.c) would report, with its trace line. */
export interface Finding {
  kind: FindingKind;
  line: number;
  domain: string;
  device: string | undefined;
  iova: number;
  sizeBytes: number;
  /** Other lines involved: the map of a mismatched unmap, the first unmap of a double unmap. */
  relatedLines: number[];
  /** `FILE:LINE: DMA-API: ...`. */
  message: string;
}

export interface ReconstructOptions {
  machine: TraceMachine;
  /** File name in finding messages. */
  file?: string;
  /** Events a map waits for the unmap or dma event that groups it (default 16384). */
  lookAheadEvents?: number;
  /** Findings kept in `findings` (default 1000); `findingCounts` is always exact. */
  maxFindings?: number;
  /**
   * The lines of unmaps that free mappings made before a mid-life trace
   * began (the replay proves them: `replay/live-at-start.ts`): the mapping
   * is not in the trace, and the driver did map it, so no finding.
   */
  madeBeforeTrace?: ReadonlySet<number>;
}

export interface ReconstructStats {
  /** Map calls per domain. */
  allocations: Map<string, number>;
  /** Unmap calls per domain. */
  frees: Map<string, number>;
  /** Map calls whose grouping came from the heuristic. */
  inferred: number;
  /** Boot-time direct-mapping events left out (map and unmap). */
  directEvents: number;
  /** `dma:*` map/unmap calls with no IOVA behind them (identity or no-IOMMU device). */
  untranslated: number;
  /** `dma_free` of a NULL buffer, which frees nothing. */
  nullFrees: number;
  /** `dma_map_sg_err` / `dma_alloc_sgt_err`. */
  failedCalls: number;
  /** A `dma_unmap_sg`/`dma_free` whose unmap the end of the trace cut off. */
  cutAtEnd: number;
  /** Largest number of calls waiting in the look-ahead window. */
  windowMax: number;
  /** Unmaps of mappings made before the trace began (`madeBeforeTrace`), which are no finding. */
  beforeTraceUnmaps: number;
}

export type CallSink = (call: DmaCall) => void;

const DEFAULT_LOOK_AHEAD = 16384;
/**
 * How many look-aheads a streaming mapping still live waits, with `dma:*`
 * events, for its unmap or a later map of its range. A large request's
 * range comes back slowly: of the ranges whose unmaps the 6.12
 * lazy-timers trace lost with thirty interrupts taken out, 8 of 338 were
 * mapped again more than one look-ahead later (at most 52,072 events),
 * and the magazines of their size class were filled otherwise meanwhile.
 * An NVMe request lives a few milliseconds: only lost unmaps and
 * long-lived buffers wait so long, and the calls behind them with them.
 */
const LOST_HOLD = 4;
/** An unmap's `mapLines` and `mapOffsets`: one shared empty array (never written). */
const NO_MAP_LINES: number[] = [];
/** The `mapOffsets` of every one-piece mapping (never written). */
const ONE_PIECE_OFFSETS: number[] = [0];
const FREED_MEMORY = 1 << 20;
const NO_RANGES: readonly { start: number; end: number }[] = [];

/** `Rec.kind`: a map event that heads its allocation (or is still undecided). */
const MAP = 0;
/** `Rec.kind`: a map event absorbed into an allocation that another record heads. */
const ABSORBED = 2;

/**
 * One record per map event: its place in the look-ahead queue, the piece
 * of mapping it made and, once grouped, the allocation, which its first
 * map event's record carries.
 */
class Rec {
  /** Events pushed before it: the look-ahead window counts from it. */
  readonly seq: number;
  /** The line of its event: the calls it emits are traced on or after it. */
  readonly line: number;
  kind: number;
  /** Its grouping is decided: it may leave the queue. */
  closed: boolean;
  readonly e: IommuMapEvent;
  /** End of the map event's IOVA range. */
  readonly fragEnd: number;
  /** The allocation (its head record) this map event went into, once decided. */
  alloc: Rec | null = null;
  /** The next map event on this CPU and task when it continued this one's IOVAs. */
  next: Rec | null = null;
  prev: Rec | null = null;
  /** Index in `Reconstructor.unclaimedRecs` while the map event is there, else -1. */
  uid = -1;
  /** When its page entered `unclaimed`: the order a Map's iteration would give. */
  serial = 0;

  // The allocation, on its head record.
  domain: DomainState | null = null;
  iova = 0;
  end = 0;
  pieces = 0;
  /** Every line of an allocation of several pieces (`lines`); null for one piece, whose lines are made when asked for. */
  manyLines: number[] | null = null;
  /** The line of the `dma:*` event that named the allocation, or -1. */
  dmaLine = -1;
  /** Each map event's line, in IOVA order, of an allocation of several pieces; null for one piece (its own line). */
  manyMapLines: number[] | null = null;
  mapOffsets: number[] = NO_MAP_LINES;
  inferred = false;
  device: string | undefined = undefined;
  api: string | undefined = undefined;
  requestedBytes: number | undefined = undefined;
  dmaAddr: number | undefined = undefined;
  number = 0;
  /** The allocation still mapped in the trace that this one's range overlaps (`DmaCall.reuses`), or null. */
  reusesRec: Rec | null = null;
  /** A map event on a page of an allocation the trace still held mapped, whose unmap was lost (`onMap`), until claimed. */
  lostOf: Rec | null = null;
  /** A later map took this allocation's range while the trace still held it (`DmaCall.unmapLost`). */
  unmapLost = false;
  /** Where `unmapLost`: `DmaCall.lostAtNs`. */
  lostAtNs = -1;
  /** Index in `DomainState.byId` while its pages are in `DomainState.pages`, else -1. */
  id = -1;

  constructor(seq: number, e: IommuMapEvent) {
    this.seq = seq;
    this.line = e.line;
    this.kind = MAP;
    this.closed = false;
    this.e = e;
    this.fragEnd = e.iova + e.size;
  }

  /**
   * Every trace line of the allocation: its map events' and its `dma:*`
   * event's. Nearly every allocation has one piece, and its lines are only
   * read for a finding or by a caller that asks for them: those are made
   * when asked for (a dma event follows its map events, so they are in order).
   */
  get lines(): number[] {
    if (this.manyLines !== null) return this.manyLines;
    return this.dmaLine < 0 ? [this.line] : [this.line, this.dmaLine];
  }
}

/**
 * A call as the reconstruction hands it on: one class for maps and unmaps,
 * so the replay reads one shape. An unmap is its own place in the
 * look-ahead queue (one object per unmap event); its `lines` are those of
 * the events around it that belong to it, known once it leaves the queue.
 */
class TraceCall implements DmaCall {
  readonly kind: "map" | "unmap";
  allocation: number;
  domain: string;
  device: string | undefined;
  api: string | undefined;
  readonly iova: number;
  readonly sizeBytes: number;
  readonly requestedBytes: number | undefined;
  readonly dmaAddr: number | undefined;
  readonly pieces: number;
  readonly mapOffsets: number[];
  readonly cpu: number;
  readonly irq: boolean;
  readonly irqKnown: boolean;
  readonly reuses: number;
  readonly reusesCpu: number;
  readonly unmapLost: boolean;
  readonly lostAtNs: number;
  readonly pid: number;
  readonly comm: string;
  readonly timestampNs: number;
  readonly line: number;
  readonly inferred: boolean;
  // An unmap's place in the queue, private: a call handed on has the fields of a `DmaCall` and no more.
  readonly #seq: number;
  #closed: boolean;
  /** The allocation an unmap frees, until it leaves the queue. */
  #alloc: Rec | null;
  /** The line of the `dma_unmap_sg`/`dma_free` before an unmap and of the `dma_unmap_*` after it, or -1. */
  readonly #hintLine: number;
  #dmaLine = -1;
  /** An unmap that turned out to free no mapping of the trace (`onDmaUnmap`): never handed on. */
  #dropped = false;
  /**
   * An unmap whose size differs from the mapping first taken for it, to be
   * judged once the `dma_unmap_page` after it names its device (`settleSize`).
   */
  sizePending = false;
  /** A map's lines when it has several pieces (sorted once); else null, and `lines` makes them when asked for. */
  readonly #lines: number[] | null;
  /** A map's map event lines when it has several pieces; null for one piece (`mapLines` makes them when asked for). */
  readonly #mapLines: number[] | null;

  /**
   * A map of allocation `a` (`e` its first map event), or an unmap of it
   * (`e` the unmap event, `hintLine` its `dma_unmap_sg`/`dma_free`'s line).
   */
  constructor(
    kind: "map" | "unmap",
    seq: number,
    a: Rec,
    e: EventHead,
    sizeBytes: number,
    domain: string,
    device: string | undefined,
    api: string | undefined,
    hintLine: number,
  ) {
    const map = kind === "map";
    this.kind = kind;
    this.allocation = map ? a.number : 0;
    this.domain = domain;
    this.device = device;
    this.api = api;
    this.iova = a.iova;
    this.sizeBytes = sizeBytes;
    this.requestedBytes = map ? a.requestedBytes : undefined;
    this.dmaAddr = map ? a.dmaAddr : undefined;
    this.pieces = map ? a.pieces : 0;
    this.#mapLines = map ? a.manyMapLines : NO_MAP_LINES;
    this.mapOffsets = map ? a.mapOffsets : NO_MAP_LINES;
    this.cpu = e.cpu;
    this.irq = inInterrupt(e.flags);
    this.irqKnown = e.flags !== "";
    this.reuses = map && a.reusesRec !== null ? a.reusesRec.number : 0;
    this.reusesCpu = map && a.reusesRec !== null ? a.reusesRec.e.cpu : -1;
    this.unmapLost = map && a.unmapLost;
    this.lostAtNs = map && a.unmapLost ? a.lostAtNs : -1;
    this.pid = e.pid;
    this.comm = e.comm;
    this.timestampNs = e.timestampNs;
    this.line = e.line;
    this.#lines = map && a.manyLines !== null ? sortLines(a.manyLines) : null;
    if (map) this.#dmaLine = a.dmaLine;
    this.inferred = map ? a.inferred : false;
    this.#seq = seq;
    this.#closed = map || hintLine >= 0;
    this.#alloc = map ? null : a;
    this.#hintLine = hintLine;
  }

  get seq(): number {
    return this.#seq;
  }

  get closed(): boolean {
    return this.#closed;
  }

  set closed(v: boolean) {
    this.#closed = v;
  }

  get alloc(): Rec | null {
    return this.#alloc;
  }

  set alloc(a: Rec | null) {
    this.#alloc = a;
  }

  get dropped(): boolean {
    return this.#dropped;
  }

  set dropped(v: boolean) {
    this.#dropped = v;
  }

  get hintLine(): number {
    return this.#hintLine;
  }

  /** Map only: each map event's line, in IOVA order (a one-piece map's is its own line, made when asked for). */
  get mapLines(): number[] {
    return this.#mapLines ?? [this.line];
  }

  /**
   * Every trace line of the call, ascending: a map's map events and its
   * `dma:*` event; an unmap's `dma_unmap_sg`/`dma_free`, its unmap and its
   * `dma_unmap_*` (known once it has left the queue). Made when asked for:
   * the replay never reads them.
   */
  get lines(): number[] {
    if (this.#lines !== null) return this.#lines;
    if (this.kind === "map") return this.#dmaLine < 0 ? [this.line] : [this.line, this.#dmaLine];
    const lines = new Array<number>(1 + (this.#hintLine >= 0 ? 1 : 0) + (this.#dmaLine >= 0 ? 1 : 0));
    let n = 0;
    if (this.#hintLine >= 0) lines[n++] = this.#hintLine;
    lines[n++] = this.line;
    if (this.#dmaLine >= 0) lines[n++] = this.#dmaLine;
    return sortLines(lines);
  }

  get dmaLine(): number {
    return this.#dmaLine;
  }

  set dmaLine(line: number) {
    this.#dmaLine = line;
  }
}

type QueueEntry = Rec | TraceCall;

class DomainState {
  readonly name: string;
  readonly spec: TraceDomainSpec | null;
  /** Its place in `Reconstructor.domainList`. */
  readonly index: number;
  /** Live allocations: first page -> `id` in `byId` (a live allocation always has one). */
  readonly live = new PfnMap(256);
  /** Every live page -> the `id` of its allocation in `byId`, for overlap and inside-a-mapping checks. */
  readonly pages = new PageOwners();
  /** Allocations with pages in `pages`, by `id`; free ids in `freeIds`. */
  readonly byId: (Rec | null)[] = [];
  private readonly freeIds: number[] = [];
  readonly directLive = new Map<number, number>();
  /** Recently freed first pages -> the unmap's line, to tell a double unmap from a never-mapped address. */
  readonly freed = new FreedPages(FREED_MEMORY);
  nextNumber = 1;
  constructor(name: string, spec: TraceDomainSpec | null, index: number) {
    this.name = name;
    this.spec = spec;
    this.index = index;
  }

  /** The allocation holding page `p`, if live. */
  pageOwner(p: number): Rec | undefined {
    const id = this.pages.get(p);
    return id < 0 ? undefined : (this.byId[id] as Rec);
  }

  /** The live allocation whose first page is `p`. */
  liveAt(p: number): Rec | undefined {
    if (this.live.size === 0) return undefined;
    const id = this.live.get(p);
    return id === undefined ? undefined : (this.byId[id] as Rec);
  }

  /** Gives `a` an id for `pages`. */
  track(a: Rec): number {
    if (a.id < 0) {
      const id = this.freeIds.pop();
      if (id === undefined) {
        a.id = this.byId.length;
        this.byId.push(a);
      } else {
        a.id = id;
        this.byId[id] = a;
      }
    }
    return a.id;
  }

  /** Drops `a`'s id once no page names it. */
  untrack(a: Rec): void {
    if (a.id < 0) return;
    this.byId[a.id] = null;
    this.freeIds.push(a.id);
    a.id = -1;
  }
}

/** Sorts a call's few lines ascending in place (they are nearly always so already). */
function sortLines(xs: number[]): number[] {
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    let j = i - 1;
    while (j >= 0 && xs[j] > x) {
      xs[j + 1] = xs[j];
      j--;
    }
    xs[j + 1] = x;
  }
  return xs;
}

interface CpuState {
  lastMap: Rec | null;
  /** `dma_unmap_sg` / `dma_free` waiting for the unmap that follows it. */
  preUnmap: DmaUnmapSgEvent | DmaFreeEvent | null;
  /** An unmap call waiting for the `dma_unmap_*` that follows it. */
  pendingUnmap: TraceCall | null;
  /** `seq` of the CPU's last `dma_map_*`/`dma_alloc` event: its map events up to it have had theirs. */
  dmaMapSeq: number;
  /** An unmap that frees no mapping of the trace, waiting for the `dma_unmap_page` that names its device. */
  pendingBad: IommuUnmapEvent | null;
  /** The line of the CPU's last event if it was an unmap of a mapping made before the trace (`madeBeforeTrace`), else -1. */
  beforeTraceUnmap: number;
}

/** Hardirq/softirq/NMI marks of the flags column's third character (`d.h1.`, `..s1.`, `dNH..`). */
export function inInterrupt(flags: string): boolean {
  if (flags.length < 4) return false;
  const c = flags.charCodeAt(2);
  // h H s S z Z (S is not printed today, kept for symmetry).
  return c === 104 || c === 72 || c === 115 || c === 83 || c === 122 || c === 90;
}

export class Reconstructor {
  readonly stats: ReconstructStats = {
    allocations: new Map(),
    frees: new Map(),
    inferred: 0,
    directEvents: 0,
    untranslated: 0,
    nullFrees: 0,
    failedCalls: 0,
    cutAtEnd: 0,
    windowMax: 0,
    beforeTraceUnmaps: 0,
  };
  readonly findings: Finding[] = [];
  readonly findingCounts = new Map<FindingKind, number>();

  private readonly machine: TraceMachine;
  private readonly file: string;
  private readonly granule: number;
  private readonly window: number;
  private readonly maxFindings: number;
  private readonly madeBeforeTrace: ReadonlySet<number> | undefined;
  private readonly sink: CallSink;
  private readonly domains = new Map<string, DomainState>();
  /** `domains` as an array, for the per-event loops (no iterator per event). */
  private readonly domainList: DomainState[] = [];
  /** Every domain's boot-time direct mappings, flattened. */
  private readonly directRanges: { domain: string; start: number; end: number }[] = [];
  private readonly byDevice = new Map<string, DomainState>();
  /** Map events not yet grouped: first page -> `uid` in `unclaimedRecs` (typed arrays: one set and delete per map event). */
  private readonly unclaimed = new PfnMap(1024);
  private readonly unclaimedRecs: (Rec | null)[] = [];
  private readonly freeUids: number[] = [];
  private unclaimedSerial = 0;
  /**
   * An unclaimed map event displaced from `unclaimed` by another CPU's at the
   * same IOVA: two devices' domains hand out the same IOVAs, and each CPU's
   * `dma_map_*` event, which follows its map, says whose each one is.
   */
  private readonly shadowed = new Map<number, Rec>();
  private readonly cpus: CpuState[] = [];
  /** The map events of the allocation being decided (`runFrom`, `claimInferred`): one array reused, its length in `runLength`. */
  private readonly run: Rec[] = [];
  private runLength = 0;
  private queue: QueueEntry[] = [];
  private head = 0;
  private seq = 0;
  /** The traced unmaps of the look-ahead, for `lostAtNs`. */
  private readonly completions: Completions;
  private lastLine = 0;
  private ended = false;
  /**
   * The trace has shown a `dma_map_*`/`dma_alloc` event: it has `dma:*`
   * events, so map events are followed by theirs and unmaps without a
   * `dma_unmap_sg`/`dma_free` before them by a `dma_unmap_page`.
   */
  private dmaEvents = false;

  constructor(options: ReconstructOptions, sink: CallSink) {
    this.machine = options.machine;
    this.file = options.file ?? "trace";
    this.granule = options.machine.granule ?? 4096;
    this.window = options.lookAheadEvents ?? DEFAULT_LOOK_AHEAD;
    this.maxFindings = options.maxFindings ?? 1000;
    this.madeBeforeTrace = options.madeBeforeTrace;
    this.sink = sink;
    assert(this.window >= 1, "lookAheadEvents must be at least 1");
    this.completions = new Completions(this.window * LOST_HOLD);
    for (const spec of options.machine.domains) {
      const d = new DomainState(spec.name, spec, this.domainList.length);
      this.domains.set(spec.name, d);
      this.domainList.push(d);
      for (const r of spec.directMappings ?? [])
        this.directRanges.push({ domain: spec.name, start: r.start, end: r.end });
      for (const dev of spec.devices) this.byDevice.set(dev, d);
    }
  }

  /**
   * Every call still to be emitted is traced on or after this line: the
   * first held record's, or past the last event read. A replay that holds
   * timer events for calls still to come may run those before it.
   */
  horizonLine(): number {
    return this.head < this.queue.length ? this.queue[this.head].line : this.lastLine + 1;
  }

  /** Takes the next event in trace order; calls whose grouping is decided go to the sink. */
  push(e: TraceEvent): void {
    assert(!this.ended, "push after end");
    this.lastLine = e.line;
    // Timer and work events belong to no DMA call (the replay reads them).
    if (isKernelWorkEvent(e)) return;
    const cpu = this.cpu(e.cpu);
    if (e.type !== "dma_unmap" && e.type !== "iommu_unmap") cpu.beforeTraceUnmap = -1;
    if (cpu.pendingBad !== null && e.type !== "dma_unmap") this.settleBad(cpu, undefined);
    if (cpu.pendingUnmap !== null && e.type !== "dma_unmap") {
      cpu.pendingUnmap.closed = true;
      this.settleSize(cpu.pendingUnmap);
      cpu.pendingUnmap = null;
    }
    if (cpu.preUnmap !== null && e.type !== "iommu_unmap") {
      // A dma_unmap_sg / dma_free with no unmap after it: the buffer had no IOVA.
      this.stats.untranslated++;
      cpu.preUnmap = null;
    }
    switch (e.type) {
      case "iommu_map":
        this.seq++;
        this.onMap(e, cpu);
        break;
      case "iommu_unmap":
        this.seq++;
        this.onUnmap(e, cpu);
        break;
      case "dma_map":
      case "dma_alloc":
      case "dma_map_sg":
        this.seq++;
        this.dmaEvents = true;
        cpu.dmaMapSeq = this.seq;
        this.onDmaMap(e);
        break;
      case "dma_unmap":
        this.seq++;
        this.onDmaUnmap(e, cpu);
        break;
      case "dma_unmap_sg":
        this.seq++;
        cpu.preUnmap = e;
        break;
      case "dma_free":
        this.seq++;
        if (e.nullCpuAddr || e.size === 0) this.stats.nullFrees++;
        else cpu.preUnmap = e;
        break;
      case "dma_error":
        this.stats.failedCalls++;
        break;
      case "dma_sync":
        break;
    }
    this.drain(false);
  }

  /** Ends the trace: decides every waiting call, then reports the mappings still live. */
  end(): void {
    if (this.ended) return;
    for (const c of this.cpus) {
      if (c === undefined) continue;
      // The trace ended between a dma_unmap_sg/dma_free and its unmap.
      if (c.preUnmap !== null) this.stats.cutAtEnd++;
      c.preUnmap = null;
      if (c.pendingBad !== null) this.settleBad(c, undefined);
      if (c.pendingUnmap !== null) {
        c.pendingUnmap.closed = true;
        this.settleSize(c.pendingUnmap);
      }
      c.pendingUnmap = null;
    }
    this.drain(true);
    this.ended = true;
    const live: Rec[] = [];
    for (const d of this.domains.values())
      d.live.forEach((_p, id) => {
        live.push(d.byId[id] as Rec);
      });
    live.sort((a, b) => a.line - b.line);
    for (const a of live) {
      this.finding(
        "live-at-end",
        a.line,
        a,
        a.lines.slice(1),
        `mapping still live at the end of the trace [device address=${hex16(a.iova)}] [size=${a.end - a.iova} bytes] [mapped with ${a.api ?? "iommu:map"}]`,
      );
    }
  }

  private cpu(n: number): CpuState {
    let c = this.cpus[n];
    if (c === undefined) {
      c = { lastMap: null, preUnmap: null, pendingUnmap: null, dmaMapSeq: 0, pendingBad: null, beforeTraceUnmap: -1 };
      this.cpus[n] = c;
    }
    return c;
  }

  private domainNamed(name: string): DomainState {
    let d = this.domains.get(name);
    if (d === undefined) {
      d = new DomainState(name, null, this.domainList.length);
      this.domains.set(name, d);
      this.domainList.push(d);
    }
    return d;
  }

  private domainOfDevice(device: string): DomainState {
    const d = this.byDevice.get(device);
    if (d !== undefined) return d;
    // A device the description does not know gets a domain of its own, named after it.
    const own = this.domainNamed(device);
    this.byDevice.set(device, own);
    return own;
  }

  /** The domain of a device-less range: a machine range, else the default domain. */
  private domainOfRange(start: number, end: number): DomainState {
    for (const spec of this.machine.domains) {
      for (const r of spec.iovaRanges ?? NO_RANGES)
        if (start >= r.start && end <= r.end) return this.domainNamed(spec.name);
    }
    if (this.machine.defaultDomain !== undefined) return this.domainNamed(this.machine.defaultDomain);
    if (this.machine.domains.length === 1) return this.domainNamed(this.machine.domains[0].name);
    return this.domainNamed("unknown");
  }

  private page(addr: number): number {
    return Math.floor(addr / this.granule);
  }

  /** The unclaimed map event at page `p`. */
  private unclaimedAt(p: number): Rec | undefined {
    const uid = this.unclaimed.get(p);
    return uid === undefined ? undefined : (this.unclaimedRecs[uid] as Rec);
  }

  /** Puts `f` at page `p` of `unclaimed`, in the place of the one there (a Map's `set`). */
  private setUnclaimed(p: number, f: Rec): void {
    const uid = this.unclaimed.get(p);
    if (uid !== undefined) {
      const old = this.unclaimedRecs[uid] as Rec;
      old.uid = -1;
      f.serial = old.serial;
      f.uid = uid;
      this.unclaimedRecs[uid] = f;
      return;
    }
    let id = this.freeUids.pop();
    if (id === undefined) {
      id = this.unclaimedRecs.length;
      this.unclaimedRecs.push(f);
    } else this.unclaimedRecs[id] = f;
    f.uid = id;
    f.serial = ++this.unclaimedSerial;
    this.unclaimed.set(p, id);
  }

  /** Takes `f`, which is there, off page `p` of `unclaimed`. */
  private deleteUnclaimed(p: number, f: Rec): void {
    this.unclaimed.delete(p);
    this.unclaimedRecs[f.uid] = null;
    this.freeUids.push(f.uid);
    f.uid = -1;
  }

  private onMap(e: IommuMapEvent, cpu: CpuState): void {
    if (e.paddr === e.iova) {
      for (const r of this.directRanges) {
        if (e.iova >= r.start && e.iova + e.size <= r.end) {
          this.domainNamed(r.domain).directLive.set(this.page(e.iova), e.iova + e.size);
          this.stats.directEvents++;
          return;
        }
      }
    }
    const f = new Rec(this.seq, e);
    const prev = cpu.lastMap;
    if (prev !== null && prev.alloc === null && prev.fragEnd === e.iova && prev.e.pid === e.pid) {
      prev.next = f;
      f.prev = prev;
    }
    cpu.lastMap = f;
    const p = this.page(e.iova);
    const older = this.unclaimedAt(p);
    // Two live map events at one IOVA: the older must have been another allocation; decide it now,
    // unless another CPU mapped it (another domain's, its dma event still to come on its CPU). With no dma:*
    // events to name a domain, on one CPU the kernel handed the IOVA out again, so it was freed: the older
    // allocation's unmap is lost (`DmaCall.reuses`). With them, another domain's dma event may still be to come.
    if (older !== undefined) {
      if (older.e.cpu !== e.cpu && !this.shadowed.has(p)) this.shadowed.set(p, older);
      else {
        const a = this.claimInferred(older);
        if (!this.dmaEvents) {
          this.forget(a);
          f.lostOf = a;
          this.markLost(a, f);
        }
      }
    }
    this.setUnclaimed(p, f);
    this.enqueue(f);
  }

  /** Adds `f` to the run being decided. */
  private runAdd(f: Rec): void {
    if (this.runLength < this.run.length) this.run[this.runLength] = f;
    else this.run.push(f);
    this.runLength++;
  }

  /** The unclaimed map events that continue each other from `start`, up to `end` at most, into `run`; returns how many. */
  private runFrom(start: number, end: number, cpu: number): number {
    this.runLength = 0;
    let pos = start;
    while (pos < end) {
      const pg = this.page(pos);
      let f = this.unclaimedAt(pg);
      if (cpu >= 0 && (f === undefined || f.e.cpu !== cpu) && this.shadowed.size > 0) f = this.shadowed.get(pg) ?? f;
      if (f === undefined) break;
      const fe = f.e;
      if (fe.iova !== pos) break;
      if (cpu >= 0 && fe.cpu !== cpu) break;
      this.runAdd(f);
      pos = f.fragEnd;
    }
    return this.runLength;
  }

  private onDmaMap(e: DmaMapEvent | DmaAllocEvent | DmaMapSgEvent): void {
    let start: number;
    let end: number;
    if (e.type === "dma_map_sg") {
      if (e.dmaAddrs.length === 0) return;
      start = Number.POSITIVE_INFINITY;
      end = 0;
      for (let i = 0; i < e.dmaAddrs.length; i++) {
        start = Math.min(start, e.dmaAddrs[i]);
        end = Math.max(end, e.dmaAddrs[i] + e.sizes[i]);
      }
      // Cut arrays: the mapping may go on past the last segment shown.
      if (e.truncated) end = Number.POSITIVE_INFINITY;
    } else {
      if (e.size === 0) return;
      start = e.dmaAddr;
      end = e.dmaAddr + e.size;
    }
    start -= start % this.granule;
    if (end !== Number.POSITIVE_INFINITY) end = Math.ceil(end / this.granule) * this.granule;
    const n = this.runFrom(start, end, e.cpu);
    const covered = n > 0 ? this.run[n - 1].fragEnd : start;
    if (n === 0 || (end !== Number.POSITIVE_INFINITY && covered !== end)) {
      // No map events behind it: an identity (or IOMMU-less) device, or a buffer inside a mapping already made.
      this.stats.untranslated++;
      return;
    }
    const a = this.claim(n, this.domainOfDevice(e.device), false, e.line);
    a.device = e.device;
    a.api = e.name;
    if (e.type === "dma_map_sg") {
      a.dmaAddr = e.dmaAddrs[0];
      let sum = 0;
      for (let i = 0; i < e.sizes.length; i++) sum += e.sizes[i];
      a.requestedBytes = sum;
    } else {
      a.dmaAddr = e.dmaAddr;
      a.requestedBytes = e.size;
    }
  }

  private claimInferred(f: Rec): Rec {
    while (f.prev !== null && f.prev.alloc === null) f = f.prev;
    const start = f.e.iova;
    this.runLength = 0;
    this.runAdd(f);
    while (f.next !== null && f.next.alloc === null) {
      f = f.next;
      this.runAdd(f);
    }
    const a = this.claim(this.runLength, this.domainOfRange(start, f.fragEnd), true, -1);
    this.stats.inferred++;
    return a;
  }

  /**
   * Makes one allocation of the `n` consecutive map events in `run`, headed by the first one's record,
   * which keeps its place in the queue. `dmaLine`: the line of the `dma:*` event that named it, or -1.
   */
  private claim(n: number, domain: DomainState, inferred: boolean, dmaLine: number): Rec {
    const run = this.run;
    const a = run[0];
    const first = a.e;
    a.domain = domain;
    a.iova = first.iova;
    a.end = run[n - 1].fragEnd;
    a.pieces = n;
    a.inferred = inferred;
    a.dmaLine = dmaLine;
    if (n === 1) {
      // One piece: its lines are made when asked for (`Rec.lines`).
      a.manyMapLines = null;
      a.manyLines = null;
      a.mapOffsets = ONE_PIECE_OFFSETS;
    } else {
      // Sized once: a line pushed later would copy the array into a larger one.
      const lines = new Array<number>(dmaLine < 0 ? n : n + 1);
      if (dmaLine >= 0) lines[n] = dmaLine;
      const mapLines = new Array<number>(n);
      const mapOffsets = new Array<number>(n);
      for (let i = 0; i < n; i++) {
        const e = run[i].e;
        lines[i] = e.line;
        mapLines[i] = e.line;
        mapOffsets[i] = e.iova - a.iova;
      }
      a.manyLines = lines;
      a.manyMapLines = mapLines;
      a.mapOffsets = mapOffsets;
    }
    // Shadowed map events are rare (two domains' IOVAs in flight at once): no look-up while there are none.
    const shadowed = this.shadowed.size > 0 ? this.shadowed : null;
    let olders: Rec[] | null = null;
    for (let i = 0; i < n; i++) {
      const f = run[i];
      f.alloc = a;
      if (f.uid >= 0) {
        const pg = this.page(f.e.iova);
        if (this.unclaimed.get(pg) === f.uid) this.deleteUnclaimed(pg, f);
      }
      if (shadowed !== null) {
        const pg = this.page(f.e.iova);
        const older = shadowed.get(pg);
        if (older === f) shadowed.delete(pg);
        else if (older !== undefined && !this.dmaEvents && older.alloc === null && older.seq < f.seq)
          (olders ??= []).push(older);
      }
      f.closed = true;
      f.kind = i === 0 ? MAP : ABSORBED;
    }
    const last = run[n - 1];
    if (last.next !== null && last.next.alloc === null) last.next.prev = null;
    last.next = null;
    if (a.prev !== null) a.prev.next = null;
    a.prev = null;
    const id = domain.track(a);
    const o = domain.pages.claim(this.page(a.iova), this.page(a.end), id);
    const overlap = o < 0 ? undefined : (domain.byId[o] as Rec);
    // A later map's allocation over this one, grouped first: this one lost its unmap (`lostToLaterMap`).
    if (overlap !== undefined && (this.dmaEvents || overlap.seq < a.seq)) {
      this.overlapFinding(a, overlap);
      this.forget(overlap);
      a.reusesRec = overlap;
      this.markLost(overlap, a);
    }
    // A piece whose page an allocation the trace still held mapped had (`onMap`): that one's unmap was lost.
    for (let i = 0; i < n; i++) {
      const lost = run[i].lostOf;
      if (lost === null) continue;
      run[i].lostOf = null;
      if (a.reusesRec !== null) continue;
      a.reusesRec = lost;
      this.overlapFinding(a, lost);
    }
    const firstPage = this.page(a.iova);
    domain.live.set(firstPage, id);
    domain.freed.delete(firstPage);
    if (olders !== null) for (const f of olders) this.lostAcrossCpus(a, f);
    return a;
  }

  /**
   * Allocation `a`, grouped by the look-ahead heuristic (no unmap came for
   * it), where a later map in the look-ahead took part of its range: the
   * kernel never hands out an IOVA of a live mapping, so `a`'s unmap was
   * lost. Without `dma:*` events a map waits for its unmap to be grouped,
   * so that later map was grouped first, and may start inside `a` or hold
   * `a`'s first page in its middle (6.1 lazy-timers line 17687 maps
   * 0xbf200000-0xbf247000 over 0xbf240000, mapped at 17511, whose unmap an
   * interrupt took with it). Looked for only here, where a mapping has
   * outlived the look-ahead: a driver's long-lived buffers and lost unmaps.
   */
  private lostToLaterMap(a: Rec): void {
    const q = this.queue;
    for (let i = this.head + 1; i < q.length; i++) {
      const f = q[i];
      if (f instanceof TraceCall || f.alloc === null || f.alloc === a || f.seq < a.seq) continue;
      if (f.e.iova >= a.end || f.fragEnd <= a.iova || f.alloc.domain !== a.domain) continue;
      const by = f.alloc;
      this.forget(a);
      // Its claim took the pages `by` still holds.
      if (by.id >= 0) this.remember(by);
      this.markLost(a, by);
      if (by.reusesRec === null) {
        by.reusesRec = a;
        this.overlapFinding(by, a);
      }
      return;
    }
  }

  /** A `map-overlap` finding: `a` maps a range the trace still holds mapped for `live`. */
  private overlapFinding(a: Rec, live: Rec): void {
    this.finding(
      "map-overlap",
      a.line,
      a,
      [live.line],
      `map of an IOVA range still mapped [device address=${hex16(a.iova)}] [size=${a.end - a.iova} bytes] [live mapping at ${hex16(live.iova)}, line ${live.line}]`,
    );
  }

  /**
   * Allocation `a` was claimed while map event `older`, another CPU's on
   * one of its pages, is still unclaimed (`shadowed`). With `dma:*` events
   * that is two domains' IOVAs in flight at once, the other's event still to
   * come. Without them every range of the trace falls in one domain
   * (`domainOfRange`), so the kernel handed `older`'s range out again while
   * the trace held it: `older`'s unmap is lost, as on one CPU (`onMap`). An
   * unmap traced late by another CPU's clock would have claimed `older` by
   * now: `a` is claimed at its own unmap, or a look-ahead later.
   */
  private lostAcrossCpus(a: Rec, older: Rec): void {
    if (older.alloc !== null) return;
    this.forget(a);
    const lost = this.claimInferred(older);
    this.forget(lost);
    this.markLost(lost, a);
    this.remember(a);
    if (a.reusesRec !== null) return;
    a.reusesRec = lost;
    this.overlapFinding(a, lost);
  }

  /** The trace lost `a`'s unmap (`DmaCall.unmapLost`), as map `by` showed: when it most likely ran (`DmaCall.lostAtNs`). */
  private markLost(a: Rec, by: Rec): void {
    if (a.unmapLost) return;
    a.unmapLost = true;
    const d = a.domain as DomainState | null;
    if (d === null) return;
    a.lostAtNs = this.completions.lostAt(a.e.cpu, d.index, a.seq, a.e.timestampNs, by.e.timestampNs);
  }

  /** Puts an allocation dropped by `forget` back into its domain's live set. */
  private remember(a: Rec): void {
    const d = a.domain as DomainState;
    const id = d.track(a);
    d.pages.claim(this.page(a.iova), this.page(a.end), id);
    d.live.set(this.page(a.iova), id);
  }

  /** Drops an allocation from its domain's live set (unmap, or overwritten by an overlapping map). */
  private forget(a: Rec): void {
    const d = a.domain as DomainState;
    const first = this.page(a.iova);
    // A live allocation is tracked: one without an id is in no live set.
    if (a.id < 0) return;
    if (d.live.get(first) === a.id) d.live.delete(first);
    d.pages.release(first, this.page(a.end), a.id);
    d.untrack(a);
  }

  private onUnmap(e: IommuUnmapEvent, cpu: CpuState): void {
    cpu.beforeTraceUnmap = this.madeBeforeTrace?.has(e.line) === true ? e.line : -1;
    const hint = cpu.preUnmap;
    cpu.preUnmap = null;
    const p = this.page(e.iova);
    const end = e.iova + e.size;
    const domains = this.domainList;
    for (let i = 0; i < domains.length; i++) {
      const d = domains[i];
      if (d.directLive.size > 0 && d.directLive.get(p) === end) {
        d.directLive.delete(p);
        this.stats.directEvents++;
        return;
      }
    }
    const hinted = hint !== null ? this.domainOfDevice(hint.device) : null;
    let a = this.liveAt(p, end, hinted);
    if (a === undefined) {
      const n = this.runFrom(e.iova, end, -1);
      if (n > 0) {
        a = this.claim(n, hinted ?? this.domainOfRange(e.iova, end), false, -1);
      } else {
        // Unmap of the middle of an unclaimed mapping: decide that mapping, then judge the unmap against it.
        const inside = this.unclaimedContaining(e.iova);
        if (inside !== undefined) a = this.claimInferred(inside);
      }
    }
    if (a === undefined && hint === null && this.dmaEvents) {
      // It frees no mapping of the trace: the dma_unmap_page after it names the device, whose domain judges it
      // (another domain may have mapped or freed the same IOVA: two devices' domains hand out the same IOVAs).
      cpu.pendingBad = e;
      return;
    }
    if (a === undefined || a.iova !== e.iova) {
      this.noMapping(e, hinted ?? this.domainOfRange(e.iova, end), hint?.device, a);
      return;
    }
    // Where a dma_unmap_page follows (no dma_unmap_sg or dma_free before), the device it names may show the unmap
    // frees another domain's mapping at this IOVA (two devices' domains hand out the same IOVAs): judged then.
    const sizePending = a.end !== end && hint === null && this.dmaEvents;
    if (a.end !== end && !sizePending) this.sizeMismatch(a, e.line, e.size);
    this.forget(a);
    const domain = a.domain as DomainState;
    domain.freed.set(p, e.line);
    this.completions.add(a.e.cpu, domain.index, a.seq, a.e.timestampNs, e.timestampNs);
    const s = new TraceCall(
      "unmap",
      this.seq,
      a,
      e,
      e.size,
      domain.name,
      hint?.device ?? a.device,
      hint?.name,
      hint !== null ? hint.line : -1,
    );
    s.sizePending = sizePending;
    if (hint === null) cpu.pendingUnmap = s;
    this.enqueue(s);
  }

  /** Unmap `e` frees no mapping of the trace in domain `d` that starts at its IOVA (`inside`: one it lies in). */
  private noMapping(e: IommuUnmapEvent, d: DomainState, device: string | undefined, inside: Rec | undefined): void {
    if (inside === undefined && this.madeBeforeTrace?.has(e.line) === true) this.endTails(e, d);
    this.badUnmap(e, d, device, inside);
  }

  /**
   * Judges `cpu`'s unmap that freed no mapping of the trace, in the domain
   * of `device` (the `dma_unmap_page` after it), or where no event names
   * it, in the domain its range belongs to.
   */
  private settleBad(cpu: CpuState, device: string | undefined): void {
    const e = cpu.pendingBad as IommuUnmapEvent;
    cpu.pendingBad = null;
    this.noMapping(
      e,
      device !== undefined ? this.domainOfDevice(device) : this.domainOfRange(e.iova, e.iova + e.size),
      device,
      undefined,
    );
  }

  /**
   * Unmap `e` frees a mapping made before the trace (`madeBeforeTrace`):
   * the trace's map events inside its range, past its first page, are the
   * last segments of that mapping's call, which the trace began inside of
   * (`iommu_dma_map_sg()` allocates one range, then maps each segment; the
   * trace shows only the segments after its start). The kernel never hands
   * out an IOVA inside a live mapping, so they can be no other allocation:
   * the unmap ends them, and they are no mapping still live after it (the
   * 6.12 lazy cut at 43% took a later map of the range's start for a map
   * over them). Their grouping is what the look-ahead would have given
   * them, decided now.
   */
  private endTails(e: IommuUnmapEvent, d: DomainState): void {
    const lo = e.iova;
    const end = e.iova + e.size;
    for (;;) {
      const f = this.tailInside(lo, end);
      if (f === undefined) break;
      const a = this.claimInferred(f);
      if (a.iova > lo && a.end <= end) this.endTail(a, e.line);
    }
    // Segments the look-ahead grouped already (an unmap long after them).
    for (let p = this.page(lo) + 1; p < this.page(end); p++) {
      const a = d.pageOwner(p);
      if (a !== undefined && a.iova > lo && a.end <= end) this.endTail(a, e.line);
    }
  }

  /**
   * The unclaimed map event wholly inside (`lo`, `end`) that entered
   * `unclaimed` first. Where the trace has `dma_map_*` events, only one
   * its CPU's `dma_map_*` event has passed over (a tail's `dma_map_sg`
   * names a range that starts before its map events, so it claims none of
   * them): a map event still waiting for its own, on another CPU, may be
   * another domain's at the same IOVA.
   */
  private tailInside(lo: number, end: number): Rec | undefined {
    let found: Rec | undefined;
    const recs = this.unclaimedRecs;
    for (let i = 0; i < recs.length; i++) {
      const f = recs[i];
      if (f === null || f.e.iova <= lo || f.fragEnd > end) continue;
      if (this.dmaEvents && f.seq > this.cpu(f.e.cpu).dmaMapSeq) continue;
      if (found === undefined || f.serial < found.serial) found = f;
    }
    return found;
  }

  /** Drops tail `a` from the live set: unmapped at `line` with the mapping it belongs to. */
  private endTail(a: Rec, line: number): void {
    this.forget(a);
    (a.domain as DomainState).freed.set(this.page(a.iova), line);
  }

  /** The DMA-API finding of an unmap of `size` bytes at line `line` that frees allocation `a` of another size. */
  private sizeMismatch(a: Rec, line: number, size: number): void {
    this.finding(
      "size-mismatch",
      line,
      a,
      a.lines,
      `device driver frees DMA memory with different size [device address=${hex16(a.iova)}] [map size=${a.end - a.iova} bytes] [unmap size=${size} bytes]`,
    );
  }

  /** Judges unmap `s`'s size against the allocation it frees, its device known (or no `dma_unmap_*` to name it). */
  private settleSize(s: TraceCall): void {
    if (!s.sizePending) return;
    s.sizePending = false;
    const a = s.alloc;
    if (a !== null && a.end - a.iova !== s.sizeBytes) this.sizeMismatch(a, s.line, s.sizeBytes);
  }

  private liveAt(p: number, end: number, hinted: DomainState | null): Rec | undefined {
    // The dma_unmap_sg/dma_free just before the unmap names its device: another domain's mapping at this IOVA
    // (two devices' domains hand out the same IOVAs) is not the one it frees, whatever its size.
    if (hinted !== null) return hinted.liveAt(p);
    let any: Rec | undefined;
    const domains = this.domainList;
    for (let i = 0; i < domains.length; i++) {
      const a = domains[i].liveAt(p);
      if (a === undefined) continue;
      if (a.end - a.iova === end - a.iova) return a;
      any ??= a;
    }
    return any;
  }

  /** The unclaimed map event spanning `addr` that entered `unclaimed` first. */
  private unclaimedContaining(addr: number): Rec | undefined {
    // Map events are at most a few hundred pages; look at every unclaimed one.
    let found: Rec | undefined;
    const recs = this.unclaimedRecs;
    for (let i = 0; i < recs.length; i++) {
      const f = recs[i];
      if (f === null) continue;
      const fe = f.e;
      if (fe.iova <= addr && addr < f.fragEnd && (found === undefined || f.serial < found.serial)) found = f;
    }
    return found;
  }

  private badUnmap(e: IommuUnmapEvent, d: DomainState, device: string | undefined, inside: Rec | undefined): void {
    const p = this.page(e.iova);
    const freedLine = d.freed.get(p);
    const where = `[device address=${hex16(e.iova)}] [size=${e.size} bytes]`;
    if (freedLine !== undefined) {
      this.findingRaw(
        "double-unmap",
        e.line,
        d.name,
        device,
        e.iova,
        e.size,
        [freedLine],
        `device driver tries to free DMA memory it has not allocated ${where} [already unmapped at line ${freedLine}]`,
      );
      return;
    }
    const container = inside ?? d.pageOwner(p);
    const extra =
      container !== undefined ? ` [inside the mapping at ${hex16(container.iova)}, line ${container.line}]` : "";
    this.findingRaw(
      "unmap-never-mapped",
      e.line,
      d.name,
      device,
      e.iova,
      e.size,
      container !== undefined ? [container.line] : [],
      `device driver tries to free DMA memory it has not allocated ${where}${extra}`,
    );
  }

  private onDmaUnmap(e: DmaUnmapEvent, cpu: CpuState): void {
    const bad = cpu.pendingBad;
    if (bad !== null)
      this.settleBad(cpu, e.dmaAddr >= bad.iova && e.dmaAddr < bad.iova + bad.size ? e.device : undefined);
    const s = cpu.pendingUnmap;
    cpu.pendingUnmap = null;
    if (s === null || s.alloc === null) {
      // The dma_unmap_page of an unmap of a mapping made before the trace had an IOVA, and that unmap is replayed.
      const unmapLine = s?.line ?? bad?.line ?? cpu.beforeTraceUnmap;
      cpu.beforeTraceUnmap = -1;
      if (this.madeBeforeTrace?.has(unmapLine) === true) return;
      this.stats.untranslated++;
      return;
    }
    let a = s.alloc;
    const own = this.domainOfDevice(e.device);
    if (own !== a.domain) {
      // Two devices' domains hand out the same IOVAs: an unmap traced before its dma_unmap_page was taken
      // from the first domain holding its IOVA; the device this event names says whose it was.
      const b = own.liveAt(this.page(a.iova));
      if (b !== undefined && b.iova === a.iova && b.end === a.end) {
        this.remember(a);
        this.forget(b);
        (a.domain as DomainState).freed.delete(this.page(a.iova));
        own.freed.set(this.page(b.iova), s.line);
        s.alloc = b;
        s.domain = own.name;
        a = b;
      } else if (b === undefined) {
        // The named device's domain holds no mapping there: the unmap frees none of the trace's (in a capture
        // started mid-life, one made before it), and the other domain's mapping at that IOVA stays live.
        this.remember(a);
        (a.domain as DomainState).freed.delete(this.page(a.iova));
        s.alloc = null;
        s.closed = true;
        s.dropped = true;
        s.sizePending = false;
        const freedLine = own.freed.get(this.page(s.iova));
        const where = `[device address=${hex16(s.iova)}] [size=${s.sizeBytes} bytes]`;
        this.findingRaw(
          freedLine !== undefined ? "double-unmap" : "unmap-never-mapped",
          s.line,
          own.name,
          e.device,
          s.iova,
          s.sizeBytes,
          freedLine !== undefined ? [freedLine] : [],
          `device driver tries to free DMA memory it has not allocated ${where}${freedLine !== undefined ? ` [already unmapped at line ${freedLine}]` : ""}`,
        );
        return;
      }
    }
    this.settleSize(s);
    if (e.dmaAddr < a.iova || e.dmaAddr >= a.end) {
      s.closed = true;
      this.stats.untranslated++;
      return;
    }
    s.device = e.device;
    s.api = e.name;
    s.dmaLine = e.line;
    s.closed = true;
    if (a.requestedBytes !== undefined && a.dmaAddr === e.dmaAddr && a.requestedBytes !== e.size) {
      this.finding(
        "size-mismatch",
        e.line,
        a,
        a.lines,
        `device driver frees DMA memory with different size [device address=${hex16(e.dmaAddr)}] [map size=${a.requestedBytes} bytes] [unmap size=${e.size} bytes]`,
      );
    }
  }

  private enqueue(r: QueueEntry): void {
    this.queue.push(r);
    const waiting = this.queue.length - this.head;
    if (waiting > this.stats.windowMax) this.stats.windowMax = waiting;
  }

  /** Emits the calls at the head of the queue whose grouping is decided (all of them when `all`). */
  private drain(all: boolean): void {
    const q = this.queue;
    while (this.head < q.length) {
      const s = q[this.head];
      // With dma:* events a map's grouping is decided at once. A streaming one still mapped waits for its unmap or
      // LOST_HOLD look-aheads: a later map of its range then shows its unmap lost before it goes out
      // (`DmaCall.unmapLost`), and the replay can queue that unmap where it most likely ran (`lost-unmaps.ts`).
      // A coherent allocation lives as long as its driver: it would hold every call behind it.
      if (
        !all &&
        s.closed &&
        this.dmaEvents &&
        !(s instanceof TraceCall) &&
        s.kind === MAP &&
        s.id >= 0 &&
        s.api?.startsWith("dma_alloc") !== true
      ) {
        if (this.seq - s.seq < this.window * LOST_HOLD) break;
      }
      if (!s.closed) {
        if (!all && this.seq - s.seq < this.window) break;
        if (s instanceof TraceCall) {
          // Its dma_unmap_* partner is overdue: later ones no longer attach to it.
          const c = this.cpus[s.cpu];
          if (c.pendingUnmap === s) c.pendingUnmap = null;
          this.settleSize(s);
        } else if (s.kind === MAP && s.alloc === null) {
          const a = this.claimInferred(s);
          if (!this.dmaEvents) this.lostToLaterMap(a);
        }
        s.closed = true;
      }
      this.head++;
      if (s instanceof TraceCall) {
        if (!s.dropped) this.emitUnmap(s);
      } else if (s.kind === MAP) this.emitMap(s);
    }
    if (this.head > 4096 && this.head * 2 > q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
  }

  private emitMap(a: Rec): void {
    assert(a.alloc === a, "map record without allocation");
    const domain = a.domain as DomainState;
    a.number = domain.nextNumber++;
    const d = domain.name;
    this.stats.allocations.set(d, (this.stats.allocations.get(d) ?? 0) + 1);
    this.sink(new TraceCall("map", 0, a, a.e, a.end - a.iova, d, a.device, a.api, -1));
    // The call has the number: the record keeps no other alive.
    a.reusesRec = null;
  }

  private emitUnmap(s: TraceCall): void {
    const a = s.alloc;
    assert(a !== null, "unmap call without allocation");
    assert(a.number > 0, "unmap emitted before its map");
    s.allocation = a.number;
    // The replay may hold the call long after: it keeps no record of the reconstruction alive.
    s.alloc = null;
    const d = (a.domain as DomainState).name;
    this.stats.frees.set(d, (this.stats.frees.get(d) ?? 0) + 1);
    this.sink(s);
  }

  private finding(kind: FindingKind, line: number, a: Rec, related: number[], what: string): void {
    this.findingRaw(kind, line, (a.domain as DomainState).name, a.device, a.iova, a.end - a.iova, related, what);
  }

  private findingRaw(
    kind: FindingKind,
    line: number,
    domain: string,
    device: string | undefined,
    iova: number,
    sizeBytes: number,
    relatedLines: number[],
    what: string,
  ): void {
    if (kind === "unmap-never-mapped" && this.madeBeforeTrace?.has(line) === true) {
      this.stats.beforeTraceUnmaps++;
      return;
    }
    this.findingCounts.set(kind, (this.findingCounts.get(kind) ?? 0) + 1);
    if (this.findings.length >= this.maxFindings) return;
    const who = device ?? domain;
    this.findings.push({
      kind,
      line,
      domain,
      device,
      iova,
      sizeBytes,
      relatedLines: [...relatedLines],
      message: `${this.file}:${line}: DMA-API: ${who}: ${what}`,
    });
  }
}

/** Reconstructs a whole event list (tests, small traces). */
export function reconstruct(
  events: Iterable<TraceEvent>,
  options: ReconstructOptions,
): { calls: DmaCall[]; reconstructor: Reconstructor } {
  const calls: DmaCall[] = [];
  const r = new Reconstructor(options, (c) => calls.push(c));
  for (const e of events) r.push(e);
  r.end();
  return { calls, reconstructor: r };
}
