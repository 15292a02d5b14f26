/**
 * The block layer between fio and a device: models blk-mq without an I/O
 * scheduler (`none`, the default for SSDs and SAS HBAs), Linux 6.1.
 *
 * - A bio larger than the queue's limits is split (`bio_split_to_limits()`).
 * - A bio submitted while requests wait in the software queue (because the
 *   device or its HBA has no free tag) is merged into one of the most recent
 *   `MERGE_SCAN_MAX` waiting requests when it continues or precedes it on disk
 *   (`blk_bio_list_merge()`, which checks at most 8), as long as the result
 *   stays within `max_sectors` and `max_segments` (`ll_back_merge_fn()`,
 *   `ll_front_merge_fn()`).
 * - A plug (`blk_start_plug()` around a batch of submissions) merges a bio
 *   only into the plug's most recent request (`blk_attempt_plug_merge()`).
 *
 * This is how 4 KiB sequential reads at a high queue depth become 496 KiB
 * requests on the seed's HBA: its SG list holds 124 entries, each 4 KiB user
 * page is one segment, so merging stops at 124 pages (507904 bytes) before
 * `max_sectors` (512 KiB) is reached. Each request carries its segment sizes:
 * what `dma_map_sg()` maps as one IOVA range.
 *
 * Segments never merge across bios: user pages of fio's buffers are not
 * physically contiguous (no hugepages modelled). Pure: no time, no device; a
 * caller asks `dispatch()` for requests when its device has a free tag.
 */

import { numArray, refArray } from "../stdx/arrays.ts";
import { assert } from "../stdx/assert.ts";
import { InputError } from "../stdx/errors.ts";

export const SECTOR_BYTES = 512;
/** `blk_bio_list_merge()` gives up after checking this many waiting requests. */
export const MERGE_SCAN_MAX = 8;

/** The request-queue limits that bound merging and splitting (`struct queue_limits`). */
export interface QueueLimits {
  /** `max_sectors`, in 512-byte sectors. */
  maxSectors: number;
  /** `max_segments`: SG list entries per request. */
  maxSegments: number;
  /** `max_segment_size`, bytes. */
  maxSegmentBytes: number;
  logicalBlockBytes: number;
}

/**
 * hisi_sas v3 (the seed's HBA): `sg_tablesize = HISI_SAS_SGE_PAGE_CNT` = 124,
 * SCSI's default `max_sectors` of 1024 (512 KiB), 64 KiB segments at most.
 * From 6.0 the SCSI/SAS midlayer may clamp max_sectors to
 * `dma_opt_mapping_size()` (docs/kernel-rules.md R-MAP-3); the machine
 * description decides that and passes the result here.
 */
export const HISI_SAS_V3_LIMITS: QueueLimits = {
  maxSectors: 1024,
  maxSegments: 124,
  maxSegmentBytes: 65536,
  logicalBlockBytes: 512,
};

/** The QEMU NVMe disk of docs/reference-machines.md (6.1): max_sectors_kb=512, max_segments=127. */
export const NVME_QEMU_LIMITS: QueueLimits = {
  maxSectors: 1024,
  maxSegments: 127,
  maxSegmentBytes: 4294967295,
  logicalBlockBytes: 512,
};

export function checkLimits(l: QueueLimits, where: string): void {
  const bad = (what: string) => {
    throw new InputError(`${where}: expected ${what}`);
  };
  if (!Number.isSafeInteger(l.maxSectors) || l.maxSectors < 8) bad("max_sectors of at least 8 (4 KiB)");
  if (!Number.isSafeInteger(l.maxSegments) || l.maxSegments < 1) bad("max_segments of at least 1");
  if (!Number.isSafeInteger(l.maxSegmentBytes) || l.maxSegmentBytes < 4096) bad("max_segment_size of at least 4096");
  if (![512, 1024, 2048, 4096].includes(l.logicalBlockBytes)) bad("a logical block size of 512, 1024, 2048 or 4096");
}

