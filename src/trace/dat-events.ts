/**
 * The records of a trace-cmd `trace.dat` that the replay uses, decoded
 * straight from their fields into the events the text reader makes
 * (`events.ts`), with no text in between: `iommu:map` / `unmap`
 * (include/trace/events/iommu.h, 6.1 to mainline), `dma_map_page` /
 * `dma_unmap_page` and their classes, `dma_map_sg` / `dma_unmap_sg`
 * (include/trace/events/dma.h, 6.12 and later), `dma_alloc` / `dma_free`
 * and their `_pages` names, the timer events of the flush-queue timer
 * (include/trace/events/timer.h) and the workqueue's execute events of the
 * IOVA depot's work (include/trace/events/workqueue.h).
 *
 * Each decoder gives exactly the event the text route gives (`dat.ts`
 * prints the kernel's TP_printk text, `events.ts` reads it back). Where
 * that route would read a value otherwise or not at all (2^53 or more, a
 * negative count, a device or symbol name with a space or `=`, a field
 * outside its record), the decoder gives null and the record takes the
 * text route, whose event or message is then the one it always was, as do
 * the known events `dat.ts` prints no text for (`dma_alloc_sgt`, the
 * `dma_sync_*` ones).
 */

import type { EventHead, TraceEvent } from "./events.ts";
import { dmaAttrsText, dmaDirectionName } from "./unparsed.ts";

/** One field of an event's format file. */
export interface FieldFormat {
  offset: number;
  size: number;
  signed: boolean;
  /** `__data_loc` strings and dynamic arrays: the field holds (length << 16 | offset). */
  dataLoc: boolean;
  /** Array fields (`char comm[16]`, `__u8 saddr[4]`). */
  array: boolean;
}

/** Where a record's bytes are: `b[start, start + length)`, read through `dv`. */
export interface RecordBytes {
  b: Uint8Array;
  dv: DataView;
  start: number;
  length: number;
  le: boolean;
}

/** `%ps`: the name of the symbol at the address `hi:lo` (its two 32-bit halves). */
export interface SymbolNames {
  nameOf(hi: number, lo: number): string;
}

/** Decodes one record into its event (the head is the record's columns), or null: the text route then. */
export type DirectDecoder = (r: RecordBytes, h: EventHead, syms: SymbolNames) => TraceEvent | null;

const TWO32 = 2 ** 32;
/** The high half of 2^53: values with a high half below it are exact as numbers. */
const HI_SAFE = 2 ** 21;

/** A field's value as `dat.ts`'s `RecordView.num` gives it (NaN for a size it does not read). */
function num(r: RecordBytes, f: FieldFormat): number {
  const at = r.start + f.offset;
  const dv = r.dv;
  switch (f.size) {
    case 1:
      return f.signed ? dv.getInt8(at) : dv.getUint8(at);
    case 2:
      return f.signed ? dv.getInt16(at, r.le) : dv.getUint16(at, r.le);
    case 4:
      return f.signed ? dv.getInt32(at, r.le) : dv.getUint32(at, r.le);
    case 8: {
      // One rounding of the exact value, as Number(bigint) does.
      const lo = dv.getUint32(r.le ? at : at + 4, r.le);
      const hi = f.signed ? dv.getInt32(r.le ? at + 4 : at, r.le) : dv.getUint32(r.le ? at + 4 : at, r.le);
      return hi * TWO32 + lo;
    }
    default:
      return Number.NaN;
  }
}

/** A field read unsigned (as `RecordView.big` / `hex` read it), exact, or -1 at 2^53 or more or a size not read. */
function unsigned(r: RecordBytes, f: FieldFormat): number {
  const at = r.start + f.offset;
  const dv = r.dv;
  switch (f.size) {
    case 1:
      return dv.getUint8(at);
    case 2:
      return dv.getUint16(at, r.le);
    case 4:
      return dv.getUint32(at, r.le);
    case 8: {
      const hi = dv.getUint32(r.le ? at + 4 : at, r.le);
      return hi < HI_SAFE ? hi * TWO32 + dv.getUint32(r.le ? at : at + 4, r.le) : -1;
    }
    default:
      return -1;
  }
}

