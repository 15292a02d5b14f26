/**
 * A network workload running on the simulated machine: the NIC driver's RX
 * and TX rings (network.ts) driven in time, on the CPUs of the NIC's queue
 * pairs, with every map and unmap going through the same `DmaSeam` as the fio
 * runner, at the simulated instant the CPU reaches it.
 *
 * The kernel path modelled per packet (one queue pair per listed CPU; a
 * driver without a page pool, e.g. hns3/e1000e style; no NAPI batching: one
 * interrupt per received packet and per TX clean batch):
 *  - RX: a packet arrives; the queue's CPU takes the interrupt, unmaps the
 *    buffers the packet filled and, once `rxRefillBatch` descriptors are
 *    empty, maps fresh buffers for all of them (`alloc_rx_buffers`);
 *  - TX: a sender on the queue's CPU maps the packet's head and page
 *    fragments, rings the doorbell; the NIC puts frames on the wire in order
 *    at line rate (sim/device.ts); a full ring drops the packet (the stack
 *    would requeue it: a drop keeps the offered load fixed);
 *  - TX completion: once `txCleanBatch` of a queue's frames have left, or its
 *    last frame in flight has (interrupt moderation on idle), an interrupt on
 *    the queue's CPU unmaps the cleaned packets, oldest first.
 * Packets arrive at a fixed rate per queue; size and direction come from the
 * queue's own derived PRNG, drawn as `networkOps()` draws them.
 * `txCompletionLag` is not used: the NIC's wire time decides the lag.
 */

import type { CostModel } from "../sim/cost.ts";
import type { Cpu } from "../sim/cpu.ts";
import { Nic } from "../sim/device.ts";
import { type Engine, type EventHandler, Priority } from "../sim/engine.ts";
import { LatencyHistogram } from "../sim/histogram.ts";
import { type Hook, Script, ScriptTask } from "../sim/script.ts";
import { assert } from "../stdx/assert.ts";
import type { Prng } from "../stdx/prng.ts";
import type { DmaSeam } from "./fio-run.ts";
import { checkNetworkOptions, type NetDmaOp, type NetworkOptions, RxRing, TxRing } from "./network.ts";

/** A hook's arg packs the queue and the packet size (sizes are at most 65536 < 2^17). */
const SIZE_BITS = 2 ** 17;

export interface NetworkRunOptions {
  engine: Engine;
  /** One queue pair per CPU listed. */
  cpus: readonly Cpu[];
  net: Omit<NetworkOptions, "seed" | "packets">;
  /** Packets offered per second to each queue (RX and TX together). */
  packetsPerSecPerQueue: number;
  lineRateBitsPerSec: number;
  cost: CostModel;
  dma: DmaSeam;
  /** The NIC's index, as the seam's `device` argument. */
  device: number;
}

export interface NetworkRunStats {
  rxPackets: number;
  txPackets: number;
  /** TX packets dropped on a full ring. */
  txDropped: number;
  bytes: number;
  maps: number;
  unmaps: number;
  /** Time of a TX packet's maps (head and fragments together), ns. */
  mapLatencyNs: LatencyHistogram;
  /** From the sender reaching the driver to the frame leaving the wire, ns. */
  txLatencyNs: LatencyHistogram;
}

interface Queue {
  cpu: Cpu;
  prng: Prng;
  rx: RxRing;
  tx: TxRing;
  /** Frames of this queue that left the wire and are not cleaned yet. */
  completed: number;
  /** Frames of this queue on the NIC. */
  onWire: number;
  cleanPending: boolean;
  mapStartNs: number;
  /** The packet between its maps and its doorbell was mapped (false: dropped on a full ring). */
  mapped: boolean;
}

interface Frame {
  bytes: number;
  queue: number;
  startNs: number;
}

/** Wires the queues to the NIC; call `engine.run()` afterwards, `resetStats()` at the end of warm-up. */
export class NetworkRun implements EventHandler {
  readonly name = "net-source";
  readonly stats: NetworkRunStats;
  readonly nic: Nic<Frame>;
  private readonly o: NetworkRunOptions;
  private readonly queues: Queue[] = [];
  private readonly intervalNs: number;
  private readonly totalWeight: number;
  private nextId = 0;
  private readonly newId = () => this.nextId++;
  private readonly ops: NetDmaOp[] = [];
  private readonly hooks: Record<"rx" | "txMap" | "doorbell" | "txClean" | "done", Hook>;
  /** Finished tasks and their scripts, reused. */
  private readonly pool: { task: ScriptTask; script: Script }[] = [];
  private readonly running: ({ task: ScriptTask; script: Script } | undefined)[] = [];

