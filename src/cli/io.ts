/**
 * File and process adapters of the CLI: the one way each command reads its
 * inputs, writes its outputs, ends on a closed stdout and stops on Ctrl-C.
 *
 * Inputs (`readText`, `readChunks`) go through `stdx/node-input.ts`.
 * Outputs (`writeOutput`): `-` is stdout; a regular file is written to a
 * temporary file beside it and renamed over it, so it is whole or not
 * there; a symlink is written through (its target is replaced, the link
 * stays); a device or FIFO (`/dev/stdout`, `/dev/null`) is written directly,
 * never replaced. A set of report files (`prepareOutputSet`) is written into
 * a staging directory inside the output directory and moved in together at
 * the end, so a run killed midway leaves the last complete set. A closed
 * stdout (`| head -1`) ends the command quietly with status 0; Ctrl-C
 * during a command that installs `onInterrupt` keeps what is finished and
 * exits 130 without a stack.
 */

import { dirname, join, resolve } from "node:path";
import { asInputError, InputError } from "../face/errors.ts";
import { errnoText, inputChunks, inputName, readInputBytes, readInputText } from "../node-input.ts";
import { removeWhenGone } from "./temp-dir.ts";

// node:fs through getBuiltinModule: an ESM import of it builds its whole
// namespace, whose fs.promises getter loads the promise API and readline,
// part of the start-up time of every command.
const {
  chmodSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} = process.getBuiltinModule("node:fs");

/** Reads a whole text input (`-` is stdin, gzip read decompressed), up to a size limit (`maxBytes`, else the default). */
export function readText(path: string, maxBytes?: number): string {
  return readInputText(path, maxBytes);
}

/** Reads a whole input as bytes (`-` is stdin, gzip read decompressed), up to a size limit. */
export function readBytes(path: string): Uint8Array {
  return readInputBytes(path);
}

/** Streams an input's bytes to `sink` in chunks (`-` is stdin, gzip decompressed on the fly). */
export async function readChunks(path: string, sink: (chunk: Uint8Array) => void): Promise<void> {
  for await (const chunk of inputChunks(path)) sink(chunk);
}

export { inputName };

/** Text, bytes, or pieces of bytes written in order (each may be reused once the next is taken). */
type OutputData = string | Uint8Array | Iterable<Uint8Array>;

function cannotWrite(path: string, e: unknown): InputError {
  return e instanceof InputError ? e : new InputError(`${path}: cannot write: ${errnoText(e)}`);
}

function writeAll(fd: number, data: OutputData): void {
  const parts = typeof data === "string" ? [Buffer.from(data)] : data instanceof Uint8Array ? [data] : data;
  for (const part of parts) {
    let at = 0;
    while (at < part.length) at += writeSync(fd, part, at, part.length - at);
  }
}

/** What writing to `path` means: a new or replaced regular file (at its real path), or a direct write. */
function outputTarget(path: string): { kind: "file"; path: string; mode: number | null } | { kind: "direct" } {
  let p = path;
  for (let hops = 0; hops < 40; hops++) {
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { kind: "file", path: p, mode: null };
      throw cannotWrite(path, e);
    }
    // /dev/stdout, /dev/fd/N, /proc/self/fd/N name an open file, perhaps the
    // very file the shell redirected stdout to: written directly, never replaced.
    if (/^\/(dev|proc)\//.test(resolve(p))) return { kind: "direct" };
    if (st.isSymbolicLink()) {
      // Written through: the link's target is the file (a dangling link creates it).
      p = resolve(dirname(p), readlinkSync(p));
      continue;
    }
    if (st.isDirectory()) throw new InputError(`${path}: expected a file to write, found a directory`);
    if (st.isFile()) return { kind: "file", path: p, mode: st.mode & 0o7777 };
    return { kind: "direct" };
  }
  throw new InputError(`${path}: cannot write: too many levels of symbolic links`);
}

/**
 * Checks early that `path` can be written (its directory exists or is made,
 * and is writable), so a bad path fails before minutes of work, not after.
 */
