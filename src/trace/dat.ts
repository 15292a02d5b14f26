/**
 * trace-cmd's binary `trace.dat` (file format version 7, trace-cmd.dat.v7(5),
 * as trace-cmd 3.1 writes it; version 6 files are told apart and refused),
 * decoded into the same event records as its text (`trace-cmd report -l`):
 *
 * - the file: magic `17 08 44 "tracing"`, version, endianness, long size,
 *   page size, compression name and version, then sections (id, flags,
 *   description, size) found through the options sections: HEADER_INFO (the
 *   ring-buffer page header), EVENT_FORMATS (each event's `format` file:
 *   field offsets and sizes), KALLSYMS (function names of `%ps`), CMDLINES
 *   (pid -> task name) and one BUFFER option per trace instance with each
 *   CPU's data offset and size; sections flagged compressed hold one block,
 *   CPU data a list of chunks (the `decompress` function the caller gives
 *   handles the named algorithm, so this file has no Node API);
 * - the CPU data: the kernel ring buffer's pages (kernel/trace/ring_buffer.c
 *   as libtraceevent's kbuffer reads them): a page header (timestamp,
 *   commit), then events of a 32-bit header (type_len:5, time_delta:27):
 *   data of type_len * 4 bytes (0: the length follows), padding (29), time
 *   extend (30) and absolute time stamp (31);
 * - records of all CPUs merged by timestamp (ties to the lower CPU), as
 *   `trace-cmd report` shows them.
 *
 * `readInto` (the replay's reading) decodes the events the replay uses
 * (iommu map/unmap, dma map/unmap of pages and scatterlists, the timer
 * events) straight from their fields into the reader's events
 * (`dat-events.ts`), with no text in between. Any other record, and one of
 * those whose text the reader would read otherwise, gives the common columns
 * (pid, CPU, the latency flags as libtraceevent prints them, nanoseconds)
 * and, for the events iovalab decodes or takes facts from (the rest of
 * dma:*, the depot work, the IOMMU groups), the event text the kernel's
 * TP_printk prints, built from the record's fields by name; other events
 * carry only their name. The text reader then takes them exactly as text
 * lines (`TraceReader.record`). `records()` gives every record that way:
 * the route the direct decoding must agree with.
 *
 * Memory: one decompressed chunk per CPU (the file is read through `read`,
 * a random-access view, never whole), and the kallsyms section's bytes,
 * looked up only for the addresses `%ps` prints.
 */

import { hex16 } from "../stdx/hex.ts";
import { NR_CPUS_MAX } from "../stdx/nr-cpus.ts";
import {
  type DirectDecoder,
  directDecoder,
  type FieldFormat,
  pointerText,
  type RecordBytes,
  type SymbolNames,
} from "./dat-events.ts";
import type { EventHead, TraceEvent } from "./events.ts";
import { dmaAttrsText, dmaDirectionName } from "./unparsed.ts";

/** A random-access view of the file. */
export interface DatSource {
  size: number;
  /** `length` bytes from `offset` (fewer only at the end of the file). */
  read(offset: number, length: number): Uint8Array;
}

/** A file already in memory (tests, a browser's File read whole). */
export function bytesSource(bytes: Uint8Array): DatSource {
  return {
    size: bytes.length,
    read: (offset, length) => bytes.subarray(Math.min(offset, bytes.length), Math.min(offset + length, bytes.length)),
  };
}

/** Runs `f`, turning a read past a block's end (a DataView RangeError on a corrupt file) into a DatError. */
function guarded<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError)
      throw new DatError(`expected data inside its block, found a read past its end (${e.message})`);
    throw e;
  }
}

/** Decompresses one block of the named algorithm (`zstd`, `zlib`) to `size` bytes. */
export type Decompress = (algorithm: string, data: Uint8Array, size: number) => Uint8Array;

/** Why a trace.dat could not be read; the caller prefixes the file name. */
export class DatError extends Error {
  override name = "DatError";
}

/** One trace.dat record as text columns (what a `trace-cmd report -l` line shows). */
export interface DatRecord {
  comm: string;
  pid: number;
  cpu: number;
  flags: string;
  /** Nanoseconds; on a trace past 2^52 ns, rounded to the microsecond as `trace-cmd report` prints it (`TraceDat.relativeNs`). */
  timestampNs: number;
  system: string;
  event: string;
  /** The event's printed text, or "" for events not formatted here. */
  body: string;
}

const MAGIC = [0x17, 0x08, 0x44, 0x74, 0x72, 0x61, 0x63, 0x69, 0x6e, 0x67]; // 17 08 44 "tracing"

/**
 * The release word of a UNAME option, which `trace-cmd record` writes as
 * `SYSNAME NODENAME RELEASE MACHINE` from `uname()`; null where it holds none.
 */
export function unameRelease(uname: string): string | null {
  // The node name may hold spaces (sethostname takes any bytes); the release and machine never do.
  const words = uname.trim().split(/\s+/);
  if (words.length < 4) return null;
  const release = words[words.length - 2];
  return /^\d+\.\d+/.test(release) ? release : null;
}

