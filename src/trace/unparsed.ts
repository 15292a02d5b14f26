/**
 * Events that `trace-cmd report` could not format: libtraceevent 1.7 fails on
 * the dynamic arrays of 6.12's `dma_map_sg` / `dma_unmap_sg`
 * (include/trace/events/dma.h) and prints `[FAILED TO PARSE]` followed by
 * the raw fields instead, arrays as little-endian byte lists:
 *
 *   dma_map_sg: [FAILED TO PARSE] device=0000:00:01.0 full_nents=32 full_ents=1
 *     truncated=0 phys_addrs=ARRAY[00, d0, d9, 09, 00, 00, 00, 00, ...]
 *     dma_addrs=ARRAY[...] lengths=ARRAY[...] dir=2 attrs=0x100
 *   dma_unmap_sg: [FAILED TO PARSE] device=0000:00:01.0 addrs=ARRAY[...] dir=2 attrs=0x0
 *
 * The raw fields prove what the formatted text would have shown (u64
 * addresses: 8 bytes each; u32 lengths: 4 bytes each), so the event is
 * rebuilt from them, with `dir` and `attrs` named as the kernel's
 * `__print_symbolic` / `__print_flags` would. A field missing or cut is a
 * `DecodeError`; the reader then skips the line (it counts it as unparsed,
 * never as malformed).
 */

import { DecodeError, type DmaMapSgEvent, type DmaUnmapSgEvent, type EventHead } from "./events.ts";

export const FAILED_TO_PARSE = "[FAILED TO PARSE]";

/** `enum dma_data_direction` (include/linux/dma-direction.h) as `__print_symbolic` names it. */
const DIRECTIONS = ["BIDIRECTIONAL", "TO_DEVICE", "FROM_DEVICE", "NONE"];

/** `DMA_ATTR_*` bits (include/linux/dma-mapping.h) in the order dma.h's `__print_flags` lists them. */
const ATTRS: [number, string][] = [
  [1 << 1, "WEAK_ORDERING"],
  [1 << 2, "WRITE_COMBINE"],
  [1 << 4, "NO_KERNEL_MAPPING"],
  [1 << 5, "SKIP_CPU_SYNC"],
  [1 << 6, "FORCE_CONTIGUOUS"],
  [1 << 7, "ALLOC_SINGLE_PAGES"],
  [1 << 8, "NO_WARN"],
  [1 << 9, "PRIVILEGED"],
];

/** `dir` as the kernel prints it; an unknown value stays a number. */
export function dmaDirectionName(v: number): string {
  return DIRECTIONS[v] ?? String(v);
}

/** `attrs` as `__print_flags(attrs, "|", ...)` prints it: "" for 0, unknown bits as hex. */
export function dmaAttrsText(v: number): string {
  const out: string[] = [];
  let rest = v;
  for (const [bit, name] of ATTRS) {
    if ((rest & bit) !== 0) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`);
  return out.join("|");
}

/** The raw `key=value` fields after the marker; `ARRAY[..]` values keep their brackets. */
function rawFields(body: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = FAILED_TO_PARSE.length;
  while (i < body.length) {
    while (i < body.length && body.charCodeAt(i) === 32) i++;
    if (i >= body.length) break;
    const eq = body.indexOf("=", i);
    if (eq < 0) throw new DecodeError("raw fields key=value after [FAILED TO PARSE]", body.slice(i));
    const key = body.slice(i, eq);
    let end: number;
    if (body.startsWith("ARRAY[", eq + 1)) {
      const close = body.indexOf("]", eq + 1);
      if (close < 0) throw new DecodeError(`"${key}=ARRAY[...]" closed by "]"`, body.slice(eq + 1, eq + 40));
      end = close + 1;
    } else {
      end = body.indexOf(" ", eq + 1);
      if (end < 0) end = body.length;
    }
    out.set(key, body.slice(eq + 1, end));
    i = end;
  }
  return out;
}

function field(f: Map<string, string>, key: string): string {
  const v = f.get(key);
  if (v === undefined) throw new DecodeError(`raw field "${key}=" after [FAILED TO PARSE]`, "no such field");
  return v;
}

function rawNumber(f: Map<string, string>, key: string): number {
  const v = field(f, key);
  const n = /^0x[0-9a-f]+$/i.test(v) ? Number.parseInt(v.slice(2), 16) : /^-?[0-9]+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new DecodeError(`raw field "${key}=" a number`, `${key}=${v}`);
  return n;
}

/** A little-endian byte list of `width`-byte integers. */
function rawArray(f: Map<string, string>, key: string, width: number): number[] {
  const v = field(f, key);
  if (!v.startsWith("ARRAY[") || !v.endsWith("]")) throw new DecodeError(`"${key}=ARRAY[...]"`, `${key}=${v}`);
  const inner = v.slice(6, -1).trim();
  const bytes = inner === "" ? [] : inner.split(",");
  if (bytes.length % width !== 0) {
    throw new DecodeError(`"${key}=ARRAY[...]" of whole ${width}-byte values`, `${bytes.length} bytes`);
  }
  const out: number[] = [];
  for (let k = 0; k < bytes.length; k += width) {
    let n = 0;
    for (let b = width - 1; b >= 0; b--) {
      const t = bytes[k + b].trim();
      if (!/^[0-9a-f]{1,2}$/i.test(t)) throw new DecodeError(`"${key}=ARRAY[...]" of hexadecimal bytes`, t);
      n = n * 256 + Number.parseInt(t, 16);
    }
    if (!Number.isSafeInteger(n)) throw new DecodeError(`"${key}=" values below 2^53`, `${key}=ARRAY[...]`);
    out.push(n);
  }
  return out;
}

/** Rebuilds a `dma_map_sg` or `dma_unmap_sg` event from trace-cmd's raw fields; throws `DecodeError` otherwise. */
export function decodeUnparsed(h: EventHead, body: string): DmaMapSgEvent | DmaUnmapSgEvent {
  const f = rawFields(body);
  const device = field(f, "device");
  const dir = dmaDirectionName(rawNumber(f, "dir"));
  const attrs = dmaAttrsText(rawNumber(f, "attrs"));
  if (h.name === "dma_map_sg") {
    const dmaAddrs = rawArray(f, "dma_addrs", 8);
    const sizes = rawArray(f, "lengths", 4);
    const physAddrs = rawArray(f, "phys_addrs", 8);
    if (sizes.length !== dmaAddrs.length) {
      throw new DecodeError("as many lengths as dma_addrs", `${dmaAddrs.length} dma_addrs and ${sizes.length} lengths`);
    }
    return {
      ...h,
      type: "dma_map_sg",
      device,
      dir,
      nents: f.has("full_nents") ? rawNumber(f, "full_nents") : physAddrs.length,
      ents: f.has("full_ents") ? rawNumber(f, "full_ents") : dmaAddrs.length,
      truncated: f.has("truncated") && rawNumber(f, "truncated") !== 0,
      dmaAddrs,
      sizes,
      physAddrs,
      attrs,
    };
  }
  if (h.name === "dma_unmap_sg") {
    return { ...h, type: "dma_unmap_sg", device, dir, physAddrs: rawArray(f, "addrs", 8), attrs };
  }
  throw new DecodeError("dma_map_sg or dma_unmap_sg raw fields", h.name);
}
