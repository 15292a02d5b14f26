/**
 * The Node adapter of the trace readers (the one file of `trace/`
 * that touches the file system): streams a trace file, plain or gzip, or
 * decodes a trace-cmd `trace.dat` (told by their magic bytes, not their
 * names), in constant memory, so multi-GB traces never sit in memory whole.
 * `-` is stdin (text only: a trace.dat needs random access).
 */

import { closeSync, createReadStream, fstatSync, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip, inflateSync, zstdDecompressSync } from "node:zlib";
import { InputError } from "../stdx/errors.ts";
import { DatError, type DatSource, type Decompress, isTraceDat, TraceDat } from "./dat.ts";
import type { TraceEvent } from "./events.ts";
import { TraceReader, type TraceReaderOptions } from "./reader.ts";

const CHUNK_BYTES = 1 << 20;

type FileKind = "gzip" | "dat" | "text";

function openOrThrow(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    throw new InputError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function fileKind(path: string): FileKind {
  const fd = openOrThrow(path);
  try {
    const magic = Buffer.alloc(16);
    const n = readSync(fd, magic, 0, 16, 0);
    if (n >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return "gzip";
    if (isTraceDat(magic.subarray(0, n))) return "dat";
    return "text";
  } finally {
    closeSync(fd);
  }
}

function isGzip(path: string): boolean {
  return fileKind(path) === "gzip";
}

/** trace.dat's compressed blocks with Node's zlib (zstd since Node 23.8). */
export const nodeDecompress: Decompress = (algorithm, data, size) => {
  if (algorithm !== "zstd" && algorithm !== "zlib") {
    throw new DatError(`expected zstd or zlib compression, found ${JSON.stringify(algorithm)}`);
  }
  let out: Buffer;
  try {
    const opts = { maxOutputLength: Math.max(size, 1) };
    out = algorithm === "zstd" ? zstdDecompressSync(data, opts) : inflateSync(data, opts);
  } catch (e) {
    throw new DatError(`expected a ${algorithm} block of ${size} bytes, found corrupt data (${(e as Error).message})`);
  }
  if (out.length !== size) throw new DatError(`expected a block of ${size} bytes, found ${out.length}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
};

/** A file read at offsets, never whole. */
function fileSource(fd: number): DatSource {
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const n = Math.max(0, Math.min(length, size - offset));
      const b = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const r = readSync(fd, b, got, n - got, offset + got);
        if (r === 0) break;
        got += r;
      }
      return new Uint8Array(b.buffer, b.byteOffset, got);
    },
  };
}

/** Reads a trace.dat record by record into `reader`. */
function readDat(path: string, reader: TraceReader, sink: (event: TraceEvent) => void): void {
  const fd = openOrThrow(path);
  try {
    const dat = new TraceDat(fileSource(fd), nodeDecompress);
    for (const r of dat.records()) {
      const ev = reader.record(r);
      if (ev !== null) sink(ev);
    }
  } catch (e) {
    if (e instanceof DatError) throw new InputError(`${path}: ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("ZSTD_"))
      throw new InputError(`${path}: corrupt zstd data (${code})`);
    if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") throw new InputError(`${path}: corrupt zlib data (${code})`);
    throw e;
  } finally {
    closeSync(fd);
  }
}

/** Byte chunks of a trace file (`-` for stdin; gzip decompressed on the fly). */
async function* byteChunks(path: string): AsyncGenerator<Buffer> {
  let stream: Readable;
  if (path === "-") {
    stream = process.stdin;
  } else {
    // Opening once here first turns a missing file into an InputError before any stream exists.
    const gzip = isGzip(path);
    const raw = createReadStream(path, { highWaterMark: CHUNK_BYTES });
    stream = gzip ? raw.pipe(createGunzip({ chunkSize: CHUNK_BYTES })) : raw;
    if (gzip) raw.on("error", (e) => stream.destroy(e));
  }
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") throw new InputError(`${path}: corrupt gzip data (${code})`);
    if (code !== undefined) throw new InputError(`${path}: cannot read: ${code}`);
    throw e;
  }
}

/**
 * Text chunks of a trace file that end at line ends (but the last): bytes
 * are cut after the chunk's last newline and decoded as UTF-8 in one go, so a
 * character is never split and the reader's lines rarely span two chunks.
 */
export async function* traceChunks(path: string): AsyncGenerator<string> {
  // The bytes after a chunk's last newline: joined with the next chunk's first
  // line (a small copy), never with the whole chunk.
  let carry: Buffer | null = null;
  let opening = true;
  for await (const chunk of byteChunks(path)) {
    if (opening && path === "-" && isTraceDat(chunk.subarray(0, 16))) {
      throw new InputError(
        "<stdin>: expected trace text, found a trace.dat (it needs random access: give its file name)",
      );
    }
    opening = false;
    let from = 0;
    if (carry !== null) {
      const first = chunk.indexOf(10);
      if (first < 0) {
        carry = Buffer.concat([carry, chunk]);
        continue;
      }
      yield Buffer.concat([carry, chunk.subarray(0, first + 1)]).toString("utf8");
      carry = null;
      from = first + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last < from) {
      carry = Buffer.from(chunk.subarray(from));
      continue;
    }
    if (last + 1 < chunk.length) carry = Buffer.from(chunk.subarray(last + 1));
    yield chunk.toString("utf8", from, last + 1);
  }
  if (carry !== null && carry.length > 0) yield carry.toString("utf8");
}

/**
 * Reads a trace file event by event: `sink` sees each DMA event in trace
 * order. Returns the reader with its counts and diagnostics.
 */
export async function readTraceFile(
  path: string,
  sink: (event: TraceEvent) => void,
  options: Partial<TraceReaderOptions> = {},
): Promise<TraceReader> {
  const reader = new TraceReader({ file: path === "-" ? "<stdin>" : path, ...options });
  await readTraceInto(path, reader, sink);
  return reader;
}

/** Reads a trace file into a reader the caller made (to look at its counts while events stream). */
export async function readTraceInto(
  path: string,
  reader: TraceReader,
  sink: (event: TraceEvent) => void,
): Promise<void> {
  if (path !== "-" && fileKind(path) === "dat") {
    readDat(path, reader, sink);
    return;
  }
  for await (const chunk of traceChunks(path)) reader.push(chunk, sink);
  reader.end(sink);
}
