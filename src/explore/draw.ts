/**
 * The explorer's canvases: the address-space map (the IOVA space as a grid
 * of cells, low addresses top left, each cell coloured by the most telling
 * thing in its pfns), the magazines of one size class, the heat map of
 * magazine fill over time and the scrubber's mismatch marks.
 */

import {
  type LaneInfo,
  type LaneView,
  SPAN_CPU,
  SPAN_DEPOT,
  SPAN_FQ,
  SPAN_LIVE,
  SPAN_RESERVED,
  SPAN_STRIDE,
} from "./lane.ts";

/** The part of the IOVA space on the map, in pfns: [lo, hi). */
export interface Zoom {
  lo: number;
  hi: number;
}

export const KIND_COLOURS: Record<number, string> = {
  [SPAN_LIVE]: "#d62728",
  [SPAN_CPU]: "#1f77b4",
  [SPAN_DEPOT]: "#9467bd",
  [SPAN_FQ]: "#ff7f0e",
  [SPAN_RESERVED]: "#7f7f7f",
};
export const FREE_COLOUR = "#eeeeee";

/** A cell shows the highest of what it holds: live, flush queue, a CPU's cache, the depot, reserved, free. */
const PRIORITY = [5, 3, 2, 4, 1];
const RGB: [number, number, number][] = [
  [0xee, 0xee, 0xee],
  [0x7f, 0x7f, 0x7f],
  [0x94, 0x67, 0xbd],
  [0x1f, 0x77, 0xb4],
  [0xff, 0x7f, 0x0e],
  [0xd6, 0x27, 0x28],
];

const CPU_PRIORITY = PRIORITY[SPAN_CPU];
const CPU_SHADES: [number, number, number][] = [
  [0x1f, 0x77, 0xb4],
  [0x17, 0xbe, 0xcf],
  [0x39, 0x4b, 0x9e],
  [0x6b, 0xae, 0xd6],
  [0x08, 0x51, 0x9c],
  [0x2c, 0xa0, 0xc8],
  [0x55, 0x6f, 0xd8],
  [0x0b, 0x8e, 0x9a],
];

/** Cells of the map: at most this many, or one per page when zoomed in further. */
const MAX_CELLS = 256 * 96;

export interface MapGeometry {
  cols: number;
  rows: number;
  /** pfns per cell. */
  per: number;
}

export function mapGeometry(z: Zoom, aspect: number): MapGeometry {
  const pages = z.hi - z.lo;
  const cells = Math.min(MAX_CELLS, Math.ceil(pages));
  const cols = Math.max(1, Math.round(Math.sqrt(cells * aspect)));
  const rows = Math.max(1, Math.ceil(cells / cols));
  return { cols, rows, per: pages / (cols * rows) };
}

const scratch = new OffscreenCanvas(1, 1);

/** The map's cell buffers, kept while the geometry stays (every frame while playing). */
interface MapBuffer {
  cols: number;
  rows: number;
  prio: Uint8Array;
  /** The CPU (or class) of the IOVA that gave each cell its colour. */
  owner: Uint16Array;
  canvas: OffscreenCanvas;
  ctx: OffscreenCanvasRenderingContext2D;
  img: ImageData;
}
let mapBuffer: MapBuffer | null = null;

function bufferFor(cols: number, rows: number): MapBuffer {
  if (mapBuffer === null || mapBuffer.cols !== cols || mapBuffer.rows !== rows) {
    const canvas = new OffscreenCanvas(cols, rows);
    const ctx = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
    mapBuffer = {
      cols,
      rows,
      prio: new Uint8Array(cols * rows),
      owner: new Uint16Array(cols * rows),
      canvas,
      ctx,
      img: ctx.createImageData(cols, rows),
    };
  }
  return mapBuffer;
}

