/**
 * The printed text of `dma:dma_map_page` and `dma:dma_unmap_page` (and the
 * `_phys` / `_resource` names of the same classes; include/trace/events/dma.h,
 * 6.12 to mainline) read in one pass, in field order:
 *
 *   map:   DEVICE dir=DIR dma_addr=%llx size=%zu phys_addr=%llx attrs=ATTRS
 *   unmap: DEVICE dir=DIR dma_addr=%llx size=%zu attrs=ATTRS
 *
 * With the `iommu:*` lines (`iommu-fast.ts`) these are nearly every line of a
 * 6.12 trace, so they skip the field look-ups of `events.ts`. The text must
 * be exactly that shape (`phys_addr=` optional), every value one word without
 * `=`; anything else (another order, an extra field, a value the general
 * reading would reject or read otherwise) gives null, and the general decoder
 * then reads it or says what is wrong with it: the result is always the one
 * the general decoder gives.
 */

import type { DmaMapEvent, DmaUnmapEvent } from "./events.ts";
import { dec } from "./iommu-fast.ts";
import type { TraceLineHead } from "./line.ts";

const SP = 32;
const EQ = 61;

/** Slots of the device, direction and attrs cache (direct-mapped: a collision makes a new string). */
const SLOTS = 256;
const interned: (string | undefined)[] = new Array(SLOTS);

/** `text[s, e)` as a string shared with earlier events that had the same characters. */
function word(text: string, s: number, e: number): string {
  if (s === e) return "";
  let h = e - s;
  for (let i = s; i < e; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  const slot = h & (SLOTS - 1);
  const hit = interned[slot];
  if (hit !== undefined && hit.length === e - s && text.startsWith(hit, s)) return hit;
  const w = text.slice(s, e);
  interned[slot] = w;
  return w;
}

/** The end of the word at `at` (the next space or `end`), or -1 when it holds `=`. */
function wordEnd(text: string, at: number, end: number): number {
  let i = at;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === SP) return i;
    if (c === EQ) return -1;
  }
  return i;
}

/** A hexadecimal value from `at` to `e` as `events.ts` reads it in place (optional 0x, below 2^52), or -1. */
function hexWord(text: string, at: number, e: number): number {
  let i = at;
  if (e - i > 2 && text.charCodeAt(i) === 48 && (text.charCodeAt(i + 1) | 32) === 120) i += 2;
  while (i < e - 1 && text.charCodeAt(i) === 48) i++;
  if (i === e || e - i > 13) return -1;
  let n = 0;
  for (; i < e; i++) {
    const c = text.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return -1;
    n = n * 16 + d;
  }
  return n;
}

/**
 * The dma_map (`map` true) or dma_unmap event of class-name `head.event`
 * whose text is `text[b, end)`, read in place, or null.
 */
export function fastDmaEvent(
  line: number,
  head: TraceLineHead,
  map: boolean,
  text: string,
  b: number,
  end: number,
): DmaMapEvent | DmaUnmapEvent | null {
  const devEnd = wordEnd(text, b, end);
  if (devEnd <= b || devEnd === end || !text.startsWith(" dir=", devEnd)) return null;
  const dirAt = devEnd + 5;
  const dirEnd = wordEnd(text, dirAt, end);
  if (dirEnd < 0 || dirEnd === end || !text.startsWith(" dma_addr=", dirEnd)) return null;
  const addrAt = dirEnd + 10;
  const addrEnd = wordEnd(text, addrAt, end);
  if (addrEnd < 0 || addrEnd === end || !text.startsWith(" size=", addrEnd)) return null;
  const dmaAddr = hexWord(text, addrAt, addrEnd);
  const sizeAt = addrEnd + 6;
  const sizeEnd = wordEnd(text, sizeAt, end);
  if (dmaAddr < 0 || sizeEnd < 0 || sizeEnd === end) return null;
  const size = dec(text, sizeAt, sizeEnd);
  if (size < 0) return null;
  let at = sizeEnd;
  let physAddr: number | undefined;
  if (map && text.startsWith(" phys_addr=", at)) {
    const physAt = at + 11;
    const physEnd = wordEnd(text, physAt, end);
    if (physEnd < 0) return null;
    physAddr = hexWord(text, physAt, physEnd);
    if (physAddr < 0) return null;
    at = physEnd;
  }
  // Without phys_addr= a map is read the general way (the field may be elsewhere).
  if (map && physAddr === undefined) return null;
  if (at === end || !text.startsWith(" attrs=", at)) return null;
  const attrsAt = at + 7;
  const attrsEnd = wordEnd(text, attrsAt, end);
  if (attrsEnd !== end) return null;
  const device = word(text, b, devEnd);
  const dir = word(text, dirAt, dirEnd);
  const attrs = word(text, attrsAt, attrsEnd);
  if (map) {
    return {
      line,
      comm: head.comm,
      pid: head.pid,
      cpu: head.cpu,
      timestampNs: head.timestampNs,
      name: head.event,
      flags: head.flags,
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
    comm: head.comm,
    pid: head.pid,
    cpu: head.cpu,
    timestampNs: head.timestampNs,
    name: head.event,
    flags: head.flags,
    type: "dma_unmap",
    device,
    dir,
    dmaAddr,
    size,
    attrs,
  };
}
