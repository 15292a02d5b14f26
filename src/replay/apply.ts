/**
 * Applying one replayed call to the kernel model: a map becomes one
 * dma-iommu mapping of the same page-aligned length on the same CPU, an
 * unmap frees the model's mapping of the same allocation (the nth
 * allocation and its free, never a pfn, so what-if runs with other
 * placements replay the same calls). The result comes back as a value
 * (`Outcome`); the caller has moved the clock to the call's time.
 */

import type { CpuIdleFacts } from "../dma/fq-timer-policy.ts";
import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import type { Device } from "../iommu/device.ts";
import type { Magazine } from "../iova/magazine.ts";
import type { Kernel } from "../machine/index.ts";
import { PfnMap, type PfnMapSnapshot } from "../stdx/pfnmap.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { cutBack } from "./cut-back.ts";
import { depotShift } from "./depot-shift.ts";
import { causeOf, type MismatchCause, stateAround } from "./diagnose.ts";
import { liftToTop, swapToTop } from "./follow.ts";
import { HiddenSpace, type HiddenState } from "./hidden-space.ts";
import { LiveTails } from "./live-tail.ts";
import { LostUnmaps, type LostUnmapsState } from "./lost-unmaps.ts";
import { crossCut, crossCutFrom, cutAbove, depotCut, depotCutFrom, holderOf, unpush } from "./magazine-cut.ts";
import { depotTop, dropPlaceholders, onlyPlaceholders, popDepot } from "./placeholder-drop.ts";
import { takeSlot } from "./placeholder-slot.ts";
import {
  adoptPreTraceHit,
  emptyPairBefore,
  type PairBefore,
  pairBefore,
  unpopDepot,
  unrefill,
} from "./pre-trace-hit.ts";
import { PreTraceQueue, type PreTraceQueueState } from "./pre-trace-queue.ts";
import { inPrev } from "./prev-taken.ts";
import { PushEvidence, type PushEvidenceState, pushBeforeHit } from "./pushed-before-hit.ts";
import { resync } from "./resync.ts";
import { placePlaceholder, takePlaceholder } from "./start-state.ts";
import { HitOver, StrayFrees, swapInFullPrev, TakenWhole, TraceShown } from "./swapped-prev.ts";

/** A replayed call's result, kept until no later decision can change it. */
export interface Outcome {
  /** False: an allocation the model placed elsewhere than the trace. */
  ok: boolean;
  /** Map: the model's DMA address or null (failed); unmap: undefined. */
  addr: number | null | undefined;
  /** An unmap the model refused (nothing mapped at the model's address). */
  refused: boolean;
  /** An unmap that armed the flush-queue timer on another CPU (the timer policy moved it). */
  timerMoved: boolean;
  /** For a mismatch: the model's state around the trace's IOVA, when asked for. */
  state: string | null;
  /** For a mismatch: where the model held the trace's IOVA (see `MismatchCause`). */
  cause: MismatchCause | null;
  /** The trace's IOVA came from a cache filled before the trace (`CallApplier.adoptUnknown`, a placeholder) and was adopted. */
  learned?: boolean;
  /**
   * Of those, one the model handed out of a start state's placeholders (`takePlaceholder`): its caches held an
   * IOVA from before the trace where the kernel's did, so the fill levels moved as the kernel's did.
   */
  placeholder?: boolean;
  /** Of those, one adopted where it showed how the kernel's magazines were cut (`magazine-cut.ts`). */
  cut?: boolean;
  /** The model went to its tree while the trace's IOVA was free in the model: the kernel's IOVA is one the model cannot know. */
  treeUnknown?: boolean;
  /** Map: the model went to its tree and placed the trace's IOVA (so the kernel's caches of that size missed too). */
  treeExact?: boolean;
  /**
   * Map: it took the range of a mapping whose unmap the trace lost, and the
   * trace's IOVA decided it: the range taken over as it was
   * (`CallApplier.lostUnmap`), or that unmap queued before the flush this
   * map showed (`TimerFlushes.lostBefore`).
   */
  lost?: boolean;
  /** Map: that range was lifted to the top of its magazine first (`liftToTop`): the lost unmaps came in another order. */
  lifted?: boolean;
  /** `resync`: 1 the state was put back to the trace's, -1 it could not be, 0 no mismatch. */
  resync: number;
  /**
   * An unmap whose full queue flushed while another CPU's ring-full flush
   * still ran: the two ring frees' depot pushes, which the replay made
   * first-CPU first, may have come the other way (see `depot-order.ts`).
   */
  depotTurn?: DepotTurn[];
}

/** One size class's depot pushes of two overlapping ring frees: `[from, mid)` the first's, `[mid, to)` the second's. */
export interface DepotTurn {
  c: number;
  from: number;
  mid: number;
  to: number;
}

/** The applier's own state, for checkpoints. */
export interface ApplierState {
  modelAddr: PfnMapSnapshot;
  split: Map<number, { addr: number; bytes: number }[]>;
  busyCpu: number;
  ringFull: RingFullFlush | null;
  lastCall: (DmaCall | null)[];
  hidden: HiddenState;
  preTraceQueue: PreTraceQueueState;
  takenWhole: Set<number>;
  hitOver: Set<number>;
  stray: Set<number>;
  shown: Set<number>;
  pending: DmaCall | null;
  pendingShown: boolean;
  claimFrom: Int32Array;
  claims: Int32Array;
  evidence: PushEvidenceState;
  lostUnmaps: LostUnmapsState;
}

/**
 * How long after its unmap's trace line a ring-full flush raises
 * `fq_flush_finish_cnt`, for the rule of `CallApplier.ringFull`, ns.
 * `queue_iova()` on a full queue runs `fq_flush_iotlb()` (start count up,
 * IOTLB flush, finish count up) and only then frees the 255 queued entries,
 * so the count rises well before that CPU's next traced call. The 6.1
 * mid-life trace bounds it from both sides in 7 cases: another CPU's unmaps
 * still read the old finish count 13 us (line 25911), 31 us (30019), 40 us
 * (125993, whose other CPU's own ring-full flush at line 126017 shows it),
 * 52 us (65258) and 56 us (78506) after the flushing unmap, and read the new
 * one by 70 us (148789: CPU 0's 256th unmap since the last timer flush,
 * line 148812, did not flush, a ring free had freed its queue's old entries)
 * and at 145 us (90397). So it
 * lies in (56, 70] us; this is the middle. The trace's timer flushes agree:
 * over 684 `fq_flush_timeout()` runs with no call inside, entry to exit
 * lasts about 84 us plus 0.18 us per entry drained, so a full ring's 255
 * frees take about 46 us of the 94-119 us those flushing CPUs were away.
 */
