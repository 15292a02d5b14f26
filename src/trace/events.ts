/**
 * Decodes the printed text of the DMA-relevant trace events into typed
 * records: `iommu:map` / `iommu:unmap` (include/trace/events/iommu.h, the
 * same text from 6.1 to mainline) and the `dma:*` events of 6.12 and later
 * (include/trace/events/dma.h; docs/trace-formats.md §2).
 *
 * Decoding keys on field names, not on kernel versions: `dma_map_sg` with or
 * without the later `nents=`/`ents=` counts and `[TRUNCATED]` flag, the
 * `dma_map_page` and `dma_map_phys` names for one class, and so on. A field
 * the event must have but lacks, or one that does not parse, is a malformed
 * line (`DecodeError`); unknown events are not decoded at all (the reader
 * counts them).
 *
 * Also decoded, because they place the flush queue's asynchronous frees in
 * a trace: `timer:timer_start`, `timer_expire_entry`, `timer_expire_exit`
 * (include/trace/events/timer.h, 6.1 to mainline; 6.12 adds
 * `bucket_expiry=`) and `workqueue:workqueue_execute_start` / `_end`
 * (include/trace/events/workqueue.h). They are kept for any timer or work
 * function; the replay picks `fq_flush_timeout` and `iova_depot_work_func`.
 *
 * Addresses and sizes are integers below 2^53 (exact in float64): every real
 * IOVA is below 2^57 and page-aligned, but iovalab rejects the few that do
 * not fit rather than round them.
 */

import { fastDmaEvent } from "./dma-fast.ts";
import { fastIommuEvent } from "./iommu-fast.ts";
import type { TraceLineHead } from "./line.ts";
import { decodeUnparsed, FAILED_TO_PARSE } from "./unparsed.ts";

/** The columns every event shares. `line` is the 1-based line number in its file. */
export interface EventHead {
  line: number;
  comm: string;
  pid: number;
  cpu: number;
  timestampNs: number;
  /** The event's own name as printed (`dma_map_page`, `map`). */
  name: string;
  /** The irq-info flags (`d.h1.`), "" where the rendering has none. */
  flags: string;
}

/** `iommu:map`: one `__iommu_map()` / `iommu_map_nosync()` call. */
export interface IommuMapEvent extends EventHead {
  type: "iommu_map";
  iova: number;
  paddr: number;
  size: number;
}

/** `iommu:unmap`: one `__iommu_unmap()` call. */
export interface IommuUnmapEvent extends EventHead {
  type: "iommu_unmap";
  iova: number;
  size: number;
  unmappedSize: number;
}

/** `dma_map_page`, `dma_map_phys`, `dma_map_resource` (class `dma_map`). */
export interface DmaMapEvent extends EventHead {
  type: "dma_map";
  device: string;
  dir: string;
  dmaAddr: number;
  size: number;
  physAddr: number | undefined;
  attrs: string;
}

/** `dma_unmap_page`, `dma_unmap_phys`, `dma_unmap_resource` (class `dma_unmap`). */
export interface DmaUnmapEvent extends EventHead {
  type: "dma_unmap";
  device: string;
  dir: string;
  dmaAddr: number;
  size: number;
  attrs: string;
}

/** `dma_map_sg`: the DMA segments the mapping returned (one IOVA allocation under dma-iommu). */
export interface DmaMapSgEvent extends EventHead {
  type: "dma_map_sg";
  device: string;
  dir: string;
  /** Entries of the scatterlist (`nents=` shown/full, or the phys_addrs count). */
  nents: number;
  /** DMA segments returned (`ents=` shown/full, or the dma_addrs count). */
  ents: number;
  /** The arrays were cut at DMA_TRACE_MAX_ENTRIES (`[TRUNCATED]`). */
  truncated: boolean;
  dmaAddrs: number[];
  sizes: number[];
  physAddrs: number[];
  attrs: string;
}

/** `dma_unmap_sg`: carries the scatterlist's physical addresses, not DMA addresses. */
export interface DmaUnmapSgEvent extends EventHead {
  type: "dma_unmap_sg";
  device: string;
  dir: string;
  physAddrs: number[];
  attrs: string;
}

/** `dma_alloc`, `dma_alloc_pages`, `dma_alloc_sgt` (coherent and page allocations). */
export interface DmaAllocEvent extends EventHead {
  type: "dma_alloc";
  device: string;
  dir: string;
  dmaAddr: number;
  size: number;
  gfp: string;
  attrs: string;
}

