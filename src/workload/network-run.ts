/**
 * A network workload running on the simulated machine: the NIC driver's RX
 * and TX rings (network.ts) driven in time, on the CPUs of the NIC's queue
 * pairs, with every map and unmap going through the same `DmaSeam` as the fio
 * runner, at the simulated instant the CPU reaches it.
 *
 * The kernel path modelled (one queue pair and one NAPI context per listed
 * CPU, as ice/ixgbe pair a q_vector's RX and TX rings; a driver without a
 * page pool; NAPI as in net/core/dev.c of 6.1 and mainline):
 *  - RX: a packet arrives; the NIC writes it into the buffers the driver
 *    posted. With too few posted buffers left (the driver is behind) the
 *    NIC drops it (the `rx_dropped` of `ethtool -S`).
 *  - An event (a received packet, or TX frames done) on a queue whose NAPI
 *    is idle raises its interrupt; the handler schedules NAPI, which masks
 *    the interrupt until the poll finds no work (`napi_complete_done`).
 *  - The poll (NET_RX softirq, on the interrupt's exit): clean up to
 *    `TX_CLEAN_WORK` sent packets (unmap, oldest first), then take up to
 *    `NAPI_POLL_WEIGHT` received packets: unmap their buffers and, once
 *    `rxRefillBatch` descriptors are empty, map fresh buffers for all of them
 *    (`alloc_rx_buffers`). `net_rx_action` polls again while work is left
 *    and its budget (`NETDEV_BUDGET` packets, `NETDEV_BUDGET_NS`) lasts;
 *    past it, the rest is left to the CPU's ksoftirqd, a thread that polls
 *    for a slice (`SCHED_SLICE_NS`) and then queues behind the sender (so
 *    an overloaded CPU shares its time between the stack and the sender
 *    instead of running interrupts forever).
 *  - TX: the queue's sender thread sends its backlog packet by packet, a
 *    slice at a time: it maps the packet's head and page fragments and
 *    rings the doorbell; the NIC puts frames on the wire in order at line
 *    rate (sim/device.ts). A full ring, or a sender a ring's worth of
 *    packets behind, drops the packet (the stack would requeue it or the
 *    application block: a drop keeps the offered load fixed). Frames done
 *    raise the interrupt once `txCleanBatch` of them wait, or the queue's
 *    last frame in flight has left (interrupt moderation on idle).
 * Packets arrive at a fixed rate per queue; size and direction come from the
 * queue's own derived PRNG, drawn as `networkOps()` draws them.
 * `txCompletionLag` is not used: the NIC's wire time decides the lag.
 * Not modelled: `__do_softirq`'s restarts before it wakes ksoftirqd
 * (MAX_SOFTIRQ_RESTART), GRO, interrupt throttling (ITR).
 */

import type { CostModel } from "../sim/cost.ts";
import type { Cpu } from "../sim/cpu.ts";
import { Nic } from "../sim/device.ts";
import { type Engine, type EventHandler, Priority } from "../sim/engine.ts";
import { Fifo } from "../sim/fifo.ts";
import { LatencyHistogram } from "../sim/histogram.ts";
import { type Hook, Script, ScriptTask } from "../sim/script.ts";
import { assert } from "../stdx/assert.ts";
import type { Prng } from "../stdx/prng.ts";
import { type DmaSeam, noIovaSpace } from "./fio-run.ts";
import { checkNetworkOptions, type NetDmaOp, type NetworkOptions, RxRing, TxRing } from "./network.ts";

/** A hook's arg packs the queue and the packet size (sizes are at most 65536 < 2^17). */
const SIZE_BITS = 2 ** 17;

/** Received packets one NAPI poll takes at most (NAPI_POLL_WEIGHT, include/linux/netdevice.h). */
export const NAPI_POLL_WEIGHT = 64;
/** Packets one `net_rx_action` run takes before leaving the rest to ksoftirqd (sysctl net.core.netdev_budget). */
export const NETDEV_BUDGET = 300;
/** ...or this much time (sysctl net.core.netdev_budget_usecs: 2000 µs). */
export const NETDEV_BUDGET_NS = 2_000_000;
/**
 * A thread's turn on a CPU other threads want: EEVDF's base slice (mainline's
 * sysctl_sched_base_slice, 0.75 ms scaled by 1 + ilog2(min(CPUs, 8)): 3 ms).
 * The sender and ksoftirqd each run this long before the other's turn.
 */