export const RING_FULL_FLUSH_NS = 63_000;

/**
 * The size classes where both overlapping ring frees pushed magazines, the
 * second's right after the first's (nothing popped between: `turnover`
 * checked by the caller); undefined when no class has both.
 */
function depotTurnOf(first: RingFullFlush, before: number[], after: number[]): DepotTurn[] | undefined {
  const turns: DepotTurn[] = [];
  for (let c = 0; c < after.length; c++) {
    const from = first.depotBefore[c];
    const mid = first.depotAfter[c];
    if (before[c] !== mid) return undefined;
    if (mid > from && after[c] > mid) turns.push({ c, from, mid, to: after[c] });
  }
  return turns.length > 0 ? turns : undefined;
}

/** The last `fq_flush_iotlb()` an unmap ran because its CPU's queue was full (see `CallApplier.ringFull`). */
interface RingFullFlush {
  cpu: number;
  /** The unmap's trace timestamp, ns. */
  ns: number;
  /** `fq_flush_finish_cnt` after it. */
  finish: number;
  /** Each size class's depot length before and after its unmap, and the depot's pops and overflows after it. */
  depotBefore: number[];
  depotAfter: number[];
  turnover: number;
}

export class CallApplier {
  private readonly kernel: Kernel;
  private readonly dev: Device;
  private readonly cpus: number;
  /** Adopt the trace's IOVA after a mismatch (`--resync`, or a learning phase: `learning.ts`). */
  adopt: boolean;
  /** `--resync`: every allocation adopts, so only without it does `adopt` mean the learning phase. */
  private readonly resyncOn: boolean;
  /**
   * Adopt the trace's IOVA where the model's caches had nothing to give (it
   * went to the tree) while that IOVA is free in the model: the kernel took
   * it from a cache filled before the trace began (`learning.ts`).
   */
  adoptUnknown = false;
  /** pfns below this are placeholders of a start state (`start-state.ts`); 0: none. */
  placeholderTop = 0;
  /** Space taken before a mid-life trace began that its allocations prove (`hidden-space.ts`). */
  readonly hidden = new HiddenSpace();
  /** The mappings live at the start, whose last segments the trace may begin with (`live-tail.ts`). */
  readonly liveTails = new LiveTails();
  /**
   * The map being applied may have allocated before the flush traced just
   * before it on its CPU: what that flush freed may lie above its IOVA.
   */
  afterFlush = false;
  /** Whether a choice the replay holds open leaves open where the IOVA at a DMA address went when freed. */
  heldOpen: (addr: number) => boolean = () => false;
  /** The flush-queue entries queued before the trace, until every ring has freed them (`pre-trace-queue.ts`). */
  readonly preTraceQueue = new PreTraceQueue();
  /** The cached IOVAs the model took with a magazine whole (`swapped-prev.ts`). */
  private readonly takenWhole = new TakenWhole();
  /** The IOVAs a CPU held where an earlier hit of an IOVA from before the trace was taken back (`swapped-prev.ts`). */
  private readonly hitOver = new HitOver();
  /** IOVAs the trace freed from allocations the model placed elsewhere (`swapped-prev.ts`). */
  private readonly stray = new StrayFrees();
  /** The IOVAs the trace has shown so far (`swapped-prev.ts`). */
  private readonly shown = new TraceShown();
  /** A map has been applied (the first decides whether the trace starts mid-life). */
  private mapSeen = false;
  /** The last map, its result not yet noted (`settle`), and whether to note its IOVA as shown. */
  private pending: DmaCall | null = null;
  private pendingShown = false;
  /** The learning phase: a tree allocation the kernel placed below the model's slot proves hidden space. */
  proveHidden = false;
  /** After the learning phase, allocations that show where the kernel's magazines were cut cut the model's (`magazine-cut.ts`). */
  magazineCuts = true;
  /** With them, in the learning phase too: another CPU's magazine taken while this CPU's are empty (`crossCut`). */
  phaseCrossCuts = true;
  /** A hit of an IOVA from before the trace above an early-freed IOVA of the model's takes a placeholder's slot (`placeholder-slot.ts`). */
  placeholderSlots = true;
  /** With them, a hit of an IOVA cached before the trace may show the kernel's full prev swapped in (`swapped-prev.ts`). */
  swappedPrev = true;
  /** With it, not over IOVAs an earlier taken-back hit showed off the top of the kernel's magazine (`HitOver`). */
  hitOverGuard = true;
  /** A `prev` the learning phase took IOVAs out of: its takes count as hits, its IOVAs go with a push (`prev-taken.ts`). */
  prevTaken = true;
  /**
   * Per CPU and size class (index `cpu * rcacheOrders + c`): the other CPU
   * whose magazines the learning phase took this CPU's last IOVAs from, one
   * after another, while the model's own magazines of that CPU had none
   * (-1: none), and how many: in the kernel that CPU popped them off the
   * top of a magazine the other CPU had pushed on the depot (`crossCut`).
   */
  private claimFrom = new Int32Array(0);
  private claims = new Int32Array(0);
  /** The address a magazine cut left the allocation at (`magazineCut`): the trace's IOVA, or a placeholder. */
  private cutAt = 0;
  /** A mid-life trace: what shows the kernel's loaded magazine went to the depot (`pushed-before-hit.ts`). */
  private readonly evidence = new PushEvidence();
  /** The model's IOVA of this CPU and class's last allocation's pre-trace hit (`PushEvidence.take`), -1 none. */
  private lastHit = -1;
  /** The magazines the allocation being applied may pop (`pre-trace-hit.ts`), filled per allocation. */
  private readonly before = emptyPairBefore();
  /** Model DMA address of each live allocation, by allocation number. */
  private readonly modelAddr = new PfnMap();
  /** Unmaps the trace lost, waiting for where they most likely ran (`lost-unmaps.ts`). */
  readonly lostUnmaps = new LostUnmaps((allocation, cpu) => this.unmapLost(allocation, cpu));
  /** Allocations replayed as one allocation per map event (see `mapGuessed`): their pieces. */
  private splitAllocs = new Map<number, { addr: number; bytes: number }[]>();
  /** The CPU of the last call made by a task other than the idle task. */
  private busyCpu = -1;
  /** The CPU of the unmap being applied when it is the idle task's, else -1. */
  private idleCpu = -1;
  /** The busy CPU before the current call. */
  private prevBusyCpu = -1;
  /**
   * An unmap whose queue was full flushed the IOTLB inside its `queue_iova()`
   * (DMA-4.4 step 2): `fq_flush_finish_cnt` rises only once that IOTLB flush
   * is done, some time after the unmap's trace line, and before that CPU's
   * next traced call (it was busy in the flush until then). Another CPU's
   * unmap traced in between is taken to have run its own `fq_ring_free()`
   * before the count rose: it frees none of its entries the flush covers
   * (the 6.1 mid-life trace's lines 25911-25918 and 30019-30031 show it:
   * the other CPU's queue stays whole until the next timer flush).
   */
  private ringFull: RingFullFlush | null = null;
  /**
   * Whether the next unmap's entry reads the start count from before the
   * other CPU's ring-full flush (true) or the one it raised (false), against
   * the rule of its timing (undefined: the rule): the replay's other choice
   * (`count-read.ts`).
   */
  oldCount: boolean | undefined = undefined;
  /**
   * This unmap's ring-full flush raised the start count before `newCountOf`'s
   * last unmap, traced just before this one, read it (-1: none): that entry
   * waits for the flush after this one (`count-read.ts`).
   */
  newCountOf = -1;
  /** Each CPU's last call, for `countOpenBefore`. */
  private lastCall: (DmaCall | null)[] = [];
  /**
   * What the trace tells the flush-queue timer policy: an idle-task call
   * marks its CPU idle; the busy CPU is the last other task's.
   */
  readonly facts: CpuIdleFacts = {
    isIdle: (cpu) => cpu === this.idleCpu,
    busyCpu: () => this.prevBusyCpu,
  };

