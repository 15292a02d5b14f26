/**
 * Replays the DMA allocations reconstructed from a kernel trace
 * (`trace/reconstruct.ts`) on a booted machine of the kernel model
 * (`src/machine`), issue 4 part 3: each map call becomes one dma-iommu
 * mapping of the same page-aligned length on the same CPU at the same
 * virtual time, each unmap frees the model's mapping of the same allocation
 * (the nth allocation and its free, never a pfn, so what-if runs with other
 * placements replay the same calls). Flush-queue timers and depot trims fire
 * as the virtual clock follows the trace's timestamps.
 *
 * It drives `Kernel.dma` only (no second dma-iommu here) and compares the
 * model's IOVA of every allocation with the one the trace recorded.
 *
 * A lazy trace does not record when the flush queue was flushed, and on the
 * traced machines its timer ran 1 to 3 jiffies past the model's nominal
 * expiry, on either CPU. With `inferFlushes` the replay places each flush
 * where the trace proves one ran (see `requireFlush` and `placeFlush`),
 * keeping several candidate histories from kernel checkpoints until the
 * calls after them tell them apart.
 */

import type { FlushQueue } from "../dma/flush-queue.ts";
import {
  type CpuIdleFacts,
  external,
  type FqTimerPolicy,
  fqTimerPolicyFor,
  NOHZ_TARGET,
  NOMINAL,
} from "../dma/fq-timer-policy.ts";
import type { Device } from "../iommu/device.ts";
import type { IovaDomain } from "../iova/domain.ts";
import type { ProfileName } from "../iova/profile.ts";
import { bootMachine, type Kernel } from "../machine/index.ts";
import type { KernelCheckpoint } from "../machine/kernel.ts";
import type { MachineDesc } from "../machine/schema.ts";
import { InputError } from "../stdx/errors.ts";
import { PfnMap, type PfnMapSnapshot } from "../stdx/pfnmap.ts";
import type { KernelWorkEvent } from "../trace/events.ts";
import type { TraceMachine } from "../trace/machine.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { queuedLate } from "./follow.ts";
import { type IrqInFlush, type OtherCpuInFlush, TimerFlushes, type TimerFlushStats } from "./timer-flushes.ts";

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
   * Move a flush-queue timer armed by the idle task to the last busy CPU
   * (the timer policy "nohz-target" of `dma/fq-timer-policy.ts`) or not
   * ("nominal"); default: the kernel profile's own policy.
   */
  idleTimerMoves?: boolean;
  /** Where an interrupt's unmaps inside a flush the trace's timer events show run (see `timer-flushes.ts`); default "after-drains". */
  irqInFlush?: IrqInFlush;
  /** Where another CPU's unmap during such a flush runs relative to the flush's drain of its queue; default "own-ring-first". */
  otherCpuInFlush?: OtherCpuInFlush;
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
  /** Receives one line per `iommu:map` event of the replayed domain, in trace order: the model's IOVA or `fail`. */
  emitIova?: (text: string) => void;
}

/**
 * What ran the lazy replay's flush-queue flushes: the trace's own timer
 * events, flushes inferred from its reused IOVAs (`inferFlushes`), or the
 * model's timer (nominal expiry, the policy's CPU). Null for strict replays.
 */
export type FlushSource = "timer-events" | "inferred" | "model-timer";

/** What placing the flushes from the trace found, over the whole replay. */
export interface FlushInference {
  /** Flushes the trace requires: the fewest that let every reused IOVA be free when it was reused. */
  flushes: number;
  /** Of these, placed by the trace's IOVAs: one place and CPU matched more allocations than every other. */
  decided: number;
  /** Run on another CPU than the one the kernel model's timer would use. */
  otherCpu: number;
  /** Run with no flush-queue timer armed in the model (nothing queued: a no-op). */
  unarmed: number;
  /** Run time minus the model timer's nominal expiry, in whole jiffies: flushes. */
  offsetJiffies: Map<number, number>;
  /** Calls replayed in trials. */
  trialCalls: number;
  /** Pairs of two CPUs' map events replayed in the other order (see `allocatedFirst`). */
  swapped: number;
}

/**
 * Where the model held the IOVA the kernel gave an allocation the model
 * placed elsewhere: what part of its state differed.
 */
export type MismatchCause =
  | "queued in the flush queue"
  | "in this CPU's rcache, below the top"
  | "in another CPU's rcache"
  | "in the depot"
  | "free in the tree"
  | "inside another allocated IOVA"
  | "live (mapped)"
  | "model failed";

/** The first allocation the model placed elsewhere than the kernel did. */
export interface Mismatch {
  allocation: number;
  line: number;
  cpu: number;
  timestampNs: number;
  sizeBytes: number;
  traceIova: number;
  /** The model's IOVA, or null when the model failed the allocation. */
  modelIova: number | null;
  /** The model's live mappings near the trace's IOVA, and its allocator counts, at that moment. */
  state: string;
  /** Where the model held the trace's IOVA. */
  cause: MismatchCause;
}

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
  /** Flush-queue timers armed from an idle CPU and moved to the busy CPU (see `apply`). */
  timerMoves: number;
  /** Maps traced right after a flush on their CPU that allocated before it (see `Replayer.allocatedBeforeFlush`). */
  flushReorders: number;
  firstMismatch: Mismatch | null;
  /** `ReplayOptions.resync`: mismatches after which the state was put back to the trace's, and those where it could not be. */
  resyncs: number;
  resyncFailures: number;
  /** Every mismatch by where the model held the trace's IOVA. */
  mismatchCauses: Map<MismatchCause, number>;
  /** Present when the replay placed its flushes from the trace. */
  flushInference: FlushInference | null;
  /** What ran the flushes (null: strict, no flush queue). */
  flushSource: FlushSource | null;
  /** Present when the trace's timer events placed the flushes. */
  timerFlushes: TimerFlushStats | null;
  /** Virtual time added to the trace's timestamps so the trace starts after the model's boot. */
  clockOffsetNs: number;
  iovad: IovaDomain;
}

