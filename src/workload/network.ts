/**
 * Network-like DMA workloads: what a NIC driver maps and unmaps as packets
 * flow, the way e1000e/ixgbe-style drivers do without a page pool.
 *
 * - RX: every descriptor of the ring owns a mapped receive buffer. A packet
 *   fills one descriptor per `bufferBytes` (a jumbo frame spans several); the
 *   driver unmaps those buffers and hands them up, and refills (allocates and
 *   maps fresh buffers for every empty descriptor) once `refillBatch`
 *   descriptors are empty, as drivers do to amortise the doorbell.
 * - TX: a packet maps its linear head (up to `txHeadBytes`) and one fragment
 *   per page of the rest (TSO sends of up to 64 KiB); the ring holds at most
 *   `txRingSize` packets; completions come back in order, cleaned in batches
 *   of up to `txCleanBatch`, and each cleaned packet unmaps what it mapped.
 *
 * Packet sizes come from a weighted mix (IMIX presets below). Pure and seeded:
 * the stream of DMA operations depends only on the options and the seed.
 */

import { assert } from "../stdx/assert.ts";
import { InputError } from "../stdx/errors.ts";
import { Prng } from "../stdx/prng.ts";

export interface PacketSize {
  bytes: number;
  weight: number;
}

/** Simple IMIX (Agilent/Spirent): 7 : 4 : 1 of 64, 594 and 1518 bytes. */
export const IMIX: readonly PacketSize[] = [
  { bytes: 64, weight: 7 },
  { bytes: 594, weight: 4 },
  { bytes: 1518, weight: 1 },
];
/** Bulk transfer at a 1500 MTU: full frames. */
export const BULK_1500: readonly PacketSize[] = [{ bytes: 1518, weight: 1 }];
/** TSO-heavy sender: 64 KiB super-packets with ACK-sized packets in between. */
export const TSO_64K: readonly PacketSize[] = [
  { bytes: 65536, weight: 1 },
  { bytes: 66, weight: 1 },
];

export interface NetworkOptions {
  seed: number;
  /** Packets to move. */
  packets: number;
  mix: readonly PacketSize[];
  /** Share of packets received, per mille (the rest are sent). */
  rxPerMille: number;
  rxRingSize: number;
  /** Receive buffer per descriptor, bytes (2048 for 1500 MTU, 4096 page-sized). */
  rxBufferBytes: number;
  rxRefillBatch: number;
  txRingSize: number;
  txHeadBytes: number;
  txCleanBatch: number;
  /** Packets sent before the oldest TX completion comes back (the wire and the NIC's lag). */
  txCompletionLag: number;
}

export const NETWORK_DEFAULTS: Omit<NetworkOptions, "seed" | "packets"> = {
  mix: IMIX,
  rxPerMille: 500,
  rxRingSize: 256,
  rxBufferBytes: 2048,
  rxRefillBatch: 32,
  txRingSize: 256,
  txHeadBytes: 256,
  txCleanBatch: 64,
  txCompletionLag: 32,
};

/** One DMA API call of the driver: map `bytes` as mapping `id`, or unmap mapping `id`. */
export interface NetDmaOp {
  kind: "map" | "unmap";
  ring: "rx" | "tx";
  id: number;
  bytes: number;
}

/** The most descriptors a ring may have. */
const MAX_RING = 32768;

