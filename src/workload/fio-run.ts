/**
 * fio jobs running on the simulated machine: fio threads on their CPUs, the
 * blk-mq block layer (block.ts) in time, SCSI budgets and host tags, disks
 * behind their controllers (sim/device.ts: a SAS HBA's shared tags, or an
 * NVMe controller's queue per CPU group with tags of its own), interrupts on
 * the submitting CPU or the queue's CPU, and the DMA map/unmap of every
 * request through an injected seam, so the DMA layer can be plugged in
 * without this file knowing IOVAs.
 *
 * The kernel path modelled per I/O (Linux 6.1, `none` scheduler):
 *  1. the fio thread issues one I/O (`io_submit`, libaio): fio and bio costs;
 *  2. `blk_mq_submit_bio()`: merge into a request waiting in this CPU's
 *     software queue for this disk (blk_mq_sched_bio_merge -> ctx rq_list), or
 *     allocate a request, which needs a host tag (`can_queue`, shared by all
 *     disks: host_tagset); without a free tag the thread sleeps until one is
 *     freed (blk_mq_get_tag);
 *  3. `blk_mq_run_hw_queue()` on the same CPU: while the disk has SCSI budget
 *     (its queue depth), take waiting requests, oldest CPU queue first, and
 *     dispatch them: request set-up, the driver's DMA map, the doorbell;
 *  4. the disk completes; the interrupt runs on the CPU that dispatched (or
 *     the one `completionCpu` names):
 *     driver completion, DMA unmap, block completion per bio, the host tag is
 *     freed (waking a sleeping thread), the queue is run again;
 *  5. the fio thread reaps the I/O and issues the next.
 * Merging happens exactly when requests wait for budget: that is how the
 * seed's 4 KiB sequential reads at iodepth 128 turn into 496 KiB mappings.
 */