/** Draws a lane's IOVAs in the zoomed range onto `canvas`, with the 32-bit boundary and the cached nodes marked. */
export function drawMap(canvas: HTMLCanvasElement, v: LaneView, z: Zoom): MapGeometry {
  const w = canvas.width;
  const h = canvas.height;
  const g = mapGeometry(z, w / h);
  const cells = g.cols * g.rows;
  const buf = bufferFor(g.cols, g.rows);
  const prio = buf.prio;
  prio.fill(0);
  const s = v.spans;
  for (let i = 0; i < s.length; i += SPAN_STRIDE) {
    const lo = Math.max(s[i], z.lo);
    const hi = Math.min(s[i + 1], z.hi - 1);
    if (hi < lo) continue;
    const p = PRIORITY[s[i + 2]];
    const owner = s[i + 3];
    const c0 = Math.floor((lo - z.lo) / g.per);
    const c1 = Math.min(cells - 1, Math.floor((hi - z.lo) / g.per));
    for (let c = c0; c <= c1; c++) {
      if (prio[c] < p) {
        prio[c] = p;
        buf.owner[c] = owner;
      }
    }
  }
  const img = buf.img;
  const px = img.data;
  for (let c = 0; c < cells; c++) {
    // A CPU's cached IOVAs in its own shade of blue, so each CPU's share shows.
    const rgb = prio[c] === CPU_PRIORITY ? CPU_SHADES[buf.owner[c] % CPU_SHADES.length] : RGB[prio[c]];
    px[c * 4] = rgb[0];
    px[c * 4 + 1] = rgb[1];
    px[c * 4 + 2] = rgb[2];
    px[c * 4 + 3] = 255;
  }
  buf.ctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, w, h);
  ctx.drawImage(buf.canvas, 0, 0, w, h);
  const cw = w / g.cols;
  const ch = h / g.rows;
  const at = (pfn: number) => {
    const c = Math.floor((pfn - z.lo) / g.per);
    return { x: (c % g.cols) * cw, y: Math.floor(c / g.cols) * ch };
  };
  // The last tree walk: from where it began down to the IOVA it placed, shaded.
  const walk = v.lastWalk;
  if (walk !== null && walk.toPfn >= 0 && Number.isFinite(walk.fromPfn)) {
    const lo = Math.max(z.lo, walk.toPfn);
    const hi = Math.min(z.hi - 1, walk.fromPfn);
    if (lo <= hi) {
      const c0 = Math.floor((lo - z.lo) / g.per);
      const c1 = Math.min(cells - 1, Math.floor((hi - z.lo) / g.per));
      ctx.fillStyle = "rgba(255, 200, 0, 0.45)";
      for (let row = Math.floor(c0 / g.cols); row <= Math.floor(c1 / g.cols); row++) {
        const a = Math.max(c0, row * g.cols) - row * g.cols;
        const b = Math.min(c1, row * g.cols + g.cols - 1) - row * g.cols;
        ctx.fillRect(a * cw, row * ch, (b - a + 1) * cw, ch);
      }
    }
  }
  // The 32-bit boundary: a bar where the first pfn above it starts.
  if (v.dma32Pfn > z.lo && v.dma32Pfn < z.hi) {
    const p = at(v.dma32Pfn);
    ctx.fillStyle = "#000";
    ctx.fillRect(p.x - 1, p.y - 2, 3, ch + 4);
    ctx.font = "12px sans-serif";
    ctx.fillText("4 GiB", Math.min(p.x + 4, w - 40), Math.max(12, p.y - 2));
  }
  for (const [pfn, name] of [
    [v.cachedPfn, "cached_node"],
    [v.cached32Pfn, "cached32_node"],
  ] as const) {
    if (pfn < z.lo || pfn >= z.hi) continue;
    const p = at(pfn);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.strokeRect(p.x - 3, p.y - 3, Math.max(cw, 4) + 6, Math.max(ch, 4) + 6);
    ctx.fillStyle = "#000";
    ctx.font = "11px sans-serif";
    ctx.fillText(name, Math.min(p.x + 8, w - 90), p.y + ch + 14 > h ? p.y - 6 : p.y + ch + 14);
  }
  return g;
}

/** What the map shows at a canvas point: the cell's pfn range and the IOVAs in it. */
export function describeCell(v: LaneView, z: Zoom, g: MapGeometry, fx: number, fy: number): string {
  const col = Math.floor(fx * g.cols);
  const row = Math.floor(fy * g.rows);
  const c = row * g.cols + col;
  const lo = z.lo + c * g.per;
  const hi = lo + g.per;
  const iova = (pfn: number) => `0x${Math.floor(pfn * v.granule).toString(16)}`;
  const out = [`${iova(lo)}–${iova(hi)} (${g.per < 1.5 ? "1 page" : `${Math.round(g.per)} pages`})`];
  const s = v.spans;
  let n = 0;
  for (let i = 0; i < s.length && n < 4; i += SPAN_STRIDE) {
    if (s[i + 1] < lo || s[i] >= hi) continue;
    n++;
    const kind = s[i + 2];
    const owner = s[i + 3];
    const what =
      kind === SPAN_LIVE
        ? "live"
        : kind === SPAN_CPU
          ? `CPU ${owner}'s magazines`
          : kind === SPAN_DEPOT
            ? `depot of class ${owner}`
            : kind === SPAN_FQ
              ? `flush queue of CPU ${owner}`
              : "reserved";
    out.push(`${iova(s[i])}, ${s[i + 1] - s[i] + 1} pages: ${what}`);
  }
  if (n === 0) out.push("free");
  return out.join("\n");
}

const rowsOf = new WeakMap<LaneInfo, readonly number[]>();

/**
 * The CPUs the cache views draw: those whose magazines held a pfn of any
 * class at any sample, or every CPU where none did. A server's trace names
 * hundreds of CPUs of which a few do DMA: a row each would leave those few a
 * pixel high among rows that never change.
 */
