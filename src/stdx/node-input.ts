/**
 * The one way iovalab opens an input (a Node adapter: the command line and
 * the trace file source use it; the model never does). Every input goes
 * through the same checks, so every command answers a bad path the same way:
 *
 * - `-` is stdin; anything else is opened once, and what it is decides:
 *   a directory or a device (other than a terminal) is refused by name, a
 *   missing or unreadable file is a clean `FILE: cannot read: ...`;
 * - gzip is told by its magic bytes, not the file's name, and a corrupt or
 *   cut gzip stream is a clean error too;
 * - a format that needs random access (trace.dat) opens a regular file for
 *   positioned reads (`openRandomAccess`), after the same checks;
 * - a file read whole (YAML, machine descriptions) has a size limit, after
 *   decompression, so `/dev/stdin` fed from an endless pipe or a gzip bomb
 *   ends in an error, not in memory exhaustion; streamed inputs (traces,
 *   scripts) are read in constant memory and limit their line length
 *   themselves.
 *
 * Errors are `InputError`s: bad input, exit status 2, never an internal error.
 */

import type { Readable } from "node:stream";
import { InputError } from "./errors.ts";

// node:fs through getBuiltinModule: an ESM import of it builds its whole
// namespace, whose fs.promises getter loads the promise API and readline.
const { closeSync, createReadStream, fstatSync, openSync, readSync } = process.getBuiltinModule("node:fs");

// Modules only some inputs need (a terminal, a pipe, gzip), loaded when one
// does: each costs every command's start-up time otherwise (`tty` brings in
// the network modules).
const tty = () => process.getBuiltinModule("node:tty");
const stream = () => process.getBuiltinModule("node:stream");
const zlib = () => process.getBuiltinModule("node:zlib");

/** The largest file read whole: YAML scenarios and machine descriptions are kilobytes. */
export const MAX_WHOLE_INPUT_BYTES = 16 << 20;

const CHUNK_BYTES = 1 << 20;

/**
 * The decompressed chunk of a gzip stream. Each chunk costs the reading
 * thread a hand-off to the decompressing one and a turn of the stream and
 * its async iterators (tens of microseconds), so chunks are not small; nor
 * megabyte ones, which are mapped and faulted in anew every time and held
 * ahead of the reader: at 256 KiB a chunk comes from memory already in use,
 * and reading a trace takes about 0.93 of the CPU of 64 KiB chunks at the
 * same peak memory.
 */
const GUNZIP_CHUNK_BYTES = 256 << 10;

/** How an input is named in messages. */
export function inputName(path: string): string {
  return path === "-" ? "<stdin>" : path;
}

/** A system error as a person reads it: `no such file or directory`, not `ENOENT`. */
export function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    case "ENOTDIR":
      return "a part of the path is not a directory";
    case "ELOOP":
      return "too many levels of symbolic links";
    case "ENAMETOOLONG":
      return "the name is too long";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    case "EFBIG":
      return "file too large";
    case "EDQUOT":
      return "disk quota exceeded";
    case "EEXIST":
      return "it exists";
    case "EIO":
      return "input/output error";
    case "ENXIO":
      return "no such device or address";
    case "EMFILE":
    case "ENFILE":
      return "too many open files";
    default:
      return err?.code ?? String(err?.message ?? err);
  }
}

interface OpenInput {
  fd: number;
  /** A regular file: read with positioned reads; anything else is a stream. */
  regular: boolean;
  size: number;
}

/** Opens `path` for reading (`-`: stdin) after the checks of the file header. */
function openInput(path: string): OpenInput {
  const name = inputName(path);
  let fd: number;
  if (path === "-") fd = 0;
  else {
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
    }
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new InputError(`${name}: expected a file, found a directory`);
    if ((st.isCharacterDevice() && !tty().isatty(fd)) || st.isBlockDevice()) {
      throw new InputError(`${name}: expected a file, found a device`);
    }
    return { fd, regular: st.isFile(), size: st.size };
  } catch (e) {
    if (fd !== 0) closeSync(fd);
    if (e instanceof InputError) throw e;
    throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
  }
}

/** The compressions an input is read through (Node's zlib has both). */
type Compression = "gzip" | "zstd";

/** Bytes at an input's start enough to tell its compression. */
const MAGIC_BYTES = 6;

