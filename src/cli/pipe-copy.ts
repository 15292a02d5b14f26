/**
 * A trace piped in (stdin, or a pipe named as a file: `/dev/stdin`, the
 * shell's `<(zcat T.gz)`) gives its bytes once. The replay reads some traces
 * more than once: a mid-life start whose learning phase ran past its cap, a
 * busy start's search and the replays from the states it finds, the spans
 * after a ring-buffer loss. So the first reading writes the content it reads
 * (decompressed) to a file in the OS's temporary directory as it goes, and
 * every later reading reads that file as it would the trace's own: a trace
 * piped in replays as its file does, however long it is.
 *
 * The copy costs the disk the trace's content takes, for as long as the
 * replay runs. A copy that cannot be written (no space left, say) matters
 * only to a replay that reads the trace again: that one stops with a message
 * that says so; a replay of one reading never notices.
 */

import { InputError } from "../face/errors.ts";
import { errnoText, inputChunks, inputName } from "../node.ts";
import { makeTempDir, type TempDir } from "./temp-dir.ts";

// node:fs through getBuiltinModule (an ESM import builds its whole namespace, `cli/io.ts`).
const { closeSync, openSync, writeSync } = process.getBuiltinModule("node:fs");

export class PipeCopy {
  /** The copy's file: the trace's content, whole once `complete()` has returned. */
  readonly path: string;
  private readonly dir: TempDir;
  private fd: number | null;
  /** The pipe's chunks, decompressed: taken by the first reading, then by `complete()` for what it left. */
  private pipe: AsyncIterator<Uint8Array> | null = null;
  private done = false;
  /** Why a chunk could not be written (the copy is then of no use). */
  private failure: string | null = null;

  private readonly trace: string;

  private constructor(trace: string, dir: TempDir) {
    this.trace = trace;
    this.dir = dir;
    this.path = `${dir.path}/content`;
    this.fd = openSync(this.path, "wx");
  }

  /** A copy of the pipe `trace`, or null where the temporary directory cannot hold one (then nothing is copied). */
  static open(trace: string): PipeCopy | null {
    let dir: TempDir;
    try {
      dir = makeTempDir("pipe");
    } catch {
      return null;
    }
    try {
      return new PipeCopy(trace, dir);
    } catch {
      dir.remove();
      return null;
    }
  }

  /** Whether the first reading has begun: every later one reads the copy. */
  get started(): boolean {
    return this.pipe !== null;
  }

  /**
   * The pipe's content for the first reading, each chunk written to the copy
   * before it is handed on. A reading that stops early leaves the pipe open
   * for `complete()`.
   */
  async *chunks(): AsyncGenerator<Uint8Array> {
    if (this.pipe !== null) throw new Error("a pipe gives its content once");
    const pipe = inputChunks(this.trace)[Symbol.asyncIterator]();
    this.pipe = pipe;
    for (;;) {
      const r = await pipe.next();
      if (r.done) {
        this.done = true;
        return;
      }
      this.write(r.value);
      yield r.value;
    }
  }

  /**
   * Copies what the first reading left of the pipe (the rest of it, where
   * that reading stopped early: the trace is then read again anyway). An
   * error of the pipe itself (a corrupt gzip, say) is thrown as its reading
   * would throw it; one of the copy is kept for `whole()`.
   */
  async complete(): Promise<void> {
    if (this.pipe === null) for await (const _ of this.chunks());
    const pipe = this.pipe as AsyncIterator<Uint8Array>;
    while (!this.done) {
      const r = await pipe.next();
      if (r.done) this.done = true;
      else this.write(r.value);
    }
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /**
   * The copy's path, for a reading after the first (`complete()` has
   * returned): the trace's whole content. A copy that could not be written
   * is an error here, where a reading needs it.
   */
  whole(): string {
    if (!this.done || this.fd !== null) throw new Error("the piped trace's copy read before it was complete");
    if (this.failure !== null) {
      throw new InputError(
        `${inputName(this.trace)}: this replay reads the trace again, and a piped trace is read again from a copy, which could not be written to ${this.dir.path} (${this.failure}): give the trace as a file, or set TMPDIR to a directory with room for it`,
      );
    }
    return this.path;
  }

  /** Removes the copy (the replay is over). */
  remove(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
    this.dir.remove();
  }

  private write(chunk: Uint8Array): void {
    const fd = this.fd;
    if (fd === null || this.failure !== null) return;
    try {
      for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at, chunk.length - at);
    } catch (e) {
      // Once one chunk is missing the copy is no trace: nothing more is written, and the space goes back now.
      this.failure = errnoText(e);
      closeSync(fd);
      this.fd = null;
      this.dir.remove();
    }
  }
}
