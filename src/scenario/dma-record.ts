/**
 * A recording of the DMA calls a timed run made through the seam (seam.ts):
 * for each `dma_map_sg()` / `dma_unmap_sg()`, its kind, the CPU that made it
 * and whether that CPU ran only its idle task (an interrupt on an idle CPU:
 * what the flush-queue timer policy reads), the request, the engine time,
 * and for a map the IOVA length it took. A
 * fast-forward (fast-forward.ts) issues such a stream again on the kernel
 * model alone. Struct of arrays (house style: typed arrays in hot paths),
 * grown by doubling, so recording allocates nothing per call once warm.
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
  /** A map's IOVA length in bytes, as `dma_unmap_sg()` will free it; 0 for an unmap. */
  iovaBytes = new Float64Array(1024);
  /** 1: the calling CPU ran only its idle task (see `Cpu.runsIdleTask`). */
  idle = new Uint8Array(1024);

  record(kind: number, cpu: number, requestId: number, timeNs: number, iovaBytes: number, idle = false): void {
    const i = this.length;
    if (i === this.kind.length) {
      this.kind = grown(this.kind);
      this.cpu = grown(this.cpu);
      this.requestId = grown(this.requestId);
      this.timeNs = grown(this.timeNs);
      this.iovaBytes = grown(this.iovaBytes);
      this.idle = grown(this.idle);
    }
    this.kind[i] = kind;
    this.cpu[i] = cpu;
    this.requestId[i] = requestId;
    this.timeNs[i] = timeNs;
    this.iovaBytes[i] = iovaBytes;
    this.idle[i] = idle ? 1 : 0;
    this.length = i + 1;
  }
}

function grown<T extends Uint8Array | Int32Array | Float64Array>(a: T): T {
  const b = new (a.constructor as new (n: number) => T)(a.length * 2);
  b.set(a);
  return b;
}
