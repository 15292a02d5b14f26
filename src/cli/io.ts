/**
 * File and process adapters of the CLI: the only place that touches the file
 * system for the model's commands. Output files are written whole or not at
 * all (a temporary file, then a rename).
 */

import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { InputError } from "../stdx/errors.ts";

/** Reads a whole text file; `-` is stdin, `*.gz` is read decompressed. */
export function readText(path: string): string {
  return readBytes(path).toString("utf8");
}

/** Reads a whole file as bytes; `-` is stdin, `*.gz` is read decompressed. */
export function readBytes(path: string): Buffer {
  let data: Buffer;
  try {
    data = path === "-" ? readFileSync(0) : readFileSync(path);
  } catch (e) {
    throw new InputError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (path.endsWith(".gz")) {
    try {
      data = gunzipSync(data);
    } catch {
      throw new InputError(`${path}: expected gzip data, found something else`);
    }
  }
  return data;
}

/** Writes `data` to `path` atomically: a temporary file beside it, then a rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new InputError(`${path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Writes to stdout and resolves once it is flushed (large outputs to pipes). */
export function writeStdout(text: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Runs a command body with the CLI's exit-status contract: 0 on success, 2 on
 * bad input (the message alone, no stack), 1 on an internal error.
 */
export async function runCommand(body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`iovalab: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`iovalab: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
}
