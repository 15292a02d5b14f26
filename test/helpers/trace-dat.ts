/**
 * Builds small trace-cmd version-7 `trace.dat` files for tests
 * (trace-cmd.dat.v7(5)): a header, HEADER_INFO, EVENT_FORMATS, KALLSYMS and
 * CMDLINES sections (zstd-compressed or not), one options section with the
 * BUFFER option (and the UNAME option where given), and per-CPU ring-buffer
 * pages of the given records. The event formats are the real ones of
 * test/fixtures/trace-dat/.
 */

import { readFileSync } from "node:fs";
import { zstdCompressSync } from "node:zlib";

const DIR = new URL("../fixtures/trace-dat/", import.meta.url).pathname;
const PAGE = 4096;
/** trace-cmd's compressed chunk: ten pages. */
const CHUNK = 10 * PAGE;

export interface DatTestRecord {
  cpu: number;
  timestampNs: number;
  /** `system-name` of a fixture format. */
  event: string;
  flags: number;
  preemptCount: number;
  pid: number;
  /** The record's bytes after the 8 common bytes, as the format lays them out. */
  payload: Uint8Array;
  /**
   * The ring buffer lost events of this CPU just before this record: it
   * starts a page whose commit word says so (RB_MISSED_EVENTS), with the
   * count stored after the page's data (RB_MISSED_STORED), or null for none.
   */
  missedBefore?: number | null;
}

export interface DatTestFile {
  records: DatTestRecord[];
  cpus: number;
  /** The CPU id the BUFFER option gives each CPU's data (records name the index); by default the index. */
  cpuIds?: number[];
  compress: boolean;
  kallsyms: string;
  cmdlines: string;
  /** The UNAME option (`SYSNAME NODENAME RELEASE MACHINE`, as trace-cmd record writes it), or none. */
  uname?: string;
  /** The TRACECLOCK option (the kernel's clocks, the one in use in brackets: `[local] global ...`), or none. */
  traceClock?: string;
}