  constructor(kernel: Kernel, dev: Device, resyncOn: boolean) {
    this.kernel = kernel;
    this.dev = dev;
    this.cpus = kernel.cpus;
    this.adopt = resyncOn;
    this.resyncOn = resyncOn;
  }

  private get cookie(): IommuDmaCookie | null {
    return this.kernel.dma.cookieOf(this.dev);
  }

  /**
   * Applies call `c`. With `describe`, a mismatch is described (its cause,
   * and with `wantState` the model's state around the trace's IOVA) before
   * any resync changes the state.
   */
  apply(c: DmaCall, describe: boolean, wantState: boolean): Outcome {
    const cpu = c.cpu % this.cpus;
    const out: Outcome = {
      ok: true,
      addr: undefined,
      refused: false,
      timerMoved: false,
      state: null,
      cause: null,
      resync: 0,
    };
    const cookie = this.cookie;
    this.lastCall[cpu] = c;
    // The last map's result, for the rules that read what the trace has shown and holds (`swapped-prev.ts`).
    if (this.pending !== null) this.settle(cookie);
    if (c.kind === "map") {
      // A lazy domain's flush frees a lost unmap's IOVA wherever in the flush period it ran: which flush its
      // likely time decides, and the map order gives its order (`lost-unmaps.ts`). A strict one frees it at once,
      // into the magazines the CPU pops next: that place only its reuse shows (`lostUnmap`).
      if (c.unmapLost && cookie?.fq) this.lostUnmaps.add(c.allocation, cpu, c.lostAtNs);
      // Only a trace that starts mid-life reads what it has shown; the first map decides that.
      this.pending = this.adoptUnknown || !this.mapSeen ? c : null;
      this.pendingShown = this.adoptUnknown || !this.mapSeen;
      this.mapSeen = true;
      if (this.liveTails.covers(c)) {
        // Allocated before the trace, with the live range that holds it: nothing to allocate, nothing learned.
        out.addr = c.iova;
        out.learned = true;
        return out;
      }
      if (c.reuses > 0 && cookie !== null) {
        if (this.lostUnmap(cookie, c, cpu)) {
          out.addr = c.iova;
          out.lost = true;
          return out;
        }
        // Its lost unmap queued by map order: the kernel's order shows here (`liftToTop`, `swapToTop`).
        const g = cookie.iovad.granule;
        const pages = Math.ceil(c.sizeBytes / g);
        if (cookie.fq)
          out.lifted =
            liftToTop(cookie.iovad, cpu, c.iova / g, pages) ||
            swapToTop(cookie.iovad, cpu, c.iova / g, pages, (pfn) => this.lostUnmaps.isPlaced(pfn));
      }
      if (this.ringFull !== null && this.ringFull.cpu === cpu) this.ringFull = null;
      const treeAllocs = cookie?.iovad.stats.treeAllocs ?? 0;
      if (cookie) this.hidden.walkFrom(cookie);
      // A mid-life trace: the magazines the allocation may pop, to take the model's hit back (`pre-trace-hit.ts`).
      const pb = this.adoptUnknown ? this.pairBefore(cpu, c.sizeBytes) : null;
      if (pb !== null && cookie) this.lastHit = this.evidence.take(cpu, pb.c, cookie.iovad.rcacheOrders);
      // Offset 0 and the page-aligned length: the IOVA size dma-iommu computes from the real offset and size.
      const addr =
        c.inferred && c.pieces > 1
          ? this.mapGuessed(c, cpu)
          : this.kernel.dma.mapPhys(this.dev, cpu, 0, c.sizeBytes, c.api === "dma_alloc");
      if (addr !== null) {
        this.modelAddr.set(c.allocation, addr);
        if (cookie) this.lostUnmaps.taken(addr / cookie.iovad.granule);
      }
      if (c.pid !== 0) this.busyCpu = cpu;
      if (pb !== null && cookie) this.depotPopped(cookie, cpu, pb);
      if (pb !== null && cookie !== null) this.takenWhole.allocated(cookie, cpu, pb);
      out.addr = addr;
      if (addr === c.iova) {
        if (cookie && cookie.iovad.stats.treeAllocs !== treeAllocs) {
          this.hidden.confirmed(addr / cookie.iovad.granule);
          out.treeExact = true;
        }
        if (pb !== null && cookie) this.claimed(cookie, cpu, pb.c, -1);
        return out;
      }
      out.ok = false;
      const g = cookie?.iovad.granule ?? 1;
      if (
        addr !== null &&
        cookie &&
        addr / g < this.placeholderTop &&
        takePlaceholder(cookie, addr / g, c.iova, c.sizeBytes / g)
      ) {
        // The kernel's cache held an IOVA the trace never showed before: the model could not know it.
        this.modelAddr.set(c.allocation, c.iova);
        out.learned = true;
        out.placeholder = true;
        return out;
      }
      if (describe) {
        out.cause = causeOf(cookie, c.iova, c.cpu, addr);
        out.state = wantState ? stateAround(cookie, c.iova, this.kernel.nowNs) : null;
      }
      const fromTree = cookie !== null && cookie.iovad.stats.treeAllocs !== treeAllocs;
      const follows = (this.adopt || this.adoptUnknown) && addr !== null && cookie !== null;
      if (follows && fromTree) this.hidden.beforeFollow(cookie, c.iova, c.sizeBytes);
      if (follows && this.hidden.follow(cookie, c.iova, c.sizeBytes, cpu, addr, fromTree)) {
        // An IOVA of the hidden space (`hidden-space.ts`): cached before the trace, or a tree allocation there.
        if (pb !== null && !fromTree) unrefill(cookie.iovad, cpu, pb);
        this.modelAddr.set(c.allocation, c.iova);
        if (this.adopt) out.resync = 1;
        else out.learned = true;
        return out;
      }
      const freeInModel = addr !== null && cookie !== null && cookie.iovad.findIova(c.iova / g) === null;
      const treeUnknown = fromTree && freeInModel;
      if (treeUnknown) out.treeUnknown = true;
      if (pb !== null && !fromTree && freeInModel && this.preTraceHit(pb, c, cpu, addr as number, out)) return out;
      const unknown = this.adoptUnknown && treeUnknown;
      // The learning phase (its adoption, not `--resync`'s): this CPU, its magazines empty, took another CPU's
      // magazine from the depot as after the phase, where adopting would only take the IOVA out of that magazine.
      if (
        this.adopt &&
        !this.resyncOn &&
        this.magazineCuts &&
        this.phaseCrossCuts &&
        pb !== null &&
        fromTree &&
        !freeInModel &&
        addr !== null &&
        cookie &&
        this.magazineCut(cookie, cpu, pb, addr / g, c, true)
      ) {
        return this.cutMade(c, out);
      }
      if ((this.adopt || unknown) && addr !== null && cookie) {
        // The model had nothing of its own (a tree allocation) and holds the kernel's IOVA in another CPU's magazine.
        const holder = pb !== null && fromTree ? holderOf(cookie.iovad, cpu, pb.c, c.iova / g) : -1;
        const run =
          pb !== null && !fromTree && (freeInModel || (this.prevTaken && inPrev(cookie.iovad, cpu, pb.c, c.iova / g)))
            ? this.hitRun(addr / g, cookie.iovad.rcaches[pb.c].cpu(cpu).loaded, pb)
            : 0;
        const r = resync(cookie, c.iova, c.sizeBytes, cpu, addr, fromTree);
        // The learning phase's hits of an IOVA from before the trace count towards `hitRun` too.
        if (run > 0 && r?.done === true && addr / g >= this.placeholderTop) {
          const loaded = cookie.iovad.rcaches[(pb as PairBefore).c].cpu(cpu).loaded;
          if (loaded.size > 0 && loaded.pfns[loaded.size - 1] === addr / g) {
            this.evidence.hit(cpu, (pb as PairBefore).c, cookie.iovad.rcacheOrders, addr / g, loaded.size, run);
          }
        }
        if (pb !== null) this.claimed(cookie, cpu, pb.c, r?.done === true ? holder : -1);
        if (unknown && !this.adopt) out.learned = r?.done === true;
        if (r) {
          this.modelAddr.set(c.allocation, r.addr);
          if (this.adopt) out.resync = r.done ? 1 : -1;
        }
        if (r?.done && fromTree) this.hidden.followed(cookie, c.iova, c.sizeBytes, addr, this.proveHidden);
      } else if (
        this.magazineCuts &&
        pb !== null &&
        addr !== null &&
        cookie &&
        this.magazineCut(cookie, cpu, pb, addr / g, c, fromTree)
      ) {
        return this.cutMade(c, out);
      }
      return out;
    }
    if (this.lostUnmaps.size > 0) this.lostUnmaps.before(cpu, c.allocation, c.timestampNs);
    const addr = this.modelAddr.get(c.allocation);
    this.prevBusyCpu = this.busyCpu;
    if (c.pid !== 0) this.busyCpu = cpu;
    if (addr === undefined) return out;
    this.modelAddr.delete(c.allocation);
    // Only a trace that starts mid-life (decided at its first map) reads them: a trace from boot skips the cost.
    if (cookie && (this.adoptUnknown || !this.mapSeen)) {
      const g = cookie.iovad.granule;
      this.shown.shown(c.iova / g);
      this.takenWhole.freed(addr / g);
      this.hitOver.freed(addr / g);
      this.stray.freed(Math.floor(c.iova / g), addr / g);
      // Before the first map decides whether the trace starts mid-life too: its first unmaps are the earliest.
      this.preTraceQueue.unmap(this.cpus, cpu, addr / g, cookie.fq?.flushFinishCnt ?? null);
    }
    const split = this.splitAllocs.get(c.allocation);
    if (split) {
      this.splitAllocs.delete(c.allocation);
      for (const p of split) if (!this.kernel.dma.unmapPhys(this.dev, cpu, p.addr, p.bytes)) out.refused = true;
      return out;
    }
    const fq = cookie?.fq ?? null;
    const moves = fq?.timerMoves ?? 0;
    this.idleCpu = c.pid === 0 ? cpu : -1;
    const rf = this.ringFull;
    const before =
      fq !== null &&
      rf !== null &&
      rf.cpu !== cpu &&
      fq.flushFinishCnt === rf.finish &&
      c.timestampNs - rf.ns <= RING_FULL_FLUSH_NS;
    // Traced in the same microsecond as the flushing unmap (the text's resolution: which ran first is unknown), and
    // that unmap raises fq_flush_start_cnt only after its own trace line: this unmap's entry reads the count from
    // before that flush, so the flush covers it (6.1 mid-life line 129249, 0xb93c7000: CPU 0 frees it with the
    // entries before it, and not the one traced 2 us later, at its next fq_ring_free()); by default, for the new
    // count is possible too (line 227306): `count-read.ts` leaves it open and `oldCount` says what was chosen.
    const sameUs = before && (this.oldCount ?? c.timestampNs - (rf as RingFullFlush).ns < 1_000);
    this.oldCount = undefined;
    const newCountOf = this.newCountOf;
    this.newCountOf = -1;
    const flushes = fq?.flushes ?? 0;
    // A queue that may be full: the depot before its ring free, for a later overlapping one (`depotTurn`).
    const iovad = cookie?.iovad ?? null;
    const depotBefore = fq !== null && iovad !== null && fq.queued(cpu) >= 254 ? iovad.depotLengths() : null;
    const turnover = iovad?.depotTurnover ?? 0;
    if (before && fq) fq.flushFinishCnt--;
    if (sameUs && fq) fq.flushStartCnt--;
    if (!this.kernel.dma.unmapPhys(this.dev, cpu, addr, c.sizeBytes)) out.refused = true;
    else if (this.adoptUnknown && fq !== null && iovad !== null) {
      this.evidence.queued(cpu, this.cpus, addr / iovad.granule, fq.flushFinishCnt);
    }
    if (sameUs && fq) fq.flushStartCnt++;
    if (before && fq) fq.flushFinishCnt++;
    // This unmap's queue was full too, while the other CPU's flush was still running: that CPU reads the
    // start count for its new entry only after its flush, so it reads this flush's (6.1 mid-life lines
    // 125993 and 126017: CPU 1's entry 0xb93ff000 stays queued until the timer flush at line 126046).
    if (before && fq !== null && rf !== null && fq.flushes !== flushes) {
      fq.rereadLastCounter(rf.cpu);
      if (depotBefore !== null && iovad !== null && rf.turnover === turnover && iovad.depotTurnover === turnover) {
        out.depotTurn = depotTurnOf(rf, depotBefore, iovad.depotLengths());
      }
    }
    if (fq !== null && fq.flushes !== flushes && newCountOf >= 0 && fq.queued(newCountOf) > 0) {
      fq.rereadLastCounter(newCountOf);
    }
    if (fq !== null && fq.flushes !== flushes) {
      this.ringFull = {
        cpu,
        ns: c.timestampNs,
        finish: fq.flushFinishCnt,
        depotBefore: depotBefore ?? [],
        depotAfter: iovad?.depotLengths() ?? [],
        turnover: iovad?.depotTurnover ?? -1,
      };
    } else if (rf !== null && rf.cpu === cpu) this.ringFull = null;
    this.idleCpu = -1;
    out.timerMoved = fq !== null && fq.timerMoves > moves;
    return out;
  }