/** The high and low halves of an unsigned field (a pointer), into `out`; false for a size not read. */
function halves(r: RecordBytes, f: FieldFormat, out: Uint32Array): boolean {
  const at = r.start + f.offset;
  const dv = r.dv;
  switch (f.size) {
    case 1:
      out[0] = 0;
      out[1] = dv.getUint8(at);
      return true;
    case 2:
      out[0] = 0;
      out[1] = dv.getUint16(at, r.le);
      return true;
    case 4:
      out[0] = 0;
      out[1] = dv.getUint32(at, r.le);
      return true;
    case 8:
      out[0] = dv.getUint32(r.le ? at + 4 : at, r.le);
      out[1] = dv.getUint32(r.le ? at : at + 4, r.le);
      return true;
    default:
      return false;
  }
}

/** `0x` and the hexadecimal digits of `hi:lo`, as `%p` prints a pointer in trace-cmd's report. */
export function pointerText(hi: number, lo: number): string {
  return hi === 0 ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(8, "0")}`;
}

const HALVES = new Uint32Array(2);

/** `%p` of a pointer field, or null for a size not read. */
function pointer(r: RecordBytes, f: FieldFormat): string | null {
  return halves(r, f, HALVES) ? pointerText(HALVES[0], HALVES[1]) : null;
}

/** `%ps` of a function field, or null where the text reader would read the name otherwise (see `plainWord`). */
function symbol(r: RecordBytes, f: FieldFormat, syms: SymbolNames): string | null {
  if (!halves(r, f, HALVES)) return null;
  const name = syms.nameOf(HALVES[0], HALVES[1]);
  return plainWord(name) ? name : null;
}

/**
 * Whether a printed name reads back as itself among the other fields: one
 * word of printable ASCII without `=` (a field's start), `[` or `]` (the
 * bracketed `[timeout=]` and `[TRUNCATED]`).
 */
function plainWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c >= 127 || c === 61 || c === 91 || c === 93) return false;
  }
  return true;
}

/** A `__data_loc` field's bytes as [start, end) in `r.b`, into `out`; false when they lie outside the record. */
function dynamicAt(r: RecordBytes, f: FieldFormat, out: Uint32Array): boolean {
  const loc = r.dv.getUint32(r.start + f.offset, r.le);
  const off = loc & 0xffff;
  const len = loc >>> 16;
  if (off + len > r.length) return false;
  out[0] = r.start + off;
  out[1] = r.start + off + len;
  return true;
}

const SPAN = new Uint32Array(2);

/** Slots of the device-name cache (direct-mapped: a collision makes a new string). */
const SLOTS = 64;
const devices: (string | undefined)[] = new Array(SLOTS);

/** A `__string` device name (up to its NUL), or null where it would not read back as itself. */
function deviceName(r: RecordBytes, f: FieldFormat): string | null {
  if (!dynamicAt(r, f, SPAN)) return null;
  const b = r.b;
  const s = SPAN[0];
  let e = s;
  while (e < SPAN[1] && b[e] !== 0) e++;
  if (e === s) return null;
  let h = e - s;
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c <= 32 || c >= 127 || c === 61 || c === 91 || c === 93) return null;
    h = (Math.imul(h, 31) + c) | 0;
  }
  const slot = h & (SLOTS - 1);
  const hit = devices[slot];
  if (hit !== undefined && hit.length === e - s) {
    let same = true;
    for (let i = 0; i < hit.length; i++) {
      if (hit.charCodeAt(i) !== b[s + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const name = String.fromCharCode(...b.subarray(s, e));
  devices[slot] = name;
  return name;
}

/** A dynamic array of `width`-byte unsigned integers (whole items only), or null where one is 2^53 or more. */
function dynamicArray(r: RecordBytes, f: FieldFormat, width: 4 | 8): number[] | null {
  if (!dynamicAt(r, f, SPAN)) return null;
  const s = SPAN[0];
  const e = SPAN[1];
  const dv = r.dv;
  const out: number[] = [];
  for (let i = s; i + width <= e; i += width) {
    if (width === 4) {
      out.push(dv.getUint32(i, r.le));
      continue;
    }
    const hi = dv.getUint32(r.le ? i + 4 : i, r.le);
    if (hi >= HI_SAFE) return null;
    out.push(hi * TWO32 + dv.getUint32(r.le ? i : i + 4, r.le));
  }
  return out;
}

/** Whether every fixed field the printed text reads lies inside the record (the text route says what is wrong otherwise). */
function inside(r: RecordBytes, end: number): boolean {
  return end <= r.length;
}

/** 2^52: the text reader's one-pass reading of `0x%016llx` takes values below it. */
const BELOW_2_52 = 2 ** 52;
/** 10^15: its decimal reading takes up to 15 digits. */
const BELOW_1E15 = 1e15;

type Fields = Map<string, FieldFormat>;

/**
 * The fields named, or null when the format lacks one or has one of a size
 * the text route reads otherwise (that route then reports it or reads it as
 * it always did): numbers of 1, 2, 4 or 8 bytes, and the `__data_loc`
 * fields (named with a leading `@`) of 4.
 */
function pick(fields: Fields, names: string[]): { fs: FieldFormat[]; end: number } | null {
  const fs: FieldFormat[] = [];
  let end = 0;
  for (const n of names) {
    const dynamic = n.startsWith("@");
    const f = fields.get(dynamic ? n.slice(1) : n);
    if (f === undefined) return null;
    if (dynamic ? f.size !== 4 : f.size !== 1 && f.size !== 2 && f.size !== 4 && f.size !== 8) return null;
    fs.push(f);
    end = Math.max(end, f.offset + f.size);
  }
  return { fs, end };
}

function iommuMap(fields: Fields): DirectDecoder | null {
  const p = pick(fields, ["iova", "size", "paddr"]);
  if (p === null) return null;
  const [fIova, fSize, fPaddr] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const iova = unsigned(r, fIova);
    const size = unsigned(r, fSize);
    const paddr = unsigned(r, fPaddr);
    if (iova < 0 || size < 0 || paddr < 0 || iova + size >= BELOW_2_52 || paddr >= BELOW_2_52 || size >= BELOW_1E15)
      return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "map",
      flags: h.flags,
      type: "iommu_map",
      iova,
      paddr,
      size,
    };
  };
}

function iommuUnmap(fields: Fields): DirectDecoder | null {
  const p = pick(fields, ["iova", "size", "unmapped_size"]);
  if (p === null) return null;
  const [fIova, fSize, fUnmapped] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const iova = unsigned(r, fIova);
    const size = unsigned(r, fSize);
    const unmappedSize = unsigned(r, fUnmapped);
    if (iova < 0 || size < 0 || unmappedSize < 0 || iova + size >= BELOW_2_52) return null;
    if (size >= BELOW_1E15 || unmappedSize >= BELOW_1E15) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "unmap",
      flags: h.flags,
      type: "iommu_unmap",
      iova,
      size,
      unmappedSize,
    };
  };
}

/** A count or size printed with `%zu`/`%u` and read back as a decimal: exact and not negative, or -1. */
function count(r: RecordBytes, f: FieldFormat): number {
  const n = num(r, f);
  return n >= 0 && n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

function dmaMap(fields: Fields, name: string): DirectDecoder | null {
  const p = pick(fields, ["@device", "dir", "dma_addr", "size", "phys_addr", "attrs"]);
  if (p === null) return null;
  const [fDev, fDir, fAddr, fSize, fPhys, fAttrs] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const device = deviceName(r, fDev);
    const dmaAddr = unsigned(r, fAddr);
    const size = count(r, fSize);
    const physAddr = unsigned(r, fPhys);
    if (device === null || dmaAddr < 0 || size < 0 || physAddr < 0) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name,
      flags: h.flags,
      type: "dma_map",
      device,
      dir: dmaDirectionName(num(r, fDir)),
      dmaAddr,
      size,
      physAddr,
      attrs: dmaAttrsText(num(r, fAttrs)),
    };
  };
}

function dmaUnmap(fields: Fields, name: string): DirectDecoder | null {
  const p = pick(fields, ["@device", "dir", "addr", "size", "attrs"]);
  if (p === null) return null;
  const [fDev, fDir, fAddr, fSize, fAttrs] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const device = deviceName(r, fDev);
    const dmaAddr = unsigned(r, fAddr);
    const size = count(r, fSize);
    if (device === null || dmaAddr < 0 || size < 0) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name,
      flags: h.flags,
      type: "dma_unmap",
      device,
      dir: dmaDirectionName(num(r, fDir)),
      dmaAddr,
      size,
      attrs: dmaAttrsText(num(r, fAttrs)),
    };
  };
}

function dmaMapSg(fields: Fields): DirectDecoder | null {
  const counted = fields.has("full_nents");
  const p = pick(fields, [
    "@device",
    "dir",
    "attrs",
    "@phys_addrs",
    "@dma_addrs",
    "@lengths",
    ...(counted ? ["full_nents", "full_ents", "truncated"] : []),
  ]);
  if (p === null) return null;
  const [fDev, fDir, fAttrs, fPhys, fDma, fLengths, fNents, fEnts, fTruncated] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const device = deviceName(r, fDev);
    const physAddrs = dynamicArray(r, fPhys, 8);
    const dmaAddrs = dynamicArray(r, fDma, 8);
    const sizes = dynamicArray(r, fLengths, 4);
    if (device === null || physAddrs === null || dmaAddrs === null || sizes === null) return null;
    // Unequal lists are a malformed line of the text route.
    if (sizes.length !== dmaAddrs.length) return null;
    let nents = physAddrs.length;
    let ents = dmaAddrs.length;
    let truncated = false;
    if (counted) {
      nents = count(r, fNents);
      ents = count(r, fEnts);
      if (nents < 0 || ents < 0) return null;
      truncated = num(r, fTruncated) !== 0;
    }
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "dma_map_sg",
      flags: h.flags,
      type: "dma_map_sg",
      device,
      dir: dmaDirectionName(num(r, fDir)),
      nents,
      ents,
      truncated,
      dmaAddrs,
      sizes,
      physAddrs,
      attrs: dmaAttrsText(num(r, fAttrs)),
    };
  };
}

function dmaUnmapSg(fields: Fields): DirectDecoder | null {
  const p = pick(fields, ["@device", "dir", "attrs", "@addrs"]);
  if (p === null) return null;
  const [fDev, fDir, fAttrs, fAddrs] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const device = deviceName(r, fDev);
    const physAddrs = dynamicArray(r, fAddrs, 8);
    if (device === null || physAddrs === null) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "dma_unmap_sg",
      flags: h.flags,
      type: "dma_unmap_sg",
      device,
      dir: dmaDirectionName(num(r, fDir)),
      physAddrs,
      attrs: dmaAttrsText(num(r, fAttrs)),
    };
  };
}

function dmaAlloc(fields: Fields, name: string): DirectDecoder | null {
  const p = pick(fields, ["@device", "dir", "dma_addr", "size", "virt_addr", "attrs"]);
  if (p === null) return null;
  const [fDev, fDir, fAddr, fSize, , fAttrs] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const device = deviceName(r, fDev);
    const dmaAddr = unsigned(r, fAddr);
    const size = count(r, fSize);
    if (device === null || dmaAddr < 0 || size < 0) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name,
      flags: h.flags,
      type: "dma_alloc",
      device,
      dir: dmaDirectionName(num(r, fDir)),
      dmaAddr,
      size,
      // The text `dat.ts` prints has `flags=` empty (the gfp names are not printed).
      gfp: "",
      attrs: dmaAttrsText(num(r, fAttrs)),
    };
  };
}

function dmaFree(fields: Fields, name: string): DirectDecoder | null {
  const p = pick(fields, ["@device", "dir", "dma_addr", "size", "virt_addr", "attrs"]);
  if (p === null) return null;
  const [fDev, fDir, fAddr, fSize, fVirt] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const device = deviceName(r, fDev);
    const dmaAddr = unsigned(r, fAddr);
    const size = count(r, fSize);
    if (device === null || dmaAddr < 0 || size < 0 || !halves(r, fVirt, HALVES)) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name,
      flags: h.flags,
      type: "dma_free",
      device,
      dir: dmaDirectionName(num(r, fDir)),
      dmaAddr,
      size,
      nullCpuAddr: HALVES[0] === 0 && HALVES[1] === 0,
    };
  };
}

/** include/linux/timer.h: TIMER_CPUMASK (the `cpu=` timer_start prints). */
const TIMER_CPUMASK = 0x0003ffff;

function timerStart(fields: Fields): DirectDecoder | null {
  const p = pick(fields, [
    "timer",
    "function",
    "expires",
    "now",
    "flags",
    ...(fields.has("bucket_expiry") ? ["bucket_expiry"] : []),
  ]);
  if (p === null) return null;
  const [fTimer, fFunction, fExpires, fNow, fFlags] = p.fs;
  const end = p.end;
  return (r, h, syms) => {
    if (!inside(r, end)) return null;
    const timer = pointer(r, fTimer);
    const fn = symbol(r, fFunction, syms);
    const expires = count(r, fExpires);
    const now = count(r, fNow);
    const flags = num(r, fFlags);
    if (timer === null || fn === null || expires < 0 || now < 0) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "timer_start",
      flags: h.flags,
      type: "timer_start",
      timer,
      function: fn,
      expires,
      timeout: expires - now,
      baseCpu: flags & TIMER_CPUMASK,
    };
  };
}

function timerExpireEntry(fields: Fields): DirectDecoder | null {
  const p = pick(fields, ["timer", "function", "now", "baseclk"]);
  if (p === null) return null;
  const [fTimer, fFunction, fNow] = p.fs;
  const end = p.end;
  return (r, h, syms) => {
    if (!inside(r, end)) return null;
    const timer = pointer(r, fTimer);
    const fn = symbol(r, fFunction, syms);
    const now = count(r, fNow);
    if (timer === null || fn === null || now < 0) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "timer_expire_entry",
      flags: h.flags,
      type: "timer_expire_entry",
      timer,
      function: fn,
      now,
    };
  };
}

function timerExpireExit(fields: Fields): DirectDecoder | null {
  const p = pick(fields, ["timer"]);
  if (p === null) return null;
  const [fTimer] = p.fs;
  const end = p.end;
  return (r, h) => {
    if (!inside(r, end)) return null;
    const timer = pointer(r, fTimer);
    if (timer === null) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name: "timer_expire_exit",
      flags: h.flags,
      type: "timer_expire_exit",
      timer,
    };
  };
}

function workqueueExecute(fields: Fields, phase: "start" | "end"): DirectDecoder | null {
  const p = pick(fields, ["work", "function"]);
  if (p === null) return null;
  const [fWork, fFunction] = p.fs;
  const end = p.end;
  const name = `workqueue_execute_${phase}`;
  return (r, h, syms) => {
    if (!inside(r, end)) return null;
    const work = pointer(r, fWork);
    const fn = symbol(r, fFunction, syms);
    if (work === null || fn === null) return null;
    return {
      line: h.line,
      comm: h.comm,
      pid: h.pid,
      cpu: h.cpu,
      timestampNs: h.timestampNs,
      name,
      flags: h.flags,
      type: "workqueue_execute",
      phase,
      work,
      function: fn,
    };
  };
}

/**
 * The direct decoder of an event's format, or null where its records take
 * the text route (another event, or a format that lacks a field the text
 * reads: that route reports it as it always did).
 */
export function directDecoder(system: string, name: string, fields: Fields): DirectDecoder | null {
  switch (system) {
    case "iommu":
      if (name === "map") return iommuMap(fields);
      if (name === "unmap") return iommuUnmap(fields);
      return null;
    case "dma":
      switch (name) {
        case "dma_map_page":
        case "dma_map_resource":
        case "dma_map_phys":
          return dmaMap(fields, name);
        case "dma_unmap_page":
        case "dma_unmap_resource":
        case "dma_unmap_phys":
          return dmaUnmap(fields, name);
        case "dma_map_sg":
          return dmaMapSg(fields);
        case "dma_unmap_sg":
          return dmaUnmapSg(fields);
        case "dma_alloc":
        case "dma_alloc_pages":
          return dmaAlloc(fields, name);
        case "dma_free":
        case "dma_free_pages":
          return dmaFree(fields, name);
      }
      return null;
    case "timer":
      if (name === "timer_start") return timerStart(fields);
      if (name === "timer_expire_entry") return timerExpireEntry(fields);
      if (name === "timer_expire_exit") return timerExpireExit(fields);
      return null;
    case "workqueue":
      if (name === "workqueue_execute_start") return workqueueExecute(fields, "start");
      if (name === "workqueue_execute_end") return workqueueExecute(fields, "end");
      return null;
  }
  return null;
}
