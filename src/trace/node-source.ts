/**
 * The Node adapter of the trace readers (the one file of `trace/`
 * that touches the file system): streams a trace file, plain or gzip, or
 * decodes a trace-cmd `trace.dat` (told by their magic bytes, not their
 * names), in constant memory, so multi-GB traces never sit in memory whole.
 * `-` is stdin (text only: a trace.dat needs random access). Files are
 * opened the one way every input is (stdx/node-input.ts): a directory, a
 * device or a missing file is a clean error.
 */

import { inflateSync, zstdDecompressSync } from "node:zlib";
import { InputError } from "../stdx/errors.ts";
import { inputChunks, inputName, openRandomAccess, type RandomAccessInput } from "../stdx/node-input.ts";
import { DatError, type DatPosition, type Decompress, isTraceDat, TraceDat } from "./dat.ts";
import type { TraceEvent } from "./events.ts";
import { LOSS_MARKER_WORDS } from "./line.ts";
import { MAX_TRACE_LINE, TraceReader, type TraceReaderOptions } from "./reader.ts";

// node:fs through getBuiltinModule, as stdx/node-input.ts takes it (an ESM import builds its whole namespace).
const { closeSync, openSync, writeSync } = process.getBuiltinModule("node:fs");

/** Where in a trace's content (decompressed) the byte chunk last yielded starts; -1 for text. */
export interface ChunkOffset {
  offset: number;
}

/** How many bytes of a file tell a trace.dat (its magic, `tracing`, version). */
const DAT_HEAD_BYTES = 16;

/**
 * The most bytes held while waiting for a line's end: past it they go to the
 * reader as they are, which reports the line as too long and skips the rest
 * of it (a UTF-8 character takes at most 4 bytes).
 */
const MAX_CARRY_BYTES = 4 * MAX_TRACE_LINE;

