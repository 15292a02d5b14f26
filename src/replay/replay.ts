/**
 * Replays the DMA allocations reconstructed from a kernel trace
 * (`trace/reconstruct.ts`) on a booted machine of the kernel model
 * (`src/machine`), issue 4 part 3, and compares the model's IOVA of every
 * allocation with the one the trace recorded. It drives `Kernel.dma` only
 * (no second dma-iommu here). The virtual clock follows the trace's
 * timestamps, so flush-queue timers and depot trims fire in between.
 *
 * One concept per file in this folder:
 * - `irq-reorder.ts`: maps allocated before an interrupt's unmaps traced
 *   before them (strict replays);
 * - `cpu-order.ts`: the order of two CPUs' operations the trace cannot
 *   show, taken from the kernel's IOVAs (strict replays);
 * - `apply.ts`: applying one call, its result as a value;
 * - `diagnose.ts`: where the model held the trace's IOVA of a mismatch;
 * - `resync.ts` and `follow.ts`: following the trace's IOVA after a
 *   mismatch, and the replay-only operations that takes;
 * - `timer-flushes.ts`: lazy traces with timer events: each flush where the
 *   trace's `timer_expire_entry` puts it, each depot trim where its
 *   workqueue events do;
 * - `late-queue.ts`: an unmap traced just before such a flush whose
 *   `queue_iova()` may have run after it began, decided by later IOVAs;
 * - `depot-order.ts`: two CPUs' overlapping ring-full flushes, whose
 *   depot pushes' order is decided by later IOVAs the same way;
 * - `count-read.ts`: an unmap next to another CPU's ring-full unmap, whose
 *   start count read is decided by later IOVAs the same way;
 * - `flush-inference.ts`: lazy traces without them (`inferFlushes`):
 *   flushes placed where reused IOVAs prove one ran;
 * - `machine.ts`: the reconstruction's view of a machine description.
 * This file takes the calls and events in trace order, moves the clock,
 * and counts the results.
 */

import type { FlushQueue } from "../dma/flush-queue.ts";
import { external, type FqTimerPolicy, fqTimerPolicyFor, NOHZ_TARGET, NOMINAL } from "../dma/fq-timer-policy.ts";
import type { IommuDmaCookie } from "../dma/iommu-dma.ts";
import type { Device } from "../iommu/device.ts";
import type { IovaDomain } from "../iova/domain.ts";
import type { ProfileName } from "../iova/profile.ts";
import { bootMachine, type Kernel } from "../machine/index.ts";
import type { KernelCheckpoint } from "../machine/kernel.ts";
import type { MachineDesc } from "../machine/schema.ts";
import { InputError } from "../stdx/errors.ts";
import { hex16 } from "../stdx/hex.ts";
import type { HexLines } from "../stdx/hex-lines.ts";
import type { KernelWorkEvent } from "../trace/events.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { type ApplierState, CallApplier, type DepotTurn, type Outcome } from "./apply.ts";
import { CountReadWatch } from "./count-read.ts";
import { CpuOrder, type OrderSearchStop } from "./cpu-order.ts";
import { DepotOrderWatch } from "./depot-order.ts";
import { DepotTrimWatch, trimUnseen } from "./depot-unseen.ts";
import { type Mismatch, type MismatchCause, stateAround } from "./diagnose.ts";
import { DEFAULT_FLUSH_HISTORIES, type FlushInference, FlushPlacement } from "./flush-inference.ts";
import { queuedLate } from "./follow.ts";
import { IrqReorder, mayInterrupt } from "./irq-reorder.ts";
import { LateQueueWatch, missesOf, type OpLog, type ReplayOp } from "./late-queue.ts";
import { LearningPhase, type LearningStats, learningCap } from "./learning.ts";
import { type LiveMapping, premappedUnmap, seedLive } from "./live-at-start.ts";
import { defaultReplayDevice } from "./machine.ts";
import type { PlaceholderCache } from "./placeholder-cache.ts";
import { seedQueued } from "./pre-trace-ring.ts";
import { type StartState, seedPlaceholders } from "./start-state.ts";
import {
  type IrqInFlush,
  type OtherCpuInFlush,
  placedBefore,
  TimerFlushes,
  type TimerFlushStats,
  timerOwners,
} from "./timer-flushes.ts";

export type { Outcome } from "./apply.ts";
export type { OrderSearchStop } from "./cpu-order.ts";
export type { Mismatch, MismatchCause } from "./diagnose.ts";
export { DEFAULT_FLUSH_HISTORIES, type FlushInference } from "./flush-inference.ts";
export { LEARNING_SHARE, type LearningStats, learningCap, TURNOVER } from "./learning.ts";
export {
  defaultReplayDevice,
  dmaDevices,
  domainOfDevice,
  machineForDevice,
  sameKindDevices,
  traceMachineOf,
} from "./machine.ts";
export type { IrqInFlush, OtherCpuInFlush, TimerFlushStats } from "./timer-flushes.ts";

