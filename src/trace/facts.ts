/**
 * What a trace itself shows about the machine and kernel that produced it,
 * gathered from its first events so that a replay can default to them
 * (issue 13 part 3):
 *
 * - `dma:*` events exist from Linux 6.12 on (include/trace/events/dma.h,
 *   merged for v6.12), so a trace that has them comes from 6.12 or later;
 * - the flush-queue timer (`timer_start` / `timer_expire_entry` of
 *   `fq_flush_timeout`, counted by the reader) runs only in lazy mode;
 * - without timer events, the IOVAs tell: in strict mode `__iommu_dma_unmap`
 *   frees the IOVA at once into the unmapping CPU's rcache, which hands it
 *   out last-in first-out, so that CPU's next allocation usually gets the
 *   very IOVA it just unmapped (99 % of 4 KiB reads, 20-27 % with mixed
 *   sizes on the traces of this machine); in lazy mode the IOVA waits in the
 *   flush queue for the next flush (10 ms), so that almost never happens
 *   (below 1.5 % on every lazy trace);
 * - the devices of `dma:*` events and of `add_device_to_group`, the CPUs, and
 *   boot-time identity maps (a map of 1 MiB or more with IOVA = physical
 *   address: a direct reserved region);
 * - which device's unmaps armed each flush-queue timer: every DMA domain in
 *   lazy mode has its own (`timer=` is its hashed address), armed by
 *   `queue_iova()` inside the unmap that finds it idle. So on one CPU a `timer_start` of
 *   `fq_flush_timeout` comes right after that unmap's `iommu:unmap` line, and
 *   on 6.12 the unmap's device is named by the `dma:dma_unmap_page` right
 *   after it or the `dma:dma_unmap_sg` right before the `iommu:unmap`
 *   (`dma_unmap_page_attrs()` traces after the unmap, `dma_unmap_sg_attrs()`
 *   before it). A trace of several lazy domains needs this to tell their
 *   timers apart from the start: a mid-life trace's first events may be
 *   expiries of every domain's timer, armed before it began.
 */

import { DEPOT_WORK_FUNCTION, FQ_TIMER_FUNCTION, type TraceEvent } from "./events.ts";

/** Next allocations after an unmap on the same CPU needed before the reuse rate decides strict or lazy. */
export const REUSE_PAIRS_NEEDED = 100;
/** Reuse rates at or below this are lazy, at or above `STRICT_REUSE` strict; between: undecided. */
export const LAZY_REUSE = 0.05;
export const STRICT_REUSE = 0.1;
const DIRECT_MIN_BYTES = 1 << 20;
/** Where one CPU's last events stand in an unmap that arms the flush-queue timer. */
interface ArmingStep {
  step: "none" | "sg" | "unmapped" | "armed";
  /** The device of the `dma_unmap_sg` before the unmap, if any. */
  device: string | null;
  /** The timer armed, awaiting the `dma_unmap_page` that names the device. */
  timer: string;
}

/**
 * A device's unmaps that armed no flush-queue timer make its domain strict
 * when there are this many, this far apart: a lazy domain's unmap with its
 * timer idle arms it, and the timer is idle again at its expiry, 10 ms
 * after it was armed and a few jiffies more (the public traces' latest
 * expiry came 154 ms after its arming, on an emulated machine).
 */
const DEVICE_UNMAPS_NEEDED = 16;
const DEVICE_UNMAPS_SPAN_NS = 500_000_000;

/**
 * The rule of immediate reuse: of `pairs` maps after an unmap on their CPU,
 * `same` took the IOVA just unmapped; few (lazy: it waits for a flush) or
 * many (strict: freed at once), said with `how`; null below
 * REUSE_PAIRS_NEEDED pairs or between the two rates.
 */
function reuseVerdict(pairs: number, same: number, how: string): { mode: "strict" | "lazy"; why: string } | null {
  if (pairs < REUSE_PAIRS_NEEDED) return null;
  const rate = same / pairs;
  if (rate <= LAZY_REUSE) return { mode: "lazy", why: `${how} (IOVAs wait for a flush)` };
  if (rate >= STRICT_REUSE) return { mode: "strict", why: `${how} (freed at once)` };
  return null;
}

/** A function printed as its address (`%ps` of a symbol the writer could not name). */
const UNRESOLVED = /^0x[0-9a-f]+$/i;