  /**
   * Map `c` takes an IOVA range the trace still holds mapped for allocation
   * `c.reuses`, whose unmap the trace lost. The kernel freed that range
   * somewhere between, and the free's place is not in the trace. Where the
   * model holds that allocation at the same range, the range passes to `c`
   * as it is: the kernel's free put it on top of a magazine that this
   * allocation pops, which leaves the model's caches as the kernel's (true
   * when no magazine filled or emptied in between). Returns true then.
   * Where the model holds it elsewhere, it is unmapped now, on `c`'s CPU,
   * and `c` is replayed as any map.
   */
  private lostUnmap(cookie: IommuDmaCookie, c: DmaCall, cpu: number): boolean {
    const old = this.modelAddr.get(c.reuses);
    if (old === undefined) return false;
    const iovad = cookie.iovad;
    const pages = cookie.mapped.get(old / iovad.granule);
    // The same IOVA node: its pfn, and its size as `alloc_iova_fast()` rounds it (6.12 lazy-timers line 112729
    // maps 27 pages where a lost unmap freed 32: both take a node of 32).
    if (
      !this.splitAllocs.has(c.reuses) &&
      old === c.iova &&
      pages !== undefined &&
      iovad.roundUpCacheable(pages) === iovad.roundUpCacheable(c.sizeBytes / iovad.granule)
    ) {
      this.modelAddr.delete(c.reuses);
      this.modelAddr.set(c.allocation, c.iova);
      cookie.mapped.set(c.iova / iovad.granule, c.sizeBytes / iovad.granule);
      return true;
    }
    this.unmapLost(c.reuses, cpu);
    return false;
  }

