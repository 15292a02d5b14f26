/**
 * A directory of the replay's own in the OS's temporary directory (TMPDIR),
 * for the copies it reads instead of its input (`spillAfter`, `PipeCopy`):
 * gone however the command ends. Its work over, `remove()`; a closed stdout
 * or any other `process.exit()`, the exit handler; a signal (Ctrl-C), a
 * small process that waits for this one to end and then removes it.
 *
 * Not a SIGINT handler: a listener takes Ctrl-C's default away, and Node
 * runs it only when the event loop turns, which a replay's synchronous
 * stretches (a busy start's search, a file read in one go) do not do for
 * seconds: Ctrl-C must end the command at once.
 */

import { tmpdir } from "node:os";
import { join } from "node:path";

// node:fs and node:child_process through getBuiltinModule (an ESM import builds its whole namespace, `cli/io.ts`).
const { mkdirSync, rmSync } = process.getBuiltinModule("node:fs");
const childProcess = () => process.getBuiltinModule("node:child_process");
const { randomBytes } = process.getBuiltinModule("node:crypto");

export interface TempDir {
  path: string;
  /** Removes the directory and what it holds (once is enough; again does nothing). */
  remove: () => void;
}

/**
 * Makes the directory (`iovalab-PREFIX-` and 12 random hex digits); an error
 * of the file system where it cannot be made.
 *
 * The name is chosen, and the process that removes it started, before the
 * directory is made: made first, a Ctrl-C in the milliseconds the start
 * takes (a fork of this process) left it behind for good, which a Ctrl-C as
 * soon as the directory appeared did 28 times in 30.
 */
export function makeTempDir(prefix: string): TempDir {
  let path = "";
  for (;;) {
    path = join(tmpdir(), `iovalab-${prefix}-${randomBytes(6).toString("hex")}`);
    const reaper = removeWhenGone(path);
    try {
      // Fails where the name is taken (then another name), never follows a link: the directory is this process's.
      mkdirSync(path, { mode: 0o700 });
      break;
    } catch (e) {
      // Not ours: its remover must not remove it.
      reaper?.kill("SIGKILL");
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    }
  }
  const rm = () => rmSync(path, { recursive: true, force: true });
  process.once("exit", rm);
  return {
    path,
    remove: () => {
      process.removeListener("exit", rm);
      rm();
    },
  };
}

/**
 * Starts the process that removes `path` once this one has ended, however:
 * a shell that reads a pipe this process holds the other end of, to its end
 * (the kernel closes it with the process), then removes the directory. In a
 * session of its own, so the terminal's Ctrl-C, sent to this process's
 * group, does not stop it first. Where no shell can be started, the exit
 * handler alone removes the directory.
 */
export function removeWhenGone(path: string): { kill: (signal: "SIGKILL") => boolean } | undefined {
  try {
    const reaper = childProcess().spawn("/bin/sh", ["-c", 'cat >/dev/null; rm -rf -- "$1"', "sh", path], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    reaper.on("error", () => {});
    reaper.unref();
    // The pipe's end: held, never written, and no reason for the event loop to wait.
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return reaper;
  } catch {
    // No shell: as said above.
    return undefined;
  }
}