/** Whether the bytes start like a trace-cmd data file. */
export function isTraceDat(head: Uint8Array): boolean {
  if (head.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (head[i] !== MAGIC[i]) return false;
  return true;
}

const SEC_COMPRESSED = 1;
const OPT_DONE = 0;
const OPT_BUFFER = 3;
const OPT_HEADER_INFO = 16;
const OPT_EVENT_FORMATS = 18;
const OPT_KALLSYMS = 19;
const OPT_CMDLINES = 21;

/** A byte cursor over a decompressed or read block. */
class Cursor {
  readonly b: Uint8Array;
  readonly dv: DataView;
  readonly le: boolean;
  pos: number;
  constructor(b: Uint8Array, le: boolean, pos = 0) {
    this.b = b;
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.le = le;
    this.pos = pos;
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.b.length) throw new DatError(`expected ${what}, found the end of the data`);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.pos, this.le);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, this.le);
    this.pos += 4;
    return v;
  }
  u64(what: string): number {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, this.le);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DatError(`expected ${what} below 2^53, found ${v}`);
    return Number(v);
  }
  str(what: string): string {
    const end = this.b.indexOf(0, this.pos);
    if (end < 0) throw new DatError(`expected ${what} ending in a NUL byte, found the end of the data`);
    const s = latin1(this.b, this.pos, end);
    this.pos = end + 1;
    return s;
  }
  text(n: number, what: string): string {
    this.need(n, what);
    const s = latin1(this.b, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

function latin1(b: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i += 8192) s += String.fromCharCode(...b.subarray(i, Math.min(to, i + 8192)));
  return s;
}

/** One event's format file, as far as decoding needs it. */
interface EventFormat {
  id: number;
  system: string;
  name: string;
  fields: Map<string, FieldFormat>;
  formatter: Formatter | null;
  /** Decodes the event straight from its fields (`dat-events.ts`), where the replay uses it. */
  direct: DirectDecoder | null;
}

const FIELD = /^\s*field:(.*?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;

function parseFormat(system: string, text: string): EventFormat | null {
  const name = /^name: (\S+)$/m.exec(text);
  const id = /^ID: (\d+)$/m.exec(text);
  if (name === null || id === null) return null;
  const fields = new Map<string, FieldFormat>();
  for (const line of text.split("\n")) {
    const m = FIELD.exec(line);
    if (m === null) continue;
    const decl = m[1].trim();
    const array = decl.endsWith("]");
    const base = array ? decl.slice(0, decl.lastIndexOf("[")) : decl;
    const fieldName = base.slice(base.search(/[A-Za-z0-9_]+$/));
    fields.set(fieldName, {
      offset: Number(m[2]),
      size: Number(m[3]),
      signed: m[4] === "1",
      dataLoc: decl.startsWith("__data_loc") || decl.startsWith("__rel_loc"),
      array,
    });
  }
  return { id: Number(id[1]), system, name: name[1], fields, formatter: null, direct: null };
}

/** Reads one record's fields by name. */
class RecordView {
  dv!: DataView;
  b!: Uint8Array;
  start = 0;
  length = 0;
  le = true;
  fmt!: EventFormat;

  /** The event text of the record at `start` (`length` bytes) as `fmt`'s formatter prints it, the view pointed at it. */
  print(b: Uint8Array, dv: DataView, start: number, length: number, fmt: EventFormat, kallsyms: Kallsyms): string {
    this.b = b;
    this.dv = dv;
    this.start = start;
    this.length = length;
    this.fmt = fmt;
    return (fmt.formatter as Formatter)(this, kallsyms);
  }

  private field(name: string): FieldFormat {
    const f = this.fmt.fields.get(name);
    if (f === undefined) throw new DatError(`expected a field "${name}" in the format of ${this.fmt.name}`);
    if (f.offset + f.size > this.length) throw new DatError(`expected ${this.fmt.name}'s "${name}" inside its record`);
    return f;
  }

  has(name: string): boolean {
    return this.fmt.fields.has(name);
  }

  /** An unsigned or signed integer field, exact below 2^53 (larger values lose low bits; pointers are shown as hex via `hex`). */
  num(name: string): number {
    const f = this.field(name);
    return this.intAt(this.start + f.offset, f.size, f.signed);
  }

  /** A field as an exact unsigned hexadecimal string. */
  hex(name: string): string {
    const f = this.field(name);
    return this.bigAt(this.start + f.offset, f.size).toString(16);
  }

  big(name: string): bigint {
    const f = this.field(name);
    return this.bigAt(this.start + f.offset, f.size);
  }

  private bigAt(at: number, size: number): bigint {
    if (size === 8) return this.dv.getBigUint64(at, this.le);
    return BigInt(this.intAt(at, size, false));
  }

  intAt(at: number, size: number, signed: boolean): number {
    switch (size) {
      case 1:
        return signed ? this.dv.getInt8(at) : this.dv.getUint8(at);
      case 2:
        return signed ? this.dv.getInt16(at, this.le) : this.dv.getUint16(at, this.le);
      case 4:
        return signed ? this.dv.getInt32(at, this.le) : this.dv.getUint32(at, this.le);
      case 8:
        return Number(signed ? this.dv.getBigInt64(at, this.le) : this.dv.getBigUint64(at, this.le));
      default:
        throw new DatError(`expected a field of 1, 2, 4 or 8 bytes, found ${size}`);
    }
  }

  /** A `__data_loc` field: its bytes. */
  dynamic(name: string): Uint8Array {
    const f = this.field(name);
    const loc = this.dv.getUint32(this.start + f.offset, this.le);
    const off = loc & 0xffff;
    const len = loc >>> 16;
    if (off + len > this.length) throw new DatError(`expected ${this.fmt.name}'s "${name}" inside its record`);
    return this.b.subarray(this.start + off, this.start + off + len);
  }

  /** A `__string` field. */
  string(name: string): string {
    const d = this.dynamic(name);
    const nul = d.indexOf(0);
    return latin1(d, 0, nul < 0 ? d.length : nul);
  }

  /** A dynamic array of `width`-byte unsigned integers. */
  array(name: string, width: number): number[] {
    const d = this.dynamic(name);
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const out: number[] = [];
    for (let i = 0; i + width <= d.length; i += width) {
      out.push(width === 8 ? Number(dv.getBigUint64(i, this.le)) : dv.getUint32(i, this.le));
    }
    return out;
  }
}

/** Prints an event's text from its record, as the kernel's TP_printk does. */
type Formatter = (r: RecordView, syms: Kallsyms) => string;

function arrayText(xs: number[]): string {
  return `{${xs.map((x) => `0x${x.toString(16)}`).join(",")}}`;
}

/** `%p` as trace-cmd prints it: the raw pointer in hex with 0x. */
function pointer(r: RecordView, name: string): string {
  return `0x${r.hex(name)}`;
}

/** include/linux/timer.h: TIMER_CPUMASK, TIMER_ARRAYSHIFT, and the flag bits timer_start prints. */
const TIMER_CPUMASK = 0x0003ffff;
const TIMER_ARRAYSHIFT = 22;
const TIMER_FLAGS: [number, string][] = [
  [0x00040000, "M"],
  [0x00080000, "D"],
  [0x00100000, "P"],
  [0x00200000, "I"],
];

function timerFlags(flags: number): string {
  return TIMER_FLAGS.filter(([bit]) => (flags & bit) !== 0)
    .map(([, n]) => n)
    .join("|");
}

const FORMATTERS: Record<string, Formatter> = {
  // include/trace/events/iommu.h
  map: (r) => {
    const iova = r.big("iova");
    const size = r.big("size");
    return `IOMMU: iova=${hex16(iova)} - ${hex16(iova + size)} paddr=${hex16(r.big("paddr"))} size=${size}`;
  },
  unmap: (r) => {
    const iova = r.big("iova");
    const size = r.big("size");
    return `IOMMU: iova=${hex16(iova)} - ${hex16(iova + size)} size=${size} unmapped_size=${r.big("unmapped_size")}`;
  },
  add_device_to_group: (r) => `IOMMU: groupID=${r.num("gid")} device=${r.string("device")}`,
  attach_device_to_domain: (r) => `IOMMU: device=${r.string("device")}`,
  // include/trace/events/timer.h
  timer_start: (r, syms) => {
    const flags = r.num("flags");
    const expires = r.num("expires");
    const bucket = r.has("bucket_expiry") ? ` bucket_expiry=${r.num("bucket_expiry")}` : "";
    return (
      `timer=${pointer(r, "timer")} function=${syms.name(r.big("function"))} expires=${expires} ` +
      `[timeout=${expires - r.num("now")}]${bucket} cpu=${flags & TIMER_CPUMASK} idx=${flags >>> TIMER_ARRAYSHIFT} ` +
      `flags=${timerFlags(flags)}`
    );
  },
  timer_expire_entry: (r, syms) =>
    `timer=${pointer(r, "timer")} function=${syms.name(r.big("function"))} now=${r.num("now")} baseclk=${r.num("baseclk")}`,
  timer_expire_exit: (r) => `timer=${pointer(r, "timer")}`,
  // include/trace/events/workqueue.h
  workqueue_execute_start: (r, syms) => `work struct ${pointer(r, "work")}: function ${syms.name(r.big("function"))}`,
  workqueue_execute_end: (r, syms) => `work struct ${pointer(r, "work")}: function ${syms.name(r.big("function"))}`,
};

// include/trace/events/dma.h (6.12 and later; fields by name, so older and newer layouts both print).
const dmaHead = (r: RecordView) => `${r.string("device")} dir=${dmaDirectionName(r.num("dir"))}`;
const dmaAttrs = (r: RecordView) => dmaAttrsText(r.num("attrs"));
for (const n of ["dma_map_page", "dma_map_resource", "dma_map_phys"]) {
  FORMATTERS[n] = (r) =>
    `${dmaHead(r)} dma_addr=${r.hex("dma_addr")} size=${r.num("size")} phys_addr=${r.hex("phys_addr")} attrs=${dmaAttrs(r)}`;
}
for (const n of ["dma_unmap_page", "dma_unmap_resource", "dma_unmap_phys"]) {
  FORMATTERS[n] = (r) => `${dmaHead(r)} dma_addr=${r.hex("addr")} size=${r.num("size")} attrs=${dmaAttrs(r)}`;
}
for (const n of ["dma_alloc", "dma_alloc_pages"]) {
  FORMATTERS[n] = (r) =>
    `${dmaHead(r)} dma_addr=${r.hex("dma_addr")} size=${r.num("size")} virt_addr=${r.hex("virt_addr").padStart(16, "0")} flags= attrs=${dmaAttrs(r)}`;
}
for (const n of ["dma_free", "dma_free_pages"]) {
  FORMATTERS[n] = (r) =>
    `${dmaHead(r)} dma_addr=${r.hex("dma_addr")} size=${r.num("size")} virt_addr=${r.hex("virt_addr").padStart(16, "0")} attrs=${dmaAttrs(r)}`;
}
FORMATTERS.dma_map_sg = (r) => {
  const phys = r.array("phys_addrs", 8);
  const dma = r.array("dma_addrs", 8);
  // Later kernels: shown/full counts (the arrays stop at DMA_TRACE_MAX_ENTRIES) and a truncation mark.
  const counts = r.has("full_nents")
    ? ` nents=${phys.length}/${r.num("full_nents")} ents=${dma.length}/${r.num("full_ents")}${r.num("truncated") !== 0 ? " [TRUNCATED]" : ""}`
    : "";
  return (
    `${dmaHead(r)}${counts} dma_addrs=${arrayText(dma)} sizes=${arrayText(r.array("lengths", 4))} ` +
    `phys_addrs=${arrayText(phys)} attrs=${dmaAttrs(r)}`
  );
};
FORMATTERS.dma_unmap_sg = (r) => `${dmaHead(r)} phys_addrs=${arrayText(r.array("addrs", 8))} attrs=${dmaAttrs(r)}`;

/**
 * /proc/kallsyms as stored in the file: `%ps` prints the name of the symbol
 * at that address. A trace asks for few addresses (the timer and work
 * functions), so the table is not built: the first look-up notes each line's
 * address (two 32-bit halves) and where its name is, and each address asked
 * for is looked up once, its name then kept.
 */
class Kallsyms implements SymbolNames {
  private readonly text: Uint8Array;
  private indexed = false;
  private count = 0;
  private hi = new Uint32Array(0);
  private lo = new Uint32Array(0);
  private nameStart = new Uint32Array(0);
  private nameEnd = new Uint32Array(0);
  /** Names looked up, by the address's high half then low half. */
  private readonly names = new Map<number, Map<number, string>>();

  constructor(text: Uint8Array) {
    this.text = text;
  }

  name(addr: bigint): string {
    return this.nameOf(Number(addr >> 32n), Number(addr & 0xffffffffn));
  }

  nameOf(hi: number, lo: number): string {
    let byLo = this.names.get(hi);
    if (byLo === undefined) {
      byLo = new Map();
      this.names.set(hi, byLo);
    }
    let name = byLo.get(lo);
    if (name === undefined) {
      name = this.lookup(hi, lo);
      byLo.set(lo, name);
    }
    return name;
  }

  /** The name of the last line with that address (a later line replaces an earlier), or the address in hex. */
  private lookup(hi: number, lo: number): string {
    if (!this.indexed) this.index();
    for (let i = this.count - 1; i >= 0; i--) {
      if (this.lo[i] === lo && this.hi[i] === hi) return latin1(this.text, this.nameStart[i], this.nameEnd[i]);
    }
    return pointerText(hi, lo);
  }

  /**
   * Notes each line `ADDRESS TYPE NAME[\tMODULE]`: the address 1 to 16
   * hexadecimal digits before the first space (a damaged line names no
   * address and is skipped), the name after the second space up to a tab.
   */
  private index(): void {
    this.indexed = true;
    const t = this.text;
    let lines = 1;
    for (let i = 0; i < t.length; i++) if (t[i] === 10) lines++;
    this.hi = new Uint32Array(lines);
    this.lo = new Uint32Array(lines);
    this.nameStart = new Uint32Array(lines);
    this.nameEnd = new Uint32Array(lines);
    let n = 0;
    let ls = 0;
    while (ls <= t.length) {
      let le = t.indexOf(10, ls);
      if (le < 0) le = t.length;
      // The spaces are looked for within the line only (a search past its end would make the pass quadratic).
      let sp = ls;
      while (sp < le && t[sp] !== 32) sp++;
      if (sp > ls && sp < le && sp - ls <= 16) {
        let sp2 = sp + 1;
        while (sp2 < le && t[sp2] !== 32) sp2++;
        if (sp2 < le) {
          let hi = 0;
          let lo = 0;
          let ok = true;
          for (let i = ls; i < sp; i++) {
            const c = t[i];
            const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
            if (d < 0) {
              ok = false;
              break;
            }
            hi = hi * 16 + (lo >>> 28);
            lo = ((lo << 4) | d) >>> 0;
          }
          if (ok) {
            let ne = sp2 + 1;
            while (ne < le && t[ne] !== 9) ne++;
            this.hi[n] = hi;
            this.lo[n] = lo;
            this.nameStart[n] = sp2 + 1;
            this.nameEnd[n] = ne;
            n++;
          }
        }
      }
      ls = le + 1;
    }
    this.count = n;
  }
}

/** Where one CPU's stream is (`CpuStream.position`): the chunk it has read, the page and record in it. */
interface CpuStreamPosition {
  chunk: number;
  pageStart: number;
  pos: number;
  pageEnd: number;
  ts: number;
  pageMissed: number;
  ready: boolean;
  recMissed: number;
  recTs: number;
  recStart: number;
  recLength: number;
}

/**
 * Where a reading of a trace.dat may begin again (`TraceDat.readInto`): every
 * CPU's stream at its next record, as a reading left them when it told of a
 * loss. Only the file it was taken from reads it.
 */
export interface DatPosition {
  readonly streams: readonly CpuStreamPosition[];
}

/** One CPU's ring-buffer pages, chunk by chunk, event by event. */
class CpuStream {
  readonly cpu: number;
  private readonly file: TraceDat;
  private chunks: { offset: number; zsize: number; size: number }[] = [];
  private nextChunk = 0;
  /** The decompressed chunk the current record is in, and a view of it (read, not replaced, by the merge). */
  data: Uint8Array = new Uint8Array(0);
  dv: DataView = new DataView(new ArrayBuffer(0));
  private pageStart = 0;
  private pos = 0;
  private pageEnd = 0;
  private ts = 0;
  /**
   * Events the ring buffer lost before the page just opened (the commit
   * word's RB_MISSED_EVENTS; the count where RB_MISSED_STORED put it after
   * the page's data, else -1), handed to its first record; 0: none.
   */
  private pageMissed = 0;
  /** The current record, when `ready`. */
  ready = false;
  /** Events lost just before the current record (as `pageMissed`). */
  recMissed = 0;
  recTs = 0;
  recStart = 0;
  recLength = 0;

  constructor(file: TraceDat, cpu: number, offset: number, size: number) {
    this.file = file;
    this.cpu = cpu;
    if (size === 0) return;
    if (file.compression === "none") {
      // Read in runs of whole pages, never the whole CPU's data at once.
      const run = file.pageSize * 256;
      for (let at = 0; at < size; at += run) {
        const n = Math.min(run, size - at);
        this.chunks.push({ offset: offset + at, zsize: n, size: n });
      }
    } else {
      const head = new Cursor(file.src.read(offset, 4), file.le);
      const count = head.u32("the chunk count of a CPU's data");
      let at = offset + 4;
      for (let i = 0; i < count; i++) {
        const c = new Cursor(file.src.read(at, 8), file.le);
        const zsize = c.u32("a chunk's compressed size");
        const usize = c.u32("a chunk's size");
        this.chunks.push({ offset: at + 8, zsize, size: usize });
        at += 8 + zsize;
      }
    }
    this.advance();
  }

  /** Where the stream is: its current record, unread (`readInto` takes a position when a loss is told). */
  position(): CpuStreamPosition {
    return {
      chunk: this.nextChunk - 1,
      pageStart: this.pageStart,
      pos: this.pos,
      pageEnd: this.pageEnd,
      ts: this.ts,
      pageMissed: this.pageMissed,
      ready: this.ready,
      recMissed: this.recMissed,
      recTs: this.recTs,
      recStart: this.recStart,
      recLength: this.recLength,
    };
  }

  /** Puts the stream where `position()` said it was: its chunk read (and decompressed) again. */
  restore(p: CpuStreamPosition): void {
    this.nextChunk = Math.max(p.chunk, 0);
    if (p.chunk >= 0 && !this.loadChunk())
      throw new DatError(`expected CPU ${this.cpu}'s chunk ${p.chunk} where a reading resumes, found none`);
    this.pageStart = p.pageStart;
    this.pos = p.pos;
    this.pageEnd = p.pageEnd;
    this.ts = p.ts;
    this.pageMissed = p.pageMissed;
    this.ready = p.ready;
    this.recMissed = p.recMissed;
    this.recTs = p.recTs;
    this.recStart = p.recStart;
    this.recLength = p.recLength;
  }

  private loadChunk(): boolean {
    if (this.nextChunk >= this.chunks.length) return false;
    const c = this.chunks[this.nextChunk++];
    const raw = this.file.src.read(c.offset, c.zsize);
    if (raw.length < c.zsize)
      throw new DatError(`expected ${c.zsize} bytes of CPU ${this.cpu} data, found the end of the file`);
    this.data = this.file.compression === "none" ? raw : this.file.decompress(this.file.compression, raw, c.size);
    this.dv = new DataView(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    this.pageStart = 0;
    return true;
  }

  /** Opens the next page; false at the end of the CPU's data. */
  private nextPage(): boolean {
    const ps = this.file.pageSize;
    for (;;) {
      if (this.pageStart + this.file.pageDataOffset > this.data.length) {
        if (!this.loadChunk()) return false;
        continue;
      }
      const at = this.pageStart;
      this.pageStart += ps;
      this.ts = this.file.relativeNs(this.dv.getBigUint64(at, this.file.le));
      // The commit word's low 27 bits are the data's length; bit 31 says events were lost before the page, bit
      // 30 that their count follows the data (a long). The kernel adds the flags to a long, so on a 64-bit commit
      // the high word may carry a sign: only the low word is read.
      const word = this.file.le
        ? this.dv.getUint32(at + 8, true)
        : this.dv.getUint32(at + 8 + this.file.commitSize - 4, false);
      const commit = word & 0x7ffffff;
      this.pos = at + this.file.pageDataOffset;
      this.pageEnd = Math.min(this.pos + commit, at + ps, this.data.length);
      this.pageMissed = 0;
      if ((word & 0x80000000) !== 0) {
        const stored = this.pos + commit;
        const size = this.file.commitSize;
        this.pageMissed =
          (word & 0x40000000) !== 0 && stored + size <= Math.min(at + ps, this.data.length)
            ? size === 8
              ? Number(this.dv.getBigUint64(stored, this.file.le))
              : this.dv.getUint32(stored, this.file.le)
            : -1;
      }
      return true;
    }
  }

  /** Moves to the next data record (`ready` false at the end). */
  advance(): void {
    const le = this.file.le;
    for (;;) {
      if (this.pos >= this.pageEnd) {
        if (!this.nextPage()) {
          this.ready = false;
          return;
        }
        continue;
      }
      if (this.pos + 4 > this.pageEnd) {
        this.pos = this.pageEnd;
        continue;
      }
      const h = this.dv.getUint32(this.pos, le);
      const typeLen = h & 31;
      const delta = h >>> 5;
      let p = this.pos + 4;
      if (typeLen === 29) {
        // Padding: array[0] is its length (0: the rest of the page is empty).
        const len = p + 4 <= this.pageEnd ? this.dv.getUint32(p, le) : 0;
        this.ts += delta;
        this.pos = len === 0 ? this.pageEnd : p + len;
        continue;
      }
      if (typeLen === 30 || typeLen === 31) {
        if (p + 4 > this.pageEnd) {
          this.pos = this.pageEnd;
          continue;
        }
        const high = this.dv.getUint32(p, le);
        // An absolute time stamp is the whole clock (up to 59 bits): relative to the file's base.
        this.ts =
          typeLen === 31
            ? this.file.relativeNs((BigInt(high) << 27n) | BigInt(delta))
            : this.ts + high * 2 ** 27 + delta;
        this.pos = p + 4;
        continue;
      }
      let len: number;
      if (typeLen === 0) {
        if (p + 4 > this.pageEnd) {
          this.pos = this.pageEnd;
          continue;
        }
        len = this.dv.getUint32(p, le) - 4;
        len = (len + 3) & ~3;
        p += 4;
      } else {
        len = typeLen * 4;
      }
      this.ts += delta;
      this.pos = p + len;
      if (p + len > this.pageEnd || len < 8)
        throw new DatError(`expected a whole event in CPU ${this.cpu}'s page, found one cut at its end`);
      this.recTs = this.ts;
      this.recStart = p;
      this.recLength = len;
      this.recMissed = this.pageMissed;
      this.pageMissed = 0;
      this.ready = true;
      return;
    }
  }

  view(): { b: Uint8Array; dv: DataView } {
    return { b: this.data, dv: this.dv };
  }
}

/** A trace.dat opened for reading: the metadata, then `records()` in time order. */
export class TraceDat {
  readonly src: DatSource;
  readonly decompress: Decompress;
  le = true;
  version = 0;
  compression = "none";
  pageSize = 4096;
  pageDataOffset = 16;
  commitSize = 8;
  readonly events = new Map<number, EventFormat>();
  readonly cmdlines = new Map<number, string>();
  /** The UNAME, TRACECLOCK and VERSION options, where present. */
  readonly info = new Map<string, string>();
  private kallsyms = new Kallsyms(new Uint8Array(0));
  private cpus: { cpu: number; offset: number; size: number }[] = [];
  /**
   * Whole seconds of nanoseconds taken off every record's time while it is
   * merged, set by the first page read: 0 unless that page's time is 2^52 ns
   * or more (a machine up for 52 days or longer), where the nanoseconds would
   * soon pass what a double holds exactly. A record's time is given back as
   * this base plus its microseconds (`recordNs`), exact below 2^56 ns.
   */
  private tsBase = -1n;
  private tsBaseNs = 0;

  /** A page's (or an absolute time stamp's) nanoseconds, relative to `tsBase`. */
  relativeNs(ns: bigint): number {
    if (this.tsBase < 0n) {
      this.tsBase = ns >= 1n << 52n ? ns - (ns % 1_000_000_000n) : 0n;
      this.tsBaseNs = Number(this.tsBase);
    }
    return Number(ns - this.tsBase);
  }

  /** A record's time as `trace-cmd report` prints it (`reportTimestampNs`), from its time relative to `tsBase`. */
  private reportNs(rel: number): number {
    // The base is whole seconds, so rounding the part past it rounds the whole alike.
    return this.tsBaseNs + reportTimestampNs(rel);
  }

  /** A record's nanoseconds for `DatRecord`: exact, or past the base rounded as `reportNs` (all a double holds there). */
  private recordNs(rel: number): number {
    return this.tsBase <= 0n ? rel : this.reportNs(rel);
  }

  constructor(src: DatSource, decompress: Decompress) {
    this.src = src;
    this.decompress = decompress;
    guarded(() => this.open());
  }

  private open(): void {
    const src = this.src;
    const head = src.read(0, Math.min(src.size, 256));
    if (!isTraceDat(head)) throw new DatError('expected the trace-cmd magic 17 08 44 "tracing", found other bytes');
    const c = new Cursor(head, true, 10);
    this.version = Number(c.str("the file version"));
    if (this.version !== 7) {
      throw new DatError(
        `expected a trace.dat of file version 7 (trace-cmd 3.0 or later), found version ${this.version}`,
      );
    }
    c.need(6, "the endianness, long size and page size");
    this.le = head[c.pos] === 0;
    c.pos += 2;
    const cc = new Cursor(head, this.le, c.pos);
    this.pageSize = cc.u32("the page size");
    if (this.pageSize < 64 || this.pageSize > 1 << 24) {
      throw new DatError(`expected a page size of 64 bytes to 16 MiB, found ${this.pageSize}`);
    }
    this.compression = cc.str("the compression name");
    cc.str("the compression version");
    let optionsAt = cc.u64("the offset of the first options section");
    const seen = new Set<number>();
    while (optionsAt !== 0 && !seen.has(optionsAt)) {
      seen.add(optionsAt);
      optionsAt = this.readOptions(optionsAt);
    }
    if (this.cpus.length === 0) throw new DatError("expected a BUFFER option with the CPUs' data, found none");
  }

  /** A section's contents (decompressed when flagged) after its header. */
  private section(offset: number, expectId: number): Cursor {
    const h = new Cursor(this.src.read(offset, 16), this.le);
    const id = h.u16("a section id");
    const flags = h.u16("section flags");
    h.u32("a section description");
    const size = h.u64("a section size");
    if (id !== expectId) throw new DatError(`expected section ${expectId} at offset ${offset}, found section ${id}`);
    if ((flags & SEC_COMPRESSED) === 0) return new Cursor(this.src.read(offset + 16, size), this.le);
    const z = new Cursor(this.src.read(offset + 16, 8), this.le);
    const zsize = z.u32("a compressed size");
    const usize = z.u32("an uncompressed size");
    return new Cursor(this.decompress(this.compression, this.src.read(offset + 24, zsize), usize), this.le);
  }

  /** Reads one options section; returns the offset of the next (0: none). */
  private readOptions(offset: number): number {
    const c = this.section(offset, OPT_DONE);
    for (;;) {
      const id = c.u16("an option id");
      const size = c.u32("an option size");
      c.need(size, `option ${id}'s ${size} bytes`);
      const data = new Cursor(c.b.subarray(c.pos, c.pos + size), this.le);
      c.pos += size;
      switch (id) {
        case OPT_DONE:
          return data.u64("the next options section");
        case OPT_BUFFER:
          this.bufferOption(data, size);
          break;
        case 4:
          this.info.set("trace_clock", data.str("the trace clock"));
          break;
        case 5:
          this.info.set("uname", data.str("the uname"));
          break;
        case 9:
          this.info.set("version", data.str("the trace-cmd version"));
          break;
        case OPT_HEADER_INFO:
          this.headerInfo(this.section(data.u64("the header info offset"), OPT_HEADER_INFO));
          break;
        case OPT_EVENT_FORMATS:
          this.eventFormats(this.section(data.u64("the event formats offset"), OPT_EVENT_FORMATS));
          break;
        case OPT_KALLSYMS: {
          const s = this.section(data.u64("the kallsyms offset"), OPT_KALLSYMS);
          const n = s.u32("the kallsyms size");
          s.need(n, "kallsyms");
          this.kallsyms = new Kallsyms(s.b.subarray(s.pos, s.pos + n));
          break;
        }
        case OPT_CMDLINES: {
          const s = this.section(data.u64("the cmdlines offset"), OPT_CMDLINES);
          for (const line of s.text(s.u64("the cmdlines size"), "cmdlines").split("\n")) {
            const sp = line.indexOf(" ");
            if (sp > 0) this.cmdlines.set(Number(line.slice(0, sp)), line.slice(sp + 1));
          }
          break;
        }
      }
    }
  }

  private bufferOption(c: Cursor, size: number): void {
    c.u64("the buffer section offset");
    const name = c.str("the instance name");
    c.str("the instance's trace clock");
    if (name !== "") return; // Only the top instance is the kernel's trace.
    // trace-cmd 3.2 added the sub-buffer size before the CPU count.
    const rest = size - c.pos;
    if (rest >= 8 && (rest - 8) % 20 === 0 && (rest - 4) % 20 !== 0) this.pageSize = c.u32("the sub-buffer size");
    const n = c.u32("the CPU count");
    for (let i = 0; i < n; i++) {
      const cpu = c.u32("a CPU id");
      if (cpu >= NR_CPUS_MAX)
        throw new DatError(`expected a CPU id below ${NR_CPUS_MAX} (NR_CPUS at most), found ${cpu}`);
      const offset = c.u64("a CPU's data offset");
      const sz = c.u64("a CPU's data size");
      this.cpus.push({ cpu, offset, size: sz });
    }
  }

  private headerInfo(c: Cursor): void {
    c.str("header_page");
    const text = c.text(c.u64("the header_page size"), "header_page");
    for (const line of text.split("\n")) {
      const m = FIELD.exec(line);
      if (m === null) continue;
      if (/\bcommit$/.test(m[1].trim())) this.commitSize = Number(m[3]);
      if (/\bdata\b/.test(m[1])) this.pageDataOffset = Number(m[2]);
    }
  }

  private eventFormats(c: Cursor): void {
    const systems = c.u32("the number of event systems");
    for (let s = 0; s < systems; s++) {
      const system = c.str("a system name");
      const count = c.u32("the number of events");
      for (let e = 0; e < count; e++) {
        const fmt = parseFormat(system, c.text(c.u64("a format size"), "an event format"));
        if (fmt === null) continue;
        fmt.formatter =
          system === "iommu" || system === "dma" || system === "timer" || system === "workqueue"
            ? (FORMATTERS[fmt.name] ?? null)
            : null;
        fmt.direct = fmt.formatter === null ? null : directDecoder(system, fmt.name, fmt.fields);
        this.events.set(fmt.id, fmt);
      }
    }
  }

  /** Every record of every CPU, merged in time order (ties: the lower CPU first). */
  *records(): Generator<DatRecord> {
    const it = this.merged();
    for (;;) {
      const n = guarded(() => it.next());
      if (n.done) return;
      yield n.value;
    }
  }

  /**
   * Every record of every CPU in time order, as `records()` gives them, into
   * `into`: the events the replay uses decoded straight from their fields
   * (`dat-events.ts`), the same events the reader makes of their text; any
   * other record, or one whose text the reader would read otherwise, as its
   * text columns. The reader's own errors pass through as they are.
   */
  readInto(into: DatInto, from?: DatPosition): void {
    const view = new RecordView();
    view.le = this.le;
    const bytes: RecordBytes = {
      b: new Uint8Array(0),
      dv: new DataView(new ArrayBuffer(0)),
      start: 0,
      length: 0,
      le: this.le,
    };
    const head: EventHead = { line: 0, comm: "", pid: 0, cpu: 0, timestampNs: 0, name: "", flags: "" };
    // A RangeError of a read past a block's end is a DatError; one of the reader's is its own.
    let reading = true;
    try {
      const streams = this.streams();
      if (from !== undefined) {
        if (from.streams.length !== streams.length)
          throw new DatError(
            `expected ${from.streams.length} CPU streams where a reading resumes, found ${streams.length}`,
          );
        for (let i = 0; i < streams.length; i++) streams[i].restore(from.streams[i]);
      }
      // Where the reading is, for a later one to begin there (a loss's resume point): taken only where asked for.
      const position = (): DatPosition => ({ streams: streams.map((s) => s.position()) });
      // The formats by event id (ids are below 2^16): an array look-up per record.
      const byId: (EventFormat | undefined)[] = new Array(1 << 16);
      for (const [id, fmt] of this.events) if (id < 1 << 16) byId[id] = fmt;
      for (;;) {
        let best: CpuStream | null = null;
        for (const s of streams) if (s.ready && (best === null || s.recTs < best.recTs)) best = s;
        if (best === null) return;
        if (best.recMissed !== 0) {
          const n = best.recMissed;
          best.recMissed = 0;
          reading = false;
          into.lost?.(best.cpu, n > 0 ? n : null, position);
          reading = true;
        }
        const b = best.data;
        const dv = best.dv;
        const at = best.recStart;
        const type = dv.getUint16(at, this.le);
        const fmt = byId[type];
        const pid = dv.getInt32(at + 4, this.le);
        const comm = pid === 0 ? "<idle>" : (this.cmdlines.get(pid) ?? "<...>");
        const flags = this.latency(dv.getUint8(at + 2), dv.getUint8(at + 3));
        if (fmt !== undefined && fmt.direct !== null) {
          bytes.b = b;
          bytes.dv = dv;
          bytes.start = at;
          bytes.length = best.recLength;
          head.line = into.nextLine();
          head.comm = comm;
          head.pid = pid;
          head.cpu = best.cpu;
          head.timestampNs = this.reportNs(best.recTs);
          head.name = fmt.name;
          head.flags = flags;
          const ev = fmt.direct(bytes, head, this.kallsyms);
          if (ev !== null) {
            reading = false;
            into.event(ev);
            reading = true;
            best.advance();
            continue;
          }
        }
        const body = fmt?.formatter ? view.print(b, dv, at, best.recLength, fmt, this.kallsyms) : "";
        const r: DatRecord = {
          comm,
          pid,
          cpu: best.cpu,
          flags,
          timestampNs: this.recordNs(best.recTs),
          system: fmt?.system ?? "",
          event: fmt?.name ?? `unknown_event_${type}`,
          body,
        };
        reading = false;
        into.record(r);
        reading = true;
        best.advance();
      }
    } catch (e) {
      if (reading && e instanceof RangeError)
        throw new DatError(`expected data inside its block, found a read past its end (${e.message})`);
      throw e;
    }
  }

  /** The latency columns of a record's flags and preempt count, each text made once. */
  private latency(flags: number, pc: number): string {
    const k = (flags << 8) | pc;
    let t = this.latencyTexts[k];
    if (t === undefined) {
      t = latencyFlags(flags, pc);
      this.latencyTexts[k] = t;
    }
    return t;
  }

  private readonly latencyTexts: (string | undefined)[] = new Array(1 << 16);

  /** The recording kernel's release (`uname -r`), from the UNAME option, or null where it has none. */
  get release(): string | null {
    const uname = this.info.get("uname");
    return uname === undefined ? null : unameRelease(uname);
  }

  /**
   * The trace clock it was recorded with: the TRACECLOCK option lists the
   * kernel's clocks with the one in use in brackets (`local [global]
   * counter ...`); null where it has none or names none so.
   */
  get clock(): string | null {
    const m = /\[([^\]\s]+)\]/.exec(this.info.get("trace_clock") ?? "");
    return m === null ? null : m[1];
  }

  /** CPUs the file holds buffers for (the highest CPU id plus one): the recording machine's, at least. */
  get cpuCount(): number {
    let n = 0;
    for (const c of this.cpus) if (c.cpu + 1 > n) n = c.cpu + 1;
    return n;
  }

  /** A stream per CPU, by CPU number (ties in time go to the lower CPU). */
  private streams(): CpuStream[] {
    return this.cpus
      .slice()
      .sort((a, b) => a.cpu - b.cpu)
      .map((c) => new CpuStream(this, c.cpu, c.offset, c.size));
  }

  private *merged(): Generator<DatRecord> {
    const streams = this.streams();
    const view = new RecordView();
    view.le = this.le;
    for (;;) {
      let best: CpuStream | null = null;
      for (const s of streams) if (s.ready && (best === null || s.recTs < best.recTs)) best = s;
      if (best === null) return;
      const { b, dv } = best.view();
      const at = best.recStart;
      const type = dv.getUint16(at, this.le);
      const fmt = this.events.get(type);
      const flags = dv.getUint8(at + 2);
      const pc = dv.getUint8(at + 3);
      const pid = dv.getInt32(at + 4, this.le);
      const body = fmt?.formatter ? view.print(b, dv, at, best.recLength, fmt, this.kallsyms) : "";
      yield {
        comm: pid === 0 ? "<idle>" : (this.cmdlines.get(pid) ?? "<...>"),
        pid,
        cpu: best.cpu,
        flags: latencyFlags(flags, pc),
        timestampNs: this.recordNs(best.recTs),
        system: fmt?.system ?? "",
        event: fmt?.name ?? `unknown_event_${type}`,
        body,
      };
      best.advance();
    }
  }
}

/**
 * A record's time as `trace-cmd report` prints it: in microseconds, rounded
 * as libtraceevent rounds it, so that a trace.dat replays exactly as its
 * report does.
 */
export function reportTimestampNs(ns: number): number {
  return Math.floor((ns + 500) / 1000) * 1000;
}

/** Where `TraceDat.readInto` puts the records: the reader's side. */
export interface DatInto {
  /** The line number the next record gets (records are numbered as lines). */
  nextLine(): number;
  /** A record decoded straight from its fields, numbered `nextLine()`. */
  event(e: TraceEvent): void;
  /** Any other record, as its text columns. */
  record(r: DatRecord): void;
  /**
   * The ring buffer lost events of `cpu` (`events`, or null where the page did not count them) before its next
   * record; `position` says where the reading is, for a later one to begin there (`readInto`'s `from`).
   */
  lost?(cpu: number, events: number | null, position: () => DatPosition): void;
}

/** The latency columns as libtraceevent prints them: irqs-off, need-resched, hard/softirq, preempt depth, migrate-disable. */
function latencyFlags(flags: number, pc: number): string {
  const irqsOff = flags & 0x01 ? "d" : flags & 0x02 ? "X" : ".";
  const resched = flags & 0x04 ? "N" : ".";
  const hard = flags & 0x08;
  const soft = flags & 0x10;
  const irq = hard && soft ? "H" : hard ? "h" : soft ? "s" : ".";
  const depth = pc & 0xf ? (pc & 0xf).toString(16) : ".";
  const migrate = pc & 0xf0 ? (pc >> 4).toString(16) : ".";
  return irqsOff + resched + irq + depth + migrate;
}