export interface ReplayOptions {
  machine: MachineDesc;
  kernel?: ProfileName;
  cpus?: number;
  /** The device whose domain is replayed (BDF); default: the one device with DMA the description names first. */
  device?: string;
  /** `iommu.strict=1` (true) or `=0` (false); default: the machine's command line. */
  strict?: boolean;
  /** `iommu.max_opt_dma_size=` in bytes (the rcache range), 0 = default. */
  rangeBytes?: number;
  /** Extra command-line words, after the ones above. */
  cmdline?: string;
  /** Replay a process-context map before the interrupt-context unmaps just before it where the trace shows it (see `Replayer.push`); default: in strict replays. */
  irqReorder?: boolean;
  /**
   * Strict replays: where a map lands elsewhere than the trace's, try the
   * orders of two CPUs' operations the trace cannot tell apart (see
   * `CpuOrder`); default: in strict replays.
   */
  cpuOrder?: boolean;
  /**
   * That search stops where it cannot succeed (see `CpuOrder`); false: it
   * goes on to the trace's end (up to its 256 failed searches), to compare
   * what stopping changes. Default true.
   */
  cpuOrderStops?: boolean;
  /**
   * Move a flush-queue timer armed by the idle task to the last busy CPU
   * (the timer policy "nohz-target" of `dma/fq-timer-policy.ts`) or not
   * ("nominal"); default: the kernel profile's own policy.
   */
  idleTimerMoves?: boolean;
  /** Where an interrupt's unmaps inside a flush the trace's timer events show run (see `timer-flushes.ts`); default "after-drains". */
  irqInFlush?: IrqInFlush;
  /** Where another CPU's unmap during such a flush runs relative to the flush's drain of its queue; default "own-ring-first". */
  otherCpuInFlush?: OtherCpuInFlush;
  /** Place the phases of a flush with calls inside by trial when the default leaves misses (see `timer-flushes.ts`); default true. */
  phaseTrials?: boolean;
  /**
   * Leave open whether an unmap traced just before a flush was queued after
   * it began until the trace reuses its IOVA (see `late-queue.ts`); default
   * true. False keeps the flush's own choice.
   */
  lateQueueWatch?: boolean;
  /** Two overlapping ring-full flushes' depot pushes left open until later IOVAs tell their order (`depot-order.ts`); default on. */
  depotOrderWatch?: boolean;
  /** A mid-life trace's depot trim the model did not make left open until later IOVAs tell (`depot-unseen.ts`); default on. */
  depotTrimWatch?: boolean;
  /**
   * A learning phase that replays a searched start state holds choices (`Replayer.phaseHolds`); default on. The
   * start-state search's own trials turn it off: they score each IOVA as it is emitted and stop at a CPU's first
   * differences, and a held result is emitted only once its choice is made (the 6.12 mid-life capture cut at its
   * line 300,000 searched in 54 s with it, 28 s without, to the same state).
   */
  choicesInPhase?: boolean;
  /** Virtual ns added to the trace's timestamps; default: the whole jiffies that put the first call after the model's boot. */
  clockOffsetNs?: number;
  /**
   * Lazy replays: run each flush-queue flush where the trace shows one
   * happened (see `decideFlush`) instead of at the model's timer expiry.
   * Off by default.
   */
  inferFlushes?: boolean;
  /** With `inferFlushes`: histories kept side by side (default `DEFAULT_FLUSH_HISTORIES`); more find more, slower. */
  flushHistories?: number;
  /** With `inferFlushes`: also try a flush the trace cannot show before each one it does (default false). */
  unseenFlushes?: boolean;
  /**
   * After each allocation the model places elsewhere than the trace, put the
   * model's state back to the trace's placement (see `Replayer.resync`): every
   * match then counts a decision made from the kernel's own placement, not
   * one inherited from an earlier difference. Off by default.
   */
  resync?: boolean;
  /** Learn the caches of a trace that starts mid-life from its first allocations (`learning.ts`); default true. */
  learning?: boolean;
  /**
   * During the learning phase, an allocation placed elsewhere than the trace
   * takes the trace's IOVA (default true). The start-state search turns it
   * off, so a wrong hypothesis shows in every allocation after its mistake.
   */
  learningAdopts?: boolean;
  /**
   * During the learning phase, a tree-only allocation the kernel placed below
   * the model's slot proves the slots between taken before the trace
   * (`hidden-space.ts`); default true.
   */
  hiddenSpace?: boolean;
  /**
   * After the learning phase of a mid-life trace, an allocation that shows
   * where the kernel's magazines were cut cuts the model's the same way
   * (`magazine-cut.ts`); default true.
   */
  magazineCuts?: boolean;
  /**
   * With the magazine cuts, a hit of an IOVA cached before the trace off a
   * loaded magazine whose `prev` is empty shows the kernel's full `prev`
   * swapped in (`swapped-prev.ts`); default true.
   */
  swappedPrev?: boolean;
  /**
   * With it, not over the IOVAs a CPU held where an earlier hit of an IOVA
   * from before the trace was taken back (`swapped-prev.ts`'s `HitOver`);
   * default true.
   */
  swappedPrevHitOver?: boolean;
  /**
   * A map inside a mapping live at the start, before its unmap, is that
   * mapping's last segments, allocated before the trace (`live-tail.ts`):
   * nothing to allocate; default true.
   */
  liveTails?: boolean;
  /**
   * A `prev` the learning phase took IOVAs out of: those takes count in the
   * hits that show a loaded magazine pushed before them, and its IOVAs go
   * to the depot with that magazine (`prev-taken.ts`); default true.
   */
  prevTaken?: boolean;
  /**
   * In the learning phase too, an allocation on a CPU whose magazines are
   * empty of an IOVA another CPU's magazines hold cuts that CPU's magazine
   * as after it (`magazine-cut.ts`'s `crossCut`), instead of taking the IOVA
   * out of it; default true.
   */
  phaseCrossCuts?: boolean;
  /**
   * A hit of an IOVA from before the trace above an IOVA of the model's
   * freed while flush queues could still hold entries from before the
   * trace takes a placeholder of that magazine (`placeholder-slot.ts`);
   * default true.
   */
  placeholderSlots?: boolean;
  /** The fill levels of the rcaches when the trace starts (`start-state.ts`); default: empty, as after boot. */
  start?: StartState;
  /**
   * The trace shows flush-queue timer events (`fq_flush_timeout`). In a
   * trace that starts mid-life the timer may have been armed before the
   * trace began, at a time it cannot show, so the model's own timer never
   * fires there: the flushes run where the trace's timer events put them
   * from the start (a trace from boot is replayed as without it).
   */
  timerEvents?: boolean;
  /**
   * The flush-queue timers the trace shows armed, by the devices whose
   * unmaps armed them (`TraceFacts.fqTimerDevices`). With several lazy
   * domains each has its own timer: the replay takes its domain's from the
   * start and never one of another domain's, where otherwise it binds the
   * first it meets (`TimerFlushes`).
   */
  fqTimers?: ReadonlyMap<string, ReadonlySet<string>>;
  /** Allocations of the replayed domain in the whole trace: the learning phase covers at most a tenth of them (`learning.ts`). */
  traceAllocations?: number;
  /** Mappings live when the trace starts, found from their unmaps (`live-at-start.ts`): mapped from the start. */
  live?: readonly LiveMapping[];
  /** Receives one line per `iommu:map` event of the replayed domain, in trace order: the model's IOVA or `fail`. */
  emitIova?: (text: string) => void;
  /** The same lines written as bytes (`HexLines`), for output that may be long; instead of `emitIova`. */
  emitLines?: HexLines;
  /** The same as numbers (-1 for `fail`), for a caller that compares them: instead of `emitIova`, without the text. */
  emitAddress?: (iova: number) => void;
  /**
   * False: a mismatch's cause and the state around it are not looked for
   * (`diagnose.ts`, a scan of every magazine a mismatch), for a search's
   * trials, which read only the IOVAs. What is replayed is the same.
   */
  describeMismatches?: boolean;
  /** Placeholders seeded by earlier replays of the same machine (a search's trials): `start`'s taken from them. */
  placeholders?: PlaceholderCache;
}

/**
 * What ran the lazy replay's flush-queue flushes: the trace's own timer
 * events, flushes inferred from its reused IOVAs (`inferFlushes`), or the
 * model's timer (nominal expiry, the policy's CPU). Null for strict replays.
 */
export type FlushSource = "timer-events" | "inferred" | "model-timer";

export interface ReplayResult {
  device: string;
  domain: string;
  kernel: ProfileName;
  strict: boolean;
  allocations: number;
  frees: number;
  mapEvents: number;
  /** Allocations whose model IOVA equals the trace's. */
  exact: number;
  /** `iommu:map` events whose model IOVA equals the trace's. */
  exactMapEvents: number;
  failures: number;
  /** Unmaps the model refused (nothing mapped at the model's address). */
  refusedUnmaps: number;
  /** Maps replayed before interrupt-context unmaps the trace shows before them (see `Replayer.push`). */
  reordered: number;
  /** Strict: calls replayed across another CPU's, where the kernel's IOVAs show that order (see `CpuOrder`). */
  cpuOrderMoves: number;
  /**
   * Strict: where and why the replay stopped searching for those orders
   * before the trace's end (see `CpuOrder`), or null when it did not.
   */
  cpuOrderStopped: OrderSearchStop | null;
  /** Flush-queue timers armed from an idle CPU and moved to the busy CPU (see `apply`). */
  timerMoves: number;
  /** Maps traced right after a flush on their CPU that allocated before it (see `Replayer.allocatedBeforeFlush`). */
  flushReorders: number;
  /** Pairs of two CPUs' maps replayed in the other order with timer events (see `Replayer.allocatedSecond`). */
  swapped: number;
  firstMismatch: Mismatch | null;
  /** `ReplayOptions.resync`: mismatches after which the state was put back to the trace's, and those where it could not be. */
  resyncs: number;
  resyncFailures: number;
  /** Every mismatch by where the model held the trace's IOVA. */
  mismatchCauses: Map<MismatchCause, number>;
  /**
   * The allocations after the learning phase that took the trace's IOVA as
   * not knowable (cached or held before the trace, a lost unmap's range), by
   * where the model held it: no mismatches, counted apart from them.
   */
  adoptedCauses: Map<MismatchCause, number>;
  /** Present when the replay placed its flushes from the trace. */
  flushInference: FlushInference | null;
  /** What ran the flushes (null: strict, no flush queue). */
  flushSource: FlushSource | null;
  /** Present when the trace's timer events placed the flushes. */
  timerFlushes: TimerFlushStats | null;
  /** Virtual time added to the trace's timestamps so the trace starts after the model's boot. */
  clockOffsetNs: number;
  /** The learning phase of a trace that starts mid-life (`learning.ts`); allocations 0 for a trace from boot. */
  learning: LearningStats;
  /** Allocations after the learning phase, and those of them the model placed as the trace did. */
  afterLearning: number;
  exactAfterLearning: number;
  /** Allocations after the phase that the kernel took from a cache filled before the trace: adopted, not exact. */
  adoptedAfterLearning: number;
  /**
   * Maps that took the range of a mapping whose unmap the trace lost (`DmaCall.reuses`); those whose IOVA
   * decided it (`Outcome.lost`, `Outcome.lifted`) are adopted, never exact.
   */
  lostUnmaps: number;
  /** Of those, the ones whose range the model held lower in the magazine the map popped (`liftToTop`). */
  lostLifted: number;
  /** Of those, the ones that showed where the kernel's magazines were cut (`magazine-cut.ts`). */
  cutsAfterLearning: number;
  /**
   * Calls of this domain on CPUs the machine lacks (a CPU number at or above
   * its count), replayed on CPU number modulo the count, sharing that CPU's
   * caches; and the highest such CPU (-1: none).
   */
  cpusLacked: { calls: number; highest: number };
  /**
   * Maps whose trace IOVA lies in a region the machine reserves in this
   * domain (an MSI window, a reserved range), where the kernel never
   * allocates: the trace was taken on a machine with other reserved
   * regions. The first such map, and the region it fell in.
   */
  inReserved: { maps: number; first: { line: number; iova: number; start: number; end: number; what: string } | null };
  iovad: IovaDomain;
}