export const SCHED_SLICE_NS = 3_000_000;
/** Sent packets one poll cleans at most (ice's ICE_DFLT_IRQ_WORK, ixgbe's IXGBE_DEFAULT_TX_WORK). */
export const TX_CLEAN_WORK = 256;

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
  /** Received packets the NIC dropped: too few posted RX buffers left. */
  rxDropped: number;
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
  /** Received packets (their sizes) in the ring that the driver has not taken yet, oldest first. */
  rxArrived: Fifo<number>;
  /** The descriptors those packets fill. */
  rxHeldDescs: number;
  /** Frames of this queue that left the wire and are not cleaned yet. */
  completed: number;
  /** Frames of this queue on the NIC. */
  onWire: number;
  /** NAPI scheduled: the queue's interrupt is masked until the poll finds no work. */
  napiScheduled: boolean;
  /** What is left of the running `net_rx_action`'s budget, and when it began. */
  budget: number;
  budgetSinceNs: number;
  /** The poll runs in ksoftirqd (not on an interrupt's exit), whose turn began at `ksoftirqdSinceNs`. */
  inKsoftirqd: boolean;
  ksoftirqdSinceNs: number;
  /** Packets the sender thread has to send (their sizes), oldest first; at most a TX ring's worth. */
  txBacklog: Fifo<number>;
  /** The sender thread is runnable (queued or running); its turn began at `senderSinceNs`. */
  senderRunnable: boolean;
  senderSinceNs: number;
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
  private readonly hooks: Record<
    | "fill"
    | "mapped"
    | "netRxAction"
    | "ksoftirqd"
    | "sender"
    | "sendOne"
    | "sendNext"
    | "poll"
    | "pollEnd"
    | "txMap"
    | "doorbell"
    | "done",
    Hook
  >;
  /** Finished tasks and their scripts, reused. */
  private readonly pool: { task: ScriptTask; script: Script }[] = [];
  private readonly running: ({ task: ScriptTask; script: Script } | undefined)[] = [];

  constructor(o: NetworkRunOptions) {
    this.o = o;
    checkNetworkOptions({ ...o.net, seed: 0, packets: 0 });
    assert(o.cpus.length > 0, "a network run needs a queue");
    assert(new Set(o.cpus).size === o.cpus.length, "one queue pair per CPU");
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
      rxDropped: 0,
      txDropped: 0,
      bytes: 0,
      maps: 0,
      unmaps: 0,
      mapLatencyNs: new LatencyHistogram(),
      txLatencyNs: new LatencyHistogram(),
    };
    this.hooks = {
      fill: { name: "net_rx_fill", run: (cpu, q, out) => this.fill(cpu, q, out) },
      netRxAction: { name: "net_rx_action", run: (_cpu, q, out) => this.netRxAction(q, out) },
      ksoftirqd: { name: "ksoftirqd", run: (_cpu, q, out) => this.ksoftirqdTurn(q, out) },
      sender: { name: "net_sender", run: (_cpu, q, out) => this.senderTurn(q, out) },
      sendOne: { name: "net_send", run: (_cpu, q, out) => this.sendOne(q, out) },
      sendNext: { name: "net_send_next", run: (_cpu, q, out) => this.sendNext(q, out) },
      poll: { name: "napi_poll", run: (cpu, q, out) => this.poll(cpu, q, out) },
      pollEnd: { name: "napi_poll_end", run: (cpu, q, out) => this.pollEnd(cpu, q, out) },
      mapped: { name: "net_tx_mapped", run: (_cpu, qi) => this.mappedAll(qi) },
      txMap: { name: "net_tx_map", run: (cpu, arg, out) => this.txMap(cpu, arg, out) },
      doorbell: { name: "net_doorbell", run: (_cpu, arg) => this.doorbell(arg) },
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
        rxArrived: new Fifo<number>(),
        rxHeldDescs: 0,
        completed: 0,
        onWire: 0,
        napiScheduled: false,
        budget: 0,
        budgetSinceNs: 0,
        inKsoftirqd: false,
        ksoftirqdSinceNs: 0,
        txBacklog: new Fifo<number>(),
        senderRunnable: false,
        senderSinceNs: 0,
        mapStartNs: 0,
        mapped: false,
      });
    }
    // The driver's open: every RX ring is filled before traffic starts (on its queue's CPU).
    for (let q = 0; q < this.queues.length; q++) {
      if (o.net.rxPerMille > 0) this.start(this.queues[q].cpu, false, (s) => s.hook(this.hooks.fill, q));
      o.engine.after(this.intervalNs, Priority.source, this, q);
    }
  }

  resetStats(): void {
    this.stats.rxPackets = 0;
    this.stats.txPackets = 0;
    this.stats.rxDropped = 0;
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
      assert(q.rxHeldDescs <= q.rx.size - q.rx.emptyDescriptors, "received into more buffers than were posted");
      assert(q.rxArrived.size === 0 || q.napiScheduled, "received packets wait with NAPI idle");
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
    if (queue.prng.below(1000) < this.o.net.rxPerMille) this.receive(q, bytes);
    else this.offer(q, bytes);
    this.o.engine.after(this.intervalNs, Priority.source, this, q);
  }

  /** The NIC writes a received packet into posted buffers, or drops it when too few are left. */
  private receive(qi: number, bytes: number): void {
    const q = this.queues[qi];
    const descs = Math.ceil(bytes / this.o.net.rxBufferBytes);
    const posted = q.rx.size - q.rx.emptyDescriptors - q.rxHeldDescs;
    if (posted < descs) {
      this.stats.rxDropped++;
      return;
    }
    q.rxHeldDescs += descs;
    q.rxArrived.push(bytes);
    this.schedule(qi);
  }

  /**
   * The queue's sender thread has a packet to send: it wakes if it sleeps. A
   * sender a TX ring's worth of packets behind drops the packet (the offered
   * load stays fixed), as a full ring does.
   */
  private offer(qi: number, bytes: number): void {
    const q = this.queues[qi];
    if (q.txBacklog.size >= this.o.net.txRingSize) {
      this.stats.txDropped++;
      return;
    }
    q.txBacklog.push(bytes);
    if (q.senderRunnable) return;
    q.senderRunnable = true;
    this.start(q.cpu, false, (s) => s.hook(this.hooks.sender, qi));
  }

  /** The sender thread's turn: it sends packet after packet until none is left or its slice ends. */
  private senderTurn(qi: number, out: Script): void {
    this.queues[qi].senderSinceNs = this.o.engine.nowNs;
    out.hook(this.hooks.sendOne, qi);
  }

  private sendOne(qi: number, out: Script): void {
    const q = this.queues[qi];
    const c = this.o.cost;
    const arg = qi * SIZE_BITS + q.txBacklog.shift();
    out
      .compute(c.fioSubmitNs.ns)
      .hook(this.hooks.txMap, arg)
      .compute(c.driverSubmitNs.ns)
      .hook(this.hooks.doorbell, arg)
      .hook(this.hooks.sendNext, qi);
  }

  /** After a send: sleep with nothing left, go on within the slice, else queue behind the CPU's other threads. */
  private sendNext(qi: number, out: Script): void {
    const q = this.queues[qi];
    if (q.txBacklog.size === 0) {
      q.senderRunnable = false;
      return;
    }
    if (this.o.engine.nowNs - q.senderSinceNs < SCHED_SLICE_NS) {
      out.hook(this.hooks.sendOne, qi);
      return;
    }
    this.start(q.cpu, false, (s) => s.hook(this.hooks.sender, qi));
  }

  /**
   * The queue's interrupt, unless NAPI already runs (its interrupt is masked):
   * the handler schedules NAPI and the poll runs on the interrupt's exit.
   */
  private schedule(qi: number): void {
    const q = this.queues[qi];
    if (q.napiScheduled) return;
    q.napiScheduled = true;
    q.inKsoftirqd = false;
    this.start(q.cpu, true, (s) => s.compute(this.o.cost.irqNs.ns).hook(this.hooks.netRxAction, qi));
  }

  /** ksoftirqd's turn: `net_rx_action` after `net_rx_action` until no work is left or its slice ends. */
  private ksoftirqdTurn(qi: number, out: Script): void {
    const q = this.queues[qi];
    q.inKsoftirqd = true;
    q.ksoftirqdSinceNs = this.o.engine.nowNs;
    out.hook(this.hooks.netRxAction, qi);
  }

  /** The softirq (or ksoftirqd) begins polling: a fresh budget of packets and time. */
  private netRxAction(qi: number, out: Script): void {
    const q = this.queues[qi];
    q.budget = NETDEV_BUDGET;
    q.budgetSinceNs = this.o.engine.nowNs;
    out.hook(this.hooks.poll, qi);
  }

  /** Frames done on the wire wait for a poll: the interrupt once a batch waits or the queue is idle. */
  private txIrqDue(q: Queue): boolean {
    return q.completed >= this.o.net.txCleanBatch || (q.completed > 0 && q.onWire === 0);
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
        if (!this.o.dma.map(cpu, this.o.device, [op.bytes], op.id, out)) throw noIovaSpace("network", op.bytes);
        this.stats.maps++;
      } else {
        this.o.dma.unmap(cpu, this.o.device, [op.bytes], op.id, out);
        this.stats.unmaps++;
      }
    }
    this.ops.length = 0;
  }

  /** The driver's open: map a buffer for every RX descriptor. */
  private fill(cpu: Cpu, qi: number, out: Script): void {
    this.queues[qi].rx.refill(this.ops, this.newId);
    this.issue(cpu, out);
  }

  /**
   * One NAPI poll: clean the sent packets that left the wire (unmap, oldest
   * first), then take the received packets (unmap their buffers, refill a
   * batch), charging the driver's work per packet.
   */
  private poll(cpu: Cpu, qi: number, out: Script): void {
    const q = this.queues[qi];
    const c = this.o.cost;
    const clean = Math.min(q.completed, TX_CLEAN_WORK);
    if (clean > 0) {
      const n = q.tx.clean(clean, this.ops);
      assert(n === clean, "cleaned what left the wire");
      q.completed -= clean;
      out.compute(clean * c.driverCompleteNs.ns);
    }
    const take = Math.min(q.rxArrived.size, NAPI_POLL_WEIGHT);
    for (let i = 0; i < take; i++) {
      const bytes = q.rxArrived.shift();
      q.rxHeldDescs -= Math.ceil(bytes / this.o.net.rxBufferBytes);
      q.rx.receive(bytes, this.ops, this.newId);
      this.stats.rxPackets++;
      this.stats.bytes += bytes;
    }
    out.compute(take * c.driverCompleteNs.ns);
    this.issue(cpu, out);
    // A poll that could not clean every sent packet reports its whole weight, as the drivers do.
    q.budget -= q.completed > 0 ? NAPI_POLL_WEIGHT : take;
    out.hook(this.hooks.pollEnd, qi);
  }

  /**
   * After a poll's work: NAPI completes when nothing waits (the interrupt is
   * unmasked); else it polls again while the budget lasts, and past it the
   * CPU's ksoftirqd takes over, queued behind the CPU's other threads.
   */
  private pollEnd(_cpu: Cpu, qi: number, out: Script): void {
    const q = this.queues[qi];
    if (q.rxArrived.size === 0 && !this.txIrqDue(q)) {
      q.napiScheduled = false;
      return;
    }
    const now = this.o.engine.nowNs;
    if (q.budget > 0 && now - q.budgetSinceNs < NETDEV_BUDGET_NS) {
      out.hook(this.hooks.poll, qi);
      return;
    }
    if (q.inKsoftirqd && now - q.ksoftirqdSinceNs < SCHED_SLICE_NS) {
      out.hook(this.hooks.netRxAction, qi);
      return;
    }
    this.start(q.cpu, false, (s) => s.hook(this.hooks.ksoftirqd, qi));
  }

  /** `ndo_start_xmit`: map head and fragments, or drop on a full ring. */
  private txMap(cpu: Cpu, arg: number, out: Script): void {
    const q = this.queues[Math.floor(arg / SIZE_BITS)];
    q.mapStartNs = this.o.engine.nowNs;
    q.mapped = q.tx.canSend();
    if (!q.mapped) return;
    q.tx.send(arg % SIZE_BITS, this.ops, this.newId);
    this.issue(cpu, out);
    out.hook(this.hooks.mapped, Math.floor(arg / SIZE_BITS));
  }

  /** The packet's last map is done: its map latency (the driver's own submit work comes after). */
  private mappedAll(qi: number): void {
    this.stats.mapLatencyNs.record(this.o.engine.nowNs - this.queues[qi].mapStartNs);
  }

  private doorbell(arg: number): void {
    const qi = Math.floor(arg / SIZE_BITS);
    const q = this.queues[qi];
    if (!q.mapped) {
      this.stats.txDropped++;
      return;
    }
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
    if (this.txIrqDue(q)) this.schedule(f.queue);
  }
}