/**
 * The compression `b`, an input's first bytes, starts with, or null for
 * none; one Node cannot read (xz, bzip2, lz4) is bad input, said so.
 */
function compressionOf(b: Uint8Array, name: string): Compression | null {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return "zstd";
  const other =
    b.length >= 6 && b[0] === 0xfd && b[1] === 0x37 && b[2] === 0x7a && b[3] === 0x58 && b[4] === 0x5a && b[5] === 0
      ? "xz"
      : b.length >= 4 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68 && b[3] >= 0x31 && b[3] <= 0x39
        ? "bzip2"
        : b.length >= 4 && b[0] === 0x04 && b[1] === 0x22 && b[2] === 0x4d && b[3] === 0x18
          ? "lz4"
          : null;
  if (other !== null) {
    throw new InputError(
      `${name}: expected text, gzip or zstd, found ${other} data: decompress it first (${other} -d), or compress it with gzip or zstd`,
    );
  }
  return null;
}

/** The first bytes of a regular file (fewer for a shorter one). */
function magicOf(fd: number, name: string): Buffer {
  const magic = Buffer.alloc(MAGIC_BYTES);
  try {
    return magic.subarray(0, readSync(fd, magic, 0, MAGIC_BYTES, 0));
  } catch (e) {
    throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
  }
}

/** Blocks the thread for `ms` (a non-blocking stdin with nothing to read yet). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function tooLarge(name: string, max: number): InputError {
  return new InputError(`${name}: expected at most ${max >> 20} MiB, found a larger input`);
}

/**
 * Reads a whole input as bytes (decompressed when it is gzip), at most
 * `maxBytes` of them.
 */
export function readInputBytes(path: string, maxBytes = MAX_WHOLE_INPUT_BYTES): Uint8Array {
  const name = inputName(path);
  const input = openInput(path);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(input.fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") {
          pause(5);
          continue;
        }
        throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
      }
      if (n === 0) break;
      parts.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooLarge(name, maxBytes);
    }
  } finally {
    if (input.fd !== 0) closeSync(input.fd);
  }
  const data = Buffer.concat(parts, total);
  const compression = compressionOf(data, name);
  if (compression === null) return data;
  try {
    const opts = { maxOutputLength: maxBytes };
    return compression === "gzip" ? zlib().gunzipSync(data, opts) : zlib().zstdDecompressSync(data, opts);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw tooLarge(name, maxBytes);
    throw new InputError(`${name}: expected ${compression} data, found a corrupt or cut stream`);
  }
}

/** Reads a whole input as UTF-8 text (see `readInputBytes`). */
export function readInputText(path: string, maxBytes = MAX_WHOLE_INPUT_BYTES): string {
  return Buffer.from(readInputBytes(path, maxBytes)).toString("utf8");
}

/** A regular file read at offsets, never whole (formats that need random access, such as trace.dat). */
export interface RandomAccessInput {
  readonly size: number;
  /** Up to `length` bytes from `offset` (fewer at the end of the file); a fresh array. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/**
 * Opens `path` for positioned reads after the checks every input gets, or
 * returns null when it is no regular file (stdin, a pipe: those are read
 * once, as a stream, by `inputChunks`).
 */
export function openRandomAccess(path: string): RandomAccessInput | null {
  if (path === "-") return null;
  const name = inputName(path);
  const input = openInput(path);
  if (!input.regular) {
    closeSync(input.fd);
    return null;
  }
  const { fd, size } = input;
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      const n = Math.max(0, Math.min(length, size - offset));
      const b = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        let r: number;
        try {
          r = readSync(fd, b, got, n - got, offset + got);
        } catch (e) {
          throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
        }
        if (r === 0) break;
        got += r;
      }
      return new Uint8Array(b.buffer, b.byteOffset, got);
    },
    close(): void {
      closeSync(fd);
    },
  };
}

/**
 * An input's bytes in chunks, decompressed when it is gzip, in constant
 * memory. A chunk is valid until the next one is asked for (the reads of a
 * plain file reuse one buffer: a large fresh buffer per chunk costs more in
 * page faults than the read). Only errors of the input itself are caught
 * here: what the consumer throws passes through untouched.
 */