const NS_PER_S = 1_000_000_000;
/** How far apart two CPUs' map events may be and still have been allocated in the other order, in time and calls. */
const SWAP_NS = 250_000;
const SWAP_CALLS = 32;

/** The replayer's state for trials: the kernel, the applier's allocations, the clock. */
interface ReplayCheckpoint {
  kernel: KernelCheckpoint;
  applier: ApplierState;
  lastNs: number;
  /** What the replay did to the model up to here (see `late-queue.ts`). */
  log: OpLog | null;
}

export class Replayer {
  readonly kernel: Kernel;
  readonly dev: Device;
  readonly domain: string;
  private readonly opts: ReplayOptions;
  private readonly cpus: number;
  private readonly jiffyNs: number;
  /** What the domain's set-up reserved, where the kernel never allocates (`ReplayResult.inReserved`). */
  private readonly reserved: readonly { start: number; end: number; what: string }[];
  private readonly applier: CallApplier;
  private readonly reorder: IrqReorder;
  /** Strict replays as captured: the order of two CPUs' operations the trace cannot show (see `CpuOrder`). */
  private cpuOrder: CpuOrder<ReplayCheckpoint, Outcome> | null = null;
  /** The time `cpuOrder` replays the current call at, when it moved it before another CPU's call. */
  private orderAtNs: number | undefined = undefined;
  private clockOffsetNs = -1;
  private lastNs = 0;
  /**
   * Emitted IOVAs not yet written (-1: fail) and their map lines, from `pendingHead` on, kept in line order (a
   * line after the equal ones): pieces of interleaved allocations come out in line order.
   */
  private pendingLines: number[] = [];
  private pendingIovas: number[] = [];
  private pendingHead = 0;
  private readonly r: Omit<ReplayResult, "iovad" | "clockOffsetNs" | "learning">;
  private readonly learn: LearningPhase | null;
  /**
   * The learning phase as the calls are taken, in their order, which decides
   * which calls adopt the trace's IOVA: `learn` is counted as each call's
   * result becomes final, which a held choice (`late-queue.ts` and the other
   * watches), a searched order of two CPUs' calls, or the flush inference
   * (all of the trace's calls) puts off past later calls' replays; read
   * there, the phase ended late, and calls after its end were applied as its
   * own, adopting the trace's IOVA: the replay resynchronised without
   * --resync. The phase's rule reads only how many allocations each CPU
   * made, so both end at the same call.
   */
  private readonly phaseAhead: LearningPhase | null;
  /** The calls taken while `phaseAhead` was in the phase, until each is counted. */
  private readonly inPhase = new Set<DmaCall>();
  /** The flush-queue timer's placement by the kernel profile (or `idleTimerMoves`). */
  private readonly timerPolicy: FqTimerPolicy;
  /** Flushes placed by inference (`inferFlushes`), until the trace shows timer events. */
  private inference: FlushPlacement | null = null;
  /** The trace's timer and work events, for a lazy replay. */
  private readonly timers: TimerFlushes | null = null;
  /** A call of this domain has been pushed. */
  private sawCall = false;
  /** Unmaps of mappings live at the start (`live-at-start.ts`), in line order; `liveNext` the next to replay. */
  private readonly liveUnmaps: DmaCall[] = [];
  private liveNext = 0;
  /** The log of what the replay does to the model, kept while flushes come from timer events (`late-queue.ts`). */
  private opLog: OpLog | null = null;
  private logging = false;
  /** A flush's undecided late queue and the results held until later calls decide it. */
  private watch: LateQueueWatch | DepotOrderWatch | CountReadWatch | DepotTrimWatch | null = null;
  /**
   * Per size class, whether the depot is known to hold nothing from before the trace (`depot-unseen.ts`): no trim
   * the model did not make is left open there.
   */
  private readonly depotBottomKnown: boolean[] = [];
  /** The log is being run again: results go to the watch's comparison, not to the counts. */
  private rerunning = false;
  /**
   * Calls released for their first replay, and calls applied to the model in all: the difference is what
   * trials (flush phases, held choices, the CPUs' order) replayed again (`extraApplies`).
   */
  private released = 0;
  private applied = 0;
  /** A mismatched map and the calls after it, held (see `allocatedSecond`). */
  private swap: { before: ReplayCheckpoint; events: number; calls: DmaCall[]; outs: Outcome[] } | null = null;