  constructor(o: NetworkRunOptions) {
    this.o = o;
    checkNetworkOptions({ ...o.net, seed: 0, packets: 0 });
    assert(o.cpus.length > 0, "a network run needs a queue");
    assert(o.packetsPerSecPerQueue > 0, "packet rate");
    this.intervalNs = Math.max(1, Math.round(1e9 / o.packetsPerSecPerQueue));
    this.totalWeight = o.net.mix.reduce((s, p) => s + p.weight, 0);
    this.nic = new Nic<Frame>(o.engine, "eth0", {
      lineRateBitsPerSec: o.lineRateBitsPerSec,
      txRingSize: o.net.txRingSize * o.cpus.length,
    });
    this.nic.sink = (f) => this.onWire(f);
    this.stats = {
      rxPackets: 0,
      txPackets: 0,
      txDropped: 0,
      bytes: 0,
      maps: 0,
      unmaps: 0,
      mapLatencyNs: new LatencyHistogram(),
      txLatencyNs: new LatencyHistogram(),
    };
    this.hooks = {
      rx: { name: "net_rx", run: (cpu, arg, out) => this.receive(cpu, arg, out) },
      txMap: { name: "net_tx_map", run: (cpu, arg, out) => this.txMap(cpu, arg, out) },
      doorbell: { name: "net_doorbell", run: (_cpu, arg) => this.doorbell(arg) },
      txClean: { name: "net_tx_clean", run: (cpu, q, out) => this.txClean(cpu, q, out) },
      done: {
        name: "net-done",
        // The task's last step: it exits before any other event runs, so it can be reused.
        run: (_cpu, slot) => {
          this.pool.push(this.running[slot] as { task: ScriptTask; script: Script });
          this.running[slot] = undefined;
        },
      },
    };
    const prng = o.engine.prng.derive();
    for (const cpu of o.cpus) {
      this.queues.push({
        cpu,
        prng: prng.derive(),
        rx: new RxRing(o.net.rxRingSize, o.net.rxBufferBytes, o.net.rxRefillBatch),
        tx: new TxRing(o.net.txRingSize, o.net.txHeadBytes),
        completed: 0,
        onWire: 0,
        cleanPending: false,
        mapStartNs: 0,
        mapped: false,
      });
    }
    // The driver's open: every RX ring is filled before traffic starts (on its queue's CPU).
    for (let q = 0; q < this.queues.length; q++) {
      if (o.net.rxPerMille > 0) this.start(this.queues[q].cpu, false, (s) => s.hook(this.hooks.rx, q * SIZE_BITS));
      o.engine.after(this.intervalNs, Priority.source, this, q);
    }
  }

  resetStats(): void {
    this.stats.rxPackets = 0;
    this.stats.txPackets = 0;
    this.stats.txDropped = 0;
    this.stats.bytes = 0;
    this.stats.maps = 0;
    this.stats.unmaps = 0;
    this.stats.mapLatencyNs.reset();
    this.stats.txLatencyNs.reset();
  }

  verifyInvariants(): void {
    let onWire = 0;
    for (const q of this.queues) {
      q.rx.verifyInvariants();
      assert(q.completed + q.onWire <= q.tx.packetsInFlight, "more frames out than packets mapped");
      onWire += q.onWire;
    }
    assert(onWire === this.nic.inFlight, "frames on the wire");
  }

  /** A packet arrives at queue `q` (or its sender has one): draw its size and direction, then the next arrival. */
  onEvent(q: number): void {
    const queue = this.queues[q];
    let r = queue.prng.below(this.totalWeight);
    let bytes = this.o.net.mix[this.o.net.mix.length - 1].bytes;
    for (const p of this.o.net.mix) {
      if (r < p.weight) {
        bytes = p.bytes;
        break;
      }
      r -= p.weight;
    }
    const arg = q * SIZE_BITS + bytes;
    const c = this.o.cost;
    if (queue.prng.below(1000) < this.o.net.rxPerMille) {
      this.start(queue.cpu, true, (s) => s.compute(c.irqNs.ns + c.driverCompleteNs.ns).hook(this.hooks.rx, arg));
    } else {
      this.start(queue.cpu, false, (s) =>
        s
          .compute(c.fioSubmitNs.ns)
          .hook(this.hooks.txMap, arg)
          .compute(c.driverSubmitNs.ns)
          .hook(this.hooks.doorbell, arg),
      );
    }
    this.o.engine.after(this.intervalNs, Priority.source, this, q);
  }

