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
 */

import type { Device } from "../iommu/device.ts";
import type { IovaDomain } from "../iova/domain.ts";
import type { ProfileName } from "../iova/profile.ts";
import { bootMachine, type Kernel } from "../machine/index.ts";
import type { MachineDesc } from "../machine/schema.ts";
import { InputError } from "../stdx/errors.ts";
import type { TraceMachine } from "./trace/machine.ts";
import type { DmaCall } from "./trace/reconstruct.ts";

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
  /** Move a flush-queue timer armed by the idle task to the last busy CPU (see `apply`); default: kernels before 6.9. */
  idleTimerMoves?: boolean;
  /** Virtual ns added to the trace's timestamps; default: the whole jiffies that put the first call after the model's boot. */
  clockOffsetNs?: number;
  /** Receives one line per `iommu:map` event of the replayed domain, in trace order: the model's IOVA or `fail`. */
  emitIova?: (text: string) => void;
}

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
  firstMismatch: Mismatch | null;
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

export class Replayer {
  readonly kernel: Kernel;
  readonly dev: Device;
  readonly domain: string;
  private readonly opts: ReplayOptions;
  private readonly cpus: number;
  private readonly jiffyNs: number;
  /** Model DMA address of each live allocation, by allocation number. */
  private readonly modelAddr = new Map<number, number>();
  /** Calls not yet replayed, in trace order but for the moves of `push`. */
  private readonly queue: DmaCall[] = [];
  /** Interrupt unmaps whose place is decided. */
  private readonly resolved = new Set<DmaCall>();
  /** Virtual times of maps moved before an interrupt's unmaps. */
  private readonly applyAtNs = new Map<DmaCall, number>();
  private readonly irqReorder: boolean;
  /** The CPU of the last call made by a task other than the idle task. */
  private busyCpu = -1;
  private readonly idleTimerMoves: boolean;
  private clockOffsetNs = -1;
  private lastNs = 0;
  /** (line, text) of emitted IOVAs not yet written, so pieces of interleaved allocations come out in line order. */
  private pendingEmit: { line: number; text: string }[] = [];
  private readonly r: Omit<ReplayResult, "iovad" | "clockOffsetNs">;

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
    // 6.9 replaced get_nohz_timer_target() by the timer-migration hierarchy: the timer then stays
    // queued on the arming CPU and only an idle CPU's expired timers run elsewhere.
    this.idleTimerMoves = opts.idleTimerMoves ?? this.kernel.profile.name !== "mainline";
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
      firstMismatch: null,
    };
  }

  private get iovad(): IovaDomain {
    const cookie = this.kernel.dma.cookieOf(this.dev);
    if (!cookie) throw new InputError(`${this.r.device} lost its DMA domain during the replay`);
    return cookie.iovad;
  }

  /** Moves the model's clock to the call's time (shifted once, by whole jiffies, past the model's boot). */
  private advance(ts: number): void {
    if (this.clockOffsetNs < 0 && this.opts.clockOffsetNs !== undefined) this.clockOffsetNs = this.opts.clockOffsetNs;
    if (this.clockOffsetNs < 0) {
      const gap = this.kernel.nowNs - ts;
      this.clockOffsetNs = gap > 0 ? Math.ceil(gap / this.jiffyNs) * this.jiffyNs : 0;
    }
    const t = Math.max(this.lastNs, ts + this.clockOffsetNs, this.kernel.nowNs);
    this.kernel.advanceTo(t);
    this.lastNs = t;
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
        this.apply(h);
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

  private apply(c: DmaCall): void {
    const at = this.applyAtNs.get(c);
    if (at !== undefined) this.applyAtNs.delete(c);
    this.advance(at ?? c.timestampNs);
    const cpu = c.cpu % this.cpus;
    if (c.kind === "map") {
      this.r.allocations++;
      this.r.mapEvents += c.pieces;
      // Offset 0 and the page-aligned length: the IOVA size dma-iommu computes from the real offset and size.
      const addr = this.kernel.dma.mapPhys(this.dev, cpu, 0, c.sizeBytes, c.api === "dma_alloc");
      if (addr === null) {
        this.r.failures++;
      } else {
        this.modelAddr.set(c.allocation, addr);
      }
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
          state: this.stateAround(c.iova),
        };
      }
      if (this.opts.emitIova) {
        this.flushEmit(c.line);
        for (let i = 0; i < c.mapLines.length; i++) {
          const text = addr === null ? "fail" : hex16(addr + c.mapOffsets[i]);
          this.pendingEmit.push({ line: c.mapLines[i], text });
        }
      }
    } else {
      this.r.frees++;
      const addr = this.modelAddr.get(c.allocation);
      if (addr === undefined) return;
      this.modelAddr.delete(c.allocation);
      const fq = this.kernel.dma.cookieOf(this.dev)?.fq ?? null;
      const armedBefore = fq?.timerArmed ?? true;
      if (!this.kernel.dma.unmapPhys(this.dev, cpu, addr, c.sizeBytes)) this.r.refusedUnmaps++;
      // The flush-queue timer is an ordinary (unpinned) timer: armed from an idle CPU's interrupt
      // (the idle task, pid 0), 6.1's mod_timer() queues it on a busy CPU (get_nohz_timer_target()),
      // which then drains every queue into its own rcache. The kernel model arms it on the queueing
      // CPU; this belongs in src/dma once the model has a notion of idle CPUs.
      if (
        this.idleTimerMoves &&
        fq !== null &&
        !armedBefore &&
        fq.timerArmed &&
        c.pid === 0 &&
        this.busyCpu >= 0 &&
        this.busyCpu !== cpu
      ) {
        fq.timerCpu = this.busyCpu;
        this.r.timerMoves++;
      }
    }
    if (c.pid !== 0) this.busyCpu = cpu;
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
    this.flushEmit(Number.POSITIVE_INFINITY);
    return { ...this.r, clockOffsetNs: Math.max(0, this.clockOffsetNs), iovad: this.iovad };
  }
}
