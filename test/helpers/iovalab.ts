/** Test helper: runs the `iovalab` command (bin/iovalab.js, with its compile cache) as a person would, and returns what it printed. */

import { spawnSync } from "node:child_process";

const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;

export function iovalab(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { input, encoding: "utf8", maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