const NS_PER_S = 1_000_000_000;
/** How long calls wait for the interrupted CPU's next call (TCG guests show maps 3 ms after the interrupt). */
const IRQ_RUN_WAIT_NS = 100_000_000;

function hex16(n: number): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}

/**
 * The reconstruction's view of a machine description: one trace domain per
 * IOMMU group with its devices and its direct reserved regions; device-less
 * events default to the replayed device's group.
 */
export function traceMachineOf(desc: MachineDesc, device: string): TraceMachine {
  const groups = new Map<string, { devices: string[]; direct: { start: number; end: number }[] }>();
  for (const d of desc.devices) {
    let g = groups.get(d.group);
    if (!g) groups.set(d.group, (g = { devices: [], direct: [] }));
    g.devices.push(d.bdf);
    for (const r of d.reservedRegions) {
      if (r.type === "direct" || r.type === "direct-relaxable") g.direct.push({ start: r.start, end: r.end + 1 });
    }
  }
  const own = desc.devices.find((d) => d.bdf === device);
  if (!own) throw new InputError(`--device: expected a device of ${desc.name}, found ${JSON.stringify(device)}`);
  return {
    domains: [...groups].map(([id, g]) => ({ name: `group${id}`, devices: g.devices, directMappings: g.direct })),
    defaultDomain: `group${own.group}`,
    granule: desc.iommu.granule,
  };
}

/** The device a trace of this machine replays by default: the first one a driver of the machine binds. */
export function defaultReplayDevice(desc: MachineDesc): string {
  for (const drv of desc.drivers) {
    if (drv.model === "plain") continue;
    for (const d of desc.devices) {
      const hit = drv.match.some(
        (m) =>
          (m.vendor === undefined || m.vendor === d.vendor) &&
          (m.device === undefined || m.device === d.device) &&
          (m.class === undefined || (m.class & (m.classMask ?? 0xffffff)) === (d.class & (m.classMask ?? 0xffffff))),
      );
      if (hit) return d.bdf;
    }
  }
  throw new InputError(`${desc.name}: no device with a DMA driver to replay; name one with --device`);
}

/** A replayed call's result, kept until no flush decision can change it. */
interface Outcome {
  /** Map: the model's DMA address or null (failed); unmap: undefined. */
  addr: number | null | undefined;
  refused: boolean;
  timerMoved: boolean;
  /** The model's state around the trace's IOVA, for a mismatch that may become the first. */
  state: string | null;
  /** For a mismatch: where the model held the trace's IOVA (see `MismatchCause`). */
  cause: MismatchCause | null;
  /** `ReplayOptions.resync`: 1 the state was put back to the trace's, -1 it could not be, 0 no mismatch. */
  resync: number;
}

interface ReplayCheckpoint {
  kernel: KernelCheckpoint;
  modelAddr: PfnMapSnapshot;
  lastNs: number;
  busyCpu: number;
  fires: { call: DmaCall; cpu: number }[];
  split: Map<number, { addr: number; bytes: number }[]>;
}

/**
 * A flush the trace requires, as indices into the replay's call order: it
 * ran after call `lo` (an unmap whose IOVA a later allocation reused) and
 * before call `hi` (the first allocation that reused a queued IOVA).
 */
interface FlushWindow {
  lo: number;
  hi: number;
}

/** Sorts `xs` by `order` and drops all but the first `n`. */
function keepFewest<T>(xs: T[], order: (a: T, b: T) => number, n: number): void {
  xs.sort(order);
  if (xs.length > n) xs.length = n;
}

/** How far apart two CPUs' map events may be and still have been allocated in the other order. */
const SWAP_NS = 250_000;
const SWAP_CALLS = 32;

/** Histories of flush placements kept side by side (a beam) by default: choices the next allocations cannot tell apart wait for later ones. */
export const DEFAULT_FLUSH_HISTORIES = 16;

/** A run of calls replayed for real in one history, after its parent segment. */
interface FlushSegment {
  prev: FlushSegment | null;
  /** Index of the first call. */
  from: number;
  outcomes: Outcome[];
  /** The flushes run in it: jiffies after the model timer's nominal expiry (null: nothing queued), and whether on another CPU. */
  fires: { offJiffies: number | null; otherCpu: boolean }[];
  /** Its flush's place was the only best one. */
  decided: boolean;
}

/** One history of flush placements: its state after its calls so far, and their mismatches. */
interface FlushHistory {
  /** The state after call `head - 1` (null: the boot state, saved on first use). */
  cp: ReplayCheckpoint | null;
  head: number;
  /** The call its latest flush ran before. */
  lastFlushAt: number;
  misses: number;
  seg: FlushSegment | null;
}

