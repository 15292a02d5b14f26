/**
 * Devices with queues and service times: SAS and NVMe SSDs (a command stage
 * that caps IOPS, a media latency, a transfer stage that caps bandwidth), the
 * SAS HBA in front of the SAS disks (its `can_queue` bounds the commands in
 * flight over all its disks, its link bandwidth is shared by them), and a NIC
 * (a transmit link at line rate).
 *
 * Service is deterministic and first come first served per stage, so each
 * request's completion time is computed when it is dispatched (a tandem of
 * FIFO stages with a constant latency in between keeps dispatch order), and
 * one event per request delivers the completion. Requests that find the
 * device (or its HBA) full wait in the device's FIFO; a block layer that wants
 * to merge while the device is busy asks `canAccept()` first and keeps its
 * requests itself.
 */

import { F64_ZERO, numArray, refArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import type { Checked, Engine, EventHandler } from "./engine.ts";
import { Priority } from "./engine.ts";
import { Fifo } from "./fifo.ts";

export interface IoRequest {
  readonly bytes: number;
}

/** Told when a device finishes a request (the upper layer raises the interrupt). */
export interface CompletionSink<R extends IoRequest> {
  onComplete(req: R, device: Disk<R>): void;
}

export interface DiskParams {
  /** Commands per second the device can start (its IOPS ceiling). */
  iopsMax: number;
  /** Bytes per second it can transfer (its bandwidth ceiling); Infinity for none. */
  bandwidthBytesPerSec: number;
  /** Media access time of one command, ns. */
  latencyNs: number;
  /** Commands the device accepts at once (SCSI queue depth, NVMe queue size). */
  queueDepth: number;
}

export interface HbaParams {
  /** `shost->can_queue`: commands in flight over all disks behind the HBA. */
  canQueue: number;
  /** The HBA's host link (PCIe) in bytes per second; Infinity for none. */
  linkBytesPerSec: number;
}

export interface DeviceStats {
  completed: number;
  bytes: number;
  /** Total time from submit to completion, ns (queueing included). */
  responseNs: number;
  /** Total time spent waiting in the device's FIFO before dispatch, ns. */
  queueWaitNs: number;
}

/**
 * Draft device presets: the published set-up names no disk model, so these
 * are typical figures, to be chosen and documented in calibration
 * (docs/cost-model.md, "Device and machine parameters").
 */
export const DEVICE_PRESETS = {
  /** A 12G SAS SSD: one SAS-3 lane (12 Gb/s, 8b/10b: 1.2 GB/s raw), ~200K random-read IOPS. */
  sasSsd12g: { iopsMax: 200_000, bandwidthBytesPerSec: 1.1e9, latencyNs: 80_000, queueDepth: 64 },
  /** A PCIe 3.0 x4 NVMe SSD: ~3.5 GB/s, ~700K random-read IOPS, 1023-entry I/O queues. */
  nvmeGen3x4: { iopsMax: 700_000, bandwidthBytesPerSec: 3.5e9, latencyNs: 80_000, queueDepth: 1023 },
} as const satisfies Record<string, DiskParams>;

/** Transfer time of `bytes` at `bytesPerSec`, rounded up to whole ns (0 for an unlimited link). */
export function transferNs(bytes: number, bytesPerSec: number): number {
  if (bytesPerSec === Number.POSITIVE_INFINITY) return 0;
  return Math.ceil((bytes * 1e9) / bytesPerSec);
}

export class Hba implements Checked {
  outstanding = 0;
  linkFreeAtNs = F64_ZERO;
  readonly disks: Disk<IoRequest>[] = [];
  private nextPump = 0;

  readonly name: string;
  readonly params: HbaParams;

  constructor(engine: Engine, name: string, params: HbaParams) {
    this.name = name;
    this.params = params;
    assert(Number.isSafeInteger(params.canQueue) && params.canQueue > 0, `${name}: canQueue`);
    assert(params.linkBytesPerSec > 0, `${name}: link bandwidth`);
    engine.register(this);
  }

  get hasRoom(): boolean {
    return this.outstanding < this.params.canQueue;
  }

  /** A slot freed: let the disks' waiting requests in, round robin so no disk starves. */
  pump(): void {
    const n = this.disks.length;
    for (let k = 0; k < n && this.hasRoom; k++) {
      const d = this.disks[(this.nextPump + k) % n];
      d.pump();
    }
    this.nextPump = n === 0 ? 0 : (this.nextPump + 1) % n;
  }

  verifyInvariants(): void {
    let sum = 0;
    for (const d of this.disks) sum += d.outstanding;
    assert(sum === this.outstanding, `${this.name}: outstanding ${this.outstanding} but disks hold ${sum}`);
    assert(this.outstanding <= this.params.canQueue, `${this.name}: over can_queue`);
  }
}

export class Disk<R extends IoRequest> implements Checked, EventHandler {
  outstanding = 0;
  /** Slots promised by `reserve()` to requests still being prepared (the SCSI budget). */
  reserved = 0;
  completed = 0;
  bytes = 0;
  responseNs = F64_ZERO;
  queueWaitNs = F64_ZERO;
  sink: CompletionSink<R> | null = null;
  private cmdFreeAtNs = F64_ZERO;
  private xferFreeAtNs = F64_ZERO;
  private readonly cmdNs: number;
  private readonly waitq = new Fifo<R>();
  private readonly waitSinceNs = new Fifo<number>();
  // In-flight requests by slot; the completion event carries the slot number.
  private readonly inflight: (R | null)[] = refArray();
  private readonly submittedNs: number[] = numArray();
  private readonly freeSlots: number[] = [];

  private readonly engine: Engine;
  readonly name: string;
  readonly params: DiskParams;
  readonly hba: Hba | null;

  constructor(engine: Engine, name: string, params: DiskParams, hba: Hba | null = null) {
    this.engine = engine;
    this.name = name;
    this.params = params;
    this.hba = hba;
    assert(params.iopsMax > 0, `${name}: iopsMax`);
    assert(params.bandwidthBytesPerSec > 0, `${name}: bandwidth`);
    assert(Number.isSafeInteger(params.latencyNs) && params.latencyNs >= 0, `${name}: latencyNs`);
    assert(Number.isSafeInteger(params.queueDepth) && params.queueDepth > 0, `${name}: queueDepth`);
    this.cmdNs = Math.ceil(1e9 / params.iopsMax);
    if (hba !== null) hba.disks.push(this as unknown as Disk<IoRequest>);
    engine.register(this);
  }

  /** True if a request submitted now would be dispatched at once. */
  canAccept(): boolean {
    return (
      this.waitq.size === 0 &&
      this.outstanding + this.reserved < this.params.queueDepth &&
      (this.hba === null || this.hba.hasRoom)
    );
  }

  /**
   * Takes a slot now for a request submitted later with `submitReserved()`:
   * the driver holds the budget while it maps the request (`scsi_mq_get_budget()`).
   */
  reserve(): void {
    if (!this.canAccept()) assert(false, `${this.name}: reserve without room`);
    this.reserved++;
  }

  /** A reservation given back unused (the request could not be prepared, `scsi_mq_put_budget()`). */
  unreserve(): void {
    if (this.reserved <= 0) assert(false, `${this.name}: no reservation`);
    this.reserved--;
    this.pump();
  }

  submitReserved(req: R): void {
    if (this.reserved <= 0) assert(false, `${this.name}: no reservation`);
    this.reserved--;
    this.submit(req);
  }

  get waiting(): number {
    return this.waitq.size;
  }

  submit(req: R): void {
    if (!(Number.isSafeInteger(req.bytes) && req.bytes > 0)) assert(false, `${this.name}: request size`);
    this.waitq.push(req);
    this.waitSinceNs.push(this.engine.nowNs);
    this.pump();
  }

  /** Dispatches waiting requests while the disk and its HBA have room. */
  pump(): void {
    while (
      this.waitq.size > 0 &&
      this.outstanding + this.reserved < this.params.queueDepth &&
      (this.hba === null || this.hba.hasRoom)
    ) {
      const req = this.waitq.shift();
      const since = this.waitSinceNs.shift();
      this.dispatch(req, since);
    }
  }

  stats(): DeviceStats {
    return { completed: this.completed, bytes: this.bytes, responseNs: this.responseNs, queueWaitNs: this.queueWaitNs };
  }

  resetStats(): void {
    this.completed = 0;
    this.bytes = 0;
    this.responseNs = 0;
    this.queueWaitNs = 0;
  }

  onEvent(slot: number): void {
    const req = this.inflight[slot] as R;
    this.inflight[slot] = null;
    this.freeSlots.push(slot);
    this.outstanding--;
    this.completed++;
    this.bytes += req.bytes;
    this.responseNs += this.engine.nowNs - this.submittedNs[slot];
    if (this.hba !== null) this.hba.outstanding--;
    // Refill first: the hardware queue is fed before the CPU handles the interrupt.
    this.pump();
    if (this.hba !== null) this.hba.pump();
    if (this.sink !== null) this.sink.onComplete(req, this);
  }

  verifyInvariants(): void {
    let live = 0;
    for (const r of this.inflight) if (r !== null) live++;
    assert(live === this.outstanding, `${this.name}: ${live} in flight but outstanding ${this.outstanding}`);
    assert(this.outstanding + this.reserved <= this.params.queueDepth, `${this.name}: over queue depth`);
    assert(this.waitq.size === this.waitSinceNs.size, `${this.name}: wait queue bookkeeping`);
    if (this.waitq.size > 0) {
      // Work waits only when there is no room for it.
      const full =
        this.outstanding + this.reserved >= this.params.queueDepth || (this.hba !== null && !this.hba.hasRoom);
      assert(full, `${this.name}: requests wait while the device has room`);
    }
  }

  private dispatch(req: R, submittedNs: number): void {
    const now = this.engine.nowNs;
    this.queueWaitNs += now - submittedNs;
    // Command stage: one command start per 1/iopsMax.
    const cmdStart = Math.max(this.cmdFreeAtNs, now);
    this.cmdFreeAtNs = cmdStart + this.cmdNs;
    // Media, then the transfer stage (bandwidth), then the HBA's shared link.
    const mediaDone = this.cmdFreeAtNs + this.params.latencyNs;
    const xferStart = Math.max(this.xferFreeAtNs, mediaDone);
    this.xferFreeAtNs = xferStart + transferNs(req.bytes, this.params.bandwidthBytesPerSec);
    let doneNs = this.xferFreeAtNs;
    if (this.hba !== null) {
      this.hba.outstanding++;
      const linkStart = Math.max(this.hba.linkFreeAtNs, doneNs);
      this.hba.linkFreeAtNs = linkStart + transferNs(req.bytes, this.hba.params.linkBytesPerSec);
      doneNs = this.hba.linkFreeAtNs;
    }
    this.outstanding++;
    const slot = this.freeSlots.length > 0 ? (this.freeSlots.pop() as number) : this.inflight.length;
    this.inflight[slot] = req;
    this.submittedNs[slot] = submittedNs;
    this.engine.at(doneNs, Priority.device, this, slot);
  }
}

export interface NicParams {
  /** Line rate, bits per second. */
  lineRateBitsPerSec: number;
  /** Descriptors in the TX ring: frames queued for the wire at most. */
  txRingSize: number;
}

/** Ethernet bytes on the wire beyond the frame: preamble+SFD 8, inter-frame gap 12. */
export const ETHERNET_WIRE_OVERHEAD_BYTES = 20;

/** A NIC's transmit side: frames leave one after another at line rate. */
export class Nic<R extends IoRequest> implements Checked, EventHandler {
  inFlight = 0;
  sent = 0;
  bytesSent = 0;
  sink: ((req: R) => void) | null = null;
  private wireFreeAtNs = F64_ZERO;
  private readonly ring: Fifo<R> = new Fifo<R>();

  private readonly engine: Engine;
  readonly name: string;
  readonly params: NicParams;

  constructor(engine: Engine, name: string, params: NicParams) {
    this.engine = engine;
    this.name = name;
    this.params = params;
    assert(params.lineRateBitsPerSec > 0, `${name}: line rate`);
    assert(Number.isSafeInteger(params.txRingSize) && params.txRingSize > 0, `${name}: TX ring size`);
    engine.register(this);
  }

  /** Wire time of one frame of `bytes` (integer ns, rounded up). */
  frameNs(bytes: number): number {
    return Math.ceil(((bytes + ETHERNET_WIRE_OVERHEAD_BYTES) * 8 * 1e9) / this.params.lineRateBitsPerSec);
  }

  /** False when the TX ring is full (the driver stops the queue). */
  canTransmit(): boolean {
    return this.inFlight < this.params.txRingSize;
  }

  transmit(req: R): void {
    assert(this.canTransmit(), `${this.name}: transmit into a full TX ring`);
    const now = this.engine.nowNs;
    const start = Math.max(this.wireFreeAtNs, now);
    this.wireFreeAtNs = start + this.frameNs(req.bytes);
    this.inFlight++;
    this.ring.push(req);
    this.engine.at(this.wireFreeAtNs, Priority.device, this);
  }

  onEvent(): void {
    // Frames leave in ring order, so the completion is always the oldest.
    const req = this.ring.shift();
    this.inFlight--;
    this.sent++;
    this.bytesSent += req.bytes;
    if (this.sink !== null) this.sink(req);
  }

  verifyInvariants(): void {
    assert(this.inFlight === this.ring.size, `${this.name}: ring bookkeeping`);
    assert(this.inFlight <= this.params.txRingSize, `${this.name}: over the TX ring`);
  }
}
