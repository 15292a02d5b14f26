/**
 * The Node adapter of the trace readers (the one file of `trace/`
 * that touches the file system): streams a trace file, plain or gzip (told
 * by its magic bytes, not its name), as text chunks in constant memory, so
 * multi-GB traces never sit in memory whole. `-` is stdin.
 */

import { inputChunks } from "../stdx/node-input.ts";
import type { TraceEvent } from "./events.ts";
import { TraceReader, type TraceReaderOptions } from "./reader.ts";

/**
 * Text chunks of a trace file (`-` for stdin; gzip decompressed on the fly),
 * opened the one way every input is (stdx/node-input.ts): a directory, a
 * device or a missing file is a clean error.
 */
export async function* traceChunks(path: string): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of inputChunks(path)) {
    const text = decoder.decode(chunk, { stream: true });
    if (text !== "") yield text;
  }
  const rest = decoder.decode();
  if (rest !== "") yield rest;
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