export class Replayer {
  readonly kernel: Kernel;
  readonly dev: Device;
  readonly domain: string;
  private readonly opts: ReplayOptions;
  private readonly cpus: number;
  private readonly jiffyNs: number;
  /** Model DMA address of each live allocation, by allocation number. */
  private readonly modelAddr = new PfnMap();
  /** Allocations replayed as one allocation per map event (see `mapGuessed`): their pieces. */
  private splitAllocs = new Map<number, { addr: number; bytes: number }[]>();
  /** Calls not yet replayed, in trace order but for the moves of `push`. */
  private readonly queue: DmaCall[] = [];
  /** Interrupt unmaps whose place is decided. */
  private readonly resolved = new Set<DmaCall>();
  /** Virtual times of maps moved before an interrupt's unmaps. */
  private readonly applyAtNs = new Map<DmaCall, number>();
  private readonly irqReorder: boolean;
  /** The CPU of the last call made by a task other than the idle task. */
  private busyCpu = -1;
  private clockOffsetNs = -1;
  private lastNs = 0;
  /** (line, text) of emitted IOVAs not yet written, so pieces of interleaved allocations come out in line order. */
  private pendingEmit: { line: number; text: string }[] = [];
  private readonly r: Omit<ReplayResult, "iovad" | "clockOffsetNs">;
  /** Flushes placed from the trace, or off (the model's timer runs them). */
  private inferFlushes: boolean;
  private readonly flushHistories: number;
  private readonly unseen: boolean;
  /** The flush-queue timer's placement by the kernel profile (or `idleTimerMoves`). */
  private readonly timerPolicy: FqTimerPolicy;
  /** The trace's timer and work events, for a lazy replay. */
  private readonly timers: TimerFlushes | null = null;
  /** The CPU the current call runs on when it is the idle task's (see `facts`), else -1. */
  private idleCpu = -1;
  /** The busy CPU before the current call. */
  private prevBusyCpu = -1;
  /** Every call in its final order (flush placement keeps the whole trace's calls until the end). */
  private calls: DmaCall[] = [];
  /** The histories of flush placements kept, fewest misses first. */
  private histories: FlushHistory[] = [{ cp: null, head: 0, lastFlushAt: -1, misses: 0, seg: null }];
  /** The segment real replays record into, or null (a trial). */
  private rec: FlushSegment | null = null;
  /** Map calls moved by `allocatedFirst`, and those it has examined. */
  private readonly swappedCalls = new Set<DmaCall>();
  private readonly swapExamined = new Set<DmaCall>();
  /** No mismatch yet in the history being replayed: describe the model's state at the next one. */
  private wantState = true;
  /** Follow the trace's IOVA after every mismatch (see `resync`). */
  private readonly resyncOn: boolean;
  /** The call's resync: 1 done, -1 not possible, 0 none. */
  private outResync = 0;
  /** A mismatched call's cause and state, taken before any resync. */
  private outCause: MismatchCause | null = null;
  private outState: string | null = null;
  /** Each page unmapped and not mapped again since, by the trace: the index of its unmap. */
  private readonly unmappedAt = new PfnMap();
  /** Flushes the trace requires that are not placed yet, oldest first. */
  private readonly windows: FlushWindow[] = [];
  /** The call being replayed's results (see `applyAt`). */
  private outAddr: number | null | undefined = undefined;
  private outRefused = false;
  private outMoved = false;
  /** Placed flushes not run yet, in call order: each runs just before its call, on its CPU. */
  private fires: { call: DmaCall; cpu: number }[] = [];