class Out {
  private parts: Uint8Array[] = [];
  length = 0;
  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.length += b.length;
    return this;
  }
  u16(v: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    return this.bytes(b);
  }
  u32(v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return this.bytes(b);
  }
  u64(v: number | bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    return this.bytes(b);
  }
  str(s: string): this {
    return this.bytes(Buffer.from(`${s}\0`, "latin1"));
  }
  text(s: string): this {
    return this.bytes(Buffer.from(s, "latin1"));
  }
  done(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

/** The format file of `system-name`, and its event id. */
export function datFormat(event: string): { text: string; id: number } {
  const text = readFileSync(`${DIR}${event}.format`, "latin1");
  const id = /^ID: (\d+)$/m.exec(text);
  if (id === null) throw new Error(`no ID in ${event}`);
  return { text, id: Number(id[1]) };
}

/** Little-endian u64/u32 fields of a payload. */
export function payload(fields: [number | bigint, 4 | 8][]): Uint8Array {
  const o = new Out();
  for (const [v, w] of fields)
    if (w === 8) o.u64(v);
    else o.u32(Number(v));
  return o.done();
}

function section(id: number, body: Uint8Array, compress: boolean): Uint8Array {
  const o = new Out()
    .u16(id)
    .u16(compress ? 1 : 0)
    .u32(0);
  if (!compress) return o.u64(body.length).bytes(body).done();
  const z = zstdCompressSync(body);
  return o
    .u64(8 + z.length)
    .u32(z.length)
    .u32(body.length)
    .bytes(z)
    .done();
}

/** One CPU's records as ring-buffer pages (time deltas, a time extend where a delta needs more than 27 bits). */
function pages(records: DatTestRecord[], ids: Map<string, number>): Uint8Array {
  const out = new Out();
  let i = 0;
  while (i < records.length) {
    const data = new Out();
    const pageTs = records[i].timestampNs;
    const missed = records[i].missedBefore;
    let ts = pageTs;
    while (i < records.length) {
      const r = records[i];
      if (data.length > 0 && r.missedBefore !== undefined) break;
      const len = 8 + r.payload.length;
      const padded = (len + 3) & ~3;
      let delta = r.timestampNs - ts;
      const extend = delta >= 2 ** 27;
      const need = (extend ? 8 : 0) + (padded <= 112 ? 4 : 8) + padded;
      if (data.length + need > PAGE - 16) break;
      if (extend) {
        data.u32(30 | ((delta % 2 ** 27) << 5)).u32(Math.floor(delta / 2 ** 27));
        delta = 0;
      }
      if (padded <= 112) data.u32((padded / 4) | (delta << 5));
      else data.u32(delta << 5).u32(padded + 4);
      const rec = new Uint8Array(padded);
      const dv = new DataView(rec.buffer);
      dv.setUint16(0, ids.get(r.event) ?? 0, true);
      dv.setUint8(2, r.flags);
      dv.setUint8(3, r.preemptCount);
      dv.setInt32(4, r.pid, true);
      rec.set(r.payload, 8);
      data.bytes(rec);
      ts = r.timestampNs;
      i++;
    }
    const body = data.done();
    const page = new Uint8Array(PAGE);
    const dv = new DataView(page.buffer);
    dv.setBigUint64(0, BigInt(pageTs), true);
    // The kernel adds the flags to the commit long: RB_MISSED_EVENTS is (1 << 31) as an int, so negative.
    // As the kernel, the count only where the page has room for it after the data.
    const stored = missed !== undefined && missed !== null && 16 + body.length + 8 <= PAGE;
    let commit = BigInt(body.length);
    if (missed !== undefined) commit += -(1n << 31n) + (stored ? 1n << 30n : 0n);
    dv.setBigUint64(8, BigInt.asUintN(64, commit), true);
    page.set(body, 16);
    if (stored) dv.setBigUint64(16 + body.length, BigInt(missed), true);
    out.bytes(page);
  }
  return out.done();
}

export function writeTraceDat(f: DatTestFile): Uint8Array {
  const names = [...new Set(f.records.map((r) => r.event))].sort();
  const ids = new Map<string, number>();
  const bySystem = new Map<string, string[]>();
  for (const n of names) {
    const fmt = datFormat(n);
    ids.set(n, fmt.id);
    const sys = n.slice(0, n.indexOf("-"));
    bySystem.set(sys, [...(bySystem.get(sys) ?? []), fmt.text]);
  }
  const header = new Out()
    .bytes(new Uint8Array([0x17, 0x08, 0x44]))
    .text("tracing")
    .str("7")
    .bytes(new Uint8Array([0, 8]))
    .u32(PAGE)
    .str(f.compress ? "zstd" : "none")
    .str(f.compress ? "1.5.4" : "");
  const hp = readFileSync(`${DIR}header_page`, "latin1");
  const headerInfo = new Out().str("header_page").u64(hp.length).text(hp).str("header_event").u64(0).done();
  const ef = new Out().u32(bySystem.size);
  for (const [sys, texts] of bySystem) {
    ef.str(sys).u32(texts.length);
    for (const t of texts) ef.u64(t.length).text(t);
  }
  const ks = new Out().u32(f.kallsyms.length).text(f.kallsyms).done();
  const cl = new Out().u64(f.cmdlines.length).text(f.cmdlines).done();
  const start = header.length + 8;
  const secs = [
    [16, section(16, headerInfo, f.compress)],
    [18, section(18, ef.done(), f.compress)],
    [19, section(19, ks, f.compress)],
    [21, section(21, cl, f.compress)],
  ] as const;
  const body = new Out();
  const offsets = new Map<number, number>();
  for (const [id, s] of secs) {
    offsets.set(id, start + body.length);
    body.bytes(s);
  }
  // CPU data, each at a page-aligned offset.
  const cpuData: { offset: number; size: number }[] = [];
  for (let cpu = 0; cpu < f.cpus; cpu++) {
    const pad = (PAGE - ((start + body.length) % PAGE)) % PAGE;
    body.bytes(new Uint8Array(pad));
    const raw = pages(
      f.records.filter((r) => r.cpu === cpu),
      ids,
    );
    let stored: Uint8Array = raw;
    if (f.compress) {
      // In chunks of ten pages, each compressed on its own, as trace-cmd writes them.
      const out = new Out().u32(Math.ceil(raw.length / CHUNK));
      for (let at = 0; at < raw.length; at += CHUNK) {
        const piece = raw.subarray(at, at + CHUNK);
        const z = zstdCompressSync(piece);
        out.u32(z.length).u32(piece.length).bytes(z);
      }
      stored = out.done();
    }
    cpuData.push({ offset: start + body.length, size: stored.length });
    body.bytes(stored);
  }
  const optionsAt = start + body.length;
  const opts = new Out();
  const buffer = new Out().u64(0).str("").str("global").u32(f.cpus);
  for (let cpu = 0; cpu < f.cpus; cpu++)
    buffer
      .u32(f.cpuIds?.[cpu] ?? cpu)
      .u64(cpuData[cpu].offset)
      .u64(cpuData[cpu].size);
  const b = buffer.done();
  opts.u16(3).u32(b.length).bytes(b);
  if (f.traceClock !== undefined) {
    const c = new Out().str(f.traceClock).done();
    opts.u16(4).u32(c.length).bytes(c);
  }
  if (f.uname !== undefined) {
    const u = new Out().str(f.uname).done();
    opts.u16(5).u32(u.length).bytes(u);
  }
  for (const id of [16, 18, 19, 21])
    opts
      .u16(id)
      .u32(8)
      .u64(offsets.get(id) ?? 0);
  opts.u16(0).u32(8).u64(0);
  body.bytes(section(0, opts.done(), false));
  return new Out().bytes(header.done()).u64(optionsAt).bytes(body.done()).done();
}