export class TraceFacts {
  events = 0;
  /** `dma:*` events seen. */
  dmaEvents = 0;
  /** Runs of the rcache depot's trim work seen (`workqueue_execute_start` of `iova_depot_work_func`): 6.7 or later. */
  depotWorkEvents = 0;
  /** Devices of `dma:*` events, with their event counts, in order of appearance. */
  readonly devices = new Map<string, number>();
  /** Highest CPU number seen (-1: none). */
  maxCpu = -1;
  /** Highest byte of any mapping seen. */
  maxIova = 0;
  /** Boot-time identity maps (iova = paddr, 1 MiB or more). */
  readonly directMaps: { start: number; end: number /** Events before it and it. */; event: number }[] = [];
  /** Maps that followed an unmap on their CPU, and of these the ones at the unmapped IOVA. */
  reusePairs = 0;
  reuseSame = 0;
  private readonly lastUnmap: number[] = [];
  /** Per CPU: the device of its last unmap, once a `dma:*` event named it (null: not yet, or none). */
  private readonly lastUnmapDevice: (string | null)[] = [];
  /** Per CPU: a map that followed an unmap, until its `dma:*` event names its device (`reuseByDevice`). */
  private readonly pendingReuse: ({ same: boolean; device: string | null } | null)[] = [];
  /** `reusePairs` and `reuseSame` of one device's domain: its unmap and the next map on the CPU both its own. */
  readonly reuseByDevice = new Map<string, { pairs: number; same: number }>();
  /**
   * Each flush-queue timer seen armed, by the devices whose unmaps armed it
   * (more than one only for devices that share a domain, or for evidence
   * that disagrees: the caller judges by groups).
   */
  readonly fqTimerDevices = new Map<string, Set<string>>();
  /**
   * Timer functions printed as an address (the trace's writer could not read
   * the kernel's symbols), by the times one was armed right after an unmap
   * on the same CPU, as `queue_iova()` arms the flush-queue timer.
   */
  readonly unnamedArmers = new Map<string, number>();
  /** Unmaps by the device its `dma:*` event names (6.12 and later), with the first's and last's time, for `deviceCapture`. */
  readonly unmapsByDevice = new Map<string, { count: number; firstNs: number; lastNs: number }>();
  /** Per CPU, where its last events stand in the arming sequence (see the file comment). */
  private readonly arming: ArmingStep[] = [];

  observe(e: TraceEvent): void {
    this.events++;
    if (e.cpu > this.maxCpu) this.maxCpu = e.cpu;
    switch (e.type) {
      case "iommu_map": {
        if (e.iova + e.size > this.maxIova) this.maxIova = e.iova + e.size;
        if (e.iova === e.paddr && e.size >= DIRECT_MIN_BYTES)
          this.directMaps.push({ start: e.iova, end: e.iova + e.size, event: this.events });
        const u = this.lastUnmap[e.cpu];
        if (u !== undefined && u >= 0) {
          this.reusePairs++;
          if (u === e.iova) this.reuseSame++;
          this.lastUnmap[e.cpu] = -1;
          this.pendingReuse[e.cpu] = { same: u === e.iova, device: this.lastUnmapDevice[e.cpu] ?? null };
        }
        break;
      }
      case "iommu_unmap":
        this.lastUnmap[e.cpu] = e.iova;
        this.lastUnmapDevice[e.cpu] = null;
        this.pendingReuse[e.cpu] = null;
        break;
      case "workqueue_execute":
        if (e.phase === "start" && e.function === DEPOT_WORK_FUNCTION) this.depotWorkEvents++;
        break;
      default:
        if ("device" in e) {
          this.dmaEvents++;
          this.devices.set(e.device, (this.devices.get(e.device) ?? 0) + 1);
          if (e.type === "dma_map" || e.type === "dma_map_sg" || e.type === "dma_alloc") this.mapNamed(e.cpu, e.device);
        }
    }
    // After the reuse counts: an unmap's device, where the event before it named it, is set for the map after it.
    this.observeArming(e);
  }

  /** A map's `dma:*` event named its device: a reuse pair of that device's domain if the unmap before was its too. */
  private mapNamed(cpu: number, device: string): void {
    const p = this.pendingReuse[cpu];
    if (p === undefined || p === null) return;
    this.pendingReuse[cpu] = null;
    if (p.device !== device) return;
    const r = this.reuseByDevice.get(device);
    if (r === undefined) this.reuseByDevice.set(device, { pairs: 1, same: p.same ? 1 : 0 });
    else {
      r.pairs++;
      if (p.same) r.same++;
    }
  }

  /**
   * The timer function printed as an address that was armed right after an
   * unmap most often, and how often: the flush-queue timer's, where the
   * trace names no function (null when none was twice).
   */
  likelyFqAddress(): { address: string; armed: number } | null {
    let best: { address: string; armed: number } | null = null;
    for (const [address, armed] of this.unnamedArmers)
      if (best === null || armed > best.armed) best = { address, armed };
    // Once may be another timer armed there by chance; the flush queue's is armed again after each flush.
    return best !== null && best.armed >= 2 ? best : null;
  }

