/**
 * Test helper: a fresh temporary directory, removed when the test process
 * exits (each test file runs in a process of its own), so a test's output
 * files leave nothing behind in the system's temporary directory, even
 * where an assertion fails first.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

process.on("exit", () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A new directory named `prefix` and a few random characters. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}