  /** Whether the model holds allocation `allocation` mapped. */
  holds(allocation: number): boolean {
    return this.modelAddr.get(allocation) !== undefined;
  }

  /**
   * Unmaps allocation `allocation`, whose unmap the trace lost, on `cpu`
   * now, at the range the model holds it (every piece of a split one). False
   * when the model holds no such allocation.
   */
  unmapLost(allocation: number, cpu: number): boolean {
    const cookie = this.cookie;
    const old = this.modelAddr.get(allocation);
    if (old === undefined || cookie === null) return false;
    this.modelAddr.delete(allocation);
    const split = this.splitAllocs.get(allocation);
    const g = cookie.iovad.granule;
    if (split) {
      this.splitAllocs.delete(allocation);
      for (const p of split) {
        this.kernel.dma.unmapPhys(this.dev, cpu, p.addr, p.bytes);
        this.lostUnmaps.placed(p.addr / g);
      }
      return true;
    }
    const pages = cookie.mapped.get(old / g);
    if (pages === undefined) return false;
    this.kernel.dma.unmapPhys(this.dev, cpu, old, pages * g);
    this.lostUnmaps.placed(old / g);
    return true;
  }

  /** Notes what the last map shows: the trace's IOVA shown, and held where the model's allocation is not. */
  private settle(cookie: IommuDmaCookie | null): void {
    const c = this.pending as DmaCall;
    this.pending = null;
    if (!cookie) return;
    const g = cookie.iovad.granule;
    if (this.pendingShown) this.shown.shown(c.iova / g);
    const at = this.modelAddr.get(c.allocation);
    this.stray.mapped(c.iova / g, at === undefined ? -1 : at / g);
  }

  /**
   * Whether unmap `c`, traced the microsecond after another CPU's ring-full
   * unmap whose IOTLB flush still runs, may have read the start count from
   * before that flush or after it (`count-read.ts`).
   */
  countOpen(c: DmaCall): boolean {
    const rf = this.ringFull;
    const fq = this.cookie?.fq ?? null;
    if (c.kind !== "unmap" || rf === null || fq === null || rf.cpu === c.cpu % this.cpus) return false;
    const d = c.timestampNs - rf.ns;
    return fq.flushFinishCnt === rf.finish && d >= 0 && d < 2_000 && this.modelAddr.get(c.allocation) !== undefined;
  }

