/**
 * A kernel trace as a workload: the DMA calls that `trace/reconstruct.ts`
 * rebuilt from a trace, issued on the simulated machine at their traced
 * times (scaled by `timeScale`, relative to the first call) on the CPU the
 * trace names, through the same `DmaSeam` as the fio and network runners, so
 * the simulation charges what each call costs (CPU time, locks, the command
 * queue). Calls the trace ran in interrupt context are raised as interrupts.
 *
 * Unlike `replay.ts` (which checks the model's IOVAs against the trace's on
 * the kernel model alone, with no time cost), this replays only the calls'
 * order, sizes and instants: the IOVAs are the model's. An unmap of an
 * allocation never mapped here (a finding of the reconstruction, or a map
 * before the trace began) is skipped and counted. The reading of the trace
 * file stays in the CLI; this takes the calls.
 */

import type { Cpu } from "../sim/cpu.ts";
import { type Engine, type EventHandler, Priority } from "../sim/engine.ts";
import { LatencyHistogram } from "../sim/histogram.ts";
import { type Hook, Script, ScriptTask } from "../sim/script.ts";
import { assert } from "../stdx/assert.ts";
import type { DmaCall } from "../trace/reconstruct.ts";
import { type DmaSeam, noIovaSpace } from "./fio-run.ts";

export interface TraceRunOptions {
  engine: Engine;
  cpus: readonly Cpu[];
  /** In trace order (reconstruct's output order). */
  calls: readonly DmaCall[];
  /** Simulated ns per traced ns (1: as traced; 0.5: twice as fast). */
  timeScale: number;
  dma: DmaSeam;
  device: number;
}

export interface TraceRunStats {
  maps: number;
  /** Bytes the maps covered. */
  mapBytes: number;
  unmaps: number;
  /** Unmaps of allocations not mapped in this run. */
  skippedUnmaps: number;
  /** Calls whose CPU is not on the machine: issued on CPU (cpu mod CPUs). */
  foldedCpus: number;
  /** From a call's (scaled) traced instant to the end of the call, ns: the CPU's backlog plus the call's cost. */
  callLatencyNs: LatencyHistogram;
}

/** Wires the calls to the CPUs; call `engine.run()` afterwards. */
export class TraceRun implements EventHandler {
  readonly name = "trace-source";
  readonly stats: TraceRunStats;
  private readonly o: TraceRunOptions;
  private readonly startNs: number;
  private readonly t0Ns: number;
  private next = 0;
  private lastAtNs: number;
  private readonly live = new Set<number>();
  private readonly dueNs: number[] = [];
  private readonly hooks: Record<"call" | "done", Hook>;

  constructor(o: TraceRunOptions) {
    assert(o.timeScale > 0, "time scale");
    assert(o.cpus.length > 0, "a trace run needs CPUs");
    this.o = o;
    this.startNs = o.engine.nowNs;
    this.lastAtNs = this.startNs;
    this.t0Ns = o.calls.length === 0 ? 0 : o.calls[0].timestampNs;
    this.stats = {
      maps: 0,
      mapBytes: 0,
      unmaps: 0,
      skippedUnmaps: 0,
      foldedCpus: 0,
      callLatencyNs: new LatencyHistogram(),
    };
    this.hooks = {
      call: { name: "trace_dma_call", run: (cpu, i, out) => this.call(cpu, i, out) },
      done: {
        name: "trace-call-done",
        run: (_cpu, i) => this.stats.callLatencyNs.record(o.engine.nowNs - this.dueNs[i]),
      },
    };
    this.schedule();
  }

  /** Calls issued so far. */
  get issued(): number {
    return this.next;
  }

  get done(): boolean {
    return this.next === this.o.calls.length;
  }

  resetStats(): void {
    this.stats.maps = 0;
    this.stats.mapBytes = 0;
    this.stats.unmaps = 0;
    this.stats.skippedUnmaps = 0;
    this.stats.foldedCpus = 0;
    this.stats.callLatencyNs.reset();
  }

  verifyInvariants(): void {
    assert(this.next <= this.o.calls.length, "issued past the trace");
  }

  /** One event at a time: a long trace does not fill the event queue. */
  private schedule(): void {
    if (this.next === this.o.calls.length) return;
    const c = this.o.calls[this.next];
    // Trace order is the order of the lines; timestamps of different CPUs can step back a little.
    const at = Math.max(this.lastAtNs, this.startNs + Math.round((c.timestampNs - this.t0Ns) * this.o.timeScale));
    this.lastAtNs = at;
    this.o.engine.at(at, Priority.source, this, this.next);
  }

  onEvent(i: number): void {
    const c = this.o.calls[i];
    this.dueNs[i] = this.o.engine.nowNs;
    let cpuId = c.cpu;
    if (cpuId >= this.o.cpus.length) {
      cpuId %= this.o.cpus.length;
      this.stats.foldedCpus++;
    }
    // A task per call: one trace line's worth of work, allocated once.
    const task = new ScriptTask(c.kind, new Script().hook(this.hooks.call, i).hook(this.hooks.done, i));
    const cpu = this.o.cpus[cpuId];
    if (c.irq) cpu.raiseIrq(task);
    else cpu.enqueue(task);
    this.next = i + 1;
    this.schedule();
  }

  private call(cpu: Cpu, i: number, out: Script): void {
    const c = this.o.calls[i];
    if (c.kind === "map") {
      assert(!this.live.has(c.allocation), "an allocation mapped twice");
      this.live.add(c.allocation);
      if (!this.o.dma.map(cpu, this.o.device, [c.sizeBytes], c.allocation, out))
        throw noIovaSpace("trace", c.sizeBytes);
      this.stats.maps++;
      this.stats.mapBytes += c.sizeBytes;
    } else if (this.live.delete(c.allocation)) {
      this.o.dma.unmap(cpu, this.o.device, [c.sizeBytes], c.allocation, out);
      this.stats.unmaps++;
    } else {
      this.stats.skippedUnmaps++;
    }
  }
}