/** One bio: a contiguous range on the device, from one submitter's buffer. */
export interface Bio {
  /** Caller's tag, handed back on completion (the fio I/O). */
  tag: number;
  /** Byte offset on the device. */
  offset: number;
  bytes: number;
  write: boolean;
  /** Segment sizes in bytes (a page each for a page-aligned buffer). */
  segments: number[];
}

/** A request as the driver sees it: one SG list, one DMA mapping. */
export interface BlockRequest {
  offset: number;
  bytes: number;
  write: boolean;
  /** SG list entry sizes, in bytes: what `dma_map_sg()` maps. */
  segments: number[];
  /** Tags of the bios it carries, in disk order. */
  bioTags: number[];
}

/** A bio for a page-aligned user buffer: one segment per page (the last may be short). */
export function bioForBuffer(tag: number, offset: number, bytes: number, write: boolean, pageBytes = 4096): Bio {
  assert(Number.isSafeInteger(bytes) && bytes > 0, "bio size must be a positive integer");
  const segments: number[] = [];
  for (let left = bytes; left > 0; left -= pageBytes) segments.push(Math.min(left, pageBytes));
  return { tag, offset, bytes, write, segments };
}

/**
 * `bioForBuffer` into a bio that is no longer used (its segments array rewritten in
 * place): a caller that reuses placed bios allocates none per I/O.
 */
export function refillBio(bio: Bio, tag: number, offset: number, bytes: number, write: boolean, pageBytes = 4096): Bio {
  assert(Number.isSafeInteger(bytes) && bytes > 0, "bio size must be a positive integer");
  bio.tag = tag;
  bio.offset = offset;
  bio.bytes = bytes;
  bio.write = write;
  const segs = bio.segments;
  let n = 0;
  for (let left = bytes; left > 0; left -= pageBytes) segs[n++] = Math.min(left, pageBytes);
  if (segs.length !== n) segs.length = n;
  return bio;
}

/**
 * Returns a completed request to `free`, the pool a caller's queues were
 * made with; the caller must hold no reference to it afterwards.
 */
export function recycleRequest(free: BlockRequest[], rq: BlockRequest): void {
  // Its arrays keep their contents until reuse overwrites them: truncating an array to 0
  // gives its storage back, and the next request would allocate it again.
  free.push(rq);
}

export interface BlockStats {
  bios: number;
  /** Bios split because they exceeded the limits (each split counts once per extra piece). */
  splits: number;
  backMerges: number;
  frontMerges: number;
  plugMerges: number;
  requests: number;
  dispatched: number;
}

export class BlockQueue {
  readonly limits: QueueLimits;
  readonly stats: BlockStats = {
    bios: 0,
    splits: 0,
    backMerges: 0,
    frontMerges: 0,
    plugMerges: 0,
    requests: 0,
    dispatched: 0,
  };
  /** Requests waiting for a tag, oldest first (the software queue). */
  private readonly waiting: BlockRequest[] = refArray();
  /**
   * Each waiting request's first and end byte, beside it: the merge scan reads these numbers,
   * side by side, instead of up to eight request records last touched long ago.
   */
  private readonly waitingStart: number[] = numArray();
  private readonly waitingEnd: number[] = numArray();
  private head = 0;
  private plug: BlockRequest[] | null = null;
  /** `split`'s result for a bio within the limits, reused. */
  private readonly onePiece: Bio[] = [];
  /** Finished requests to reuse (`recycleRequest`), shared by a caller's queues; null: allocate each. */
  private readonly free: BlockRequest[] | null;

  constructor(limits: QueueLimits, free: BlockRequest[] | null = null) {
    checkLimits(limits, "queue limits");
    this.limits = limits;
    this.free = free;
  }

  get waitingRequests(): number {
    return this.waiting.length - this.head;
  }

  /** `blk_start_plug()`: bios submitted until `finishPlug()` gather in the plug first. */
  startPlug(): void {
    assert(this.plug === null, "plugs do not nest");
    this.plug = [];
  }