  /**
   * The other CPU whose last call, traced before unmap `c`, was an unmap
   * still queued, when `c` may find its own queue full and flush: that
   * CPU's `queue_iova()` reads the start count after its trace line, and if
   * it stalled there (its next call is traced after `c`, as the trace's
   * order already shows) the flush may have raised the count first
   * (`count-read.ts`); -1: none.
   */
  countOpenBefore(c: DmaCall): number {
    const fq = this.cookie?.fq ?? null;
    const cpu = c.cpu % this.cpus;
    if (c.kind !== "unmap" || fq === null) return -1;
    if (fq.queued(cpu) < 255 || this.modelAddr.get(c.allocation) === undefined) return -1;
    let other = -1;
    for (let k = 0; k < this.cpus; k++) {
      const u = this.lastCall[k];
      if (k === cpu || !u || u.kind !== "unmap" || fq.queued(k) === 0) continue;
      if (other < 0 || u.line > (this.lastCall[other] as DmaCall).line) other = k;
    }
    return other;
  }

  /**
   * Whether unmap `c` may find its queue full while another CPU's ring-full
   * flush still runs (the overlap `depotTurn` reports).
   */
  overlapOpen(c: DmaCall): boolean {
    const rf = this.ringFull;
    const fq = this.cookie?.fq ?? null;
    const cpu = c.cpu % this.cpus;
    return (
      c.kind === "unmap" &&
      rf !== null &&
      fq !== null &&
      rf.cpu !== cpu &&
      fq.flushFinishCnt === rf.finish &&
      c.timestampNs - rf.ns <= RING_FULL_FLUSH_NS &&
      fq.queued(cpu) >= 254
    );
  }

  /** The trace timestamp of the last ring-full flushing unmap still running, ns (-1: none). */
  get ringFullNs(): number {
    return this.ringFull?.ns ?? -1;
  }

  /** The last call of `cpu` (model CPU). */
  lastCallOf(cpu: number): DmaCall | null {
    return this.lastCall[cpu] ?? null;
  }

  /**
   * A map whose grouping the trace cannot tell (no unmap and no `dma:*`
   * event named it, so the reconstruction guessed consecutive map events of
   * one task to be one allocation): replayed as one allocation; when that
   * lands elsewhere than the trace's IOVA, one allocation per map event is
   * tried, and kept when every piece lands where the trace put it. Returns
   * the allocation's address.
   */
  private mapGuessed(c: DmaCall, cpu: number): number | null {
    const dma = this.kernel.dma;
    const dmaAlloc = c.api === "dma_alloc";
    const own = dma.cookieOf(this.dev);
    const written = own ? [own] : [];
    const before = this.kernel.checkpoint(written);
    const whole = dma.mapPhys(this.dev, cpu, 0, c.sizeBytes, dmaAlloc);
    // Each checkpoint here goes back for the next one's buffers once it can no longer be restored.
    if (whole === c.iova) {
      this.kernel.recycle(before);
      return whole;
    }
    const asWhole = this.kernel.checkpoint(written);
    this.kernel.restore(before);
    this.kernel.recycle(before);
    const pieces: { addr: number; bytes: number }[] = [];
    for (let i = 0; i < c.pieces; i++) {
      const bytes = (i + 1 < c.pieces ? c.mapOffsets[i + 1] : c.sizeBytes) - c.mapOffsets[i];
      const a = dma.mapPhys(this.dev, cpu, 0, bytes, dmaAlloc);
      if (a !== c.iova + c.mapOffsets[i]) {
        this.kernel.restore(asWhole);
        this.kernel.recycle(asWhole);
        return whole;
      }
      pieces.push({ addr: a, bytes });
    }
    this.kernel.recycle(asWhole);
    this.splitAllocs.set(c.allocation, pieces);
    return c.iova;
  }

  /** The magazines the allocation of `bytes` on `cpu` may pop, before it (`pre-trace-hit.ts`); null: no class holds it. */
  private pairBefore(cpu: number, bytes: number): PairBefore | null {
    const cookie = this.cookie;
    return cookie && pairBefore(cookie.iovad, cpu, bytes, this.before) ? this.before : null;
  }

  /**
   * The kernel's cache held an IOVA from before the trace where the model's
   * held one of its own (`pre-trace-hit.ts`): the allocation placed at
   * `addr` takes the trace's IOVA; false when it cannot.
   */
  private preTraceHit(pb: PairBefore, c: DmaCall, cpu: number, addr: number, out: Outcome): boolean {
    const cookie = this.cookie as IommuDmaCookie;
    const g = cookie.iovad.granule;
    const pfn = addr / g;
    const iovad = cookie.iovad;
    const loaded = iovad.rcaches[pb.c].cpu(cpu).loaded;
    // A hit of the model's own IOVA, freed in the trace after every entry from before it, popped with no swap.
    const own =
      !this.adopt &&
      this.magazineCuts &&
      pfn >= this.placeholderTop &&
      loaded === pb.loaded &&
      !this.evidence.isEarly(pfn) &&
      !this.evidence.fromDepot(cpu, pb.c, iovad.rcacheOrders, loaded);
    // Nor is it one where the kernel's magazines were only empty: its tree (or the depot) gave that IOVA.
    const run = this.hitRun(pfn, loaded, pb);
    const again = own && run > 1 && this.emptyWouldGive(cpu, pb.c, c) !== c.iova;
    const place = (pages: number) => this.placeholder(pages);
    if (again && pushBeforeHit(cookie, cpu, pb, pfn, c.iova, c.sizeBytes / g, run, place, this.prevTaken)) {
      // The kernel's loaded magazine, the model's IOVAs in it, had gone to the depot (`pushed-before-hit.ts`).
      this.modelAddr.set(c.allocation, c.iova);
      out.learned = true;
      out.cut = true;
      return true;
    }
    // A hit off a loaded magazine with `prev` empty shows the kernel's full prev swapped in (`swapped-prev.ts`)
    // where the hit's IOVA is surely the last its CPU's rcache took, as the kernel's: not a map that may have
    // allocated before the flush traced before it, nor an IOVA whose queueing a held choice leaves open, one the
    // model took with a depot magazine, one the trace holds or freed from an allocation placed elsewhere, or one
    // freed while entries queued before the trace may still be freed on top of it; and the kernel's IOVA is one
    // the trace never showed (not one the model lost track of).
    if (
      this.magazineCuts &&
      this.swappedPrev &&
      !this.afterFlush &&
      !this.heldOpen(addr) &&
      !this.takenWhole.has(pfn) &&
      !this.hitOver.has(pfn) &&
      !this.stray.has(pfn) &&
      this.preTraceQueue.freedSince(pfn) &&
      !this.shown.has(c.iova / g) &&
      swapInFullPrev(cookie, cpu, pb, pfn, c.iova, c.sizeBytes / g, place)
    ) {
      out.cut = true;
    } else {
      if (!adoptPreTraceHit(cookie, cpu, pb, pfn, c.iova, c.sizeBytes / g)) return false;
      // The model's IOVAs of that CPU were not on top of the kernel's loaded magazine (`HitOver`).
      const cr = iovad.rcaches[pb.c].cpu(cpu);
      // Above an IOVA freed while entries from before the trace could be freed after it: a placeholder's slot.
      if (
        this.placeholderSlots &&
        loaded === pb.loaded &&
        cr.loaded === loaded &&
        !this.preTraceQueue.freedSince(pfn) &&
        !this.shown.has(c.iova / g)
      ) {
        takeSlot(iovad, pb.c, loaded, this.placeholderTop);
      }
      if (this.hitOverGuard) this.hitOver.hit(cr.loaded, cr.prev);
      if (pfn >= this.placeholderTop && loaded === pb.loaded)
        this.evidence.hit(cpu, pb.c, iovad.rcacheOrders, pfn, loaded.size, run);
    }
    this.modelAddr.set(c.allocation, c.iova);
    if (this.adopt) out.resync = 1;
    else out.learned = true;
    return true;
  }

