/**
 * The Node adapter of the trace readers (the one file of `trace/`
 * that touches the file system): streams a trace file, plain or gzip (told
 * by its magic bytes, not its name), as text chunks in constant memory, so
 * multi-GB traces never sit in memory whole. `-` is stdin.
 */

import { closeSync, createReadStream, openSync, readSync } from "node:fs";
import type { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { InputError } from "../stdx/errors.ts";
import type { TraceEvent } from "./events.ts";
import { TraceReader, type TraceReaderOptions } from "./reader.ts";

const CHUNK_BYTES = 1 << 20;

function isGzip(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new InputError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const magic = Buffer.alloc(2);
    const n = readSync(fd, magic, 0, 2, 0);
    return n === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
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
  let carry: Buffer | null = null;
  for await (let chunk of byteChunks(path)) {
    if (carry !== null) {
      chunk = Buffer.concat([carry, chunk]);
      carry = null;
    }
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) {
      carry = chunk;
      continue;
    }
    if (nl + 1 < chunk.length) carry = chunk.subarray(nl + 1);
    yield chunk.toString("utf8", 0, nl + 1);
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
  for await (const chunk of traceChunks(path)) reader.push(chunk, sink);
  reader.end(sink);
  return reader;
}