export function checkNetworkOptions(o: NetworkOptions): void {
  const bad = (what: string, found: unknown) => {
    throw new InputError(`network workload: expected ${what}, found ${JSON.stringify(found)}`);
  };
  if (o.mix.length === 0) bad("a packet mix with at least one size", o.mix);
  for (const p of o.mix) {
    if (!Number.isSafeInteger(p.bytes) || p.bytes < 1 || p.bytes > 65536)
      bad("packet sizes of 1 to 65536 bytes", p.bytes);
    if (!Number.isSafeInteger(p.weight) || p.weight < 1) bad("positive integer weights", p.weight);
  }
  if (!Number.isSafeInteger(o.rxPerMille) || o.rxPerMille < 0 || o.rxPerMille > 1000)
    bad("rxPerMille 0 to 1000", o.rxPerMille);
  // Rings as drivers size them (ethtool -G: hns3 up to 32760 descriptors, mlx5 8192, ice 8160) and
  // buffers a page fragment or a 64 KiB skb at most: a ring of millions made millions of buffers, and
  // gigabyte buffers ran the domain out of IOVA space.
  if (!Number.isSafeInteger(o.rxRingSize) || o.rxRingSize < 2 || o.rxRingSize > MAX_RING)
    bad(`an RX ring of 2 to ${MAX_RING} descriptors`, o.rxRingSize);
  if (!Number.isSafeInteger(o.rxBufferBytes) || o.rxBufferBytes < 256 || o.rxBufferBytes > 65536)
    bad("RX buffers of 256 to 65536 bytes", o.rxBufferBytes);
  if (!Number.isSafeInteger(o.rxRefillBatch) || o.rxRefillBatch < 1 || o.rxRefillBatch > o.rxRingSize) {
    bad("an RX refill batch between 1 and the ring size", o.rxRefillBatch);
  }
  const maxDescs = Math.max(...o.mix.map((p) => Math.ceil(p.bytes / o.rxBufferBytes)));
  if (o.rxPerMille > 0 && maxDescs + o.rxRefillBatch - 1 > o.rxRingSize) {
    bad("an RX ring that holds the largest packet plus a refill batch", o.rxRingSize);
  }
  if (!Number.isSafeInteger(o.txRingSize) || o.txRingSize < 1 || o.txRingSize > MAX_RING)
    bad(`a TX ring of 1 to ${MAX_RING} descriptors`, o.txRingSize);
  if (!Number.isSafeInteger(o.txHeadBytes) || o.txHeadBytes < 1 || o.txHeadBytes > 65536)
    bad("a TX head of 1 to 65536 bytes", o.txHeadBytes);
  if (!Number.isSafeInteger(o.txCleanBatch) || o.txCleanBatch < 1)
    bad("a TX clean batch of at least 1", o.txCleanBatch);
  if (!Number.isSafeInteger(o.txCompletionLag) || o.txCompletionLag < 0 || o.txCompletionLag >= o.txRingSize) {
    bad("a TX completion lag below the ring size", o.txCompletionLag);
  }
}

/** The RX ring: each descriptor holds a mapped buffer (its mapping id) or is empty (-1). */
export class RxRing {
  readonly size: number;
  private readonly bufferBytes: number;
  private readonly refillBatch: number;
  private readonly mapping: Int32Array;
  private nextToClean = 0;
  private empty = 0;

  constructor(size: number, bufferBytes: number, refillBatch: number) {
    this.size = size;
    this.bufferBytes = bufferBytes;
    this.refillBatch = refillBatch;
    this.mapping = new Int32Array(size).fill(-1);
    this.empty = size;
  }

  get emptyDescriptors(): number {
    return this.empty;
  }

  /** Fills every empty descriptor with a fresh mapped buffer (the driver's `alloc_rx_buffers`). */
  refill(out: NetDmaOp[], newId: () => number): void {
    // The empty descriptors follow the filled run that starts at nextToClean.
    const start = (this.nextToClean + this.size - this.empty) % this.size;
    const n = this.empty;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % this.size;
      assert(this.mapping[i] === -1, "RX refill over a filled descriptor");
      const id = newId();
      this.mapping[i] = id;
      this.empty--;
      out.push({ kind: "map", ring: "rx", id, bytes: this.bufferBytes });
    }
  }

  /** A packet arrives: its descriptors' buffers are unmapped and handed up; refill when a batch is empty. */
  receive(bytes: number, out: NetDmaOp[], newId: () => number): void {
    const descs = Math.ceil(bytes / this.bufferBytes);
    assert(descs <= this.size - this.empty, "packet larger than the filled RX ring");
    for (let k = 0; k < descs; k++) {
      const i = this.nextToClean;
      out.push({ kind: "unmap", ring: "rx", id: this.mapping[i], bytes: this.bufferBytes });
      this.mapping[i] = -1;
      this.empty++;
      this.nextToClean = (i + 1) % this.size;
    }
    if (this.empty >= this.refillBatch) this.refill(out, newId);
  }

  /** Unmaps every filled descriptor (driver removal). */
  teardown(out: NetDmaOp[]): void {
    while (this.empty < this.size) {
      const i = this.nextToClean;
      out.push({ kind: "unmap", ring: "rx", id: this.mapping[i], bytes: this.bufferBytes });
      this.mapping[i] = -1;
      this.empty++;
      this.nextToClean = (i + 1) % this.size;
    }
  }

  verifyInvariants(): void {
    let empty = 0;
    for (let i = 0; i < this.size; i++) if (this.mapping[i] === -1) empty++;
    assert(empty === this.empty, "RX ring empty count");
    // Empty descriptors are the ones just before nextToClean's filled run: a contiguous block.
    for (let k = 0; k < this.size - this.empty; k++) {
      assert(this.mapping[(this.nextToClean + k) % this.size] !== -1, "RX ring hole among filled descriptors");
    }
  }
}