  /**
   * The address the model would give allocation `c` on `cpu` now with that
   * CPU's magazines of class `cls` empty (the depot's top magazine, else the
   * tree); nothing changes.
   */
  private emptyWouldGive(cpu: number, cls: number, c: DmaCall): number | null {
    const cookie = this.cookie as IommuDmaCookie;
    const rcache = cookie.iovad.rcaches[cls];
    const cr = rcache.cpu(cpu);
    // The restore refills the magazines it finds in place: these must be the ones found.
    const { loaded, prev } = cr;
    const depot = rcache.depot.slice();
    const cp = this.kernel.checkpoint([cookie]);
    loaded.size = 0;
    prev.size = 0;
    const addr = this.kernel.dma.mapPhys(this.dev, cpu, 0, c.sizeBytes, c.api === "dma_alloc");
    cr.loaded = loaded;
    cr.prev = prev;
    rcache.depot.length = 0;
    for (const m of depot) rcache.depot.push(m);
    this.kernel.restore(cp);
    // Put back, the copy is never needed again: its buffers serve the next checkpoint (a fresh one each time is
    // a fresh copy's worth of zeroed memory, and garbage, for every what-if).
    this.kernel.recycle(cp);
    return addr;
  }

  /**
   * How many allocations in a row, this one included, handed out IOVAs from
   * before the trace where the model popped its own `pfn` from `loaded`,
   * its loaded magazine as it was (`pb`), and took it back (`PushEvidence`).
   */
  private hitRun(pfn: number, loaded: Magazine, pb: PairBefore): number {
    if (loaded !== pb.loaded) return 0;
    return this.lastHit === pfn && this.evidence.lastFill === loaded.size + 1 ? this.evidence.lastRun + 1 : 1;
  }

  /** The allocation just made on `cpu` (its magazines before it: `pb`) popped the depot: `PushEvidence.popped`. */
  private depotPopped(cookie: IommuDmaCookie, cpu: number, pb: PairBefore): void {
    const iovad = cookie.iovad;
    const cr = iovad.rcaches[pb.c].cpu(cpu);
    if (cr.loaded === pb.loaded || cr.loaded === pb.prev || cr.loaded.size === 0) return;
    this.evidence.popped(cpu, pb.c, iovad.rcacheOrders, cr.loaded.pfns[0]);
  }

