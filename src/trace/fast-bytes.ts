/**
 * The commonest event lines read straight from the trace's bytes: the
 * `iommu:map` / `iommu:unmap` text of `iommu-fast.ts` and the `dma_map_*` /
 * `dma_unmap_*` text of `dma-fast.ts` (6.12 to mainline), by the same steps
 * on bytes instead of characters, with the line's columns from
 * `line-bytes.ts`. The only strings made are the interned words an event
 * keeps (task, flags, device, direction, attrs), and only from ASCII bytes:
 * a line with any other byte there, or one these readings do not take, gives
 * null, and the reader reads it as text (`reader.ts`), which gives the same
 * event or says what is wrong with it.
 */

import type { DmaMapEvent, DmaUnmapEvent, IommuMapEvent, IommuUnmapEvent } from "./events.ts";
import { type ByteLineScan, heldAt, viewFor } from "./line-bytes.ts";

const SP = 32;
const EQ = 61;

/** The events read here, by the kind `fastKind` gives. */
export const FAST_NONE = 0;
const FAST_MAP = 1;
const FAST_UNMAP = 2;
const FAST_DMA_MAP = 3;
const FAST_DMA_UNMAP = 4;

/** ASCII text to match, as its bytes and as the big-endian 32-bit words of its whole groups of four. */
interface Pattern {
  bytes: Uint8Array;
  words: Uint32Array;
}

function ascii(s: string): Pattern {
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  const words = new Uint32Array(s.length >> 2);
  const v = new DataView(bytes.buffer);
  for (let k = 0; k < words.length; k++) words[k] = v.getUint32(4 * k);
  return { bytes, words };
}

/** The names of the events read here, and the kind of each. */
const NAMES: { pattern: Pattern; name: string; kind: number }[] = [
  ["map", FAST_MAP],
  ["unmap", FAST_UNMAP],
  ["dma_map_page", FAST_DMA_MAP],
  ["dma_map_phys", FAST_DMA_MAP],
  ["dma_map_resource", FAST_DMA_MAP],
  ["dma_unmap_page", FAST_DMA_UNMAP],
  ["dma_unmap_phys", FAST_DMA_UNMAP],
  ["dma_unmap_resource", FAST_DMA_UNMAP],
].map(([name, kind]) => ({ pattern: ascii(name as string), name: name as string, kind: kind as number }));

/**
 * The fixed text of a fixed-width line (`#` marks a byte it does not fix,
 * a hex digit here), as the 32-bit words that cover each run of fixed
 * bytes (the last word of a run may overlap the one before it): one
 * comparison per four bytes.
 */
interface Template {
  length: number;
  at: Int32Array;
  words: Uint32Array;
}

function template(t: string): Template {
  const bytes = ascii(t).bytes;
  const v = new DataView(bytes.buffer);
  const at: number[] = [];
  for (let i = 0; i < t.length; ) {
    if (t[i] === "#") {
      i++;
      continue;
    }
    let e = i;
    while (e < t.length && t[e] !== "#") e++;
    // Every run of these templates is at least four bytes.
    for (let k = i; k < e; k += 4) at.push(Math.min(k, e - 4));
    i = e;
  }
  return { length: t.length, at: Int32Array.from(at), words: Uint32Array.from(at, (k) => v.getUint32(k)) };
}

/** Whether `b` (viewed as `v`) holds `t`'s fixed bytes from `s`, all before `end`. */
function fits(v: DataView, s: number, end: number, t: Template): boolean {
  if (end - s < t.length) return false;
  const at = t.at;
  const words = t.words;
  for (let k = 0; k < at.length; k++) if (v.getUint32(s + at[k]) !== words[k]) return false;
  return true;
}

const HEX16 = "################";
const IOMMU_MAP = template(`IOMMU: iova=0x${HEX16} - 0x${HEX16} paddr=0x${HEX16} size=`);
const IOMMU_UNMAP = template(`IOMMU: iova=0x${HEX16} - 0x${HEX16} size=`);
const SIZE = ascii(" size=");
const UNMAPPED_SIZE = ascii(" unmapped_size=");
const DIR = ascii(" dir=");
const DMA_ADDR = ascii(" dma_addr=");
const PHYS_ADDR = ascii(" phys_addr=");
const ATTRS = ascii(" attrs=");