/** `dma_free`, `dma_free_pages`, `dma_free_sgt`. */
export interface DmaFreeEvent extends EventHead {
  type: "dma_free";
  device: string;
  dir: string;
  dmaAddr: number;
  size: number;
  /** `virt_addr` was printed as all zeros: `dma_free_attrs(NULL)`, which returns without freeing. */
  nullCpuAddr: boolean;
}

/** `dma_map_sg_err`, `dma_alloc_sgt_err`: a failed call, nothing was mapped. */
export interface DmaErrorEvent extends EventHead {
  type: "dma_error";
  device: string;
}

/** `dma_sync_*`: cache maintenance on a live mapping; no allocation changes. */
export interface DmaSyncEvent extends EventHead {
  type: "dma_sync";
  device: string;
}

/** `timer:timer_start`: `mod_timer()` enqueued a timer. */
export interface TimerStartEvent extends EventHead {
  type: "timer_start";
  /** The hashed `%p` of the `struct timer_list`: one value per timer and boot. */
  timer: string;
  function: string;
  /** Jiffy at which it is due. */
  expires: number;
  /** `[timeout=N]`: expires minus the jiffies the tracepoint read. */
  timeout: number;
  /** `cpu=`: the CPU of the timer base it was enqueued on, or -1 where the format has none. */
  baseCpu: number;
}

/** `timer:timer_expire_entry`: the callback is about to run, on this line's CPU. */
export interface TimerExpireEntryEvent extends EventHead {
  type: "timer_expire_entry";
  timer: string;
  function: string;
  /** `now=`: jiffies when the callback runs. */
  now: number;
}

/** `timer:timer_expire_exit`: the callback of `timer` returned. */
export interface TimerExpireExitEvent extends EventHead {
  type: "timer_expire_exit";
  timer: string;
}

/** `workqueue:workqueue_execute_start` / `_end`: a work item's function runs (start) or returned (end). */
export interface WorkqueueExecuteEvent extends EventHead {
  type: "workqueue_execute";
  phase: "start" | "end";
  /** The hashed `%p` of the `struct work_struct`: one per work item and boot. */
  work: string;
  function: string;
}

/** The flush queue's timer callback (dma-iommu's `fq_flush_timeout`), as timer events name it. */
export const FQ_TIMER_FUNCTION = "fq_flush_timeout";
/** The rcache depot's trim work (iova.c's `iova_depot_work_func`, 6.7 and later), as workqueue events name it. */
export const DEPOT_WORK_FUNCTION = "iova_depot_work_func";

/** The events that say when asynchronous kernel work ran: timers and work items. */
export type KernelWorkEvent = TimerStartEvent | TimerExpireEntryEvent | TimerExpireExitEvent | WorkqueueExecuteEvent;

/** Whether `e` is a timer or work event (not a DMA event). */
export function isKernelWorkEvent(e: TraceEvent): e is KernelWorkEvent {
  return (
    e.type === "timer_start" ||
    e.type === "timer_expire_entry" ||
    e.type === "timer_expire_exit" ||
    e.type === "workqueue_execute"
  );
}

export type TraceEvent =
  | KernelWorkEvent
  | IommuMapEvent
  | IommuUnmapEvent
  | DmaMapEvent
  | DmaUnmapEvent
  | DmaMapSgEvent
  | DmaUnmapSgEvent
  | DmaAllocEvent
  | DmaFreeEvent
  | DmaErrorEvent
  | DmaSyncEvent;

/** Why a known event's text did not decode; the reader prefixes `FILE:LINE: `. */
export class DecodeError {
  readonly expected: string;
  readonly found: string;
  constructor(expected: string, found: string) {
    this.expected = expected;
    this.found = found;
  }
}

type Decoder = (head: EventHead, f: Fields) => TraceEvent;

/** The event names this module decodes, by printed name; the value is the decoder. */
const DECODERS = new Map<string, Decoder>();

/** The system of each decoded event that is not a `dma:*` one. */
const SYSTEMS = new Map<string, string>([
  ["map", "iommu"],
  ["unmap", "iommu"],
  ["timer_start", "timer"],
  ["timer_expire_entry", "timer"],
  ["timer_expire_exit", "timer"],
  ["workqueue_execute_start", "workqueue"],
  ["workqueue_execute_end", "workqueue"],
]);