  /** One step of the sequence `dma_unmap_sg`?, `iommu:unmap`, `timer_start` (fq), `dma_unmap_page`? on `e`'s CPU. */
  private observeArming(e: TraceEvent): void {
    let a = this.arming[e.cpu];
    if (a === undefined) {
      a = { step: "none", device: null, timer: "" };
      this.arming[e.cpu] = a;
    }
    const step = a.step;
    a.step = "none";
    switch (e.type) {
      case "dma_unmap_sg":
        a.step = "sg";
        a.device = e.device;
        return;
      case "iommu_unmap":
        a.step = "unmapped";
        if (step !== "sg") a.device = null;
        else if (a.device !== null) this.unmapOf(e.cpu, a.device, e.timestampNs);
        return;
      case "timer_start":
        if (step === "unmapped" && UNRESOLVED.test(e.function))
          this.unnamedArmers.set(e.function, (this.unnamedArmers.get(e.function) ?? 0) + 1);
        if (step !== "unmapped" || e.function !== FQ_TIMER_FUNCTION) return;
        if (a.device !== null) this.armedBy(e.timer, a.device);
        else {
          a.step = "armed";
          a.timer = e.timer;
        }
        return;
      case "dma_unmap":
        if (step === "armed") this.armedBy(a.timer, e.device);
        if (step === "armed" || step === "unmapped") this.unmapOf(e.cpu, e.device, e.timestampNs);
        return;
    }
  }

  private unmapOf(cpu: number, device: string, ns: number): void {
    this.lastUnmapDevice[cpu] = device;
    const u = this.unmapsByDevice.get(device);
    if (u === undefined) this.unmapsByDevice.set(device, { count: 1, firstNs: ns, lastNs: ns });
    else {
      u.count++;
      u.lastNs = ns;
    }
  }

  /**
   * How `device`'s domain was captured where the trace tells it apart from
   * the others' (a group's `type` is its own: DMA strict, DMA-FQ lazy), else
   * null. With the flush-queue timer's events and `dma:*` events, a domain
   * whose unmaps armed its timer is lazy; one whose unmaps armed none over a
   * stretch in which a lazy domain's timer would have expired and been armed
   * again many times, where another device's unmaps did arm theirs (so the
   * trace shows arming), is strict. Without the timer's events, `capture`'s
   * rule of immediate reuse over the device's own unmaps and maps (with
   * `dma:*` events, which name them).
   */
  deviceCapture(device: string, fqTimerEvents: number): { mode: "strict" | "lazy"; why: string } | null {
    if (fqTimerEvents === 0) return this.deviceReuse(device);
    if (this.fqTimerDevices.size === 0) return null;
    let armed = false;
    for (const ds of this.fqTimerDevices.values()) if (ds.has(device)) armed = true;
    if (armed) return { mode: "lazy", why: "its unmaps armed its domain's flush-queue timer" };
    const u = this.unmapsByDevice.get(device);
    if (u === undefined || u.count < DEVICE_UNMAPS_NEEDED || u.lastNs - u.firstNs < DEVICE_UNMAPS_SPAN_NS) return null;
    return {
      mode: "strict",
      why: `its ${u.count} unmaps over ${((u.lastNs - u.firstNs) / 1e6).toFixed(0)} ms armed no flush-queue timer, where another device's armed theirs: its group's type is DMA, not DMA-FQ`,
    };
  }

  private armedBy(timer: string, device: string): void {
    let ds = this.fqTimerDevices.get(timer);
    if (ds === undefined) {
      ds = new Set();
      this.fqTimerDevices.set(timer, ds);
    }
    ds.add(device);
  }

  /**
   * The kernel profile the trace implies, else null (unknown): `mainline`
   * when it has `dma:*` events (6.12 and later) or runs of the depot's trim
   * work (6.7 and later: mainline's allocator, `machine/release.ts`).
   */
  kernel(): "mainline" | null {
    return this.dmaEvents > 0 || this.depotWorkEvents > 0 ? "mainline" : null;
  }

  /**
   * How the trace was captured, where it shows it: `lazy` when it has
   * flush-queue timer events (`fqTimerEvents`, from the reader) or almost no
   * immediate reuse, `strict` on frequent immediate reuse, else null.
   */
  capture(fqTimerEvents: number): { mode: "strict" | "lazy"; why: string } | null {
    if (fqTimerEvents > 0) return { mode: "lazy", why: `${fqTimerEvents} flush-queue timer events (fq_flush_timeout)` };
    return reuseVerdict(
      this.reusePairs,
      this.reuseSame,
      `${this.reuseSame} of ${this.reusePairs} allocations after an unmap on their CPU took the IOVA just unmapped`,
    );
  }

  /** `capture`'s rule of immediate reuse, over one device's own unmaps and the maps after them. */
  private deviceReuse(device: string): { mode: "strict" | "lazy"; why: string } | null {
    const r = this.reuseByDevice.get(device);
    if (r === undefined) return null;
    return reuseVerdict(
      r.pairs,
      r.same,
      `${r.same} of its ${r.pairs} allocations after its unmap on their CPU took the IOVA just unmapped`,
    );
  }

  /** The device with the most `dma:*` events (the one doing the traced I/O), or null. */
  busiestDevice(): string | null {
    let best: string | null = null;
    let n = 0;
    for (const [d, c] of this.devices) {
      if (c > n) {
        best = d;
        n = c;
      }
    }
    return best;
  }
}