import type { CostModel } from "../sim/cost.ts";
import type { Cpu } from "../sim/cpu.ts";
import { type CompletionSink, type Disk, type DiskParams, Hba, Disk as SimDisk } from "../sim/device.ts";
import { type Engine, Priority } from "../sim/engine.ts";
import { Fifo } from "../sim/fifo.ts";
import { LatencyHistogram } from "../sim/histogram.ts";
import { type Hook, Script, ScriptTask } from "../sim/script.ts";
import { numArray, refArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import { InputError } from "../stdx/errors.ts";
import type { Prng } from "../stdx/prng.ts";
import {
  type Bio,
  BlockQueue,
  type BlockRequest,
  bioForBuffer,
  type QueueLimits,
  recycleRequest,
  refillBio,
} from "./block.ts";
import { type FioJobInstance, FioStream } from "./fio.ts";

/**
 * The DMA layer's side of the seam: called at the simulated instant the
 * driver maps or unmaps a request's SG list, on the CPU doing it; appends to
 * `out` what that took (see sim/charge.ts for turning kernel counts into a
 * script). `device` is the disk's index.
 */
export interface DmaSeam {
  /** False where the mapping failed (the domain's IOVA space exhausted): nothing is mapped. */
  map(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): boolean;
  unmap(cpu: Cpu, device: number, segments: readonly number[], requestId: number, out: Script): void;
}

/**
 * A failed map of a workload that does not model the driver's answer to it:
 * a storage request goes back to its queue (`requeue`), but a network
 * buffer's or a trace call's failure would have the driver drop or retry in
 * ways not modelled, so the run stops and says why.
 */
export function noIovaSpace(workload: string, bytes: number): InputError {
  return new InputError(
    `expected the device's DMA domain to map every ${workload} buffer, found a map of ${bytes} bytes failed: its IOVA space is exhausted (a narrower DMA mask than the load needs); a failed map is modelled for fio requests only`,
  );
}

/** Page-table work only, no IOVA allocator: what a run without the DMA layer charges. */
export function pageTableOnlySeam(cost: CostModel): DmaSeam {
  const pages = (segs: readonly number[]) => segs.reduce((n, s) => n + Math.ceil(s / 4096), 0);
  return {
    map: (_c, _d, segs, _id, out) => {
      out.compute(pages(segs) * cost.pageMapNs.ns);
      return true;
    },
    unmap: (_c, _d, segs, _id, out) => void out.compute(pages(segs) * cost.pageUnmapNs.ns),
  };
}

/**
 * A storage controller and the disks behind it, as the block layer sees
 * them: a SAS HBA (its `can_queue` tags shared by every disk: host_tagset;
 * one dispatch list per disk; the SCSI budget per disk), or an NVMe
 * controller (one hardware queue per group of CPUs, each with its own tags
 * and dispatch list; the completion interrupt of a queue on its CPUs).
 */
export interface FioController {
  name: string;
  /** Disks (SAS disks, NVMe namespaces) behind it; they take the next indices. */
  disks: number;
  diskParams: DiskParams;
  limits: QueueLimits;
  /** Tags: shared by all its disks, or per hardware queue when `hctxOf` is given. */
  tags: number;
  /** The hardware queue of a CPU's software queue (blk_mq_map_queues); absent: one shared set. */
  hctxOf?: (cpu: number) => number;
  hctxs: number;
  linkBytesPerSec: number;
  /** The CPU whose interrupt completes a request of hardware queue `hctx` dispatched on `dispatchCpu`. */
  completionCpu?: (dispatchCpu: Cpu, hctx: number) => Cpu;
}

export interface FioRunOptions {
  engine: Engine;
  cpus: readonly Cpu[];
  instances: readonly FioJobInstance[];
  /** Which disk each instance reads (an index into `disks`). */
  diskOf: (instance: FioJobInstance) => number;
  /**
   * The disks of an instance whose job names several files (`filename=a:b`),
   * in the job's order: the thread switches between them per I/O as the
   * job's `file_service_type` says. Default: `[diskOf(instance)]`.
   */
  filesOf?: (instance: FioJobInstance) => readonly number[];
  diskBytes: number;
  /** The controllers, in disk order; without them, one HBA from the fields below. */
  controllers?: readonly FioController[];
  disks?: number;
  diskParams?: DiskParams;
  limits?: QueueLimits;
  /** Host tags (`can_queue`), shared by all disks. */
  hostTags?: number;
  hbaLinkBytesPerSec?: number;
  cost: CostModel;
  dma: DmaSeam;
  /**
   * The CPU whose interrupt handles a completion, given the CPU that
   * dispatched the request. Default: the same CPU. hisi_sas v3 has 16
   * completion queues with managed affinity over the CPUs, so on the seed's
   * machine a request dispatched on CPU c completes on one CPU of c's group of
   * 8 (e.g. `(c) => cpus[c.id - (c.id % 8)]`): its IOVA is then freed on
   * another CPU than the one that allocated it.
   */
  completionCpu?: (dispatchCpu: Cpu, disk: number) => Cpu;
}

/** The one HBA of the options' single-controller form. */
function legacyController(o: FioRunOptions): FioController {
  assert(
    o.disks !== undefined && o.diskParams !== undefined && o.limits !== undefined && o.hostTags !== undefined,
    "a run without controllers names its disks, limits and host tags",
  );
  return {
    name: "hba0",
    disks: o.disks,
    diskParams: o.diskParams,
    limits: o.limits,
    tags: o.hostTags,
    hctxs: 1,
    linkBytesPerSec: o.hbaLinkBytesPerSec ?? Number.POSITIVE_INFINITY,
  };
}

export interface FioRunStats {
  ios: number;
  /** Bytes of the requests completed. */
  bytes: number;
  /** Requests dispatched (each one DMA mapping). */
  requests: number;
  /** Requests completed: fewer than dispatched while the queues fill. */
  completedRequests: number;
  /** Dispatches whose DMA mapping failed (the request went back to the queue, BLK_STS_RESOURCE). */
  mapFailures: number;
  /** Mean request size in bytes (what one DMA mapping covers). */
  requestBytesMean: number;
  /** Largest request seen, bytes. */
  requestBytesMax: number;
  mapLatencyNs: LatencyHistogram;
  ioLatencyNs: LatencyHistogram;
  tagWaits: number;
}

interface Thread {
  inst: FioJobInstance;
  cpu: Cpu;
  /** The disk of its current file; with one file, fixed. */
  disk: number;
  /** Its tag set and dispatch list (a thread stays on its CPU; they change with its file). */
  pool: number;
  dq: number;
  /** The current file's I/O stream. */
  stream: FioStream;
  /** Its files' disks and streams (one each; fio keeps each file's own position). */
  files: readonly number[];
  streams: readonly FioStream[];
  /** The current file, and the I/Os left before the next switch. */
  file: number;
  fileIosLeft: number;
  /** Picks the file for `file_service_type=random`; null otherwise. */
  filePrng: Prng | null;
  inFlight: number;
  /** Asleep for a host tag. */
  blocked: boolean;
  /** The thread's task is queued or running (fio is one thread: one task at a time). */
  running: boolean;
  /** Completions not yet reaped (io_getevents takes them in one call). */
  pendingReaps: number;
  loopScript: Script;
  /** The thread's task, reused: it is queued only while `running` is false. */
  task: ScriptTask;
  /** Pieces of a split bio still to be queued; the first waits for a host tag while the thread sleeps. */
  pendingPieces: Fifo<Bio>;
}

/** How long blk-mq waits to run a queue again after a resource shortage with nothing in flight. */
const BLK_MQ_RESOURCE_DELAY_NS = 3_000_000;

export interface Rq {
  rq: BlockRequest;
  /** Unique over the run: the DMA layer's key for the request's mapping. */
  id: number;
  /** Fixed for the record's life (records are reused): what its hooks carry. */
  readonly slot: number;
  disk: number;
  /** Tag set, dispatch list and hardware queue of the request. */
  pool: number;
  dq: number;
  hctx: number;
  cpu: Cpu;
  bytes: number;
  mapStartNs: number;
  /** Whether the DMA layer mapped it at its last dispatch. */
  mapped: boolean;
  /** The completion interrupt's task while it runs. */
  irq: IrqWork | null;
}

interface IrqWork {
  task: ScriptTask;
  script: Script;
}

// The fio run's hooks, by kind.
const H_LOOP = 0;
const H_SUBMIT = 1;
const H_DISPATCH = 2;
const H_MAP = 3;
const H_MAPPED = 4;
const H_UNMAP = 5;
const H_COMPLETE = 6;
const H_IRQ_DONE = 7;

/**
 * A hook of a fio run. One class for all of them, not a closure each: a
 * closure made anew by every run is compiled anew for every run (and the code
 * that called the last run's is thrown away), where a method is compiled once
 * per process.
 */
class FioHook implements Hook {
  readonly name: string;
  private readonly fio: FioRun;
  private readonly kind: number;

  constructor(fio: FioRun, name: string, kind: number) {
    this.fio = fio;
    this.name = name;
    this.kind = kind;
  }

  run(cpu: Cpu, arg: number, out: Script): void {
    this.fio.runHook(this.kind, cpu, arg, out);
  }
}

/** Wires the jobs to the machine; call `engine.run()` afterwards, `resetStats()` at the end of warm-up. */
export class FioRun implements CompletionSink<Rq> {
  readonly stats: FioRunStats;
  private readonly o: FioRunOptions;
  private readonly threads: Thread[] = [];
  /** ctx queues: [cpu * disks + disk]. */
  private readonly ctx: (BlockQueue | null)[];
  /** Per dispatch list, the CPUs whose queue for its disk has waiting requests, in arrival order. */
  private readonly busyCtx: Fifo<number>[];
  /** Per dispatch list, requests whose mapping failed, dispatched again first (hctx->dispatch). */
  private readonly requeued: Fifo<Rq>[] = [];
  /** Per dispatch list, whether a delayed run of it is queued (blk_mq_delay_run_hw_queue). */
  private readonly delayedRun: boolean[] = [];
  private readonly simDisks: Disk<Rq>[];
  private readonly diskCount: number;
  /** Per disk: its controller, first dispatch list and limits. */
  private readonly diskCtrl: number[] = [];
  private readonly diskDq: number[] = [];
  private readonly diskLimits: QueueLimits[] = [];
  /** Per dispatch list: its disk. */
  private readonly dqDisk: number[] = [];
  private readonly controllers: readonly FioController[];
  /** Per controller: its first tag set. */
  private readonly ctrlPool: number[] = [];
  /** Free tags and sleeping threads per tag set. */
  private readonly tagsFree: number[] = [];
  private readonly tagsTotal: number[] = [];
  private readonly tagWaiters: Fifo<Thread>[] = [];
  private readonly legacyComplete: ((dispatchCpu: Cpu, disk: number) => Cpu) | undefined;
  private nextRqId = 0;
  /** bio tag -> thread and issue time. */
  private readonly bioThread: Thread[] = refArray();
  private readonly bioIssuedNs: number[] = numArray();
  private readonly freeBioTags: number[] = [];
  /** Pieces of each bio not yet completed. */
  private readonly bioPiecesLeft: number[] = [];
  /** Pieces issued and not completed, over all threads. */
  private piecesInFlight = 0;
  private readonly startNs: number;
  /** Requests by their slot, the number their hooks carry; a finished request's slot is reused. */
  private readonly rqBySlot: Rq[] = refArray();
  private readonly hooks: Record<
    "loop" | "submit" | "dispatch" | "map" | "mapped" | "unmap" | "complete" | "irqDone",
    Hook
  >;
  /** Interrupt tasks and their scripts, reused. */
  private readonly irqPool: IrqWork[] = refArray();
  /** Finished requests and block requests, reused (no allocation per I/O once warm). */
  private readonly rqPool: Rq[] = refArray();
  private readonly blockRqPool: BlockRequest[] = refArray();
  private readonly bioPool: Bio[] = refArray();
  /**
   * Per controller and CPU of the run: its `hctxOf` answer, and `completionCpu`'s for a request
   * of that hardware queue dispatched on that CPU (the pair a dispatch has but for a queue run
   * from another CPU, which asks `completionCpu` itself). Asked of them here: they are functions
   * of their arguments, made afresh by each run's wiring, and a function called per I/O that is
   * new each run is compiled anew each run (and the code that called the last run's is thrown away).
   */
  private readonly hctxMemo: Float64Array[];
  private readonly completionMemo: Cpu[][];

  constructor(o: FioRunOptions) {
    this.o = o;
    this.startNs = o.engine.nowNs;
    this.controllers = o.controllers ?? [legacyController(o)];
    this.legacyComplete = o.controllers === undefined ? o.completionCpu : undefined;
    this.simDisks = [];
    let disk = 0;
    this.busyCtx = [];
    this.controllers.forEach((c, ci) => {
      assert(c.tags > 0 && c.hctxs > 0, "tags and hardware queues");
      this.ctrlPool.push(this.tagsFree.length);
      for (let q = 0; q < (c.hctxOf === undefined ? 1 : c.hctxs); q++) {
        this.tagsFree.push(c.tags);
        this.tagsTotal.push(c.tags);
        this.tagWaiters.push(new Fifo<Thread>(4));
      }
      // A controller's host link and, for a SAS HBA, its can_queue over all disks (an NVMe
      // controller's tags are per queue, so its device-wide bound is all queues' tags).
      const hba = new Hba(o.engine, c.name, {
        canQueue: c.hctxOf === undefined ? c.tags : c.tags * c.hctxs,
        linkBytesPerSec: c.linkBytesPerSec,
      });
      for (let d = 0; d < c.disks; d++, disk++) {
        const sd = new SimDisk<Rq>(
          o.engine,
          this.controllers.length === 1 ? `sd${d}` : `${c.name}.${d}`,
          c.diskParams,
          hba,
        );
        sd.sink = this;
        this.simDisks.push(sd);
        this.diskCtrl.push(ci);
        this.diskLimits.push(c.limits);
        this.diskDq.push(this.busyCtx.length);
        for (let q = 0; q < (c.hctxOf === undefined ? 1 : c.hctxs); q++) {
          this.busyCtx.push(new Fifo<number>(4));
          this.requeued.push(new Fifo<Rq>(2));
          this.delayedRun.push(false);
          this.dqDisk.push(disk);
        }
      }
    });
    this.diskCount = disk;
    this.ctx = new Array(o.cpus.length * this.diskCount).fill(null);
    this.hctxMemo = this.controllers.map((c) => {
      const hctxOf = c.hctxOf;
      return hctxOf === undefined ? new Float64Array(0) : Float64Array.from(o.cpus, (_, i) => hctxOf(i));
    });
    this.completionMemo = this.controllers.map((c, ci) => {
      const complete = c.completionCpu;
      const hctxOf = this.hctxMemo[ci];
      return complete === undefined ? [] : o.cpus.map((cpu, i) => complete(cpu, hctxOf.length === 0 ? 0 : hctxOf[i]));
    });
    this.stats = {
      ios: 0,
      bytes: 0,
      requests: 0,
      completedRequests: 0,
      mapFailures: 0,
      requestBytesMean: 0,
      requestBytesMax: 0,
      mapLatencyNs: new LatencyHistogram(),
      ioLatencyNs: new LatencyHistogram(),
      tagWaits: 0,
    };
    this.hooks = {
      loop: new FioHook(this, "fio", H_LOOP),
      submit: new FioHook(this, "submit_bio", H_SUBMIT),
      dispatch: new FioHook(this, "run_hw_queue", H_DISPATCH),
      // dma_map_sg at the instant the CPU reaches it (after the request set-up), so the DMA
      // layer decides in simulated-time order and the map latency is the map's alone.
      map: new FioHook(this, "dma_map", H_MAP),
      mapped: new FioHook(this, "mapped", H_MAPPED),
      unmap: new FioHook(this, "unmap", H_UNMAP),
      complete: new FioHook(this, "complete", H_COMPLETE),
      irqDone: new FioHook(this, "irq-done", H_IRQ_DONE),
    };
    const prng = o.engine.prng.derive();
    for (const inst of o.instances) {
      const files = o.filesOf?.(inst) ?? [o.diskOf(inst)];
      assert(files.length > 0, "an instance without a file");
      for (const d of files) assert(d >= 0 && d < this.diskCount, "instance placed on a missing disk");
      assert(inst.cpu < o.cpus.length, "instance placed on a missing CPU");
      const disk = files[0];
      const id = this.threads.length;
      const loopScript = new Script().hook(this.hooks.loop, id);
      const hctx = this.hctxOf(disk, inst.cpu);
      // One stream per file, drawn in file order (a one-file thread draws exactly as before).
      const streams = files.map(() => new FioStream(inst, prng.derive(), o.diskBytes, files.length));
      const random = files.length > 1 && inst.job.fileService.kind === "random";
      this.threads.push({
        inst,
        cpu: o.cpus[inst.cpu],
        disk,
        pool: this.ctrlPool[this.diskCtrl[disk]] + hctx,
        dq: this.diskDq[disk] + hctx,
        stream: streams[0],
        files,
        streams,
        file: 0,
        fileIosLeft: inst.job.fileService.ios,
        filePrng: random ? prng.derive() : null,
        inFlight: 0,
        blocked: false,
        running: false,
        pendingReaps: 0,
        loopScript,
        task: new ScriptTask("fio", loopScript),
        pendingPieces: new Fifo<Bio>(2),
      });
    }
    for (const t of this.threads) this.wakeThread(t);
  }

  /** @internal What the hook of `kind` does (FioHook.run). */
  runHook(kind: number, cpu: Cpu, arg: number, out: Script): void {
    switch (kind) {
      case H_LOOP:
        this.fioLoop(arg, out);
        return;
      case H_SUBMIT:
        this.submitBio(cpu, this.threads[arg], out);
        return;
      case H_DISPATCH:
        this.runQueue(cpu, arg, out);
        return;
      case H_MAP: {
        const r = this.rqBySlot[arg];
        r.mapStartNs = this.o.engine.nowNs;
        r.mapped = this.o.dma.map(cpu, r.disk, r.rq.segments, r.id, out);
        return;
      }
      case H_MAPPED: {
        const r = this.rqBySlot[arg];
        if (!r.mapped) {
          this.requeue(r);
          return;
        }
        this.stats.mapLatencyNs.record(this.o.engine.nowNs - r.mapStartNs);
        this.simDisks[r.disk].submitReserved(r);
        out.compute(this.o.cost.driverSubmitNs.ns);
        out.hook(this.hooks.dispatch, r.dq);
        return;
      }
      case H_UNMAP: {
        const r = this.rqBySlot[arg];
        this.o.dma.unmap(cpu, r.disk, r.rq.segments, r.id, out);
        return;
      }
      case H_COMPLETE:
        this.complete(this.rqBySlot[arg], out);
        return;
      case H_IRQ_DONE: {
        // The task's last step: it exits before any other event runs, so it can be reused.
        const r = this.rqBySlot[arg];
        this.irqPool.push(r.irq as IrqWork);
        r.irq = null;
        recycleRequest(this.blockRqPool, r.rq);
        this.rqPool.push(r);
        return;
      }
      default:
        assert(false, `fio: no hook ${kind}`);
    }
  }

  /** The simulated disks, in order (observers read their queues). */
  get disks(): readonly Disk<Rq>[] {
    return this.simDisks;
  }

  /** The hardware queue of CPU `cpu`'s software queue for `disk` (0 where the tags are shared). */
  private hctxOf(disk: number, cpu: number): number {
    const ci = this.diskCtrl[disk];
    const c = this.controllers[ci];
    if (c.hctxOf === undefined) return 0;
    const memo = this.hctxMemo[ci];
    const q = cpu < memo.length ? memo[cpu] : c.hctxOf(cpu);
    assert(q >= 0 && q < c.hctxs, "a CPU mapped to a missing hardware queue");
    return q;
  }

  /** The CPU whose interrupt completes `r`: its controller's `completionCpu`, else the dispatch CPU. */
  private completionCpu(r: Rq): Cpu {
    const ci = this.diskCtrl[r.disk];
    const complete = this.controllers[ci].completionCpu;
    if (complete === undefined) return r.cpu;
    const id = r.cpu.id;
    const hctxOf = this.hctxMemo[ci];
    if (this.o.cpus[id] === r.cpu && r.hctx === (hctxOf.length === 0 ? 0 : hctxOf[id])) {
      return this.completionMemo[ci][id];
    }
    return complete(r.cpu, r.hctx);
  }

  /** Starts the statistics afresh (end of warm-up). */
  resetStats(): void {
    this.stats.ios = 0;
    this.stats.bytes = 0;
    this.stats.requests = 0;
    this.stats.completedRequests = 0;
    this.stats.mapFailures = 0;
    this.stats.requestBytesMean = 0;
    this.stats.requestBytesMax = 0;
    this.stats.mapLatencyNs.reset();
    this.stats.ioLatencyNs.reset();
    this.stats.tagWaits = 0;
  }

  verifyInvariants(): void {
    let unplaced = 0;
    for (const t of this.threads) {
      assert(t.inFlight <= t.inst.job.iodepth, "thread over its iodepth");
      assert(t.blocked === t.pendingPieces.size > 0, "a sleeping thread holds its bio");
      unplaced += t.pendingPieces.size;
    }
    let tagged = 0;
    this.tagsFree.forEach((free, p) => {
      assert(free >= 0 && free <= this.tagsTotal[p], "host tags out of range");
      tagged += this.tagsTotal[p] - free;
    });
    for (const q of this.ctx) if (q !== null) q.verifyInvariants();
    // Every tag holds a request of at least one placed piece; merged pieces share one.
    assert(this.piecesInFlight - unplaced >= tagged, "more tagged requests than pieces");
  }

  /** Every file's byte budget used up (one file: its stream's). */
  private threadDone(t: Thread): boolean {
    if (t.files.length === 1) return t.stream.done;
    for (const st of t.streams) if (!st.done) return false;
    return true;
  }

  /** fio stops issuing once ramp_time + runtime have passed since the run began (time_based or not). */
  private pastRuntime(t: Thread): boolean {
    const job = t.inst.job;
    return job.runtimeNs !== null && this.o.engine.nowNs >= this.startNs + job.rampTimeNs + job.runtimeNs;
  }

  /** Queues the fio thread on its CPU unless it is already there. */
  private wakeThread(t: Thread): void {
    if (t.running) return;
    t.running = true;
    t.task.reset(t.loopScript);
    t.cpu.enqueue(t.task);
  }

  /**
   * One turn of fio's main loop (libaio, iodepth_batch 1): reap what has
   * completed, then issue while below iodepth; when there is nothing to do
   * (queue full, asleep on a tag, or done) the thread leaves the CPU. The hook
   * re-queues itself last, so the loop runs as a tail call.
   */
  private fioLoop(id: number, out: Script): void {
    const t = this.threads[id];
    const c = this.o.cost;
    if (t.pendingReaps > 0) {
      out.compute(t.pendingReaps * c.fioReapNs.ns).hook(this.hooks.loop, id);
      t.pendingReaps = 0;
      return;
    }
    if (t.blocked || this.threadDone(t) || t.inFlight >= t.inst.job.iodepth || this.pastRuntime(t)) {
      t.running = false;
      return;
    }
    out
      .compute(c.fioSubmitNs.ns + c.blockBioNs.ns)
      .hook(this.hooks.submit, id)
      .hook(this.hooks.loop, id);
  }

  private ctxQueue(cpu: number, disk: number): BlockQueue {
    const i = cpu * this.diskCount + disk;
    let q = this.ctx[i];
    if (q === null) {
      q = new BlockQueue(this.diskLimits[disk], this.blockRqPool);
      this.ctx[i] = q;
    }
    return q;
  }

  /**
   * The file of the thread's next I/O (fio's get_next_file): after
   * `file_service_type`'s N I/Os on a file, the next one round robin, or one
   * at random; the thread's tag set and dispatch list follow the file's disk.
   */
  private nextFile(t: Thread): void {
    if (t.files.length === 1) return;
    if (t.fileIosLeft > 0) {
      t.fileIosLeft--;
      return;
    }
    t.fileIosLeft = t.inst.job.fileService.ios - 1;
    t.file = t.filePrng === null ? (t.file + 1) % t.files.length : t.filePrng.below(t.files.length);
    const disk = t.files[t.file];
    const hctx = this.hctxOf(disk, t.cpu.id);
    t.disk = disk;
    t.pool = this.ctrlPool[this.diskCtrl[disk]] + hctx;
    t.dq = this.diskDq[disk] + hctx;
    t.stream = t.streams[t.file];
  }

  /** Step 2: merge or allocate; then run the queue. */
  private submitBio(cpu: Cpu, t: Thread, out: Script): void {
    this.nextFile(t);
    const io = t.stream.next();
    const tag = this.freeBioTags.length > 0 ? (this.freeBioTags.pop() as number) : this.bioThread.length;
    this.bioThread[tag] = t;
    this.bioIssuedNs[tag] = this.o.engine.nowNs;
    t.inFlight++;
    const q = this.ctxQueue(cpu.id, t.disk);
    // A bio over the queue limits is split; each piece is merged or takes its own tag, and the
    // I/O completes when its last piece does.
    const spare = this.bioPool.pop();
    const bio =
      spare === undefined
        ? bioForBuffer(tag, io.offset, io.bytes, io.write)
        : refillBio(spare, tag, io.offset, io.bytes, io.write);
    const pieces = q.split(bio);
    q.countBio(pieces.length);
    this.bioPiecesLeft[tag] = pieces.length;
    this.piecesInFlight += pieces.length;
    for (const p of pieces) t.pendingPieces.push(p);
    out.compute(this.placePieces(t, q) * this.o.cost.blockMergeNs.ns);
    if (t.blocked) {
      this.stats.tagWaits++;
      this.tagWaiters[t.pool].push(t);
    }
    out.hook(this.hooks.dispatch, t.dq);
  }

  /**
   * Queues the thread's pending pieces in order: merged, or a new request
   * with a host tag; stops (the thread asleep) at the first piece without a
   * tag. Returns the number of merges.
   */
  private placePieces(t: Thread, q: BlockQueue): number {
    let merges = 0;
    while (t.pendingPieces.size > 0) {
      const p = t.pendingPieces.peek();
      if (q.merge(p)) {
        merges++;
      } else if (this.tagsFree[t.pool] > 0) {
        this.tagsFree[t.pool]--;
        if (q.waitingRequests === 0) this.busyCtx[t.dq].push(t.cpu.id);
        q.add(p);
      } else {
        t.blocked = true;
        return merges;
      }
      // Placed: a merge or a new request copied what it needed, so the piece is free for the next bio.
      this.bioPool.push(t.pendingPieces.shift());
    }
    t.blocked = false;
    return merges;
  }

  /** Step 3: dispatch one request of dispatch list `dq` if its disk has budget, then come back for the next. */
  private runQueue(cpu: Cpu, dq: number, out: Script): void {
    const disk = this.dqDisk[dq];
    const d = this.simDisks[disk];
    const busy = this.busyCtx[dq];
    const back = this.requeued[dq];
    if ((busy.size === 0 && back.size === 0) || !d.canAccept()) return;
    if (back.size > 0) {
      // A request whose mapping failed goes first, mapped again (a new DMA layer key).
      const r = back.shift();
      r.id = this.nextRqId++;
      r.cpu = cpu;
      r.mapStartNs = this.o.engine.nowNs;
      this.dispatchRq(r, d, out);
      return;
    }
    const c = busy.peek();
    const q = this.ctx[c * this.diskCount + disk] as BlockQueue;
    const rq = q.dispatch() as BlockRequest;
    busy.shift();
    // Round robin over the CPU queues with work (blk_mq_flush_busy_ctxs).
    if (q.waitingRequests > 0) busy.push(c);
    const id = this.nextRqId++;
    const hctx = this.hctxOf(disk, c);
    const pool = this.ctrlPool[this.diskCtrl[disk]] + hctx;
    let r = this.rqPool.pop();
    if (r === undefined) {
      r = {
        rq,
        id,
        slot: this.rqBySlot.length,
        disk,
        pool,
        dq,
        hctx,
        cpu,
        bytes: rq.bytes,
        mapStartNs: this.o.engine.nowNs,
        mapped: false,
        irq: null,
      };
      this.rqBySlot.push(r);
    } else {
      r.rq = rq;
      r.id = id;
      r.disk = disk;
      r.pool = pool;
      r.dq = dq;
      r.hctx = hctx;
      r.cpu = cpu;
      r.bytes = rq.bytes;
      r.mapStartNs = this.o.engine.nowNs;
    }
    this.dispatchRq(r, d, out);
  }

  /** The request to the driver: set-up, the DMA map, then (`mapped`) the doorbell and the next dispatch. */
  private dispatchRq(r: Rq, d: Disk<Rq>, out: Script): void {
    const rq = r.rq;
    this.stats.requests++;
    this.stats.requestBytesMean += (rq.bytes - this.stats.requestBytesMean) / this.stats.requests;
    if (rq.bytes > this.stats.requestBytesMax) this.stats.requestBytesMax = rq.bytes;
    // The budget is taken now (the disk's queue depth); the request reaches the disk once mapped.
    d.reserve();
    out.compute(this.o.cost.blockRequestNs.ns);
    out.hook(this.hooks.map, r.slot);
    out.hook(this.hooks.mapped, r.slot);
  }

  /**
   * A request the DMA layer could not map (BLK_STS_RESOURCE): its budget
   * back, itself at the head of its dispatch list, and the list run again by
   * the next completion on its disk or, with none in flight, after
   * BLK_MQ_RESOURCE_DELAY (3 ms); this dispatch stops here.
   */
  private requeue(r: Rq): void {
    const d = this.simDisks[r.disk];
    d.unreserve();
    this.requeued[r.dq].push(r);
    this.stats.mapFailures++;
    if (d.outstanding > 0 || this.delayedRun[r.dq]) return;
    this.delayedRun[r.dq] = true;
    const dq = r.dq;
    const cpu = r.cpu;
    const task = new ScriptTask("kblockd", new Script().hook(this.hooks.dispatch, dq));
    this.o.engine.after(BLK_MQ_RESOURCE_DELAY_NS, Priority.source, {
      name: "blk_mq_delay_run",
      onEvent: () => {
        this.delayedRun[dq] = false;
        cpu.enqueue(task);
      },
    });
  }

  /**
   * Step 4: the interrupt, on the CPU that dispatched. Every disk's completion sink is the run
   * itself, not a closure made with each run: one call target for every run of a process.
   */
  onComplete(r: Rq): void {
    const c = this.o.cost;
    const irq = this.irqPool.pop() ?? { task: new ScriptTask("irq", new Script()), script: new Script() };
    irq.script
      .clear()
      .compute(c.irqNs.ns + c.driverCompleteNs.ns)
      .hook(this.hooks.unmap, r.slot)
      .compute(c.blockCompleteNs.ns * r.rq.bioTags.length)
      .hook(this.hooks.complete, r.slot)
      .hook(this.hooks.irqDone, r.slot);
    irq.task.reset(irq.script);
    r.irq = irq;
    const irqCpu = this.legacyComplete !== undefined ? this.legacyComplete(r.cpu, r.disk) : this.completionCpu(r);
    irqCpu.raiseIrq(irq.task);
  }

  private complete(r: Rq, out: Script): void {
    const now = this.o.engine.nowNs;
    for (const tag of r.rq.bioTags) {
      this.piecesInFlight--;
      if (--this.bioPiecesLeft[tag] > 0) continue;
      const t = this.bioThread[tag];
      this.stats.ios++;
      this.stats.ioLatencyNs.record(now - this.bioIssuedNs[tag]);
      t.inFlight--;
      this.freeBioTags.push(tag);
      // Step 5: the thread reaps on its own CPU (io_getevents), then issues again.
      t.pendingReaps++;
      this.wakeThread(t);
    }
    this.stats.bytes += r.bytes;
    this.stats.completedRequests++;
    this.tagsFree[r.pool]++;
    // Sleepers get the freed tag in order; one whose pieces merged leaves it to the next.
    const waiters = this.tagWaiters[r.pool];
    while (this.tagsFree[r.pool] > 0 && waiters.size > 0) {
      const waiter = waiters.shift();
      this.wakeForTag(waiter);
      if (waiter.dq !== r.dq) out.hook(this.hooks.dispatch, waiter.dq);
    }
    out.hook(this.hooks.dispatch, r.dq);
  }

  /**
   * A freed tag goes to the oldest sleeping thread: its pieces become
   * requests in its CPU's queue; if it runs out of tags again it keeps its
   * place at the head of the line.
   */
  private wakeForTag(t: Thread): void {
    assert(t.blocked && t.pendingPieces.size > 0, "tag waiter without a bio");
    this.placePieces(t, this.ctxQueue(t.cpu.id, t.disk));
    if (t.blocked) this.tagWaiters[t.pool].unshift(t);
    else this.wakeThread(t);
  }
}