/** trace.dat's compressed blocks with Node's zlib (zstd since Node 23.8). */
export const nodeDecompress: Decompress = (algorithm, data, size) => {
  if (algorithm !== "zstd" && algorithm !== "zlib") {
    throw new DatError(`expected zstd or zlib compression, found ${JSON.stringify(algorithm)}`);
  }
  let out: Buffer;
  try {
    // One output buffer of the block's size (up to 1 MiB; a corrupt size asks for no more): zlib's
    // default 16 KiB pieces, joined, left three times the garbage per 40 KiB chunk of CPU data.
    const opts = { maxOutputLength: Math.max(size, 1), chunkSize: Math.min(Math.max(size, 64), 1 << 20) };
    out = algorithm === "zstd" ? zstdDecompressSync(data, opts) : inflateSync(data, opts);
  } catch (e) {
    throw new DatError(`expected a ${algorithm} block of ${size} bytes, found corrupt data (${(e as Error).message})`);
  }
  if (out.length !== size) throw new DatError(`expected a block of ${size} bytes, found ${out.length}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
};

/** Reads a trace.dat record by record into `reader`; with `from`, from where an earlier reading was. */
function readDat(
  path: string,
  file: RandomAccessInput,
  reader: TraceReader,
  sink: (event: TraceEvent) => void,
  from?: DatPosition,
): void {
  try {
    const dat = new TraceDat(file, nodeDecompress);
    reader.headerCpusAre(dat.cpuCount);
    const release = dat.release;
    if (release !== null) reader.releaseIs(release);
    const clock = dat.clock;
    if (clock !== null) reader.clockIs(clock);
    dat.readInto(
      {
        nextLine: () => reader.nextLine(),
        event: (e) => sink(reader.recordEvent(e)),
        record: (r) => {
          const ev = reader.record(r);
          if (ev !== null) sink(ev);
        },
        lost: (cpu, events, position) => {
          reader.datPosition = position;
          try {
            reader.lost({ afterLine: reader.nextLine() - 1, cpu, events });
          } finally {
            reader.datPosition = null;
          }
        },
      },
      from,
    );
  } catch (e) {
    if (e instanceof DatError) throw new InputError(`${path}: ${e.message}`);
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("ZSTD_"))
      throw new InputError(`${path}: corrupt zstd data (${code})`);
    if (code === "Z_DATA_ERROR" || code === "Z_BUF_ERROR") throw new InputError(`${path}: corrupt zlib data (${code})`);
    throw e;
  }
}

/**
 * Text chunks of a trace file that end at line ends (but the last): bytes
 * are cut after the chunk's last newline and decoded as UTF-8 in one go, so a
 * character is never split and the reader's lines rarely span two chunks.
 * A run of bytes without a newline is held up to MAX_CARRY_BYTES only; past
 * that it is decoded as a stream (a character may then span two chunks) and
 * the reader's line limit takes over.
 */
export async function* traceChunks(path: string): AsyncGenerator<string> {
  for await (const c of traceByteChunks(path))
    yield typeof c === "string" ? c : Buffer.from(c.buffer, c.byteOffset, c.length).toString("utf8");
}

/**
 * `traceChunks` before decoding: the chunks that start at a line's start,
 * as bytes (valid until the next one is asked for), for the reader to read
 * in place (`TraceReader.pushBytes`); the pieces of an overlong line, which
 * may split a character, come decoded as a stream, as text.
 */
export async function* traceByteChunks(
  path: string,
  from = 0,
  at: ChunkOffset = { offset: -1 },
  source: AsyncIterable<Uint8Array> = inputChunks(path, from),
): AsyncGenerator<Uint8Array | string> {
  // The bytes after a chunk's last newline: joined with the next chunk's first
  // line (a small copy), never with the whole chunk; and where they start in the content.
  let carry: Buffer | null = null;
  let carryAt = -1;
  // Where the chunk being cut starts in the content.
  let chunkAt = from;
  // Decodes the bytes of an overlong line, which may end inside a character;
  // a newline never lies inside one, so it holds nothing after a newline.
  const decoder = new TextDecoder("utf-8");
  let inLongLine = false;
  let opening = from === 0;
  let next = from;
  for await (const bytes of source) {
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    chunkAt = next;
    next += chunk.length;
    if (opening && isTraceDat(chunk.subarray(0, DAT_HEAD_BYTES))) {
      throw new InputError(
        `${inputName(path)}: expected trace text, found a trace.dat (it needs random access: give its file name)`,
      );
    }
    opening = false;
    let cut = 0;
    if (inLongLine || carry !== null) {
      const first = chunk.indexOf(10);
      const end = first < 0 ? chunk.length : first + 1;
      if (!inLongLine && carry !== null && carry.length + end <= MAX_CARRY_BYTES) {
        if (first < 0) {
          // `chunk` is only valid until the next one is asked for: copied.
          carry = Buffer.concat([carry, chunk]);
          continue;
        }
        at.offset = carryAt;
        yield Buffer.concat([carry, chunk.subarray(0, end)]);
      } else {
        at.offset = -1;
        if (carry !== null) yield decoder.decode(carry, { stream: true });
        const text = decoder.decode(chunk.subarray(0, end), { stream: true });
        if (text !== "") yield text;
        inLongLine = first < 0;
        if (inLongLine) {
          carry = null;
          continue;
        }
      }
      carry = null;
      cut = end;
    }
    const last = chunk.lastIndexOf(10);
    if (last < cut) {
      if (cut < chunk.length) {
        carry = Buffer.from(chunk.subarray(cut));
        carryAt = chunkAt + cut;
      }
      continue;
    }
    if (last + 1 < chunk.length) {
      carry = Buffer.from(chunk.subarray(last + 1));
      carryAt = chunkAt + last + 1;
    }
    at.offset = chunkAt + cut;
    yield chunk.subarray(cut, last + 1);
  }
  at.offset = carryAt;
  if (carry !== null && carry.length > 0) yield carry;
  if (inLongLine) {
    const rest = decoder.decode();
    if (rest !== "") yield rest;
  }
}

/**
 * Whether the trace's content from byte `from` on holds any of `words`
 * (ASCII), searched in its bytes, no line decoded: a file's bytes from
 * there, a gzip's decompressed from its start. With `copy`, every chunk is
 * handed to it, in order, and the search reads to the end.
 */
async function contentHolds(
  path: string,
  from: number,
  words: readonly string[],
  copy?: (chunk: Uint8Array) => void,
): Promise<boolean> {
  const needles = words.map((w) => Buffer.from(w, "latin1"));
  const keep = Math.max(...needles.map((n) => n.length)) - 1;
  let found = false;
  // The end of the chunk before, where a word may begin and go on into the next.
  let tail = Buffer.alloc(0);
  for await (const bytes of inputChunks(path, from)) {
    copy?.(bytes);
    if (found) continue;
    const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const seam = Buffer.concat([tail, chunk.subarray(0, keep)]);
    for (const n of needles) if (seam.includes(n) || chunk.includes(n)) found = true;
    if (found && copy === undefined) return true;
    tail = Buffer.from(chunk.subarray(Math.max(0, chunk.length - keep)));
  }
  return found;
}

/** Whether the trace's content from byte `from` on may hold a loss marker (false: it holds none). */
export function mayHoldLoss(path: string, from: number): Promise<boolean> {
  return contentHolds(path, from, LOSS_MARKER_WORDS);
}

/**
 * Writes the trace's content from byte `from` on (a gzip's decompressed)
 * to the new file `to`, and says whether it may hold a loss marker
 * (`mayHoldLoss`). A reading of `to` (`readTraceInto` with `base` = `from`)
 * then costs no decompression. A file that cannot be written is an error of
 * the file system (`to` may be left in part).
 */
export async function spillContent(path: string, from: number, to: string): Promise<boolean> {
  const fd = openSync(to, "wx");
  try {
    return await contentHolds(path, from, LOSS_MARKER_WORDS, (chunk) => {
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at, chunk.length - at);
    });
  } finally {
    closeSync(fd);
  }
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
  const reader = new TraceReader({ file: inputName(path), ...options });
  await readTraceInto(path, reader, sink);
  return reader;
}

/** Where a reading begins (`readTraceInto`), where it is not the trace's first byte. */
export interface ReadFrom {
  /** A text's content from this byte on, into a reader `restore`d to the lines before (`TraceReader.offsetAfterLine`). */
  from?: number;
  /** `path` holds a trace's content from this byte on (`spillContent`): the reader is told where each line is in the trace's. */
  base?: number;
  /** The content's chunks come from here rather than from `path` (a pipe's, copied as they are read: `cli/pipe-copy.ts`). */
  source?: AsyncIterable<Uint8Array>;
  /** A trace.dat from where an earlier reading was (`TraceReader.datPosition`), into a reader restored likewise. */
  dat?: DatPosition;
}

/** Reads a trace file into a reader the caller made (to look at its counts while events stream), from `at`. */
export async function readTraceInto(
  path: string,
  reader: TraceReader,
  sink: (event: TraceEvent) => void,
  at: ReadFrom = {},
): Promise<void> {
  const from = at.from ?? 0;
  const file = from > 0 || at.source !== undefined ? null : openRandomAccess(path);
  if (file !== null) {
    try {
      if (isTraceDat(file.read(0, DAT_HEAD_BYTES))) {
        readDat(path, file, reader, sink, at.dat);
        return;
      }
    } finally {
      file.close();
    }
  }
  const base = at.base ?? 0;
  const chunkAt: ChunkOffset = { offset: -1 };
  for await (const chunk of traceByteChunks(path, from, chunkAt, at.source ?? inputChunks(path, from))) {
    if (typeof chunk === "string") reader.push(chunk, sink);
    else reader.pushBytes(chunk, sink, base + chunkAt.offset);
  }
  reader.end(sink);
}
