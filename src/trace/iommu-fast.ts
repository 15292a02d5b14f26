/**
 * The printed text of `iommu:map` and `iommu:unmap` (include/trace/events/iommu.h,
 * the same from 6.1 to mainline) read in one pass at fixed offsets:
 *
 *   map:   IOMMU: iova=0x%016llx - 0x%016llx paddr=0x%016llx size=%zu
 *   unmap: IOMMU: iova=0x%016llx - 0x%016llx size=%zu unmapped_size=%zu
 *
 * These are most lines of every trace, so they skip the field lookups of
 * `events.ts`. Any text that differs in the least (another width, a value of
 * 2^52 or more, an end that is not iova + size) gives null, and the general
 * decoder then reads it or says what is wrong with it.
 */

import type { IommuMapEvent, IommuUnmapEvent } from "./events.ts";
import type { TraceLineHead } from "./line.ts";

const PREFIX = "IOMMU: iova=0x";

/** 16 hex digits at `at` below 2^52 (the first three zero), or -1. */
function parseHex16At(s: string, at: number): number {
  if (s.charCodeAt(at) !== 48 || s.charCodeAt(at + 1) !== 48 || s.charCodeAt(at + 2) !== 48) return -1;
  let n = 0;
  for (let i = at + 3; i < at + 16; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else return -1;
    n = n * 16 + d;
  }
  return n;
}

/** A decimal of 1 to 15 digits from `at` to `end`, or -1 (the one-pass readers share it). */
export function dec(s: string, at: number, end: number): number {
  if (end <= at || end - at > 15) return -1;
  let n = 0;
  for (let i = at; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * The map or unmap event (by `head.event`) whose text is `text[b, end)`,
 * read in place (the reader passes the whole chunk the line is in, so no
 * body string is cut), or null.
 */
export function fastIommuEvent(
  line: number,
  head: TraceLineHead,
  text: string,
  b: number,
  end: number,
): IommuMapEvent | IommuUnmapEvent | null {
  if (end - b < 62 || !text.startsWith(PREFIX, b)) return null;
  const iova = parseHex16At(text, b + 14);
  if (iova < 0 || !text.startsWith(" - 0x", b + 30)) return null;
  const iovaEnd = parseHex16At(text, b + 35);
  if (iovaEnd < 0) return null;
  if (head.event === "map") {
    if (!text.startsWith(" paddr=0x", b + 51)) return null;
    const paddr = parseHex16At(text, b + 60);
    if (paddr < 0 || !text.startsWith(" size=", b + 76)) return null;
    const size = dec(text, b + 82, end);
    if (size < 0 || iovaEnd !== iova + size) return null;
    return {
      line,
      comm: head.comm,
      pid: head.pid,
      cpu: head.cpu,
      timestampNs: head.timestampNs,
      name: "map",
      flags: head.flags,
      type: "iommu_map",
      iova,
      paddr,
      size,
    };
  }
  if (!text.startsWith(" size=", b + 51)) return null;
  const sp = text.indexOf(" ", b + 57);
  if (sp < 0 || sp >= end || !text.startsWith(" unmapped_size=", sp)) return null;
  const size = dec(text, b + 57, sp);
  const unmappedSize = dec(text, sp + 15, end);
  if (size < 0 || unmappedSize < 0 || iovaEnd !== iova + size) return null;
  return {
    line,
    comm: head.comm,
    pid: head.pid,
    cpu: head.cpu,
    timestampNs: head.timestampNs,
    name: "unmap",
    flags: head.flags,
    type: "iommu_unmap",
    iova,
    size,
    unmappedSize,
  };
}