  constructor(opts: ReplayOptions) {
    this.opts = opts;
    const device = opts.device ?? defaultReplayDevice(opts.machine);
    const words: string[] = [];
    if (opts.strict !== undefined) words.push(`iommu.strict=${opts.strict ? 1 : 0}`);
    if (opts.rangeBytes) words.push(`iommu.max_opt_dma_size=${opts.rangeBytes}`);
    if (opts.cmdline) words.push(opts.cmdline);
    this.kernel = bootMachine(opts.machine, { kernel: opts.kernel, cpus: opts.cpus, cmdline: words.join(" ") });
    this.timerPolicy =
      opts.idleTimerMoves === undefined
        ? fqTimerPolicyFor(this.kernel.profile.name)
        : opts.idleTimerMoves
          ? NOHZ_TARGET
          : NOMINAL;
    const dev = this.kernel.device(device);
    if (!dev) throw new InputError(`--device: ${device} is not a device of ${opts.machine.name}`);
    if (!this.kernel.dma.cookieOf(dev)) {
      throw new InputError(
        `--device: ${device} has no DMA domain after boot (identity or no IOMMU): nothing to replay`,
      );
    }
    this.dev = dev;
    const group = this.kernel.groupOf(dev);
    this.domain = `group${opts.machine.devices.find((d) => d.bdf === device)?.group ?? group?.id}`;
    this.cpus = this.kernel.cpus;
    this.jiffyNs = NS_PER_S / opts.machine.hz;
    // The domain's reserved ranges as its set-up made them; a direct region's identity maps are in the trace too.
    this.reserved = (this.kernel.dma.cookieOf(dev) as IommuDmaCookie).reserved.filter((x) => !x.identity);
    this.r = {
      device,
      domain: this.domain,
      kernel: this.kernel.profile.name,
      strict: this.kernel.iommu.config.strict,
      allocations: 0,
      frees: 0,
      mapEvents: 0,
      exact: 0,
      exactMapEvents: 0,
      failures: 0,
      refusedUnmaps: 0,
      reordered: 0,
      cpuOrderMoves: 0,
      cpuOrderStopped: null,
      timerMoves: 0,
      flushReorders: 0,
      swapped: 0,
      firstMismatch: null,
      mismatchCauses: new Map(),
      adoptedCauses: new Map(),
      resyncs: 0,
      resyncFailures: 0,
      flushInference: null,
      flushSource: null,
      timerFlushes: null,
      afterLearning: 0,
      exactAfterLearning: 0,
      adoptedAfterLearning: 0,
      lostUnmaps: 0,
      lostLifted: 0,
      cutsAfterLearning: 0,
      cpusLacked: { calls: 0, highest: -1 },
      inReserved: { maps: 0, first: null },
    };
    // The interrupted-allocation evidence holds where frees reach the rcache at once: strict.
    this.reorder = new IrqReorder(opts.irqReorder ?? this.kernel.iommu.config.strict, this.iovad.granule, (c) =>
      this.release(c),
    );
    this.applier = new CallApplier(this.kernel, dev, opts.resync === true);
    this.applier.magazineCuts = opts.magazineCuts !== false;
    this.applier.swappedPrev = opts.swappedPrev !== false;
    this.applier.hitOverGuard = opts.swappedPrevHitOver !== false;
    this.applier.prevTaken = opts.prevTaken !== false;
    this.applier.phaseCrossCuts = opts.phaseCrossCuts !== false;
    this.applier.placeholderSlots = opts.placeholderSlots !== false;
    this.applier.heldOpen = (addr) => this.watch?.leavesOpen(addr) === true;
    const cookie = this.cookie;
    if (opts.start) {
      const placer = opts.placeholders?.placer(this.iovad, opts.start, cookie?.fq?.cpus ?? 0);
      const top = seedPlaceholders(this.iovad, opts.start, placer);
      this.applier.placeholderTop = cookie ? seedQueued(cookie, opts.start, top, placer) : top;
    }
    for (const m of opts.live ?? []) {
      if (!cookie || (m.device !== undefined && m.device !== device) || !seedLive(cookie, m)) continue;
      if (opts.liveTails !== false) this.applier.liveTails.add(m);
      const c = premappedUnmap(m, this.liveUnmaps.length, this.domain);
      this.applier.adoptLive(c.allocation, m.iova);
      this.liveUnmaps.push(c);
    }
    const phase = () =>
      new LearningPhase(
        this.cpus,
        this.iovad.profile.magazineSize,
        opts.traceAllocations ? learningCap(opts.traceAllocations) : undefined,
      );
    this.learn = opts.learning === false ? null : phase();
    this.phaseAhead = opts.learning === false ? null : phase();
    const inferFlushes = opts.inferFlushes === true && !this.kernel.iommu.config.strict;
    const fq = this.kernel.dma.cookieOf(dev)?.fq ?? null;
    if (fq) {
      // The trace tells the timer policy which CPU is idle (the idle task's calls) and which was busy last.
      fq.facts = this.applier.facts;
      // With inferred flushes the timer runs only where one is placed.
      fq.policy = inferFlushes ? external(this.timerPolicy) : this.timerPolicy;
      this.r.flushSource = inferFlushes ? "inferred" : "model-timer";
      this.timers = new TimerFlushes(
        {
          advanceTo: (ts) => this.advanceClock(ts),
          fq,
          iovad: this.iovad,
          cpus: this.cpus,
          innerPolicy: this.timerPolicy,
          onFirstTimerEvent: () => this.useTimerEvents(),
          save: () => this.save(),
          restore: (st) => this.restore(st as ReplayCheckpoint),
          recycle: (st) => this.recycle(st as ReplayCheckpoint),
          apply: (c) => this.applyAt(c, true, this.r.firstMismatch === null),
          showed: (addr) => this.applier.showed(addr),
          finalize: (c, o) => this.finalize(c, o as Outcome),
          queuedLate: (cpu) => this.run({ k: "late", cpu }),
          mayRewind: () => this.watch === null && this.swap === null && !this.rerunning,
          holds: (allocation) => this.applier.holds(allocation),
          addLost: (allocation, cpu) => this.applier.lostUnmaps.shownBefore(allocation, cpu),
          expireBegin: (lost) => this.run({ k: "begin", lost }),
          lostWaiting: () => this.applier.lostUnmaps.size > 0,
          ringsUndrained: () => this.applier.preTraceQueue.undrained(fq.cpus),
          lostWaits: (allocation) => this.applier.lostUnmaps.waits(allocation),
          // A timer flush's own choices come first: a count read left open before it is made now.
          beforeEntry: () => {
            if (this.watchYields()) this.settleWatch(true);
          },
          expireIotlbDone: () => this.run({ k: "iotlb" }),
          expireDrain: (ring, cpu) => this.run({ k: "drain", ring, cpu }),
          runDepotWork: (c) => {
            const n = this.iovad.rcaches[c].depot.length;
            this.run({ k: "depot", c });
            if (this.iovad.rcaches[c].depot.length === n) this.undecidedTrim(c);
          },
          undecidedLateQueue: (st, unmap, late) => this.undecidedLateQueue(st as ReplayCheckpoint, unmap, late),
          leftOpen: (iova) => this.watch?.leavesOpen(iova) === true,
        },
        opts.irqInFlush ?? "after-drains",
        opts.otherCpuInFlush ?? "own-ring-first",
        opts.phaseTrials ?? true,
        timerOwners(
          opts.fqTimers,
          opts.machine.devices.filter((d) => `group${d.group}` === this.domain).map((d) => d.bdf),
        ),
      );
      this.r.timerFlushes = this.timers.stats;
    }
    if (inferFlushes) {
      const cookie = this.cookie as IommuDmaCookie;
      this.inference = new FlushPlacement(
        {
          save: () => this.save(),
          restore: (st) => this.restore(st as ReplayCheckpoint),
          recycle: (st) => this.recycle(st as ReplayCheckpoint),
          apply: (c, record, wantState) => this.applyAt(c, record, wantState),
          finalize: (c, o) => this.finalize(c, o),
          cookie,
          virtualNs: (c) => this.virtualNs(c),
          cpus: this.cpus,
          jiffyNs: this.jiffyNs,
        },
        opts.flushHistories ?? DEFAULT_FLUSH_HISTORIES,
        opts.unseenFlushes ?? false,
      );
      this.r.flushInference = this.inference.stats;
    }
    // Unmaps of mappings live at the start prove a mid-life trace before its first allocation.
    if (this.liveUnmaps.length > 0) this.timerArmedBefore();
    // Without a flush queue (strict) no timer or flush decision holds calls back: the
    // calls' final order is the one CpuOrder settles.
    if ((opts.cpuOrder ?? this.kernel.iommu.config.strict) && fq === null) {
      this.cpuOrder = new CpuOrder<ReplayCheckpoint, Outcome>(
        {
          apply: (c, atNs, describe) => {
            this.orderAtNs = atNs;
            const o = this.applyAt(c, describe, describe && this.r.firstMismatch === null);
            this.orderAtNs = undefined;
            return o;
          },
          save: () => this.save(),
          restore: (s) => this.restore(s),
          finalize: (c, o) => this.finalize(c, o),
          // The phase adopts the trace's IOVAs where the model's differ: its misses come from the state before the
          // trace, not from the order of the CPUs' calls.
          learning: () => this.learn?.learning === true,
        },
        opts.cpuOrderStops ?? true,
      );
    }
  }

  /**
   * Keeps the trace's order of the CPUs' calls (`cpuOrder` off): a what-if
   * beside its baseline, whose IOVAs are not the trace's to fit an order to.
   */
  keepTraceOrder(): void {
    this.cpuOrder = null;
  }

  private get cookie(): IommuDmaCookie | null {
    return this.kernel.dma.cookieOf(this.dev);
  }

  /** Whether the trace was found to start mid-life (its first allocation seen). */
  get learningStarted(): boolean {
    return this.learn?.stats.midLife === true;
  }

  /** The allocations the learning phase has counted so far (`LearningStats.allocations`). */
  get learnedAllocations(): number {
    return this.learn?.stats.allocations ?? 0;
  }

  /** The pfn below which every placeholder of the start state lies (`start-state.ts`, `pre-trace-ring.ts`). */
  get placeholderTop(): number {
    return this.applier.placeholderTop;
  }

  /** Whether the learning phase may still be running: the first allocation not yet seen, or learning. */
  get learningRunning(): boolean {
    return this.learn !== null && (this.learn.undecided || this.learn.learning);
  }

  private get iovad(): IovaDomain {
    const cookie = this.cookie;
    if (!cookie) throw new InputError(`${this.r.device} lost its DMA domain during the replay`);
    return cookie.iovad;
  }

  private get fq(): FlushQueue | null {
    return this.cookie?.fq ?? null;
  }

  /** The virtual time of a trace timestamp: shifted once, by whole jiffies, past the model's boot. */
  private shifted(ts: number): number {
    if (this.clockOffsetNs < 0 && this.opts.clockOffsetNs !== undefined) this.clockOffsetNs = this.opts.clockOffsetNs;
    if (this.clockOffsetNs < 0) {
      const gap = this.kernel.nowNs - ts;
      this.clockOffsetNs = gap > 0 ? Math.ceil(gap / this.jiffyNs) * this.jiffyNs : 0;
    }
    return Math.max(this.lastNs, ts + this.clockOffsetNs, this.kernel.nowNs);
  }