  /**
   * After the learning phase of a mid-life trace, an allocation the model
   * placed at `pfn` (from its tree when `fromTree`) where the kernel's IOVA
   * shows where the kernel's magazines were cut (`magazine-cut.ts`): the
   * model's magazines are cut the same way and the allocation takes the
   * trace's IOVA. False, with nothing changed, when it does not show that.
   */
  private magazineCut(
    cookie: IommuDmaCookie,
    cpu: number,
    pb: PairBefore,
    pfn: number,
    c: DmaCall,
    fromTree: boolean,
  ): boolean {
    const iovad = cookie.iovad;
    const y = c.iova / iovad.granule;
    if (cookie.mapped.has(y)) return false;
    let at = y;
    const cr = iovad.rcaches[pb.c].cpu(cpu);
    // The model popped a placeholder and holds the kernel's IOVA on another CPU: the kernel's magazines were empty.
    const own = cr.loaded === pb.loaded || cr.loaded === pb.prev;
    const guessed =
      !fromTree && pfn < this.placeholderTop && own && onlyPlaceholders(iovad, cpu, pb.c, this.placeholderTop);
    const depot = iovad.rcaches[pb.c].depot.length;
    const dropFrom = guessed && depot === 0 ? crossCutFrom(iovad, cpu, pb.c, y, 0, true) : -1;
    if (dropFrom >= 0) {
      dropPlaceholders(cookie, cpu, pb.c, pfn);
      crossCut(iovad, cpu, dropFrom, pb.c, y, (pages) => this.placeholder(pages));
      this.claimed(cookie, cpu, pb.c, -1);
    } else if (guessed && depotTop(iovad, pb.c, y)) {
      // The kernel's magazines were empty and it popped the depot: the model's do as well.
      dropPlaceholders(cookie, cpu, pb.c, pfn);
      popDepot(iovad, cpu, pb.c, y);
    } else if (!fromTree) {
      // Only a pop of the loaded magazine as it was (no swap, no depot) leaves the order of the CPU's frees whole.
      if (cr.loaded === pb.loaded) {
        if (!cutAbove(iovad, cpu, pb.c, pfn, y) && !depotShift(iovad, cpu, pb.c, pfn, y)) return false;
      } else if (cr.loaded === pb.prev) {
        // A swap: the model's loaded magazine was empty, its prev full.
        const place = (pages: number) => this.placeholder(pages);
        const early = (p: number) => this.evidence.isEarly(p);
        if (
          !unpush(iovad, cpu, pb.c, pfn, y) &&
          !cutBack(iovad, cpu, pb.c, pfn, y, this.placeholderTop, early, place)
        ) {
          return false;
        }
      } else {
        // A depot pop: the model's magazines of this CPU were empty (no `prev` to swap in).
        if (pb.loaded === null || !pb.loaded.isEmpty() || pb.prev === null || !pb.prev.isEmpty()) return false;
        const from = depotCutFrom(iovad, cpu, pb.c, pfn, y);
        const node = from < 0 ? iovad.findIova(y) : null;
        // Held inside another IOVA of the model's, or in another CPU's magazines (`crossCut`).
        const inside = node !== null && node[0] !== y;
        const other = node !== null && !inside ? crossCutFrom(iovad, cpu, pb.c, y, 0, true) : -1;
        if (from >= 0) depotCut(iovad, cpu, from, pb.c, pfn, y, (pages) => this.placeholder(pages));
        else if ((inside || other >= 0) && unpopDepot(iovad, cpu, pb, pfn, c.iova)) {
          // The kernel's CPU took another CPU's magazine, or had an IOVA from before the trace the model cannot
          // place: a placeholder stands for it.
          if (other >= 0) crossCut(iovad, cpu, other, pb.c, y, (pages) => this.placeholder(pages));
          else at = this.placeholder(2 ** pb.c);
        } else return false;
      }
    } else {
      const i = cpu * iovad.rcacheOrders + pb.c;
      const popped = i < this.claims.length ? this.claims[i] : 0;
      let from = popped > 0 ? crossCutFrom(iovad, cpu, pb.c, y, popped) : -1;
      // Taken from the magazine of the CPU the phase took this CPU's last IOVAs from: they were its top.
      const above = from >= 0 && from === this.claimFrom[i] ? popped : 0;
      if (above === 0) from = crossCutFrom(iovad, cpu, pb.c, y);
      if (from < 0) return false;
      // The model's tree allocation is taken back; the kernel's came from the depot.
      iovad.freeIova(pfn);
      crossCut(iovad, cpu, from, pb.c, y, (pages) => this.placeholder(pages), above);
      this.claimed(cookie, cpu, pb.c, -1);
    }
    const len = cookie.mapped.get(pfn) ?? Math.ceil(c.sizeBytes / iovad.granule);
    cookie.mapped.delete(pfn);
    cookie.mapped.set(at, len);
    this.cutAt = at * iovad.granule;
    return true;
  }

  /**
   * An allocation of class `c` on `cpu` took the kernel's IOVA from CPU
   * `holder`'s magazines while the model's own had none (-1: it did not):
   * counts it among the run of such takes from that CPU, or ends the run.
   */
  private claimed(cookie: IommuDmaCookie, cpu: number, c: number, holder: number): void {
    const iovad = cookie.iovad;
    const n = iovad.cpus * iovad.rcacheOrders;
    if (this.claims.length !== n) {
      if (holder < 0) return;
      this.claims = new Int32Array(n);
      this.claimFrom = new Int32Array(n).fill(-1);
    }
    const i = cpu * iovad.rcacheOrders + c;
    if (holder >= 0 && this.claimFrom[i] === holder) this.claims[i]++;
    else {
      this.claimFrom[i] = holder;
      this.claims[i] = holder >= 0 ? 1 : 0;
    }
  }

  /** Map `c` handed out the IOVA a magazine cut (`magazineCut`) left at `cutAt`: adopted, showing the kernel's cut. */
  private cutMade(c: DmaCall, out: Outcome): Outcome {
    this.modelAddr.set(c.allocation, this.cutAt);
    out.learned = true;
    out.cut = true;
    return out;
  }

  /** Whether a map of a mid-life trace has shown the IOVA at DMA address `addr` (as the trace's IOVA). */
  showed(addr: number): boolean {
    const g = this.kernel.dma.cookieOf(this.dev)?.iovad.granule;
    return g !== undefined && this.shown.has(addr / g);
  }

  /** A new placeholder of `pages` pages (`start-state.ts`), below `placeholderTop` from then on. */
  placeholder(pages: number): number {
    const iovad = (this.cookie as IommuDmaCookie).iovad;
    const pfn = placePlaceholder(iovad, pages, Math.max(this.placeholderTop, iovad.startPfn));
    this.placeholderTop = Math.max(this.placeholderTop, pfn + pages);
    return pfn;
  }

  /** A mapping live when the trace starts (`live-at-start.ts`): its unmap, call `allocation`, frees `addr`. */
  adoptLive(allocation: number, addr: number): void {
    this.modelAddr.set(allocation, addr);
  }

  save(): ApplierState {
    return {
      modelAddr: this.modelAddr.snapshot(),
      split: new Map(this.splitAllocs),
      busyCpu: this.busyCpu,
      ringFull: this.ringFull,
      lastCall: this.lastCall.slice(),
      hidden: this.hidden.save(),
      claimFrom: this.claimFrom.slice(),
      claims: this.claims.slice(),
      preTraceQueue: this.preTraceQueue.save(),
      takenWhole: this.takenWhole.save(),
      hitOver: this.hitOver.save(),
      stray: this.stray.save(),
      shown: this.shown.save(),
      pending: this.pending,
      pendingShown: this.pendingShown,
      evidence: this.evidence.save(),
      lostUnmaps: this.lostUnmaps.save(),
    };
  }

  restore(s: ApplierState): void {
    this.modelAddr.restore(s.modelAddr);
    this.splitAllocs = new Map(s.split);
    this.busyCpu = s.busyCpu;
    this.ringFull = s.ringFull;
    this.lastCall = s.lastCall.slice();
    this.hidden.restore(s.hidden);
    this.claimFrom = s.claimFrom.slice();
    this.claims = s.claims.slice();
    this.evidence.restore(s.evidence);
    this.preTraceQueue.restore(s.preTraceQueue);
    this.takenWhole.restore(s.takenWhole);
    this.hitOver.restore(s.hitOver);
    this.stray.restore(s.stray);
    this.shown.restore(s.shown);
    this.pending = s.pending;
    this.pendingShown = s.pendingShown;
    this.lostUnmaps.restore(s.lostUnmaps);
  }
}
