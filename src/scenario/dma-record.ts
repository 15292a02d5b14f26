/**
 * A recording of the DMA calls a timed run made through the seam (seam.ts):
 * for each `dma_map_sg()` / `dma_unmap_sg()`, its kind, the CPU that made it,
 * the request, the engine time and the request's SG entry sizes. A
 * fast-forward (fast-forward.ts) repeats such a stream on the kernel model
 * alone. Struct of arrays (house style: typed arrays in hot paths), grown by
 * doubling, so recording allocates nothing per call once warm.
 */

export const DMA_MAP = 0;
export const DMA_UNMAP = 1;

export class DmaCallRecorder {
  /** Calls recorded. */
  length = 0;
  kind = new Uint8Array(1024);
  cpu = new Int32Array(1024);
  requestId = new Float64Array(1024);
  timeNs = new Float64Array(1024);
  /** The call's SG entries are `segBytes[segStart[i] .. segStart[i] + segCount[i])`. */
  segStart = new Int32Array(1024);
  segCount = new Int32Array(1024);
  segBytes = new Float64Array(4096);
  private segLength = 0;

  record(kind: number, cpu: number, requestId: number, timeNs: number, segments: readonly number[]): void {
    const i = this.length;
    if (i === this.kind.length) this.grow();
    this.kind[i] = kind;
    this.cpu[i] = cpu;
    this.requestId[i] = requestId;
    this.timeNs[i] = timeNs;
    this.segStart[i] = this.segLength;
    this.segCount[i] = segments.length;
    while (this.segLength + segments.length > this.segBytes.length) this.segBytes = grown(this.segBytes);
    for (let j = 0; j < segments.length; j++) this.segBytes[this.segLength + j] = segments[j];
    this.segLength += segments.length;
    this.length = i + 1;
  }

  /** The SG entry sizes of call `i`, as a fresh array. */
  segmentsOf(i: number): number[] {
    const out: number[] = [];
    const s = this.segStart[i];
    for (let j = 0; j < this.segCount[i]; j++) out.push(this.segBytes[s + j]);
    return out;
  }

  private grow(): void {
    this.kind = grown(this.kind);
    this.cpu = grown(this.cpu);
    this.requestId = grown(this.requestId);
    this.timeNs = grown(this.timeNs);
    this.segStart = grown(this.segStart);
    this.segCount = grown(this.segCount);
  }
}

function grown<T extends Uint8Array | Int32Array | Float64Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}