  /** Queues a task (or an interrupt) on `cpu` whose script `fill` writes; it returns to the pool at its end. */
  private start(cpu: Cpu, irq: boolean, fill: (s: Script) => void): void {
    const t = this.pool.pop() ?? { task: new ScriptTask("net", new Script()), script: new Script() };
    let slot = this.running.indexOf(undefined);
    if (slot < 0) slot = this.running.length;
    this.running[slot] = t;
    t.script.clear();
    fill(t.script);
    t.script.hook(this.hooks.done, slot);
    t.task.reset(t.script);
    if (irq) cpu.raiseIrq(t.task);
    else cpu.enqueue(t.task);
  }

  /** The DMA calls `ops` holds, through the seam, on `cpu`. */
  private issue(cpu: Cpu, out: Script): void {
    for (const op of this.ops) {
      if (op.kind === "map") {
        this.o.dma.map(cpu, this.o.device, [op.bytes], op.id, out);
        this.stats.maps++;
      } else {
        this.o.dma.unmap(cpu, this.o.device, [op.bytes], op.id, out);
        this.stats.unmaps++;
      }
    }
    this.ops.length = 0;
  }

  /** RX interrupt: unmap the packet's buffers, refill a batch (bytes 0: the initial fill). */
  private receive(cpu: Cpu, arg: number, out: Script): void {
    const q = this.queues[Math.floor(arg / SIZE_BITS)];
    const bytes = arg % SIZE_BITS;
    if (bytes === 0) {
      q.rx.refill(this.ops, this.newId);
    } else {
      q.rx.receive(bytes, this.ops, this.newId);
      this.stats.rxPackets++;
      this.stats.bytes += bytes;
    }
    this.issue(cpu, out);
  }

  /** `ndo_start_xmit`: map head and fragments, or drop on a full ring. */
  private txMap(cpu: Cpu, arg: number, out: Script): void {
    const q = this.queues[Math.floor(arg / SIZE_BITS)];
    q.mapStartNs = this.o.engine.nowNs;
    q.mapped = q.tx.canSend();
    if (!q.mapped) return;
    q.tx.send(arg % SIZE_BITS, this.ops, this.newId);
    this.issue(cpu, out);
  }

  private doorbell(arg: number): void {
    const qi = Math.floor(arg / SIZE_BITS);
    const q = this.queues[qi];
    const now = this.o.engine.nowNs;
    if (!q.mapped) {
      this.stats.txDropped++;
      return;
    }
    this.stats.mapLatencyNs.record(now - q.mapStartNs);
    q.onWire++;
    // One small object per frame: the NIC keeps it until the frame leaves.
    this.nic.transmit({ bytes: arg % SIZE_BITS, queue: qi, startNs: q.mapStartNs });
  }

  private onWire(f: Frame): void {
    const q = this.queues[f.queue];
    q.onWire--;
    q.completed++;
    this.stats.txPackets++;
    this.stats.bytes += f.bytes;
    this.stats.txLatencyNs.record(this.o.engine.nowNs - f.startNs);
    if (!q.cleanPending && (q.completed >= this.o.net.txCleanBatch || q.onWire === 0)) {
      q.cleanPending = true;
      this.start(q.cpu, true, (s) => s.compute(this.o.cost.irqNs.ns).hook(this.hooks.txClean, f.queue));
    }
  }

  /** TX completion interrupt: unmap every packet that left the wire, oldest first. */
  private txClean(cpu: Cpu, qi: number, out: Script): void {
    const q = this.queues[qi];
    q.cleanPending = false;
    const n = q.tx.clean(q.completed, this.ops);
    assert(n === q.completed, "cleaned what left the wire");
    q.completed = 0;
    out.compute(n * this.o.cost.driverCompleteNs.ns);
    this.issue(cpu, out);
  }
}