  /** `blk_finish_plug()`: the plugged requests join the software queue, in order. */
  finishPlug(): void {
    assert(this.plug !== null, "finish a plug that was not started");
    for (const rq of this.plug) this.enqueue(rq);
    this.plug = null;
  }

  /**
   * `submit_bio()`: splits the bio to the limits, then merges each piece into
   * a waiting request or queues it as a new one.
   */
  submit(bio: Bio): void {
    assert(bio.bytes % this.limits.logicalBlockBytes === 0, "bio not a multiple of the logical block size");
    assert(bio.offset % this.limits.logicalBlockBytes === 0, "bio offset not block-aligned");
    this.stats.bios++;
    const pieces = this.split(bio);
    this.stats.splits += pieces.length - 1;
    for (const p of pieces) this.queue(p);
  }

  /**
   * For a caller that allocates tags itself: tries to merge one piece of a
   * bio (already within the limits, see `split`) into a waiting request,
   * without queueing it otherwise. True if merged.
   */
  merge(piece: Bio): boolean {
    assert(this.plug === null, "merge() is for unplugged submission");
    return this.tryListMerge(piece);
  }

  /** Queues one piece as a new request (the caller got a tag for it) and returns it. */
  add(piece: Bio): BlockRequest {
    const rq = this.newRequest(piece);
    this.enqueue(rq);
    return rq;
  }

  /** Counts a bio submitted through `split`/`merge`/`add`. */
  countBio(pieces: number): void {
    this.stats.bios++;
    this.stats.splits += pieces - 1;
  }