export async function* inputChunks(path: string, from = 0): AsyncGenerator<Uint8Array> {
  if (from > 0) {
    yield* inputChunksFrom(path, from);
    return;
  }
  const name = inputName(path);
  const input = openInput(path);
  let compressed = false;
  if (input.regular) {
    try {
      compressed = compressionOf(magicOf(input.fd, name), name) !== null;
    } catch (e) {
      if (input.fd !== 0) closeSync(input.fd);
      throw e;
    }
  }
  if (input.regular && !compressed) {
    try {
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      for (;;) {
        let n: number;
        try {
          n = readSync(input.fd, buf, 0, buf.length, null);
        } catch (e) {
          throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
        }
        if (n === 0) return;
        yield buf.subarray(0, n);
      }
    } finally {
      if (input.fd !== 0) closeSync(input.fd);
    }
  }
  const raw: Readable =
    input.fd === 0
      ? process.stdin
      : createReadStream("", { fd: input.fd, highWaterMark: CHUNK_BYTES, autoClose: true });
  try {
    const it = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let first: IteratorResult<Buffer>;
    try {
      first = await it.next();
    } catch (e) {
      throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
    }
    if (first.done) return;
    const compression = compressionOf(first.value, name);
    if (compression === null) {
      yield first.value;
      for (;;) {
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (e) {
          throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
        }
        if (r.done) return;
        yield r.value;
      }
    }
    yield* decompressStream(name, compression, first.value, it);
  } finally {
    if (raw !== process.stdin) raw.destroy();
  }
}

/**
 * Whether `path` can be read again from its start: a regular file. Stdin,
 * and a pipe named as a file (`/dev/stdin`, the shell's `<(zcat T.gz)`), give
 * their bytes once.
 */
export function isRereadable(path: string): boolean {
  if (path === "-") return false;
  const input = openInput(path);
  closeSync(input.fd);
  return input.regular;
}

/**
 * Whether `path` is a regular file whose content is its bytes (not gzip nor
 * zstd): `inputChunks` from a byte past its start reads from there, where a
 * compressed one is decompressed from its start every time.
 */
export function isPlainFile(path: string): boolean {
  if (path === "-") return false;
  const input = openInput(path);
  try {
    return input.regular && compressionOf(magicOf(input.fd, inputName(path)), inputName(path)) === null;
  } finally {
    closeSync(input.fd);
  }
}

/**
 * `inputChunks` from byte `from` of the input's content (decompressed when
 * it is gzip): a plain regular file is read from there; anything else is
 * read, or decompressed, from its start and the bytes before `from` dropped
 * (gzip has no way in but from its start).
 */
async function* inputChunksFrom(path: string, from: number): AsyncGenerator<Uint8Array> {
  if (path !== "-") {
    const input = openInput(path);
    try {
      const plain = input.regular && compressionOf(magicOf(input.fd, inputName(path)), inputName(path)) === null;
      if (plain) {
        const buf = Buffer.allocUnsafe(CHUNK_BYTES);
        for (let at = from; ; ) {
          const n = readSync(input.fd, buf, 0, buf.length, at);
          if (n === 0) return;
          at += n;
          yield buf.subarray(0, n);
        }
      }
    } catch (e) {
      if (e instanceof InputError) throw e;
      throw new InputError(`${path}: cannot read: ${errnoText(e)}`);
    } finally {
      closeSync(input.fd);
    }
  }
  let skip = from;
  for await (const chunk of inputChunks(path)) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    yield skip === 0 ? chunk : chunk.subarray(skip);
    skip = 0;
  }
}

/** The decompressed bytes of a gzip or zstd stream whose first chunk is `first`. */
async function* decompressStream(
  name: string,
  compression: Compression,
  first: Buffer,
  rest: AsyncIterator<Buffer>,
): AsyncGenerator<Uint8Array> {
  async function* compressed(): AsyncGenerator<Buffer> {
    yield first;
    for (;;) {
      const r = await rest.next();
      if (r.done) return;
      yield r.value;
    }
  }
  const source = stream().Readable.from(compressed(), { objectMode: false });
  const gunzip =
    compression === "gzip"
      ? zlib().createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES })
      : zlib().createZstdDecompress({ chunkSize: GUNZIP_CHUNK_BYTES });
  source.on("error", (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code.startsWith("Z_") || code.startsWith("ZSTD_"))
      throw new InputError(`${name}: expected ${compression} data, found a corrupt or cut stream`);
    throw new InputError(`${name}: cannot read: ${errnoText(e)}`);
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
