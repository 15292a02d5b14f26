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
const { mkdtempSync, rmSync } = process.getBuiltinModule("node:fs");
const childProcess = () => process.getBuiltinModule("node:child_process");

export interface TempDir {
  path: string;
  /** Removes the directory and what it holds (once is enough; again does nothing). */
  remove: () => void;
}

/** Makes the directory (`iovalab-PREFIX-XXXXXX`); an error of the file system where it cannot be made. */
export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `iovalab-${prefix}-`));
  const rm = () => rmSync(path, { recursive: true, force: true });
  process.once("exit", rm);
  removeWhenGone(path);
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
function removeWhenGone(path: string): void {
  try {
    const reaper = childProcess().spawn("/bin/sh", ["-c", 'cat >/dev/null; rm -rf -- "$1"', "sh", path], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    reaper.on("error", () => {});
    reaper.unref();
    // The pipe's end: held, never written, and no reason for the event loop to wait.
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  } catch {
    // No shell: as said above.
  }
}