export function checkOutput(path: string): void {
  if (path === "-") return;
  const t = outputTarget(path);
  if (t.kind === "direct") return;
  ensureDir(dirname(t.path));
  const probe = join(dirname(t.path), `.${process.pid}.iovalab-probe`);
  try {
    closeSync(openSync(probe, "wx"));
    rmSync(probe, { force: true });
  } catch (e) {
    throw new InputError(`${path}: cannot write: ${errnoText(e)}`);
  }
}

/** Writes one output (see the file header for what each kind of path means). */
export async function writeOutput(path: string, data: OutputData): Promise<void> {
  if (path === "-" || isStdout(path)) {
    const parts = typeof data === "string" || data instanceof Uint8Array ? [data] : data;
    for (const part of parts) await writeStdout(part);
    return;
  }
  try {
    const t = outputTarget(path);
    if (t.kind === "direct") {
      // No truncation, appended: `--walks /dev/stdout > f` adds to what stdout wrote to f.
      const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND);
      try {
        writeAll(fd, data);
      } finally {
        closeSync(fd);
      }
      return;
    }
    writeFileWhole(t.path, data, t.mode);
  } catch (e) {
    throw cannotWrite(path, e);
  }
}

let tmpCount = 0;

/** Whether `path` names the file stdout is open on (`/dev/stdout`, `/dev/fd/1`, or the file stdout goes to). */
function isStdout(path: string): boolean {
  try {
    const a = statSync(path);
    const b = fstatSync(1);
    return a.dev === b.dev && a.ino === b.ino && !a.isCharacterDevice();
  } catch {
    return false;
  }
}

/**
 * A temporary file beside `path`, then a rename over it. Ctrl-C while it is
 * written (one synchronous stretch: no handler runs) ends the process at
 * once, so the file's remover is started first (`removeWhenGone`) and
 * stopped once the file is renamed; `staged`: the file is in an output
 * set's staging directory, which the next run into that directory removes.
 */
function writeFileWhole(path: string, data: OutputData, mode: number | null, staged = false): void {
  const tmp = join(dirname(path), `.${process.pid}.${++tmpCount}.iovalab-tmp`);
  const remover = staged ? undefined : removeWhenGone(tmp);
  try {
    const fd = openSync(tmp, "wx");
    try {
      writeAll(fd, data);
    } finally {
      closeSync(fd);
    }
    if (mode !== null) chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    remover?.kill("SIGKILL");
  }
}

/**
 * Makes directory `dir` and its parents, one level at a time: Node's
 * recursive mkdir loops forever on a path under /proc. A file in the way
 * is a clean error.
 */
export function ensureDir(dir: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") throw new InputError(`${dir}: cannot use as a directory: ${errnoText(e)}`);
    const parent = dirname(dir);
    if (parent !== dir) ensureDir(parent);
    try {
      mkdirSync(dir);
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === "EEXIST" && statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
        return;
      }
      throw new InputError(`${dir}: cannot create the directory: ${errnoText(e2)}`);
    }
    return;
  }
  if (!st.isDirectory()) throw new InputError(`${dir}: expected a directory, found a file`);
}

const STAGING_PREFIX = ".iovalab-staging-";

/** A set of files that appear in a directory together, or not at all. */
export interface OutputSet {
  /** Writes the files into the staging directory, then moves them all in. */
  commit(files: readonly (readonly [name: string, data: OutputData])[]): void;
  /** Removes the staging directory (an error before commit). */
  abort(): void;
}

/**
 * Prepares writing a set of files into `dir`: makes it, removes the staging
 * directories of earlier runs that were killed, and makes this run's, so a
 * directory that cannot be written fails now.
 */