/** Whether `b` holds `p` from `at` (bytes past the array's end match nothing). */
function startsWith(b: Uint8Array, at: number, p: Pattern): boolean {
  const n = p.bytes.length;
  if (at < 0 || at + n > b.length) return false;
  const v = viewFor(b);
  const words = p.words;
  let i = 0;
  for (let k = 0; k < words.length; k++, i += 4) if (v.getUint32(at + i) !== words[k]) return false;
  const bytes = p.bytes;
  for (; i < n; i++) if (b[at + i] !== bytes[i]) return false;
  return true;
}

/** How many names `fastName` knows. */
export const FAST_EVENT_NAMES = NAMES.length;

/** The name of index `which` of `fastName`. */
export function fastEventName(which: number): string {
  return NAMES[which].name;
}

/** The index in NAMES of the event named `b[s, e)`, or -1. */
export function fastName(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  for (let k = 0; k < NAMES.length; k++) {
    const w = NAMES[k].pattern;
    if (w.bytes.length === n && startsWith(b, s, w)) return k;
  }
  return -1;
}

/** Slots of the interned words (direct-mapped: a collision makes a new string). */
const SLOTS = 1024;
const interned: (string | undefined)[] = new Array(SLOTS);

/**
 * `b[s, e)` as a string shared with earlier lines that had the same bytes,
 * or null when a byte is not ASCII (the text reader then decodes the line).
 */