/** Whether `event` (with its `system` where the line names one) is decoded here. */
export function isKnownEvent(system: string, event: string): boolean {
  if (!DECODERS.has(event)) return false;
  return system === "" || system === (SYSTEMS.get(event) ?? "dma");
}

/**
 * The event of the most common lines (`iommu:map`/`unmap`, `dma_map_page`/
 * `dma_unmap_page` and their class) whose text is `text[b, end)`, read in
 * place in one pass, or null for any other text: `decodeEvent` then gives
 * the same event (or the error) the long way. The reader passes the whole
 * chunk a line is in, so these lines cut no body string.
 */
export function fastEvent(line: number, head: TraceLineHead, text: string, b: number, end: number): TraceEvent | null {
  switch (head.event) {
    case "map":
    case "unmap":
      return fastIommuEvent(line, head, text, b, end);
    case "dma_map_page":
    case "dma_map_phys":
    case "dma_map_resource":
      return fastDmaEvent(line, head, true, text, b, end);
    case "dma_unmap_page":
    case "dma_unmap_phys":
    case "dma_unmap_resource":
      return fastDmaEvent(line, head, false, text, b, end);
  }
  return null;
}

/** Decodes a known event (see `isKnownEvent`); throws `DecodeError` on malformed text. */
export function decodeEvent(line: number, head: TraceLineHead): TraceEvent {
  const fast = fastEvent(line, head, head.body, 0, head.body.length);
  if (fast !== null) return fast;
  return decodeEventFields(line, head);
}

/** `decodeEvent` without the one-pass readings (`fastEvent`): the reference they must agree with. */
export function decodeEventFields(line: number, head: TraceLineHead): TraceEvent {
  const decoder = DECODERS.get(head.event);
  if (decoder === undefined) throw new DecodeError("a known event", head.event);
  const h: EventHead = {
    line,
    comm: head.comm,
    pid: head.pid,
    cpu: head.cpu,
    timestampNs: head.timestampNs,
    name: head.event,
    flags: head.flags,
  };
  // trace-cmd's raw fields of an event it could not format (see unparsed.ts).
  if (head.body.startsWith(FAILED_TO_PARSE)) return decodeUnparsed(h, head.body);
  return decoder(h, new Fields(head.event, head.body));
}

/**
 * The `key=value` fields of one event text, looked up by name (a key counts
 * only at the start of a word, so `size=` never matches `unmapped_size=`),
 * plus the first word when it is not a field (the device name of `dma:*`
 * events, `IOMMU:` of `iommu:*`). `iova=A - B` gives B as `iova-end`.
 * Lookups scan the text with `indexOf` instead of splitting it: events have
 * few fields and this is the reader's hot path.
 */
class Fields {
  readonly event: string;
  readonly body: string;

  constructor(event: string, body: string) {
    this.event = event;
    this.body = body;
  }

  private find(key: string): number {
    let needle = NEEDLES.get(key);
    if (needle === undefined) {
      needle = `${key}=`;
      NEEDLES.set(key, needle);
    }
    let at = this.body.indexOf(needle);
    while (at > 0 && this.body.charCodeAt(at - 1) !== 32) at = this.body.indexOf(needle, at + 1);
    return at < 0 ? -1 : at + needle.length;
  }

  private valueAt(from: number): string {
    const sp = this.body.indexOf(" ", from);
    return sp < 0 ? this.body.slice(from) : this.body.slice(from, sp);
  }

  get leading(): string {
    const sp = this.body.indexOf(" ");
    const w = sp < 0 ? this.body : this.body.slice(0, sp);
    return w.includes("=") ? "" : w;
  }

  /** B of `iova=A - B` read in place, or -1. */
  iovaEnd(): number {
    const at = this.find("iova");
    if (at < 0) return -1;
    const sp = this.body.indexOf(" ", at);
    if (sp < 0 || !this.body.startsWith(" - ", sp)) return -1;
    return hexAt(this.body, sp + 3);
  }

  hasFlag(flag: string): boolean {
    return this.body.includes(` ${flag}`);
  }

  has(key: string): boolean {
    if (key === "iova-end") {
      const at = this.find("iova");
      return at >= 0 && this.body.startsWith(" - ", this.body.indexOf(" ", at));
    }
    return this.find(key) >= 0;
  }

  raw(key: string, shape: string): string {
    if (key === "iova-end") {
      const at = this.find("iova");
      const dash = at < 0 ? -1 : this.body.indexOf(" - ", at);
      if (dash < 0) throw new DecodeError(`"iova=A - B" in ${this.event}`, this.body);
      return this.valueAt(dash + 3);
    }
    const at = this.find(key);
    if (at < 0) throw new DecodeError(`"${key}=${shape}" in ${this.event}`, "no such field");
    return this.valueAt(at);
  }