  constructor(opts: ReplayOptions) {
    this.opts = opts;
    const device = opts.device ?? defaultReplayDevice(opts.machine);
    const words: string[] = [];
    if (opts.strict !== undefined) words.push(`iommu.strict=${opts.strict ? 1 : 0}`);
    if (opts.rangeBytes) words.push(`iommu.max_opt_dma_size=${opts.rangeBytes}`);
    if (opts.cmdline) words.push(opts.cmdline);
    this.kernel = bootMachine(opts.machine, { kernel: opts.kernel, cpus: opts.cpus, cmdline: words.join(" ") });
    // The interrupted-allocation evidence of `push` holds where frees reach the rcache at once: strict.
    this.irqReorder = opts.irqReorder ?? this.kernel.iommu.config.strict;
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
      timerMoves: 0,
      flushReorders: 0,
      firstMismatch: null,
      mismatchCauses: new Map(),
      resyncs: 0,
      resyncFailures: 0,
      flushInference: null,
      flushSource: null,
      timerFlushes: null,
    };
    this.inferFlushes = opts.inferFlushes === true && !this.kernel.iommu.config.strict;
    const fq = this.kernel.dma.cookieOf(dev)?.fq ?? null;
    if (fq) {
      // The trace tells which CPU is idle (the idle task's calls) and which was busy last.
      const facts: CpuIdleFacts = {
        isIdle: (cpu) => cpu === this.idleCpu,
        busyCpu: () => this.prevBusyCpu,
      };
      fq.facts = facts;
      // With inferred flushes the timer runs only where one is placed.
      fq.policy = this.inferFlushes ? external(this.timerPolicy) : this.timerPolicy;
      this.r.flushSource = this.inferFlushes ? "inferred" : "model-timer";
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
          apply: (c) => this.applyAt(c),
          outcome: (c) => this.outcomeOf(c),
          finalize: (c, o) => this.finalize(c, o as Outcome),
          queuedLate: (cpu) => queuedLate(fq, cpu),
        },
        opts.irqInFlush ?? "after-drains",
        opts.otherCpuInFlush ?? "own-ring-first",
      );
      this.r.timerFlushes = this.timers.stats;
    }
    this.flushHistories = opts.flushHistories ?? DEFAULT_FLUSH_HISTORIES;
    this.resyncOn = opts.resync === true;
    this.unseen = opts.unseenFlushes ?? false;
    if (this.inferFlushes) {
      this.r.flushInference = {
        flushes: 0,
        decided: 0,
        otherCpu: 0,
        unarmed: 0,
        offsetJiffies: new Map(),
        trialCalls: 0,
        swapped: 0,
      };
    }
  }

  private get iovad(): IovaDomain {
    const cookie = this.kernel.dma.cookieOf(this.dev);
    if (!cookie) throw new InputError(`${this.r.device} lost its DMA domain during the replay`);
    return cookie.iovad;
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

  /** Moves the model's clock to a trace timestamp (a timer or work event's). */
  private advanceClock(ts: number): void {
    const t = this.shifted(ts);
    this.kernel.advanceTo(t);
    this.lastNs = t;
  }

  /** Moves the model's clock to the call's time; a flush placed just before this call runs first. */
  private advance(ts: number, c: DmaCall): void {
    const t = this.shifted(ts);
    this.kernel.advanceTo(t);
    this.lastNs = t;
    if (this.fires.length > 0 && this.fires[0].call === c) {
      // A flush placed by `placeFlush` runs now, just before this call, on its CPU.
      const fire = this.fires.shift() as { call: DmaCall; cpu: number };
      const fq = this.fq;
      const armed = fq?.timerArmed === true;
      this.rec?.fires.push({
        offJiffies: armed ? Math.round((t - fq.timerDueNs) / this.jiffyNs) : null,
        otherCpu: armed && fire.cpu !== fq.timerCpu,
      });
      if (fq && armed) fq.expire(fire.cpu);
    }
  }

  private get fq(): FlushQueue | null {
    return this.kernel.dma.cookieOf(this.dev)?.fq ?? null;
  }

  /**
   * The trace has timer events: its flushes run where they show, from now
   * on. Flushes inferred so far (before the first timer event) are settled.
   */
  private useTimerEvents(): void {
    if (this.inferFlushes) {
      this.step(true);
      this.inferFlushes = false;
      this.windows.length = 0;
    }
    this.r.flushSource = "timer-events";
  }

  /**
   * A map event is traced after its IOVA allocation, so a process-context
   * map traced right after a flush on its CPU (the timer's softirq ran on
   * the way out of an interrupt) may have allocated before the flush
   * interrupted it. When the map landed elsewhere than the trace's IOVA
   * after the flush, and nothing else happened since the flush began, the
   * map is tried before the flush; that order is kept if it gives the
   * trace's IOVA (the flush's frees then come after it), as the strict
   * replay's interrupted allocations are (`push`).
   */
  private allocatedBeforeFlush(c: DmaCall): boolean {
    if (c.kind !== "map" || c.irq || !this.timers) return false;
    const f = this.timers.flushBefore(c);
    if (f === null) return false;
    const after = this.save();
    const out = { addr: this.outAddr, cause: this.outCause, state: this.outState, resync: this.outResync };
    this.restore(f.state as ReplayCheckpoint);
    if (this.applyAt(c)) {
      (this.fq as FlushQueue).expire(f.cpu);
      this.timers.fix();
      this.r.flushReorders++;
      return true;
    }
    this.restore(after);
    this.outAddr = out.addr;
    this.outCause = out.cause;
    this.outState = out.state;
    this.outResync = out.resync;
    return false;
  }

  /** Takes a timer or work event in trace order (they wait for the calls traced before them). */
  pushWork(e: KernelWorkEvent): void {
    if (this.timers && TimerFlushes.concerns(e)) this.timers.push(e);
  }

  /**
   * Takes the next call of the trace, in trace order; calls of other domains
   * are ignored.
   *
   * A map event is traced after its IOVA allocation, so a process-context
   * map that the trace shows right after an interrupt's unmaps on the same
   * CPU may have allocated before them: the interrupt came between
   * `alloc_iova_fast()` and `iommu_map()`. In a strict trace the freed IOVAs
   * go straight to that CPU's rcache and the next allocation of the size
   * would reuse one, so a map that reuses none of them allocated first. The
   * replay therefore moves such a map before the interrupt's unmaps, but
   * after any of them that freed part of its own range. Calls wait in a
   * queue, in trace order, until the interrupted CPU's next call shows
   * which case it is. The choice reads only the trace, so what-if runs
   * replay the same order.
   */
  push(c: DmaCall): void {
    if (c.domain !== this.domain) return;
    this.queue.push(c);
    this.drain(false);
  }

  private drain(all: boolean): void {
    const q = this.queue;
    while (q.length > 0) {
      const h = q[0];
      if (!this.irqReorder || h.kind !== "unmap" || !h.irq || this.resolved.has(h)) {
        q.shift();
        this.resolved.delete(h);
        this.release(h);
        continue;
      }
      // h opens an interrupt's run of unmaps on its CPU: find that CPU's next other call.
      const run: number[] = [];
      let j = -1;
      for (let i = 0; i < q.length; i++) {
        const x = q[i];
        if (x.cpu !== h.cpu) continue;
        if (x.kind === "unmap" && x.irq) run.push(i);
        else {
          j = i;
          break;
        }
      }
      if (j < 0) {
        if (!all && q[q.length - 1].timestampNs - h.timestampNs <= IRQ_RUN_WAIT_NS) return;
        for (const i of run) this.resolved.add(q[i]);
        continue;
      }
      const x = q[j];
      let k = run.length;
      if (x.kind === "map" && !x.irq) {
        k = 0;
        for (let r = run.length - 1; r >= 0; r--) {
          const u = q[run[r]];
          if (u.iova < x.iova + x.sizeBytes && x.iova < u.iova + u.sizeBytes) {
            k = r + 1;
            break;
          }
        }
      }
      for (const i of run) this.resolved.add(q[i]);
      if (k < run.length) {
        const before = q[run[k]];
        q.splice(j, 1);
        q.splice(run[k], 0, x);
        // It ran before that unmap: replay it at the unmap's time, not later.
        this.applyAtNs.set(x, before.timestampNs);
        this.r.reordered++;
      }
    }
  }

  /** Takes a call in its final order: replays it, or queues it until the flushes around it are placed. */
  private release(c: DmaCall): void {
    this.timers?.runBefore(c.line, c);
    if (!this.inferFlushes) {
      this.wantState = this.r.firstMismatch === null;
      let ok = this.applyAt(c);
      if (!ok) ok = this.allocatedBeforeFlush(c);
      this.timers?.afterCall(c);
      const o = this.outcomeOf(c);
      if (!this.timers?.hold(c, ok, o)) this.finalize(c, o);
      return;
    }
    const idx = this.calls.length;
    this.calls.push(c);
    const g = this.iovad.granule;
    const first = Math.floor(c.iova / g);
    const last = Math.floor((c.iova + c.sizeBytes - 1) / g);
    if (c.kind === "unmap") {
      for (let p = first; p <= last; p++) this.unmappedAt.set(p, idx);
    } else {
      // A lazy unmap's IOVA is free again only after a flush: reusing it proves one ran in between.
      let lo = -1;
      for (let p = first; p <= last; p++) {
        const u = this.unmappedAt.get(p);
        if (u === undefined) continue;
        if (u > lo) lo = u;
        this.unmappedAt.delete(p);
      }
      if (lo >= 0) this.requireFlush(lo, idx);
    }
    this.step(false);
  }

  /**
   * Records that a flush ran between calls `lo` and `hi`. Requirements come
   * in order of `hi`; the fewest flushes that meet them all are found
   * greedily: a requirement the newest window's flush can meet (it starts
   * before that window's end) narrows the window, else it opens a new one.
   */
  private requireFlush(lo: number, hi: number): void {
    const w = this.windows.at(-1);
    if (w && lo < w.hi) {
      if (lo > w.lo) w.lo = lo;
      return;
    }
    this.windows.push({ lo, hi });
  }

  /**
   * Replays one call and leaves its results in `outAddr`/`outRefused`/
   * `outMoved`; returns false for an allocation the model placed elsewhere
   * than the trace. In a trial nothing else is recorded.
   */
  private applyAt(c: DmaCall): boolean {
    const at = this.applyAtNs.get(c);
    this.advance(at ?? c.timestampNs, c);
    const cpu = c.cpu % this.cpus;
    this.outRefused = false;
    this.outMoved = false;
    this.outResync = 0;
    this.outCause = null;
    this.outState = null;
    if (c.kind === "map") {
      const treeAllocs = this.resyncOn ? this.iovad.stats.treeAllocs : 0;
      // Offset 0 and the page-aligned length: the IOVA size dma-iommu computes from the real offset and size.
      const addr =
        c.inferred && c.pieces > 1
          ? this.mapGuessed(c, cpu)
          : this.kernel.dma.mapPhys(this.dev, cpu, 0, c.sizeBytes, c.api === "dma_alloc");
      if (addr !== null) this.modelAddr.set(c.allocation, addr);
      if (c.pid !== 0) this.busyCpu = cpu;
      this.outAddr = addr;
      if (addr === c.iova) return true;
      if (!this.inferFlushes || this.rec !== null) {
        // Described now, before a resync changes the state.
        this.outCause = this.causeOf(c);
        this.outState = this.wantState ? this.stateAround(c.iova) : null;
      }
      if (this.resyncOn && addr !== null) this.resync(c, cpu, addr, this.iovad.stats.treeAllocs !== treeAllocs);
      return false;
    }
    this.outAddr = undefined;
    const addr = this.modelAddr.get(c.allocation);
    // The facts the timer policy reads: an idle-task call marks its CPU idle; the busy CPU is the last other task's.
    this.prevBusyCpu = this.busyCpu;
    if (c.pid !== 0) this.busyCpu = cpu;
    if (addr === undefined) return true;
    this.modelAddr.delete(c.allocation);
    const split = this.splitAllocs.get(c.allocation);
    if (split) {
      this.splitAllocs.delete(c.allocation);
      for (const p of split) if (!this.kernel.dma.unmapPhys(this.dev, cpu, p.addr, p.bytes)) this.outRefused = true;
      return true;
    }
    const fq = this.fq;
    const moves = fq?.timerMoves ?? 0;
    this.idleCpu = c.pid === 0 ? cpu : -1;
    if (!this.kernel.dma.unmapPhys(this.dev, cpu, addr, c.sizeBytes)) this.outRefused = true;
    this.idleCpu = -1;
    this.outMoved = fq !== null && fq.timerMoves > moves;
    return true;
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
    const before = this.kernel.checkpoint();
    const whole = dma.mapPhys(this.dev, cpu, 0, c.sizeBytes, dmaAlloc);
    if (whole === c.iova) return whole;
    const asWhole = this.kernel.checkpoint();
    this.kernel.restore(before);
    const pieces: { addr: number; bytes: number }[] = [];
    for (let i = 0; i < c.pieces; i++) {
      const bytes = (i + 1 < c.pieces ? c.mapOffsets[i + 1] : c.sizeBytes) - c.mapOffsets[i];
      const a = dma.mapPhys(this.dev, cpu, 0, bytes, dmaAlloc);
      if (a !== c.iova + c.mapOffsets[i]) {
        this.kernel.restore(asWhole);
        return whole;
      }
      pieces.push({ addr: a, bytes });
    }
    this.splitAllocs.set(c.allocation, pieces);
    return c.iova;
  }

  /**
   * `resync`: the model placed allocation `c` at `addr`, the kernel at
   * `c.iova`. Gives `addr` back where it came from (the tree, or the rcache
   * of `cpu`) and takes the trace's IOVA from wherever the model holds it
   * (its flush queue, an rcache, free space), so that the next allocations
   * start from the kernel's placement. Not possible when the model holds
   * that IOVA otherwise (live, in a depot, inside another): then nothing
   * changes. Counted in `resyncs` / `resyncFailures`.
   */
  private resync(c: DmaCall, cpu: number, addr: number, fromTree: boolean): void {
    const cookie = this.kernel.dma.cookieOf(this.dev);
    if (!cookie) return;
    const iovad = cookie.iovad;
    const g = iovad.granule;
    const x = addr / g;
    const y = c.iova / g;
    const node = iovad.findIova(x);
    if (!node) return;
    const pages = node[1] - node[0] + 1;
    const len = c.sizeBytes / g;
    cookie.mapped.delete(x);
    if (fromTree) iovad.freeIova(x);
    else iovad.freeIovaFast(cpu, x, pages);
    if (!cookie.mapped.has(y) && (cookie.fq?.take(y) || iovad.claim(y, pages))) {
      cookie.mapped.set(y, len);
      this.modelAddr.set(c.allocation, c.iova);
      this.outResync = 1;
      return;
    }
    // Keep the model's own choice.
    iovad.claim(x, pages);
    cookie.mapped.set(x, len);
    this.outResync = -1;
  }

  private outcomeOf(c: DmaCall): Outcome {
    const miss = c.kind === "map" && this.outAddr !== c.iova;
    return {
      addr: this.outAddr,
      refused: this.outRefused,
      timerMoved: this.outMoved,
      state: miss ? this.outState : null,
      cause: miss ? this.outCause : null,
      resync: this.outResync,
    };
  }

  /** Where the model holds the trace's IOVA of a mismatched allocation, just after it. */
  private causeOf(c: DmaCall): MismatchCause {
    if (this.outAddr === null) return "model failed";
    const cookie = this.kernel.dma.cookieOf(this.dev);
    if (!cookie) return "model failed";
    const pfn = c.iova / cookie.iovad.granule;
    if (cookie.mapped.has(pfn)) return "live (mapped)";
    if (cookie.fq?.holds(pfn)) return "queued in the flush queue";
    const on = cookie.iovad.cachedOn(pfn);
    if (on === c.cpu % this.cpus) return "in this CPU's rcache, below the top";
    if (on === this.cpus) return "in the depot";
    if (on >= 0) return "in another CPU's rcache";
    return cookie.iovad.findIova(pfn) === null ? "free in the tree" : "inside another allocated IOVA";
  }

  /** Counts a call whose result no revision can change any more, and emits its IOVAs. */
  private finalize(c: DmaCall, o: Outcome): void {
    this.applyAtNs.delete(c);
    if (c.kind === "unmap") {
      this.r.frees++;
      if (o.refused) this.r.refusedUnmaps++;
      if (o.timerMoved) this.r.timerMoves++;
      return;
    }
    const addr = o.addr as number | null;
    this.r.allocations++;
    this.r.mapEvents += c.pieces;
    if (addr === null) this.r.failures++;
    if (o.resync === 1) this.r.resyncs++;
    else if (o.resync === -1) this.r.resyncFailures++;
    if (o.cause) this.r.mismatchCauses.set(o.cause, (this.r.mismatchCauses.get(o.cause) ?? 0) + 1);
    if (addr === c.iova) {
      this.r.exact++;
      this.r.exactMapEvents += c.pieces;
    } else if (this.r.firstMismatch === null) {
      this.r.firstMismatch = {
        allocation: c.allocation,
        line: c.line,
        cpu: c.cpu,
        timestampNs: c.timestampNs,
        sizeBytes: c.sizeBytes,
        traceIova: c.iova,
        modelIova: addr,
        state: o.state ?? this.stateAround(c.iova),
        cause: o.cause as MismatchCause,
      };
    }
    if (this.opts.emitIova) {
      this.flushEmit(c.line);
      for (let i = 0; i < c.mapLines.length; i++) {
        const text = addr === null ? "fail" : hex16(addr + c.mapOffsets[i]);
        this.pendingEmit.push({ line: c.mapLines[i], text });
      }
    }
  }

  /**
   * Places the flushes of every window whose successor has opened (all:
   * the trace ended), then, at the end, keeps the best history and counts
   * its calls.
   */
  private step(all: boolean): void {
    while (this.windows.length > 0 && (all || this.windows.length > 1)) {
      const w = this.windows[0];
      const next = this.windows[1];
      const end = this.calls.length;
      this.placeFlush(w, next ? next.hi - 1 : end - 1);
      this.windows.shift();
    }
    if (!all) return;
    // The rest of the trace on every history; the one with the fewest misses is the replay's.
    let best: FlushHistory | null = null;
    for (const h of this.histories) {
      this.resume(h);
      const seg = this.segment(h);
      h.misses += this.record(seg, h.head, this.calls.length - 1, h.misses > 0);
      h.head = this.calls.length;
      h.seg = seg;
      // Its state at the end of the trace: the replay's result if it is the best.
      h.cp = this.save();
      if (!best || h.misses < best.misses) best = h;
    }
    const path: FlushSegment[] = [];
    for (let g = (best as FlushHistory).seg; g; g = g.prev) path.push(g);
    path.reverse();
    const inf = this.r.flushInference as FlushInference;
    for (const g of path) {
      for (let i = 0; i < g.outcomes.length; i++) this.finalize(this.calls[g.from + i], g.outcomes[i]);
      for (const f of g.fires) {
        inf.flushes++;
        if (f.offJiffies === null) inf.unarmed++;
        else inf.offsetJiffies.set(f.offJiffies, (inf.offsetJiffies.get(f.offJiffies) ?? 0) + 1);
        if (f.otherCpu) inf.otherCpu++;
      }
    }
    inf.decided = this.decidedOnBest(best as FlushHistory);
    this.restore((best as FlushHistory).cp as ReplayCheckpoint);
    this.calls = [];
  }

  /** Puts the kernel in history `h`'s state (the boot state for the first history). */
  private resume(h: FlushHistory): void {
    if (h.cp) this.restore(h.cp);
    else h.cp = this.save();
  }

  private segment(h: FlushHistory): FlushSegment {
    return { prev: h.seg, from: h.head, outcomes: [], fires: [], decided: false };
  }

  /** Replays calls `from`..`to` for real into `seg`; returns the mismatches. */
  private record(seg: FlushSegment, from: number, to: number, missed: boolean): number {
    let misses = 0;
    this.rec = seg;
    for (let i = from; i <= to; i++) {
      const j = i < to ? this.allocatedFirst(i, to) : -1;
      if (j > i) {
        // Decided once for every history: the moved map goes before map i.
        const [b] = this.calls.splice(j, 1);
        this.calls.splice(i, 0, b);
        this.swappedCalls.add(b);
        this.swappedCalls.add(this.calls[i + 1]);
        (this.r.flushInference as FlushInference).swapped++;
      }
      const c = this.calls[i];
      this.wantState = !missed && misses === 0;
      if (!this.applyAt(c)) misses++;
      seg.outcomes.push(this.outcomeOf(c));
    }
    this.rec = null;
    this.wantState = true;
    return misses;
  }

  /**
   * A map event is traced after its allocation, so two CPUs' allocations a
   * few microseconds apart may be traced in the other order. When map `i`
   * lands elsewhere than the trace's, and another CPU's map traced within
   * `SWAP_NS` after it (and at most `SWAP_CALLS` calls later), allocated
   * first, gives both the trace's IOVAs, that one was first: returns its
   * index, or -1. Leaves the state as before.
   */
  private allocatedFirst(i: number, to: number): number {
    const a = this.calls[i];
    // Each map is examined once, in the first history that replays it for real.
    if (a.kind !== "map" || this.swapExamined.has(a)) return -1;
    this.swapExamined.add(a);
    const cp = this.save();
    const rec = this.rec;
    this.rec = null;
    let found = -1;
    if (!this.applyAt(a)) {
      for (let j = i + 1; j <= Math.min(to, i + SWAP_CALLS) && found < 0; j++) {
        const b = this.calls[j];
        if (b.timestampNs - a.timestampNs > SWAP_NS) break;
        if (b.kind !== "map" || b.cpu === a.cpu || this.swappedCalls.has(b)) continue;
        this.restore(cp);
        if (this.applyAt(b) && this.applyAt(a)) found = j;
      }
    }
    this.rec = rec;
    this.restore(cp);
    return found;
  }

  /**
   * Trial: a flush on `cpu` just before call `j`, then the calls through
   * `scoreTo`, stopping past `limit` misses (`prefix` counted already).
   * Returns the misses and, unless it stopped, the end state's digest; the
   * caller restores the state.
   */
  private tryFlush(
    j: number,
    cpu: number,
    prefix: number,
    scoreTo: number,
    limit: number,
  ): { misses: number; key: string } {
    const inf = this.r.flushInference as FlushInference;
    this.fires.push({ call: this.calls[j], cpu });
    let misses = prefix;
    for (let i = j; i <= Math.max(scoreTo, j) && misses <= limit; i++) {
      if (!this.applyAt(this.calls[i])) misses++;
      inf.trialCalls++;
    }
    return { misses, key: misses <= limit ? this.stateKey() : "" };
  }

  /**
   * Where a flush the trace cannot show (no IOVA it freed was reused before
   * the next flush) may have run before a window's first place `from`: the
   * timer armed since the history's last flush (nominal expiry `dueNs`), 0
   * to 3 jiffies late, on each CPU.
   */
  private unseenFlushes(head: number, dueNs: number, from: number): { j: number; cpu: number }[] {
    const out: { j: number; cpu: number }[] = [];
    if (dueNs < 0) return out;
    let last = -1;
    for (let late = 0; late <= 3; late++) {
      let j = head;
      while (j < from && this.virtualNs(this.calls[j]) < dueNs + late * this.jiffyNs) j++;
      if (j >= from || j === last) continue;
      last = j;
      for (let cpu = 0; cpu < this.cpus; cpu++) out.push({ j, cpu });
    }
    return out;
  }

  /** A digest of the replayed domain's cached and queued IOVAs, tree and clock: equal digests, equal futures. */
  private stateKey(): string {
    const cookie = this.kernel.dma.cookieOf(this.dev);
    if (!cookie) return "";
    let h = 0x811c9dc5;
    const mix = (x: number) => {
      h = Math.imul(h ^ (x >>> 0), 0x01000193);
      h = Math.imul(h ^ Math.floor(x / 0x1_0000_0000), 0x01000193);
    };
    const iovad = cookie.iovad;
    for (const r of iovad.rcaches) {
      for (const cr of r.cpuRcaches) {
        for (const m of [cr.loaded, cr.prev]) {
          mix(m.size);
          for (let i = 0; i < m.size; i++) mix(m.pfns[i]);
        }
      }
      mix(r.depot.length);
      for (const m of r.depot) for (let i = 0; i < m.size; i++) mix(m.pfns[i]);
    }
    mix(iovad.stats.treeAllocs);
    mix(iovad.stats.treeFrees);
    mix(iovad.tree.pfnLo[iovad.cachedNode]);
    mix(iovad.tree.pfnLo[iovad.cached32Node]);
    const fq = cookie.fq;
    if (fq) {
      mix(fq.flushes);
      mix(fq.timerArmed ? fq.timerCpu + 1 : 0);
      for (let c = 0; c < this.cpus; c++) mix(fq.queued(c));
    }
    return `${h >>> 0}:${this.fires.length}`;
  }

  private decidedOnBest(best: FlushHistory): number {
    let n = 0;
    for (let g: FlushSegment | null = best.seg; g; g = g.prev) if (g.decided) n++;
    return n;
  }

  private virtualNs(c: DmaCall): number {
    return c.timestampNs + Math.max(0, this.clockOffsetNs);
  }

  private save(): ReplayCheckpoint {
    return {
      kernel: this.kernel.checkpoint(),
      modelAddr: this.modelAddr.snapshot(),
      lastNs: this.lastNs,
      busyCpu: this.busyCpu,
      fires: this.fires.slice(),
      split: new Map(this.splitAllocs),
    };
  }

  private restore(cp: ReplayCheckpoint): void {
    this.kernel.restore(cp.kernel);
    this.modelAddr.restore(cp.modelAddr);
    this.lastNs = cp.lastNs;
    this.busyCpu = cp.busyCpu;
    this.fires = cp.fires.slice();
    this.splitAllocs = new Map(cp.split);
  }

  /**
   * Places flush `w` in every kept history. The trace records no flushes,
   * but it shows that one ran between calls `w.lo` and `w.hi`: a reused
   * IOVA was still queued after `w.lo` and free at `w.hi`. Where in between,
   * and on which CPU (a timer flush frees every queue into the rcache of the
   * CPU it runs on), shows in the allocations that follow: each place just
   * before a call of the window, on each CPU, is tried on the calls up to
   * `scoreTo` (where the next flush must have run), and the histories with
   * the fewest allocations placed unlike the trace so far are kept, at most
   * `flushHistories` of them (ties: the latest place, then the CPU the
   * model's timer would use), so that a choice the next allocations cannot
   * tell apart is settled by later ones. The trace's IOVAs only score the
   * trials: every IOVA the replay reports is still the model's own decision.
   */
  private placeFlush(w: FlushWindow, scoreTo: number): void {
    type Fire = { j: number; cpu: number };
    type Cand = {
      h: FlushHistory;
      parent: number;
      extra: Fire | null;
      j: number;
      cpu: number;
      total: number;
      rank: number;
      key: string;
    };
    // Fewest misses first; ties: no unseen flush, the latest place, then the earlier try (the CPU the model's timer would use).
    const byMisses = (a: Cand, b: Cand) =>
      a.total - b.total || (a.extra ? 1 : 0) - (b.extra ? 1 : 0) || b.j - a.j || a.cpu - b.cpu;
    const all: Cand[] = [];
    const totals: number[] = [];
    const pass: FlushHistory[] = [];
    this.histories.forEach((h, parent) => {
      if (w.lo < h.lastFlushAt) {
        // Met by the flush this history placed last.
        pass.push(h);
        return;
      }
      const from = Math.max(w.lo + 1, h.head);
      const to = Math.max(w.hi, h.head);
      const mine: Cand[] = [];
      // First without, then with a flush the trace cannot show before the window (see `unseenFlushes`).
      const passes: (Fire | null)[] = [null];
      for (let p = 0; p < passes.length; p++) {
        const extra = passes[p];
        this.resume(h);
        const fq = this.kernel.dma.cookieOf(this.dev)?.fq;
        this.fires = extra ? [{ call: this.calls[extra.j], cpu: extra.cpu }] : [];
        let prefix = h.misses;
        let dueNs = fq?.timerArmed ? fq.timerDueNs : -1;
        for (let i = h.head; i < from; i++) {
          if (!this.applyAt(this.calls[i])) prefix++;
          if (dueNs < 0 && fq?.timerArmed) dueNs = fq.timerDueNs;
        }
        if (extra === null && this.unseen) passes.push(...this.unseenFlushes(h.head, dueNs, from));
        // A try that misses more than the Bth best so far, of this history or of all, cannot be kept.
        const worst = () =>
          Math.min(
            mine.length < this.flushHistories ? Number.POSITIVE_INFINITY : mine[mine.length - 1].total,
            totals.length < this.flushHistories ? Number.POSITIVE_INFINITY : totals[this.flushHistories - 1],
          );
        for (let j = from; j <= to && prefix <= worst(); j++) {
          const here = this.save();
          const pref = fq?.timerCpu ?? 0;
          for (let k = 0; k < this.cpus; k++) {
            const cpu = (pref + k) % this.cpus;
            const limit = worst();
            const tried = this.tryFlush(j, cpu, prefix, scoreTo, limit);
            this.restore(here);
            if (tried.misses > limit) continue;
            // Places that end in the same state are one history: keep the better one.
            const cand: Cand = { h, parent, extra, j, cpu, total: tried.misses, rank: 0, key: tried.key };
            const same = mine.findIndex((x) => x.key === tried.key);
            if (same < 0) mine.push(cand);
            else if (byMisses(cand, mine[same]) < 0) mine[same] = cand;
            keepFewest(mine, byMisses, this.flushHistories);
            totals.push(tried.misses);
            keepFewest(totals, (a, b) => a - b, this.flushHistories);
          }
          if (!this.applyAt(this.calls[j])) prefix++;
        }
      }
      mine.forEach((c, rank) => {
        c.rank = rank;
        all.push(c);
      });
    });
    // Across histories: fewest misses, then each history's best before any history's second, so
    // that one history's near-equal places do not crowd out the others.
    all.sort((a, b) => a.total - b.total || a.rank - b.rank || a.parent - b.parent);
    const kept: Cand[] = [];
    for (const c of all) {
      if (kept.length === this.flushHistories) break;
      if (kept.some((x) => x.key === c.key)) continue;
      kept.push(c);
    }
    const decided = kept.length === 1 || (kept.length > 1 && kept[1].total > kept[0].total);
    const children: FlushHistory[] = [];
    for (const k of kept) {
      this.resume(k.h);
      const seg = this.segment(k.h);
      seg.decided = decided;
      this.fires = [{ call: this.calls[k.j], cpu: k.cpu }];
      if (k.extra) this.fires.unshift({ call: this.calls[k.extra.j], cpu: k.extra.cpu });
      const misses = this.record(seg, k.h.head, k.j, k.h.misses > 0);
      children.push({ cp: this.save(), head: k.j + 1, lastFlushAt: k.j, misses: k.h.misses + misses, seg });
    }
    // Histories this window did not concern stay, ranked by their misses so far.
    this.histories = [...children, ...pass].sort((a, b) => a.misses - b.misses).slice(0, this.flushHistories);
  }

  /** Writes the emitted IOVAs of map events before `line` (all of them when `line` is Infinity). */
  private flushEmit(line: number): void {
    const emit = this.opts.emitIova;
    if (!emit || this.pendingEmit.length === 0) return;
    const ready = this.pendingEmit.filter((p) => p.line < line).sort((a, b) => a.line - b.line);
    if (ready.length === 0) return;
    this.pendingEmit = this.pendingEmit.filter((p) => p.line >= line);
    for (const p of ready) emit(p.text);
  }

  /** The model's live mappings within 64 KiB of `iova` and the allocator's counts. */
  private stateAround(iova: number): string {
    const cookie = this.kernel.dma.cookieOf(this.dev);
    if (!cookie) return "no DMA domain";
    const g = cookie.iovad.granule;
    const near: string[] = [];
    for (const [pfn, pages] of cookie.mapped) {
      const a = pfn * g;
      if (a + pages * g > iova - 0x10000 && a < iova + 0x10000) near.push(`${hex16(a)}+${pages * g}`);
    }
    near.sort();
    const s = cookie.iovad.stats;
    return (
      `model clock ${this.kernel.nowNs} ns; ${cookie.mapped.size} live mappings, near the trace's IOVA: ` +
      `${near.length > 0 ? near.join(" ") : "none"}; tree allocations ${s.treeAllocs}, flush queue ${cookie.fq ? "on" : "off"}`
    );
  }

  end(): ReplayResult {
    this.drain(true);
    this.timers?.end();
    if (this.inferFlushes) this.step(true);
    this.flushEmit(Number.POSITIVE_INFINITY);
    return { ...this.r, clockOffsetNs: Math.max(0, this.clockOffsetNs), iovad: this.iovad };
  }
}