export function asciiWord(b: Uint8Array, s: number, e: number): string | null {
  if (s === e) return "";
  let h = e - s;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c > 127) return null;
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = h & (SLOTS - 1);
  const hit = interned[slot];
  if (hit !== undefined && hit.length === e - s) {
    let same = true;
    for (let i = 0; i < e - s; i++) {
      if (hit.charCodeAt(i) !== b[s + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  let w = "";
  // Short words, one character at a time: cheaper than a decoder call for a few bytes.
  for (let i = s; i < e; i++) w += String.fromCharCode(b[i]);
  interned[slot] = w;
  return w;
}

/** Each byte's value as a lower-case hex digit, else -1 (one load per digit instead of three ranges). */
const HEX_LOWER = new Int8Array(256).fill(-1);
/** ... and as a hex digit of either case. */
const HEX_ANY = new Int8Array(256).fill(-1);
for (let c = 48; c <= 57; c++) HEX_LOWER[c] = HEX_ANY[c] = c - 48;
for (let c = 97; c <= 102; c++) HEX_LOWER[c] = HEX_ANY[c] = c - 87;
for (let c = 65; c <= 70; c++) HEX_ANY[c] = c - 55;

/**
 * The start of the last dma line read, `DEVICE dir=DIR dma_addr=`, with
 * its device and direction: nearly every line repeats it, and comparing
 * its bytes (four at a time) is cheaper than finding its words' ends and
 * hashing them.
 */
class DmaHead {
  readonly bytes = new Uint8Array(MAX_DMA_HEAD);
  readonly view = new DataView(this.bytes.buffer);
  /** 0: none kept. */
  length = 0;
  /** Where the device and the direction end, from the start. */
  devEnd = 0;
  dirEnd = 0;
  device = "";
  dir = "";
}

const MAX_DMA_HEAD = 128;
const lastDmaHead = new DmaHead();

/**
 * Whether `b` holds `h`'s bytes at `at`, before `end`. They were a line's
 * checked start: the same bytes give the same words and checks.
 */
function sameDmaHead(b: Uint8Array, at: number, end: number, h: DmaHead): boolean {
  const n = h.length;
  return n !== 0 && at + n < end && heldAt(b, at, h, n);
}

/** Keeps `b[s, addrAt)`, a dma line's start whose words were read as `device` and `dir`. */
function keepDmaHead(
  b: Uint8Array,
  s: number,
  addrAt: number,
  devEnd: number,
  dirEnd: number,
  device: string,
  dir: string,
): void {
  const h = lastDmaHead;
  h.length = 0;
  if (addrAt - s > MAX_DMA_HEAD) return;
  for (let i = s; i < addrAt; i++) h.bytes[i - s] = b[i];
  h.length = addrAt - s;
  h.devEnd = devEnd - s;
  h.dirEnd = dirEnd - s;
  h.device = device;
  h.dir = dir;
}

/** 16 hex digits at `at` below 2^52 (the first three zero), or -1 (`iommu-fast.ts`). */
function hex16At(b: Uint8Array, at: number): number {
  if (b[at] !== 48 || b[at + 1] !== 48 || b[at + 2] !== 48) return -1;
  let n = 0;
  for (let i = at + 3; i < at + 16; i++) {
    const d = HEX_LOWER[b[i]];
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

/** A decimal of 1 to 15 digits from `at` to `end`, or -1. */
function dec(b: Uint8Array, at: number, end: number): number {
  if (end <= at || end - at > 15) return -1;
  let n = 0;
  for (let i = at; i < end; i++) {
    const c = b[i];
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** Where the last `hexWordTo` or `decTo` word ended (at its space). */
let stop = 0;

/**
 * A hexadecimal word at `at` as `dma-fast.ts` reads it (optional 0x, below
 * 2^52) and its end, in one pass instead of finding the end first: the
 * value when the word is such a value and a space before `end` ends it
 * (`stop`), else -1. Any other word (one holding `=`, a byte no hex digit,
 * none, too many digits, or one that runs to `end`) makes the line null
 * either way.
 */
function hexWordTo(b: Uint8Array, at: number, end: number): number {
  let i = at;
  // A word that is "0x" alone is no value whether its "0x" is skipped or not.
  if (b[i] === 48 && (b[i + 1] | 32) === 120) i += 2;
  while (b[i] === 48 && i + 1 < end && HEX_ANY[b[i + 1]] >= 0) i++;
  const first = i;
  let n = 0;
  for (; i < end; i++) {
    const d = HEX_ANY[b[i]];
    if (d < 0) break;
    n = n * 16 + d;
  }
  if (i === first || i - first > 13 || i === end || b[i] !== SP) return -1;
  stop = i;
  return n;
}

/** A decimal word of 1 to 15 digits at `at` and its end, in one pass, as `hexWordTo`. */
function decTo(b: Uint8Array, at: number, end: number): number {
  let i = at;
  let n = 0;
  for (; i < end; i++) {
    const c = b[i];
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  if (i === at || i - at > 15 || i === end || b[i] !== SP) return -1;
  stop = i;
  return n;
}

/** The end of the word at `at` (the next space or `end`), or -1 when it holds `=`. */
function wordEnd(b: Uint8Array, at: number, end: number): number {
  let i = at;
  for (; i < end; i++) {
    const c = b[i];
    if (c === SP) return i;
    if (c === EQ) return -1;
  }
  return i;
}

/**
 * The event of the line whose columns `scan` holds (event `NAMES[which]`),
 * numbered `line`, read from `b`; null when the text reader must read it.
 */
export function fastBytesEvent(
  line: number,
  which: number,
  scan: ByteLineScan,
  b: Uint8Array,
  comm: string,
  flags: string,
): IommuMapEvent | IommuUnmapEvent | DmaMapEvent | DmaUnmapEvent | null {
  const kind = NAMES[which].kind;
  const name = NAMES[which].name;
  if (kind === FAST_MAP || kind === FAST_UNMAP)
    return iommuEvent(line, kind === FAST_MAP, name, scan, b, comm, flags, scan.bodyStart, scan.bodyEnd);
  return dmaEvent(line, kind === FAST_DMA_MAP, name, scan, b, comm, flags, scan.bodyStart, scan.bodyEnd);
}

function iommuEvent(
  line: number,
  map: boolean,
  name: string,
  scan: ByteLineScan,
  b: Uint8Array,
  comm: string,
  flags: string,
  s: number,
  end: number,
): IommuMapEvent | IommuUnmapEvent | null {
  // A line too short for its template has no decimal size after it, and is null whichever check says so first.
  if (end - s < 62 || !fits(viewFor(b), s, end, map ? IOMMU_MAP : IOMMU_UNMAP)) return null;
  const iova = hex16At(b, s + 14);
  const iovaEnd = hex16At(b, s + 35);
  if (iova < 0 || iovaEnd < 0) return null;
  if (map) {
    const paddr = hex16At(b, s + 60);
    if (paddr < 0) return null;
    const size = dec(b, s + 82, end);
    if (size < 0 || iovaEnd !== iova + size) return null;
    return {
      line,
      comm,
      pid: scan.pid,
      cpu: scan.cpu,
      timestampNs: scan.timestampNs,
      name,
      flags,
      type: "iommu_map",
      iova,
      paddr,
      size,
    };
  }
  // The size's end: a loop, as a call out to `indexOf` costs more than these few digits.
  let sp = s + 57;
  while (sp < end && b[sp] !== SP) sp++;
  if (sp === end || !startsWith(b, sp, UNMAPPED_SIZE)) return null;
  const size = dec(b, s + 57, sp);
  const unmappedSize = dec(b, sp + 15, end);
  if (size < 0 || unmappedSize < 0 || iovaEnd !== iova + size) return null;
  return {
    line,
    comm,
    pid: scan.pid,
    cpu: scan.cpu,
    timestampNs: scan.timestampNs,
    name,
    flags,
    type: "iommu_unmap",
    iova,
    size,
    unmappedSize,
  };
}

function dmaEvent(
  line: number,
  map: boolean,
  name: string,
  scan: ByteLineScan,
  b: Uint8Array,
  comm: string,
  flags: string,
  s: number,
  end: number,
): DmaMapEvent | DmaUnmapEvent | null {
  let device: string | null = null;
  let dir: string | null = null;
  let devEnd: number;
  let dirEnd: number;
  if (sameDmaHead(b, s, end, lastDmaHead)) {
    device = lastDmaHead.device;
    dir = lastDmaHead.dir;
    devEnd = s + lastDmaHead.devEnd;
    dirEnd = s + lastDmaHead.dirEnd;
  } else {
    devEnd = wordEnd(b, s, end);
    if (devEnd <= s || devEnd === end || !startsWith(b, devEnd, DIR)) return null;
    dirEnd = wordEnd(b, devEnd + 5, end);
    if (dirEnd < 0 || dirEnd === end || !startsWith(b, dirEnd, DMA_ADDR)) return null;
  }
  const dirAt = devEnd + 5;
  const addrAt = dirEnd + 10;
  const dmaAddr = hexWordTo(b, addrAt, end);
  if (dmaAddr < 0 || !startsWith(b, stop, SIZE)) return null;
  const size = decTo(b, stop + 6, end);
  if (size < 0) return null;
  let at = stop;
  let physAddr: number | undefined;
  if (map && startsWith(b, at, PHYS_ADDR)) {
    // A phys_addr that runs to the line's end leaves no attrs=: null either way.
    physAddr = hexWordTo(b, at + 11, end);
    if (physAddr < 0) return null;
    at = stop;
  }
  if (map && physAddr === undefined) return null;
  if (at === end || !startsWith(b, at, ATTRS)) return null;
  const attrsAt = at + 7;
  const attrsEnd = wordEnd(b, attrsAt, end);
  if (attrsEnd !== end) return null;
  const attrs = asciiWord(b, attrsAt, attrsEnd);
  if (attrs === null) return null;
  if (device === null || dir === null) {
    device = asciiWord(b, s, devEnd);
    dir = asciiWord(b, dirAt, dirEnd);
    if (device === null || dir === null) return null;
    keepDmaHead(b, s, addrAt, devEnd, dirEnd, device, dir);
  }
  if (map) {
    return {
      line,
      comm,
      pid: scan.pid,
      cpu: scan.cpu,
      timestampNs: scan.timestampNs,
      name,
      flags,
      type: "dma_map",
      device,
      dir,
      dmaAddr,
      size,
      physAddr,
      attrs,
    };
  }
  return {
    line,
    comm,
    pid: scan.pid,
    cpu: scan.cpu,
    timestampNs: scan.timestampNs,
    name,
    flags,
    type: "dma_unmap",
    device,
    dir,
    dmaAddr,
    size,
    attrs,
  };
}