export function prepareOutputSet(dir: string): OutputSet {
  ensureDir(dir);
  for (const name of safeReaddir(dir)) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const pid = Number(name.slice(STAGING_PREFIX.length));
    if (Number.isSafeInteger(pid) && pid !== process.pid && !alive(pid)) {
      rmSync(join(dir, name), { recursive: true, force: true });
    }
  }
  const staging = join(dir, `${STAGING_PREFIX}${process.pid}`);
  try {
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging);
  } catch (e) {
    throw new InputError(`${dir}: cannot write: ${errnoText(e)}`);
  }
  const abort = () => rmSync(staging, { recursive: true, force: true });
  process.once("exit", abort);
  return {
    commit(files) {
      try {
        for (const [name, data] of files) writeFileWhole(join(staging, name), data, null, true);
        // The renames run back to back, after every file is whole.
        for (const [name] of files) renameSync(join(staging, name), join(dir, name));
      } catch (e) {
        abort();
        throw cannotWrite(dir, e);
      }
      abort();
    },
    abort,
  };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw new InputError(`${dir}: cannot read the directory: ${errnoText(e)}`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Writes to stdout and resolves once it is flushed (large outputs to pipes). */
export function writeStdout(text: string | Uint8Array): Promise<void> {
  guardStdout();
  return new Promise((resolve) => {
    process.stdout.write(text, (err) => {
      // A closed stdout ends the command quietly (the 'error' handler of
      // `guardStdout`); never resolving keeps the command from writing on.
      if (!err) resolve();
    });
  });
}

/**
 * Writes bytes to stdout (fd 1) at once, without `process.stdout`: making
 * that stream on a pipe loads Node's network modules, a good part of the
 * start-up of a short command. Ends the process as `guardStdout` does on a
 * closed or failing stdout; waits and retries while a non-blocking stdout
 * is full. Nothing else may have stdout writes in flight (`writeStdout`
 * resolves only once its write is done, so awaited writes are).
 */
export function writeStdoutSync(data: Uint8Array): void {
  let at = 0;
  while (at < data.length) {
    try {
      at += writeSync(1, data, at, data.length - at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        continue;
      }
      stdoutFailed(e as NodeJS.ErrnoException);
    }
  }
}

/** A closed stdout ends the command quietly, with its status so far; any other failure is an error. */
function stdoutFailed(e: NodeJS.ErrnoException): never {
  if (e.code === "EPIPE" || e.code === "ERR_STREAM_DESTROYED") process.exit(process.exitCode ?? 0);
  process.stderr.write(`iovalab: cannot write to stdout: ${errnoText(e)}\n`);
  process.exit(1);
}

let stdoutGuarded = false;

/**
 * The one way to end on a closed stdout (`iovalab ... | head -1`): quietly,
 * with status 0, as the Unix tools do. Installed by main.ts for every command
 * but the plain `ops` one (which writes with `writeStdoutSync`), and by
 * `writeStdout` at its first use; once.
 */
export function guardStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on("error", stdoutFailed);
}

let interrupted = false;

/**
 * The one way to stop on Ctrl-C for a command with work in flight (workers):
 * `stop` keeps what is finished, then the process exits 130 with one line
 * on stderr and no stack; errors the stop causes in flight are not reported.
 * Returns the function that removes the handler. Commands that compute
 * synchronously need none: the default SIGINT ends them at once, and their
 * outputs are written whole or not at all.
 */
export function onInterrupt(message: string, stop: () => Promise<void> | void): () => void {
  const handler = () => {
    interrupted = true;
    process.stderr.write(`\niovalab: interrupted; ${message}\n`);
    void Promise.resolve()
      .then(stop)
      .catch(() => {})
      .finally(() => process.exit(130));
  };
  process.once("SIGINT", handler);
  return () => process.removeListener("SIGINT", handler);
}

/**
 * Runs a command body with the CLI's exit-status contract: 0 on success, 2 on
 * bad input (the message alone, no stack), 1 on an internal error.
 */
export async function runCommand(body: () => Promise<void> | void): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (interrupted) {
      // The interrupt handler is stopping the command and exits with 130.
      await new Promise(() => {});
    }
    const input = asInputError(e);
    if (input !== null) {
      process.stderr.write(`iovalab: ${input.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`iovalab: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
}
