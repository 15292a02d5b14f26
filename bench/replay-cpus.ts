/**
 * Replay speed against the machine's CPU count: a server's trace names
 * hundreds of CPUs of which a few do DMA. The 6.1 lazy-timers trace (two
 * CPUs) with CPU 1's events on CPU N-1 and a header of N CPUs is the same
 * kernel run on a machine of N CPUs (each CPU's caches are its own; 6.1's
 * depot trim does not count CPUs), so its replay should cost about the same
 * whatever N is. Whole process, wall time, median of N runs.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { cpu1Moved } from "../test/helpers/cpu-moved.ts";
import { median, timed } from "./replay.ts";

export function benchReplayCpus(root: string, runs: number, say: (s: string) => void): void {
  const shared = process.env.IOVALAB_SHARED ?? join(root, "..", "shared");
  const file = join(shared, "kernel-timers", "trace-6.1-lazy-timers.txt.gz");
  say("");
  if (!existsSync(file)) {
    say(`replay speed against the CPUs: skipped (${file} is not beside the repository)`);
    return;
  }
  const text = gunzipSync(readFileSync(file)).toString("utf8");
  const dir = mkdtempSync(join(tmpdir(), "iovalab-bench-cpus-"));
  try {
    const row: string[] = [];
    for (const cpus of [2, 64, 1024]) {
      const f = join(dir, `cpus-${cpus}.txt`);
      writeFileSync(f, cpu1Moved(text, cpus - 1, cpus));
      const cmd = `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${f}" --json > /dev/null 2>&1`;
      const wall: number[] = [];
      for (let i = 0; i < runs; i++) wall.push(timed(cmd).wall);
      row.push(`${cpus} CPUs ${(median(wall) / 1000).toFixed(2)} s`);
    }
    say(
      `replay speed against the CPUs, trace-6.1-lazy-timers.txt.gz with CPU 1 as the last CPU (whole process, wall, median of ${runs}): ${row.join(", ")}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