  /** Takes the oldest waiting request (the driver got a tag for it), or null. */
  dispatch(): BlockRequest | null {
    if (this.head === this.waiting.length) return null;
    const rq = this.waiting[this.head++];
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.waitingStart.splice(0, this.head);
      this.waitingEnd.splice(0, this.head);
      this.head = 0;
    }
    this.stats.dispatched++;
    return rq;
  }

  verifyInvariants(): void {
    for (let i = this.head; i < this.waiting.length; i++) {
      const rq = this.waiting[i];
      this.checkRequest(rq);
      assert(this.waitingStart[i] === rq.offset && this.waitingEnd[i] === rq.offset + rq.bytes, "waiting span stale");
    }
    if (this.plug !== null) for (const rq of this.plug) this.checkRequest(rq);
  }

  private checkRequest(rq: BlockRequest): void {
    const sum = rq.segments.reduce((a, b) => a + b, 0);
    assert(sum === rq.bytes, "request bytes differ from its segments");
    assert(rq.segments.length <= this.limits.maxSegments, "request over max_segments");
    assert(rq.bytes <= this.limits.maxSectors * SECTOR_BYTES, "request over max_sectors");
    assert(rq.bioTags.length >= 1, "request without bios");
  }

  /**
   * `bio_split_to_limits()`: pieces within max_sectors and max_segments, cut at segment
   * boundaries. A bio within every limit (the common case) goes through as it is, in a
   * one-piece list the queue reuses: read it before the next split.
   */
  split(bio: Bio): readonly Bio[] {
    const maxBytes = this.limits.maxSectors * SECTOR_BYTES;
    if (bio.bytes <= maxBytes && bio.segments.length <= this.limits.maxSegments) {
      let fits = true;
      for (const seg of bio.segments) if (seg > this.limits.maxSegmentBytes) fits = false;
      if (fits) {
        this.onePiece[0] = bio;
        return this.onePiece;
      }
    }
    const segs: number[] = [];
    // A segment over max_segment_size is cut into several SG entries.
    for (const s of bio.segments) {
      for (let left = s; left > 0; left -= this.limits.maxSegmentBytes)
        segs.push(Math.min(left, this.limits.maxSegmentBytes));
    }
    const pieces: Bio[] = [];
    let cur: number[] = [];
    let curBytes = 0;
    let offset = bio.offset;
    for (let s of segs) {
      while (s > 0) {
        if (cur.length === this.limits.maxSegments || curBytes === maxBytes) {
          pieces.push({ tag: bio.tag, offset, bytes: curBytes, write: bio.write, segments: cur });
          offset += curBytes;
          cur = [];
          curBytes = 0;
        }
        // A segment that would overflow max_sectors is cut at the limit (kept block-aligned).
        const take = Math.min(s, maxBytes - curBytes);
        cur.push(take);
        curBytes += take;
        s -= take;
      }
    }
    pieces.push({ tag: bio.tag, offset, bytes: curBytes, write: bio.write, segments: cur });
    return pieces;
  }

  private fits(rq: BlockRequest, bio: Bio): boolean {
    return (
      rq.write === bio.write &&
      rq.bytes + bio.bytes <= this.limits.maxSectors * SECTOR_BYTES &&
      rq.segments.length + bio.segments.length <= this.limits.maxSegments
    );
  }

  private queue(bio: Bio): void {
    if (this.plug !== null) {
      // blk_attempt_plug_merge(): only the plug's last request is tried.
      const last = this.plug[this.plug.length - 1];
      if (last !== undefined && this.tryMerge(last, bio)) {
        this.stats.plugMerges++;
        return;
      }
      this.plug.push(this.newRequest(bio));
      return;
    }
    if (!this.tryListMerge(bio)) this.enqueue(this.newRequest(bio));
  }

  /** `blk_bio_list_merge()`: newest first, at most MERGE_SCAN_MAX requests checked. */
  private tryListMerge(bio: Bio): boolean {
    const starts = this.waitingStart;
    const ends = this.waitingEnd;
    const stop = Math.max(this.head, starts.length - MERGE_SCAN_MAX);
    const start = bio.offset;
    const end = bio.offset + bio.bytes;
    for (let i = starts.length - 1; i >= stop; i--) {
      // Only a request that ends where the bio starts, or starts where it ends, can take it: the
      // cheap test first (a random workload checks eight neighbours per bio and merges none).
      if (ends[i] !== start && starts[i] !== end) continue;
      const rq = this.waiting[i];
      if (this.tryMerge(rq, bio)) {
        if (rq.offset === bio.offset) this.stats.frontMerges++;
        else this.stats.backMerges++;
        starts[i] = rq.offset;
        ends[i] = rq.offset + rq.bytes;
        return true;
      }
    }
    return false;
  }

  /** Appends a request to the software queue. */
  private enqueue(rq: BlockRequest): void {
    this.waiting.push(rq);
    this.waitingStart.push(rq.offset);
    this.waitingEnd.push(rq.offset + rq.bytes);
  }

  private tryMerge(rq: BlockRequest, bio: Bio): boolean {
    if (!this.fits(rq, bio)) return false;
    if (rq.offset + rq.bytes === bio.offset) {
      for (const s of bio.segments) rq.segments.push(s);
      rq.bytes += bio.bytes;
      rq.bioTags.push(bio.tag);
      return true;
    }
    if (bio.offset + bio.bytes === rq.offset) {
      rq.segments.unshift(...bio.segments);
      rq.offset = bio.offset;
      rq.bytes += bio.bytes;
      rq.bioTags.unshift(bio.tag);
      return true;
    }
    return false;
  }

  private newRequest(bio: Bio): BlockRequest {
    this.stats.requests++;
    const rq = this.free?.pop();
    if (rq === undefined) {
      return {
        offset: bio.offset,
        bytes: bio.bytes,
        write: bio.write,
        segments: bio.segments.slice(),
        bioTags: [bio.tag],
      };
    }
    // A request that lives across a whole I/O would otherwise survive young-generation
    // collections and be copied and promoted: reusing finished ones keeps the collector idle.
    rq.offset = bio.offset;
    rq.bytes = bio.bytes;
    rq.write = bio.write;
    // Overwritten in place, the length set only when it changes (see recycleRequest).
    const segs = rq.segments;
    const n = bio.segments.length;
    for (let i = 0; i < n; i++) segs[i] = bio.segments[i];
    if (segs.length !== n) segs.length = n;
    rq.bioTags[0] = bio.tag;
    if (rq.bioTags.length !== 1) rq.bioTags.length = 1;
    return rq;
  }
}