  device(): string {
    const w = this.leading;
    if (w === "") throw new DecodeError(`a device name before the fields of ${this.event}`, this.body);
    return w;
  }

  hex(key: string): number {
    // The common case read in place, without slicing the value out.
    const at = this.find(key);
    if (at >= 0) {
      const n = hexAt(this.body, at);
      if (n >= 0) return n;
    }
    return parseHex(key, this.raw(key, "<hex>"));
  }

  dec(key: string): number {
    const at = this.find(key);
    if (at >= 0) {
      const n = decAt(this.body, at);
      if (n >= 0) return n;
    }
    const v = this.raw(key, "<decimal>");
    if (!DEC.test(v)) throw new DecodeError(`"${key}=<decimal>"`, `${key}=${v}`);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new DecodeError(`"${key}=" below 2^53`, `${key}=${v}`);
    return n;
  }

  text(key: string): string {
    return this.raw(key, "...");
  }

  optionalText(key: string): string {
    const at = this.find(key);
    return at < 0 ? "" : this.valueAt(at);
  }

  array(key: string): number[] {
    const v = this.raw(key, "{0x...,...}");
    if (v.length < 2 || v.charCodeAt(0) !== 123 || v.charCodeAt(v.length - 1) !== 125) {
      throw new DecodeError(`"${key}={0x...,...}"`, `${key}=${v}`);
    }
    if (v.length === 2) return [];
    const inPlace = hexList(v);
    if (inPlace !== null) return inPlace;
    const parts = v.slice(1, -1).split(",");
    const out = new Array<number>(parts.length);
    for (let i = 0; i < parts.length; i++) out[i] = parseHex(key, parts[i]);
    return out;
  }

  /** `shown/full` counts of the later `dma_map_sg` format; the full count is the one that matters. */
  pair(key: string): number {
    const v = this.raw(key, "N/N");
    const full = fullCount(v);
    if (full >= 0) return full;
    const m = PAIR.exec(v);
    if (m === null) throw new DecodeError(`"${key}=<shown>/<full>"`, `${key}=${v}`);
    return Number(m[2]);
  }
}

const DEC = /^[0-9]+$/;
const NEEDLES = new Map<string, string>();

/** The decimal number at `at` up to a space or the end, or -1 when it is anything else or 2^53 or more. */
function decAt(body: string, at: number): number {
  let n = 0;
  let i = at;
  for (; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 32) break;
    if (c < 48 || c > 57 || i - at >= 15) return -1;
    n = n * 10 + (c - 48);
  }
  return i === at ? -1 : n;
}

/** The hexadecimal number at `at` (with or without 0x) up to a space or the end, or -1 when it is anything else or 2^52 or more. */
function hexAt(body: string, at: number): number {
  let i = at;
  if (body.charCodeAt(i) === 48 && (body.charCodeAt(i + 1) | 32) === 120) i += 2;
  while (i < body.length - 1 && body.charCodeAt(i) === 48 && body.charCodeAt(i + 1) !== 32) i++;
  const first = i;
  let n = 0;
  for (; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 32) break;
    const d = hexDigit(c);
    if (d < 0 || i - first >= 13) return -1;
    n = n * 16 + d;
  }
  return i === first ? -1 : n;
}
const PAIR = /^(\d+)\/(\d+)$/;

/**
 * The numbers of `{0x...,...}` (`v`, braces included) read in place, or null
 * where any item is not plainly hexadecimal with at most 13 significant
 * digits: `Fields.array` then reads the list item by item, with its errors.
 * A scatter-gather event lists up to a few hundred addresses.
 */
function hexList(v: string): number[] | null {
  const out: number[] = [];
  const end = v.length - 1;
  let i = 1;
  for (;;) {
    let comma = v.indexOf(",", i);
    if (comma < 0 || comma > end) comma = end;
    let k = i;
    if (comma - k > 2 && v.charCodeAt(k) === 48 && (v.charCodeAt(k + 1) | 32) === 120) k += 2;
    while (k < comma - 1 && v.charCodeAt(k) === 48) k++;
    if (k === comma || comma - k > 13) return null;
    let n = 0;
    for (; k < comma; k++) {
      const d = hexDigit(v.charCodeAt(k));
      if (d < 0) return null;
      n = n * 16 + d;
    }
    out.push(n);
    if (comma === end) return out;
    i = comma + 1;
  }
}

