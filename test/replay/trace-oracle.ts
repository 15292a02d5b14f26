/**
 * An independent check of a kernel trace for the reader tests: the
 * page-by-page replay the ../shared READMEs describe ("map adds the pages of
 * [iova, iova+size), unmap removes them"), written with plain regular
 * expressions over the raw text and sharing no code with src/trace.
 */

const MAP = / map: IOMMU: iova=0x([0-9a-f]+) - 0x[0-9a-f]+ paddr=0x([0-9a-f]+) size=(\d+)/;
const UNMAP = / unmap: IOMMU: iova=0x([0-9a-f]+) - 0x[0-9a-f]+ size=(\d+)/;
const CPU = /\[(\d+)\]/;

export interface OracleResult {
  maps: number;
  unmaps: number;
  /** Map events left out as a boot-time identity mapping (paddr = iova = 0, 16 MiB). */
  directMaps: number;
  livePagesAtEnd: number;
  peakLivePages: number;
  unmapsByCpu: number[];
  mapsByCpu: number[];
  /** Count of each `dma_*:` event name. */
  dma: Map<string, number>;
  /** 1-based lines of the map events some of whose pages are still mapped at the end. */
  liveMapLines: number[];
}

export function traceOracle(text: string): OracleResult {
  const live = new Map<number, number>();
  let peak = 0;
  const r: OracleResult = {
    maps: 0,
    unmaps: 0,
    directMaps: 0,
    livePagesAtEnd: 0,
    peakLivePages: 0,
    unmapsByCpu: [0, 0],
    mapsByCpu: [0, 0],
    dma: new Map(),
    liveMapLines: [],
  };
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.startsWith("#")) continue;
    const cpu = Number(CPU.exec(line)?.[1] ?? -1);
    let m = MAP.exec(line);
    if (m !== null) {
      const iova = Number.parseInt(m[1], 16);
      const paddr = Number.parseInt(m[2], 16);
      const size = Number(m[3]);
      if (iova === 0 && paddr === 0 && size === 0x100_0000) {
        r.directMaps++;
        continue;
      }
      r.maps++;
      r.mapsByCpu[cpu]++;
      for (let p = iova / 4096; p < (iova + size) / 4096; p++) live.set(p, n + 1);
      peak = Math.max(peak, live.size);
      continue;
    }
    m = UNMAP.exec(line);
    if (m !== null) {
      r.unmaps++;
      r.unmapsByCpu[cpu]++;
      const iova = Number.parseInt(m[1], 16);
      for (let p = iova / 4096; p < (iova + Number(m[2])) / 4096; p++) live.delete(p);
      continue;
    }
    const d = / (dma_[a-z_]+): /.exec(line);
    if (d !== null) r.dma.set(d[1], (r.dma.get(d[1]) ?? 0) + 1);
  }
  r.livePagesAtEnd = live.size;
  r.liveMapLines = [...new Set(live.values())].sort((a, b) => a - b);
  r.peakLivePages = peak;
  return r;
}

/**
 * The fewest flushes a lazy trace requires, counted from the raw text alone:
 * a map that reuses a page unmapped earlier (and not mapped since) proves a
 * flush between that unmap and the map; the fewest flushes that meet every
 * such interval come from the classic point cover (intervals by end, a
 * point at each uncovered interval's end). Map events of group 3's direct
 * mapping are left out, as are pages the map does not reuse.
 */
export function requiredFlushes(text: string): number {
  const unmappedAt = new Map<number, number>();
  const intervals: [number, number][] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    if (line.startsWith("#")) continue;
    const u = UNMAP.exec(line);
    if (u !== null) {
      const iova = Number.parseInt(u[1], 16);
      for (let p = iova / 4096; p < (iova + Number(u[2])) / 4096; p++) unmappedAt.set(p, n);
      continue;
    }
    const m = MAP.exec(line);
    if (m === null) continue;
    const iova = Number.parseInt(m[1], 16);
    const size = Number(m[3]);
    if (iova === 0 && Number.parseInt(m[2], 16) === 0 && size === 0x100_0000) continue;
    let lo = -1;
    for (let p = iova / 4096; p < (iova + size) / 4096; p++) {
      const at = unmappedAt.get(p);
      if (at === undefined) continue;
      lo = Math.max(lo, at);
      unmappedAt.delete(p);
    }
    if (lo >= 0) intervals.push([lo, n]);
  }
  intervals.sort((a, b) => a[1] - b[1]);
  let points = 0;
  let last = -1;
  for (const [lo, hi] of intervals) {
    if (lo < last) continue;
    points++;
    last = hi;
  }
  return points;
}