/** The TX ring: packets in flight with their mappings, completed in order. */
export class TxRing {
  readonly size: number;
  private readonly headBytes: number;
  private readonly inFlight: { ids: number[]; sizes: number[] }[] = [];

  constructor(size: number, headBytes: number) {
    this.size = size;
    this.headBytes = headBytes;
  }

  get packetsInFlight(): number {
    return this.inFlight.length;
  }

  canSend(): boolean {
    return this.inFlight.length < this.size;
  }

  /** Maps the head and one fragment per 4 KiB page of the rest. */
  send(bytes: number, out: NetDmaOp[], newId: () => number): void {
    assert(this.canSend(), "send on a full TX ring");
    const ids: number[] = [];
    const sizes: number[] = [];
    const head = Math.min(bytes, this.headBytes);
    const pieces = [head];
    for (let left = bytes - head; left > 0; left -= 4096) pieces.push(Math.min(left, 4096));
    for (const p of pieces) {
      const id = newId();
      ids.push(id);
      sizes.push(p);
      out.push({ kind: "map", ring: "tx", id, bytes: p });
    }
    this.inFlight.push({ ids, sizes });
  }

  /** Cleans up to `n` completed packets, oldest first, unmapping what each mapped. */
  clean(n: number, out: NetDmaOp[]): number {
    const k = Math.min(n, this.inFlight.length);
    for (const pkt of this.inFlight.splice(0, k)) {
      for (let i = 0; i < pkt.ids.length; i++)
        out.push({ kind: "unmap", ring: "tx", id: pkt.ids[i], bytes: pkt.sizes[i] });
    }
    return k;
  }
}

/**
 * The driver's DMA calls for `packets` packets: the RX ring is filled first,
 * then each packet is received or sent; TX completions are cleaned in batches
 * once more than `txCompletionLag` packets are in flight (or the ring is
 * full); at the end everything still mapped is unmapped, so every map has its
 * unmap.
 */
export function* networkOps(opts: NetworkOptions): Generator<NetDmaOp> {
  checkNetworkOptions(opts);
  const rng = new Prng(opts.seed);
  const totalWeight = opts.mix.reduce((s, p) => s + p.weight, 0);
  const pick = (): number => {
    let r = rng.below(totalWeight);
    for (const p of opts.mix) {
      if (r < p.weight) return p.bytes;
      r -= p.weight;
    }
    return opts.mix[opts.mix.length - 1].bytes;
  };
  let nextId = 0;
  const newId = () => nextId++;
  const rx = new RxRing(opts.rxRingSize, opts.rxBufferBytes, opts.rxRefillBatch);
  const tx = new TxRing(opts.txRingSize, opts.txHeadBytes);
  const out: NetDmaOp[] = [];
  if (opts.rxPerMille > 0) rx.refill(out, newId);
  yield* out.splice(0);
  for (let p = 0; p < opts.packets; p++) {
    const bytes = pick();
    if (rng.below(1000) < opts.rxPerMille) {
      rx.receive(bytes, out, newId);
    } else {
      if (!tx.canSend() || tx.packetsInFlight > opts.txCompletionLag) tx.clean(opts.txCleanBatch, out);
      tx.send(bytes, out, newId);
    }
    yield* out.splice(0);
  }
  // Driver teardown: clean every sent packet, unmap every RX buffer.
  tx.clean(opts.txRingSize, out);
  rx.teardown(out);
  yield* out.splice(0);
}
