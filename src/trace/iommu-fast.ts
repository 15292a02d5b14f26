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

/** A decimal of 1 to 15 digits from `at` to `end`, or -1. */
function dec(s: string, at: number, end: number): number {
  if (end <= at || end - at > 15) return -1;
  let n = 0;
  for (let i = at; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

export function fastIommuEvent(line: number, head: TraceLineHead): IommuMapEvent | IommuUnmapEvent | null {
  const b = head.body;
  if (b.length < 62 || !b.startsWith(PREFIX)) return null;
  const iova = parseHex16At(b, 14);
  if (iova < 0 || !b.startsWith(" - 0x", 30)) return null;
  const end = parseHex16At(b, 35);
  if (end < 0) return null;
  if (head.event === "map") {
    if (!b.startsWith(" paddr=0x", 51)) return null;
    const paddr = parseHex16At(b, 60);
    if (paddr < 0 || !b.startsWith(" size=", 76)) return null;
    const size = dec(b, 82, b.length);
    if (size < 0 || end !== iova + size) return null;
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
  if (!b.startsWith(" size=", 51)) return null;
  const sp = b.indexOf(" ", 57);
  if (sp < 0 || !b.startsWith(" unmapped_size=", sp)) return null;
  const size = dec(b, 57, sp);
  const unmappedSize = dec(b, sp + 15, b.length);
  if (size < 0 || unmappedSize < 0 || end !== iova + size) return null;
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