  /** The model's clock as a trace timestamp. */
  private traceNs(): number {
    return this.lastNs - Math.max(0, this.clockOffsetNs);
  }

  /** Moves the model's clock to a trace timestamp (a timer or work event's). */
  private advanceClock(ts: number): void {
    this.run({ k: "clock", atNs: this.shifted(ts) });
  }

  /**
   * Does `op` to the model and logs it (see `late-queue.ts`); an `apply`
   * replays its call as logged and returns its outcome.
   */
  private run(op: ReplayOp): Outcome | null {
    let out: Outcome | null = null;
    // Only a held flush or choice can need the history: from a flush's entry to its settling, and while a choice waits.
    const log = this.logging && (this.watch !== null || this.timers?.holding === true);
    switch (op.k) {
      case "apply": {
        out = this.applyCall(
          op.c,
          op.atNs,
          op.describe,
          op.wantState,
          op.adopt,
          op.adoptUnknown,
          op.afterFlush === true,
          op.oldCount,
          op.newCountOf ?? -1,
        );
        if (log) op = { ...op, ok: out.ok };
        break;
      }
      case "clock":
        this.kernel.advanceTo(op.atNs);
        this.lastNs = op.atNs;
        break;
      case "begin":
        this.applier.lostUnmaps.beforeFlush(this.traceNs(), op.lost);
        (this.fq as FlushQueue).expireBegin();
        break;
      case "iotlb":
        (this.fq as FlushQueue).expireIotlbDone();
        break;
      case "drain": {
        const fq = this.fq as FlushQueue;
        fq.expireDrain(op.ring, op.cpu);
        this.applier.preTraceQueue.ring(fq.cpus, op.ring, fq.flushFinishCnt);
        break;
      }
      case "expire": {
        const fq = this.fq as FlushQueue;
        this.applier.lostUnmaps.beforeFlush(this.traceNs(), "likely");
        fq.expire(op.cpu);
        for (let r = 0; r < fq.cpus; r++) this.applier.preTraceQueue.ring(fq.cpus, r, fq.flushFinishCnt);
        break;
      }
      case "late":
        queuedLate(this.fq as FlushQueue, op.cpu);
        break;
      case "depot":
        this.iovad.runDepotWork(op.c);
        break;
      case "turnDepot":
        for (const t of op.turns) this.iovad.turnDepot(t.c, t.from, t.mid, t.to);
        break;
      case "trimUnseen":
        trimUnseen(this.iovad, op.c, (pages) => this.applier.placeholder(pages));
        break;
    }
    if (log) this.opLog = { op, prev: this.opLog };
    return out;
  }

  /** The `apply` op of `run`: replays call `c` at `atNs` as the op's fields say. */
  private applyCall(
    c: DmaCall,
    atNs: number,
    describe: boolean,
    wantState: boolean,
    adopt: boolean,
    adoptUnknown: boolean,
    afterFlush: boolean,
    oldCount: boolean | undefined,
    newCountOf: number,
  ): Outcome {
    this.kernel.advanceTo(atNs);
    this.lastNs = atNs;
    this.applier.adopt = adopt;
    this.applier.adoptUnknown = adoptUnknown;
    this.applier.afterFlush = afterFlush;
    this.applier.oldCount = oldCount;
    this.applier.newCountOf = newCountOf;
    return this.applier.apply(c, describe && this.opts.describeMismatches !== false, wantState);
  }

  /**
   * A settled flush left open whether another CPU's last unmap before it was
   * queued after it began (`late-queue.ts`): the results are held from here
   * until the trace reuses that IOVA. One such question at a time, and none
   * where the learning phase holds none (`phaseHolds`).
   */
  private undecidedLateQueue(state: ReplayCheckpoint, unmap: DmaCall, late: boolean): void {
    if (this.watch !== null || this.rerunning || !this.logging || this.opts.lateQueueWatch === false) return;
    if (!this.phaseHolds()) return;
    this.watch = new LateQueueWatch(state, state.log, unmap, unmap.cpu % this.cpus, late);
    if (this.r.timerFlushes) this.r.timerFlushes.lateWatched++;
  }

  /** Whether the held choice is a count read that gives way to others (`CountReadWatch.yields`). */
  private watchYields(): boolean {
    return this.watch instanceof CountReadWatch && this.watch.yields;
  }

  /**
   * Whether a choice may be left open here (`depot-order.ts`,
   * `count-read.ts`): none open, not re-running, and nothing else held (a
   * held flush or swap may restore a state before this one).
   */
  private watchable(): boolean {
    if (this.watch !== null || this.rerunning || !this.logging) return false;
    if (this.timers?.holding || this.swap !== null) return false;
    return this.phaseHolds();
  }

  /**
   * Whether a choice may be held at this point of a mid-life trace's learning
   * phase: after the phase, and inside one that replays a searched start
   * state (`learningAdopts` off: the model places every IOVA itself, and the
   * phase's end is counted in call order however late a held call is
   * counted). A phase that adopts the trace's IOVAs asks, as each call is
   * applied, whether it still adopts: a call held past the phase's end would
   * be applied again under a stale answer. Held in a searched phase, two
   * overlapping ring-full flushes' depot order is decided by the IOVAs reused
   * after it (the 6.1 mid-life capture cut at its line 131,236, whose flushes
   * at its lines 957 and 969 lie inside the phase: 0.48% of its allocations
   * exact with the first CPU's push first, 99.25% held).
   */
  private phaseHolds(): boolean {
    const learn = this.learn;
    if (learn === null || !(learn.undecided || learn.learning)) return true;
    return learn.learning && this.opts.learningAdopts === false && this.opts.choicesInPhase !== false;
  }

  /**
   * Two overlapping ring-full flushes left open which ring free's depot
   * pushes came first (`depot-order.ts`): the results are held from here
   * until the trace reuses IOVAs of both. Only where nothing else is held
   * (a held flush or swap may restore a state before this one).
   */
  private undecidedDepotOrder(turns: DepotTurn[]): void {
    if (this.opts.depotOrderWatch === false || !this.watchable()) return;
    const state = this.save();
    this.watch = new DepotOrderWatch(state, state.log, turns, this.iovad);
    if (this.r.timerFlushes) this.r.timerFlushes.depotWatched++;
  }

  /**
   * A depot trim work that left the depot as it was, in a trace that starts
   * mid-life: the kernel's depot may have held magazines from before the
   * trace under the model's and trimmed (`depot-unseen.ts`). Left open where
   * the depot has a top magazine the trim would take, and it is not known to
   * hold nothing from before.
   */
  private undecidedTrim(c: number): void {
    if (this.opts.depotTrimWatch === false || this.learn?.stats.midLife !== true || this.depotBottomKnown[c]) return;
    const iovad = this.iovad;
    const n = iovad.rcaches[c].depot.length;
    if (!iovad.profile.depotTrimWork || n === 0 || n > iovad.cpus || !this.watchable()) return;
    const state = this.save();
    this.watch = new DepotTrimWatch(state, state.log, c, iovad);
    if (this.r.timerFlushes) this.r.timerFlushes.trimWatched++;
  }

  /**
   * Map `c` went to the model's tree and got the trace's IOVA: the kernel's
   * caches of its size missed too, its depot among them, so that depot holds
   * nothing from before the trace (`depot-unseen.ts`). (A magazine from before
   * would have handed out an IOVA the model does not hold.)
   */
  private depotEmptyShown(c: DmaCall): void {
    const iovad = this.iovad;
    const k = iovad.sizeClass(Math.ceil(c.sizeBytes / iovad.granule));
    if (k < iovad.rcacheOrders) this.depotBottomKnown[k] = true;
  }