export function cpuRows(info: LaneInfo): readonly number[] {
  const known = rowsOf.get(info);
  if (known !== undefined) return known;
  const s = info.series;
  const samples = s.pos.length;
  const per = info.classes * (info.cpus + 1);
  const rows: number[] = [];
  for (let cpu = 0; cpu < info.cpus; cpu++) {
    let held = false;
    for (let k = 0; k < samples && !held; k++)
      for (let c = 0; c < info.classes && !held; c++) held = s.heat[k * per + c * (info.cpus + 1) + cpu] > 0;
    if (held) rows.push(cpu);
  }
  const out = rows.length > 0 ? rows : Array.from({ length: info.cpus }, (_, cpu) => cpu);
  rowsOf.set(info, out);
  return out;
}

/** `rows` as the notes name them: runs of consecutive CPUs as ranges (`0–3, 8, 1023`). */
export function cpuRowsText(rows: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < rows.length; ) {
    let j = i;
    while (j + 1 < rows.length && rows[j + 1] === rows[j] + 1) j++;
    parts.push(j === i ? `${rows[i]}` : `${rows[i]}–${rows[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}

/** The loaded and previous magazine of class `c` of each CPU of `rows` as two bars, then the depot. */
export function drawMagazines(canvas: HTMLCanvasElement, v: LaneView, c: number, rows: readonly number[]): void {
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const slots = rows.length + 2;
  const bw = Math.min(24, w / slots);
  for (let i = 0; i < rows.length; i++) {
    const cpu = rows[i];
    const loaded = v.mags[(c * v.cpus + cpu) * 2];
    const prev = v.mags[(c * v.cpus + cpu) * 2 + 1];
    const x = i * bw;
    ctx.fillStyle = "#dde";
    ctx.fillRect(x + bw * 0.05, 0, bw * 0.9, h);
    ctx.fillStyle = "#1f77b4";
    const lh = (loaded / v.magSize) * (h / 2);
    ctx.fillRect(x + bw * 0.05, h / 2 - lh, bw * 0.9, lh);
    ctx.fillStyle = "#6baed6";
    const ph = (prev / v.magSize) * (h / 2);
    ctx.fillRect(x + bw * 0.05, h - ph, bw * 0.9, ph);
  }
  const depth = v.depots[c] ?? 0;
  ctx.fillStyle = "#9467bd";
  const dh = Math.min(h, depth * 6);
  ctx.fillRect(rows.length * bw + bw * 0.5, h - dh, bw * 1.4, dh);
}

/** Magma-like ramp, 0..1. */
function ramp(t: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, t));
  return [Math.round(20 + 235 * Math.sqrt(x)), Math.round(10 + 200 * x * x), Math.round(60 + 100 * (1 - x) * x * 2)];
}

/** The heat map of class `c`: a column per sample, a row per CPU of `cpuRows` (magazine fill), the last row the depot. */
export function drawHeat(canvas: HTMLCanvasElement, info: LaneInfo, c: number): void {
  const s = info.series;
  const samples = s.pos.length;
  const cpus = cpuRows(info);
  const rows = cpus.length + 1;
  const stride = info.cpus + 1;
  const per = info.classes * stride;
  let maxDepot = 1;
  for (let k = 0; k < samples; k++) maxDepot = Math.max(maxDepot, s.heat[k * per + c * stride + info.cpus]);
  scratch.width = samples;
  scratch.height = rows;
  const sctx = scratch.getContext("2d") as OffscreenCanvasRenderingContext2D;
  const img = sctx.createImageData(samples, rows);
  const px = img.data;
  for (let k = 0; k < samples; k++) {
    for (let r = 0; r < rows; r++) {
      const depot = r === cpus.length;
      const val = s.heat[k * per + c * stride + (depot ? info.cpus : cpus[r])];
      const rgb = depot ? ramp(val / maxDepot) : ramp(val / (2 * info.magSize));
      const o = (r * samples + k) * 4;
      px[o] = rgb[0];
      px[o + 1] = rgb[1];
      px[o + 2] = rgb[2];
      px[o + 3] = 255;
    }
  }
  sctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  // The depot row apart from the CPUs'.
  const y = (cpus.length / rows) * canvas.height;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, y - 1, canvas.width, 1);
}

/** Red ticks where the model placed an IOVA unlike the recorded one; the first one taller. */
export function drawMarks(canvas: HTMLCanvasElement, info: LaneInfo): void {
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#d62728";
  for (const m of info.mismatches) ctx.fillRect(Math.floor((m / info.calls) * w), h / 2, 1, h / 2);
  if (info.firstMismatch && info.firstMismatch.call >= 0) {
    ctx.fillRect(Math.floor((info.firstMismatch.call / info.calls) * w) - 1, 0, 3, h);
  }
}
