/**
 * The traced unmaps of the reconstruction's look-ahead, for bounding when a
 * lost unmap ran (`DmaCall.lostAtNs`).
 *
 * An NVMe queue completes its requests about in the order they were
 * submitted, and its interrupt runs on the CPU that submitted them. So when
 * the trace lost a mapping's unmap, a traced unmap of an earlier mapping of
 * the same CPU and domain, later than the lost one's map, came before it: the
 * lost unmap ran no earlier (6.12 mid-life lines 352990-353184: the map of
 * 0xbde87000, then 0xbe211000's; the interrupt that unmapped both began with
 * 0xbde87000's after the flush at line 353182). A traced unmap of a later
 * mapping came after it: it ran no later.
 *
 * A ring of the last unmaps: each one's mapping CPU, domain, the sequence
 * number and time of its map event and its own time. A mapping is marked lost when a
 * later map takes its range within the look-ahead, so the unmaps since its
 * map are at most a look-ahead of events: the ring holds that many.
 */

export class Completions {
  private readonly cpu: Int32Array;
  private readonly domain: Int32Array;
  private readonly mapSeq: Float64Array;
  private readonly mapNs: Float64Array;
  private readonly ns: Float64Array;
  private readonly mask: number;
  /** Unmaps recorded so far; the newest is at `(count - 1) & mask`. */
  private count = 0;
  /** The latencies `lostAt` sorts, reused. */
  private readonly latencies = new Float64Array(LATENCY_SAMPLES);

  /** Holds at least `capacity` unmaps. */
  constructor(capacity: number) {
    let n = 16;
    while (n < capacity) n *= 2;
    this.cpu = new Int32Array(n);
    this.domain = new Int32Array(n);
    this.mapSeq = new Float64Array(n);
    this.mapNs = new Float64Array(n);
    this.ns = new Float64Array(n);
    this.mask = n - 1;
  }

  /** A traced unmap at `ns` of the mapping whose map event was `mapSeq`, at `mapNs`, made on `cpu` in `domain`. */
  add(cpu: number, domain: number, mapSeq: number, mapNs: number, ns: number): void {
    const i = this.count & this.mask;
    this.cpu[i] = cpu;
    this.domain[i] = domain;
    this.mapSeq[i] = mapSeq;
    this.mapNs[i] = mapNs;
    this.ns[i] = ns;
    this.count++;
  }

  /**
   * The trace time the lost unmap of the mapping whose map event was
   * `mapSeq`, made on `cpu` in `domain` at `mapNs`, most likely ran, shown
   * lost by a map at `untilNs`. The traced unmaps since bound it: no
   * earlier than the newest of an earlier mapping's (else its map), no
   * later than the first of a later mapping's (else `untilNs`). Within
   * that, its map plus the median time the CPU's requests unmapped nearest
   * after it took from map to unmap; the middle where the trace shows none.
   */
  lostAt(cpu: number, domain: number, mapSeq: number, mapNs: number, untilNs: number): number {
    let from = mapNs;
    let to = untilNs;
    let fromFound = false;
    // The latencies of the CPU's unmaps nearest after the map: a ring over the scan, which goes back in time.
    const l = this.latencies;
    let n = 0;
    const stop = Math.max(0, this.count - this.mask - 1);
    for (let k = this.count - 1; k >= stop; k--) {
      const i = k & this.mask;
      const t = this.ns[i];
      if (t < mapNs) break;
      if (this.cpu[i] !== cpu || this.domain[i] !== domain) continue;
      l[n++ % l.length] = t - this.mapNs[i];
      if (this.mapSeq[i] > mapSeq) to = Math.min(to, t);
      else if (!fromFound) {
        from = t;
        fromFound = true;
      }
    }
    if (to < from) to = from;
    if (n === 0) return (from + to) / 2;
    const s = l.subarray(0, Math.min(n, l.length)).sort();
    return Math.min(to, Math.max(from, mapNs + s[s.length >> 1]));
  }
}

/** How many of a CPU's unmaps give the latency around a lost one. */
const LATENCY_SAMPLES = 64;