  /**
   * Makes the held choice (`late-queue.ts`) once it is due (or `force`d, at
   * the end), where no call is held elsewhere: the log since the flush is run
   * again with the other choice, and the run that placed more of the trace's
   * IOVAs is kept; then the held results are counted.
   */
  private settleWatch(force: boolean): void {
    const w = this.watch;
    if (w === null) {
      // Nothing needs the history before here.
      if (!this.timers?.holding && this.swap === null) this.opLog = null;
      return;
    }
    if (!(force || w.due) || this.timers?.holding || this.swap !== null) return;
    this.watch = null;
    const ops = w.turned(this.opLog);
    const misses = ops === null ? 0 : missesOf(ops);
    let outs: Map<DmaCall, Outcome> | null = null;
    if (ops !== null && misses > 0) {
      const asReplayed = this.save();
      this.restore(w.state as ReplayCheckpoint);
      this.rerunning = true;
      const tried = new Map<DmaCall, Outcome>();
      let n = 0;
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i];
        const next = ops[i + 1];
        // A map replayed before the flush it was traced after (`allocatedBeforeFlush`) was so because the other
        // history left its IOVA in the rcache: in this one it may come after the flush, as traced.
        const early = op.k === "apply" && op.c.kind === "map" && next?.k === "expire";
        const cp = early ? this.save() : null;
        let o = this.run(op);
        if (cp !== null && o !== null && !o.ok) {
          this.restore(cp);
          this.run(next);
          o = this.run(op);
          i++;
        } else if (cp !== null) this.kernel.recycle(cp.kernel);
        if (o === null) continue;
        tried.set((op as { c: DmaCall }).c, o);
        if (!o.ok && ++n >= misses) break;
      }
      this.rerunning = false;
      if (n < misses) {
        outs = tried;
        if (this.r.timerFlushes) {
          if (w instanceof DepotOrderWatch) this.r.timerFlushes.depotTurned++;
          else if (w instanceof DepotTrimWatch) this.r.timerFlushes.trimTurned++;
          else if (w instanceof CountReadWatch && w.newCountOf >= 0) this.r.timerFlushes.countBeforeTurned++;
          else if (w instanceof CountReadWatch) this.r.timerFlushes.countTurned++;
          else this.r.timerFlushes.lateTurned++;
        }
      } else this.restore(asReplayed);
    }
    // Untrimmed, every held call placed as traced and the reuse shown, with as many magazines as CPUs: the kernel's
    // depot held no more, so nothing from before the trace.
    if (w instanceof DepotTrimWatch && ops !== null && misses === 0 && w.shown && w.depotLength === this.iovad.cpus)
      this.depotBottomKnown[w.c] = true;
    for (const h of w.held) this.count(h.c, (outs?.get(h.c) ?? h.o) as Outcome);
  }

  private virtualNs(c: DmaCall): number {
    return c.timestampNs + Math.max(0, this.clockOffsetNs);
  }

  /**
   * Replays call `c` at its time (an interrupted map at its interrupt's, see
   * `irq-reorder.ts`; a call `CpuOrder` moved at the time it gives); a flush
   * placed just before it runs first.
   */
  private applyAt(c: DmaCall, describe: boolean, wantState: boolean): Outcome {
    this.applied++;
    const moved = this.reorder.applyAtNs;
    const t = this.shifted(this.orderAtNs ?? (moved.size === 0 ? c.timestampNs : (moved.get(c) ?? c.timestampNs)));
    if (this.inference) {
      this.kernel.advanceTo(t);
      this.lastNs = t;
      this.inference.fireBefore(c, t);
    }
    const learn = this.learn;
    // In the phase by the calls taken so far (`phaseAhead`): the allocation the phase's rule ends it before is
    // counted after the phase, so it is applied as one (its adopting would count its miss as a mismatch the model
    // made), and so is every allocation after it, however late its result is counted.
    const adopting = learn?.undecided === true || (learn?.stats.midLife === true && this.inPhase.has(c));
    const first = learn?.undecided === true && c.kind === "map";
    // The first map decides whether the trace starts mid-life: the trace's IOVA free in the fresh domain, and not
    // where the fresh domain put it.
    const freeInModel = first && this.iovad.findIova(c.iova / this.iovad.granule) === null;
    // A strict domain's tree allocations prove hidden space after the phase too: a walk that proves is an adopted
    // allocation, and what it proves was there before the trace (`hidden-space.ts`).
    this.applier.proveHidden =
      (adopting || (learn?.stats.midLife === true && this.fq === null)) &&
      this.opts.learningAdopts !== false &&
      this.opts.hiddenSpace !== false;
    let opened: CountReadWatch | null = null;
    // The flush count before the call, read only where a watch is opened (the domain's look-up is per call).
    let fq: FlushQueue | null = null;
    let flushes = 0;
    if (c.kind === "unmap" && this.watchable()) {
      if (this.applier.countOpen(c)) {
        const state = this.save();
        this.watch = new CountReadWatch(state, state.log, c, this.applier.ringFullNs);
        if (this.r.timerFlushes) this.r.timerFlushes.countWatched++;
      } else {
        const other = this.applier.countOpenBefore(c);
        const u = other >= 0 ? this.applier.lastCallOf(other) : null;
        if (u !== null) {
          const state = this.save();
          opened = new CountReadWatch(state, state.log, c, c.timestampNs, u, other);
          this.watch = opened;
          fq = this.fq;
          flushes = fq?.flushes ?? 0;
        }
      }
    }
    // As `run` would apply it, with the op made only where the log keeps it: this is once a call.
    const adopt = this.opts.resync === true || (c.kind === "map" && adopting && this.opts.learningAdopts !== false);
    const adoptUnknown = learn?.stats.midLife === true;
    const afterFlush = learn?.stats.midLife === true && this.timers?.mayPrecedeFlush(c) === true;
    const log = this.logging && (this.watch !== null || this.timers?.holding === true);
    // No count read held open here: the old count unset, no other CPU's new count (`CountReadWatch`).
    const o = this.applyCall(c, t, describe, wantState, adopt, adoptUnknown, afterFlush, undefined, -1);
    if (log) {
      const op: ReplayOp = { k: "apply", c, atNs: t, describe, wantState, adopt, adoptUnknown, afterFlush, ok: o.ok };
      this.opLog = { op, prev: this.opLog };
    }
    if (opened !== null) {
      // Left open only where this unmap did flush its full queue, and not over the depot order of two overlapping
      // ring-full flushes (`depot-order.ts`), which is left open instead.
      if (fq !== null && fq.flushes !== flushes && o.depotTurn === undefined) {
        if (this.r.timerFlushes) this.r.timerFlushes.countBeforeWatched++;
      } else {
        this.watch = null;
        this.kernel.recycle((opened.state as ReplayCheckpoint).kernel);
      }
    }
    if (first && learn) {
      learn.first(o.addr === c.iova, freeInModel, c.timestampNs, this.liveUnmaps.length > 0);
      if (learn.stats.midLife) this.timerArmedBefore();
    }
    if (o.depotTurn !== undefined) this.undecidedDepotOrder(o.depotTurn);
    if (o.treeExact === true && !this.rerunning && this.phaseHolds()) this.depotEmptyShown(c);
    return o;
  }

  /**
   * A trace that starts mid-life and shows timer events: the timer runs only
   * where they put it (`ReplayOptions.timerEvents`), from the start.
   */
  private timerArmedBefore(): void {
    const fq = this.fq;
    if (!this.opts.timerEvents || fq === null || this.inference !== null || fq.policy.name === "external") return;
    fq.policy = external(this.timerPolicy);
  }

  /**
   * The trace has timer events: its flushes run where they show, from now
   * on. Flushes inferred so far (before the first timer event) are settled.
   */
  private useTimerEvents(): void {
    if (this.inference) {
      this.inference.end();
      this.inference = null;
    }
    this.r.flushSource = "timer-events";
    this.logging = true;
  }

  /**
   * A map event is traced after its IOVA allocation, so a process-context
   * map traced right after a flush on its CPU (the timer's softirq ran on
   * the way out of an interrupt) may have allocated before the flush
   * interrupted it. When the map landed elsewhere than the trace's IOVA
   * after the flush, and nothing else happened since the flush began, the
   * map is tried before the flush; that order is kept if it gives the
   * trace's IOVA, or an IOVA from before the trace where the order after
   * the flush gave one the trace had shown (`placedBefore`): the flush's
   * frees then come after it, as the strict replay's interrupted
   * allocations are (`irq-reorder.ts`).
   */
  private allocatedBeforeFlush(c: DmaCall, first: Outcome): Outcome {
    if (c.kind !== "map" || c.irq || !this.timers) return first;
    const f = this.timers.flushBefore(c);
    if (f === null) return first;
    const after = this.save();
    this.restore(f.state as ReplayCheckpoint);
    const o = this.applyAt(c, true, this.r.firstMismatch === null);
    if (placedBefore(o, first, (a) => this.applier.showed(a))) {
      this.kernel.recycle(after.kernel);
      this.run({ k: "expire", cpu: f.cpu });
      this.timers.fix();
      this.r.flushReorders++;
      return o;
    }
    this.restore(after);
    this.kernel.recycle(after.kernel);
    return first;
  }

  /** Takes a timer or work event in trace order (they wait for the calls traced before them). */
  pushWork(e: KernelWorkEvent): void {
    if (this.timers && TimerFlushes.concerns(e)) this.timers.push(e);
  }

  /** Counts a map whose trace IOVA overlaps a region the machine reserves (`ReplayResult.inReserved`). */
  private lookInReserved(c: DmaCall): void {
    const last = c.iova + c.sizeBytes - 1;
    for (const x of this.reserved) {
      if (c.iova > x.end || last < x.start) continue;
      const seen = this.r.inReserved;
      seen.maps++;
      seen.first ??= { line: c.line, iova: c.iova, start: x.start, end: x.end, what: x.what };
      return;
    }
  }

  /** Takes the next call of the trace, in trace order; calls of other domains are ignored. */
  push(c: DmaCall): void {
    this.releaseLive(c.line);
    if (c.domain !== this.domain) return;
    if (c.cpu >= this.cpus) {
      const l = this.r.cpusLacked;
      l.calls++;
      if (c.cpu > l.highest) l.highest = c.cpu;
    }
    if (c.kind === "map" && this.reserved.length > 0) this.lookInReserved(c);
    this.sawCall = true;
    this.reorder.push(c);
  }

  /**
   * Calls applied to the model beyond one per call released so far: the work of the trials that replay held
   * calls again. A search that replays many hypotheses counts it in its time bound (`busy-start.ts`).
   */
  get extraApplies(): number {
    return Math.max(0, this.applied - this.released);
  }

  /** Timer and work events taken and not yet run (see `advanceTo`). */
  get heldWork(): number {
    return this.timers?.held ?? 0;
  }

  /**
   * Told that every call still to come is traced on or after `line`: a
   * replay whose domain has had no call yet (another device, idle in the
   * trace) runs the timer and work events before it now, instead of holding
   * them to the end, so its memory stays constant in the trace's length.
   * One with calls runs them as its calls come.
   */
  advanceTo(line: number): void {
    if (!this.sawCall && this.liveNext >= this.liveUnmaps.length) this.timers?.runBefore(line, null);
  }

  /** Replays the unmaps of mappings live at the start traced before `line` (the reconstruction drops them). */
  private releaseLive(line: number): void {
    const u = this.liveUnmaps;
    while (this.liveNext < u.length && u[this.liveNext].line < line) this.reorder.push(u[this.liveNext++]);
  }

  /**
   * Takes a call in the order `irq-reorder.ts` leaves: strict replays hand it
   * to `CpuOrder`, which replays it in the order the kernel's IOVAs show;
   * otherwise it is replayed, or handed to the inference until the flushes
   * around it are placed.
   */
  private release(c: DmaCall): void {
    this.released++;
    const ahead = this.phaseAhead;
    if (ahead !== null) {
      // Counted as the phase's own count will: maps only, each after the rule is read.
      if (ahead.undecided) ahead.first(false, true, c.timestampNs);
      if (c.kind === "map") ahead.next(c.line, c.timestampNs);
      if (ahead.learning) {
        this.inPhase.add(c);
        if (c.kind === "map") ahead.count(c.cpu, false, false);
      }
    }
    if (this.cpuOrder !== null) {
      this.cpuOrder.push(c);
      return;
    }
    if (this.logging) this.settleWatch(false);
    // A count read just before a ring-full flush gives way to the choices the kernel's overlapping flushes leave.
    if (this.watchYields() && (this.applier.countOpen(c) || this.applier.overlapOpen(c))) this.settleWatch(true);
    this.timers?.runBefore(c.line, c);
    if (this.inference) {
      this.inference.take(c);
      return;
    }
    const timers = this.timers;
    const sw = this.swap;
    if (
      sw &&
      timers &&
      (sw.events !== timers.eventsRun ||
        (c.timestampNs - sw.calls[0].timestampNs > SWAP_NS && !this.someCpuSilent(sw.calls, c)))
    ) {
      this.allocatedSecond(null);
    }
    // A map of a range whose unmap the trace lost: that unmap queued before the flush that freed it, where the trace shows one.
    const lost = timers !== null && c.reuses > 0 ? timers.lostBefore(c) : null;
    if (lost !== null) {
      (lost as Outcome).lost = true;
      timers?.afterCall(c);
      if (!timers?.hold(c, lost.ok, lost)) this.finalize(c, lost as Outcome);
      return;
    }
    // Two CPUs' allocations interact only through shared state; their rcache pops commute, so only maps
    // the rcaches cannot hold (they go to the tree) are worth a checkpoint.
    const before =
      timers?.active && c.kind === "map" && !this.swap && !timers.holding && this.treeOnly(c) ? this.save() : null;
    let o = this.applyAt(c, true, this.r.firstMismatch === null);
    if (!o.ok) o = this.allocatedBeforeFlush(c, o);
    // The same with other CPUs' calls inside the flush: replayed after it, as held.
    const early = !o.ok && timers !== null && this.swap === null ? timers.allocatedBefore(c, 1, o) : null;
    timers?.afterCall(c);
    if (early !== null) {
      if (before) this.kernel.recycle(before.kernel);
      this.r.flushReorders++;
      this.finalize(c, early as Outcome);
      return;
    }
    if (this.swap) {
      this.swap.calls.push(c);
      this.swap.outs.push(o);
      if (c.kind === "map" && c.cpu !== this.swap.calls[0].cpu) this.allocatedSecond(c);
      else if (this.swap.calls.length > SWAP_CALLS) this.allocatedSecond(null);
      return;
    }
    if (!o.ok && before && timers) {
      this.swap = { before, events: timers.eventsRun, calls: [c], outs: [o] };
      return;
    }
    if (before) this.kernel.recycle(before.kernel);
    if (!timers?.hold(c, o.ok, o)) this.finalize(c, o);
  }

  /**
   * Whether a CPU other than the first of `calls` made no call outside an
   * interrupt among them and `c` (a map of its own allowed: that is the one
   * tried): its next map may have allocated before the first (it stalled
   * between its allocation and its map event, as a vCPU the host does not
   * run does; interrupts may still come in between). Without the flags
   * column, any unmap may have been an interrupt's (`mayInterrupt`).
   */
  private someCpuSilent(calls: readonly DmaCall[], c: DmaCall): boolean {
    const first = calls[0].cpu % this.cpus;
    for (let k = 0; k < this.cpus; k++) {
      // A CPU that has made no call yet has no map to be stalled in: on a server of hundreds of CPUs, of which a
      // few do DMA, every idle one would otherwise keep the window open until the next timer event.
      if (k === first || this.applier.lastCallOf(k) === null) continue;
      let silent = !(c.cpu % this.cpus === k && c.kind !== "map" && !mayInterrupt(c));
      for (let i = 1; silent && i < calls.length; i++)
        if (calls[i].cpu % this.cpus === k && !calls[i].irq && !mayInterrupt(calls[i])) silent = false;
      if (silent) return true;
    }
    return false;
  }

  /** Whether map `c`'s IOVA size is beyond every rcache class: it always comes from the tree. */
  private treeOnly(c: DmaCall): boolean {
    const iovad = this.iovad;
    return iovad.sizeClass(Math.ceil(c.sizeBytes / iovad.granule)) >= iovad.rcacheOrders;
  }

  /**
   * A map event is traced after its allocation, so two CPUs' allocations a
   * few microseconds apart may be traced in the other order (an interrupt
   * between the later-traced one's `alloc_iova_fast()` and its
   * `iommu_map()`, or a CPU the host did not run for a while). A map placed
   * unlike the trace is held with the calls after it; when another CPU's map
   * follows, traced within `SWAP_NS` or from a CPU that made no call but in
   * interrupts since before the held map (`someCpuSilent`), with no timer or
   * work event in between, that map is tried first, and kept first if that
   * gives more of the trace's IOVAs. `b` null: none came.
   */
  private allocatedSecond(b: DmaCall | null): void {
    const sw = this.swap as NonNullable<Replayer["swap"]>;
    this.swap = null;
    let outs = sw.outs;
    if (b !== null) {
      const misses = outs.filter((o) => !o.ok).length;
      const asTraced = this.save();
      this.restore(sw.before);
      const order = [b, ...sw.calls.filter((x) => x !== b)];
      const tried = new Map<DmaCall, Outcome>();
      let triedMisses = 0;
      for (const x of order) {
        const o = this.applyAt(x, true, this.r.firstMismatch === null);
        if (!o.ok) triedMisses++;
        tried.set(x, o);
      }
      if (triedMisses < misses) {
        outs = sw.calls.map((x) => tried.get(x) as Outcome);
        this.r.swapped++;
      } else this.restore(asTraced);
    }
    this.kernel.recycle(sw.before.kernel);
    for (let i = 0; i < sw.calls.length; i++) this.finalize(sw.calls[i], outs[i]);
  }

  private save(): ReplayCheckpoint {
    const own = this.cookie;
    return {
      kernel: this.kernel.checkpoint(own ? [own] : []),
      applier: this.applier.save(),
      lastNs: this.lastNs,
      log: this.opLog,
    };
  }

  /**
   * Takes back a checkpoint that will never be restored: its kernel buffers
   * serve later checkpoints. A held late-queue choice restores its flush's
   * state later: that one is kept.
   */
  private recycle(cp: ReplayCheckpoint): void {
    if (this.watch?.state !== cp) this.kernel.recycle(cp.kernel);
  }

  private restore(cp: ReplayCheckpoint): void {
    this.kernel.restore(cp.kernel);
    this.applier.restore(cp.applier);
    this.lastNs = cp.lastNs;
    this.opLog = cp.log;
  }

  /** Takes a call's result once the replay's own decisions are made; a held late queue holds it further. */
  private finalize(c: DmaCall, o: Outcome): void {
    if (this.watch !== null) this.watch.hold(c, o);
    else this.count(c, o);
  }

  /** Counts a call whose result no later decision can change, and emits its IOVAs. */
  private count(c: DmaCall, o: Outcome): void {
    if (this.reorder.applyAtNs.size !== 0) this.reorder.applyAtNs.delete(c);
    if (this.inPhase.size !== 0) this.inPhase.delete(c);
    if (c.kind === "unmap") {
      this.r.frees++;
      if (o.refused) this.r.refusedUnmaps++;
      if (o.timerMoved) this.r.timerMoves++;
      return;
    }
    const addr = o.addr as number | null;
    // The range of a mapping whose unmap the trace lost, where the trace's IOVA decided it: adopted, never exact.
    const lost = o.lost === true || o.lifted === true;
    const exact = addr === c.iova && !lost;
    const learn = this.learn;
    let learned = false;
    if (learn) {
      learn.next(c.line, c.timestampNs);
      learned = learn.learning;
      if (learned)
        learn.count(
          c.cpu,
          o.resync === 1 || o.learned === true || lost,
          addr === c.iova || o.learned === true || o.treeUnknown === true,
        );
    }
    this.r.allocations++;
    if (c.reuses > 0) this.r.lostUnmaps++;
    if (o.lifted === true) this.r.lostLifted++;
    if (!learned) {
      this.r.afterLearning++;
      if (exact) this.r.exactAfterLearning++;
    }
    this.r.mapEvents += c.pieces;
    if (addr === null) this.r.failures++;
    if (learned) {
      // The phase adopts the trace's IOVAs: nothing of it is a mismatch to explain.
      if (exact) {
        this.r.exact++;
        this.r.exactMapEvents += c.pieces;
      }
      this.emit(c, addr);
      return;
    }
    if (o.learned || lost) this.r.adoptedAfterLearning++;
    if (o.cut) this.r.cutsAfterLearning++;
    if (o.resync === 1) this.r.resyncs++;
    else if (o.resync === -1) this.r.resyncFailures++;
    if (o.cause) {
      const causes = o.learned === true || lost ? this.r.adoptedCauses : this.r.mismatchCauses;
      causes.set(o.cause, (causes.get(o.cause) ?? 0) + 1);
    }
    if (exact) {
      this.r.exact++;
      this.r.exactMapEvents += c.pieces;
    } else if (!lost && o.learned !== true && this.r.firstMismatch === null) {
      // The first allocation the model placed unlike the kernel where the trace could show where: an adopted one (an
      // IOVA cached before the trace, a magazine's cut) is counted apart, not as a mismatch to explain.
      this.r.firstMismatch = {
        allocation: c.allocation,
        line: c.line,
        cpu: c.cpu,
        timestampNs: c.timestampNs,
        sizeBytes: c.sizeBytes,
        traceIova: c.iova,
        modelIova: addr,
        state: o.state ?? stateAround(this.cookie, c.iova, this.kernel.nowNs),
        cause: o.cause as MismatchCause,
      };
    }
    this.emit(c, addr);
  }

  /** Emits a map call's IOVAs (`ReplayOptions.emitIova`), in line order. */
  private emit(c: DmaCall, addr: number | null): void {
    if (this.opts.emitIova === undefined && this.opts.emitLines === undefined && this.opts.emitAddress === undefined)
      return;
    this.flushEmit(c.line);
    const lines = this.pendingLines;
    const iovas = this.pendingIovas;
    // Read once: a reconstructed call makes a one-piece map's lines when asked for.
    const mapLines = c.mapLines;
    for (let i = 0; i < mapLines.length; i++) {
      const line = mapLines[i];
      const iova = addr === null ? -1 : addr + c.mapOffsets[i];
      // Nearly always after the last: the calls come in about line order.
      let at = lines.length;
      while (at > this.pendingHead && lines[at - 1] > line) at--;
      if (at === lines.length) {
        lines.push(line);
        iovas.push(iova);
      } else {
        lines.splice(at, 0, line);
        iovas.splice(at, 0, iova);
      }
    }
  }

  /** Writes the pending IOVAs of map lines before `line`. */
  private flushEmit(line: number): void {
    const lines = this.pendingLines;
    const iovas = this.pendingIovas;
    let h = this.pendingHead;
    if (h === lines.length) return;
    const out = this.opts.emitLines;
    const emit = this.opts.emitIova;
    const address = this.opts.emitAddress;
    for (; h < lines.length && lines[h] < line; h++) {
      const iova = iovas[h];
      if (out !== undefined) {
        if (iova < 0) out.line("fail");
        else out.hex(iova);
      } else if (address !== undefined) address(iova);
      else if (emit !== undefined) emit(iova < 0 ? "fail" : hex16(iova));
    }
    if (h === lines.length) {
      lines.length = 0;
      iovas.length = 0;
      h = 0;
    } else if (h >= 4096) {
      lines.splice(0, h);
      iovas.splice(0, h);
      h = 0;
    }
    this.pendingHead = h;
  }

  end(): ReplayResult {
    this.releaseLive(Number.POSITIVE_INFINITY);
    this.reorder.drain(true);
    if (this.cpuOrder !== null) {
      this.cpuOrder.end();
      this.r.cpuOrderMoves = this.cpuOrder.moves;
      this.r.cpuOrderStopped = this.cpuOrder.stopped;
    }
    if (this.swap) this.allocatedSecond(null);
    this.timers?.end();
    if (this.logging) this.settleWatch(true);
    this.inference?.end();
    this.r.reordered = this.reorder.reordered;
    this.flushEmit(Number.POSITIVE_INFINITY);
    this.learn?.end(this.traceNs());
    const learning = this.learn?.stats ?? {
      midLife: false,
      allocations: 0,
      adopted: 0,
      agreed: 0,
      durationNs: 0,
      endLine: 0,
    };
    return { ...this.r, clockOffsetNs: Math.max(0, this.clockOffsetNs), iovad: this.iovad, learning };
  }
}