/** B of `A/B`, both 1 to 15 digits, or -1 (`Fields.pair` then reads it with its errors). */
function fullCount(v: string): number {
  const slash = v.indexOf("/");
  if (slash < 1 || slash > 15 || v.length - slash - 1 < 1 || v.length - slash - 1 > 15) return -1;
  for (let i = 0; i < slash; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  let n = 0;
  for (let i = slash + 1; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** A hexadecimal field, with or without `0x` (`%llx` prints none, `0x%016llx` and arrays do). */
function parseHex(key: string, v: string): number {
  let i = v.length > 2 && v.charCodeAt(0) === 48 && (v.charCodeAt(1) | 32) === 120 ? 2 : 0;
  if (i === v.length) throw new DecodeError(`"${key}=" a hexadecimal number`, `${key}=${v}`);
  while (i < v.length - 1 && v.charCodeAt(i) === 48) i++;
  const digits = v.length - i;
  let n = 0;
  for (; i < v.length; i++) {
    const d = hexDigit(v.charCodeAt(i));
    if (d < 0) throw new DecodeError(`"${key}=" a hexadecimal number`, `${key}=${v}`);
    n = n * 16 + d;
  }
  // Up to 13 digits stays below 2^52 and is exact; longer strings are checked exactly.
  if (digits > 13 && BigInt(`0x${v.slice(v.length - digits)}`) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DecodeError(`"${key}=" below 2^53`, `${key}=${v}`);
  }
  return n;
}

function iommuPrefix(f: Fields): void {
  if (!f.body.startsWith("IOMMU: ") && f.leading !== "IOMMU:")
    throw new DecodeError(`"IOMMU: iova=..." in ${f.event}`, f.body);
}

function checkEnd(f: Fields, iova: number, size: number): void {
  // The usual `iova=0x... - 0x...` read in place; anything else the long way.
  if (f.iovaEnd() === iova + size) return;
  if (!f.has("iova-end")) return;
  const end = parseHex("iova", f.text("iova-end"));
  if (end !== iova + size) {
    throw new DecodeError(`"iova=A - B" with B = A + size`, `iova=${f.text("iova")} - ${f.text("iova-end")}`);
  }
}

const decodeMap: Decoder = (h, f) => {
  iommuPrefix(f);
  const iova = f.hex("iova");
  const size = f.dec("size");
  checkEnd(f, iova, size);
  return { ...h, type: "iommu_map", iova, paddr: f.hex("paddr"), size };
};

const decodeUnmap: Decoder = (h, f) => {
  iommuPrefix(f);
  const iova = f.hex("iova");
  const size = f.dec("size");
  checkEnd(f, iova, size);
  return { ...h, type: "iommu_unmap", iova, size, unmappedSize: f.dec("unmapped_size") };
};

const decodeDmaMap: Decoder = (h, f) => ({
  ...h,
  type: "dma_map",
  device: f.device(),
  dir: f.text("dir"),
  dmaAddr: f.hex("dma_addr"),
  size: f.dec("size"),
  physAddr: f.has("phys_addr") ? f.hex("phys_addr") : undefined,
  attrs: f.optionalText("attrs"),
});

const decodeDmaUnmap: Decoder = (h, f) => ({
  ...h,
  type: "dma_unmap",
  device: f.device(),
  dir: f.text("dir"),
  dmaAddr: f.hex("dma_addr"),
  size: f.dec("size"),
  attrs: f.optionalText("attrs"),
});

const decodeDmaMapSg: Decoder = (h, f) => {
  const dmaAddrs = f.array("dma_addrs");
  const sizes = f.array("sizes");
  const physAddrs = f.array("phys_addrs");
  if (sizes.length !== dmaAddrs.length) {
    throw new DecodeError("as many sizes as dma_addrs", `${dmaAddrs.length} dma_addrs and ${sizes.length} sizes`);
  }
  return {
    ...h,
    type: "dma_map_sg",
    device: f.device(),
    dir: f.text("dir"),
    nents: f.has("nents") ? f.pair("nents") : physAddrs.length,
    ents: f.has("ents") ? f.pair("ents") : dmaAddrs.length,
    truncated: f.hasFlag("[TRUNCATED]"),
    dmaAddrs,
    sizes,
    physAddrs,
    attrs: f.optionalText("attrs"),
  };
};

const decodeDmaUnmapSg: Decoder = (h, f) => ({
  ...h,
  type: "dma_unmap_sg",
  device: f.device(),
  dir: f.text("dir"),
  physAddrs: f.array("phys_addrs"),
  attrs: f.optionalText("attrs"),
});

const decodeDmaAlloc: Decoder = (h, f) => ({
  ...h,
  type: "dma_alloc",
  device: f.device(),
  dir: f.optionalText("dir"),
  dmaAddr: f.hex("dma_addr"),
  size: f.dec("size"),
  gfp: f.optionalText("flags"),
  attrs: f.optionalText("attrs"),
});

const ZERO_PTR = /^0+$/;

const decodeDmaFree: Decoder = (h, f) => ({
  ...h,
  type: "dma_free",
  device: f.device(),
  dir: f.optionalText("dir"),
  dmaAddr: f.hex("dma_addr"),
  size: f.dec("size"),
  nullCpuAddr: f.has("virt_addr") && ZERO_PTR.test(f.text("virt_addr")),
});

const decodeDmaError: Decoder = (h, f) => ({ ...h, type: "dma_error", device: f.device() });
const decodeDmaSync: Decoder = (h, f) => ({ ...h, type: "dma_sync", device: f.device() });

/** `[timeout=N]` of timer_start: bracketed, so not a `key=` field. */
function bracketedTimeout(f: Fields): number {
  const m = TIMEOUT.exec(f.body);
  if (m === null) throw new DecodeError('"[timeout=<decimal>]" in timer_start', f.body);
  return Number(m[1]);
}

const TIMEOUT = /\[timeout=(-?[0-9]+)\]/;

const decodeTimerStart: Decoder = (h, f) => ({
  ...h,
  type: "timer_start",
  timer: f.text("timer"),
  function: f.text("function"),
  expires: f.dec("expires"),
  timeout: bracketedTimeout(f),
  baseCpu: f.has("cpu") ? f.dec("cpu") : -1,
});

const decodeTimerExpireEntry: Decoder = (h, f) => ({
  ...h,
  type: "timer_expire_entry",
  timer: f.text("timer"),
  function: f.text("function"),
  now: f.dec("now"),
});

const decodeTimerExpireExit: Decoder = (h, f) => ({ ...h, type: "timer_expire_exit", timer: f.text("timer") });

/** `work struct %p: function %ps` (trace-cmd report prints the pointer with `0x`, as it is kept). */
const WORK = /^work struct ((?:0x)?[0-9a-fA-F]+): function (\S+)$/;

function decodeWork(phase: "start" | "end"): Decoder {
  return (h, f) => {
    const m = WORK.exec(f.body);
    if (m === null) throw new DecodeError('"work struct <pointer>: function <name>"', f.body);
    return { ...h, type: "workqueue_execute", phase, work: m[1], function: m[2] };
  };
}

DECODERS.set("timer_start", decodeTimerStart);
DECODERS.set("timer_expire_entry", decodeTimerExpireEntry);
DECODERS.set("timer_expire_exit", decodeTimerExpireExit);
DECODERS.set("workqueue_execute_start", decodeWork("start"));
DECODERS.set("workqueue_execute_end", decodeWork("end"));
DECODERS.set("map", decodeMap);
DECODERS.set("unmap", decodeUnmap);
for (const n of ["dma_map_page", "dma_map_phys", "dma_map_resource"]) DECODERS.set(n, decodeDmaMap);
for (const n of ["dma_unmap_page", "dma_unmap_phys", "dma_unmap_resource"]) DECODERS.set(n, decodeDmaUnmap);
DECODERS.set("dma_map_sg", decodeDmaMapSg);
DECODERS.set("dma_unmap_sg", decodeDmaUnmapSg);
for (const n of ["dma_alloc", "dma_alloc_pages", "dma_alloc_sgt"]) DECODERS.set(n, decodeDmaAlloc);
for (const n of ["dma_free", "dma_free_pages", "dma_free_sgt"]) DECODERS.set(n, decodeDmaFree);
for (const n of ["dma_map_sg_err", "dma_alloc_sgt_err"]) DECODERS.set(n, decodeDmaError);
for (const n of [
  "dma_sync_single_for_cpu",
  "dma_sync_single_for_device",
  "dma_sync_sg_for_cpu",
  "dma_sync_sg_for_device",
]) {
  DECODERS.set(n, decodeDmaSync);
}
