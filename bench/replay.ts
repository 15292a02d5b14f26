/**
 * Replay streaming speed (issue 11 part 5): `iovalab replay` on a real lazy
 * trace, whole process (start Node, stream and decompress the gzip file, read
 * every line, rebuild the DMA calls, replay them on the kernel model, print
 * the summary), against decompression alone (`zcat FILE > /dev/null`), as
 * lines per second, median of N runs. Goal: at least 1,000,000 lines/s and
 * at least 0.6 of decompression's rate.
 */

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Wall and CPU (user + system of the command's processes, from bash's `times`) milliseconds of one run. */
function timed(cmd: string): { wall: number; cpu: number } {
  const t0 = performance.now();
  const r = spawnSync("bash", ["-c", `${cmd}; times`], { encoding: "utf8" });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`bench: ${cmd} failed: ${r.stderr}`);
  // `times` prints the shell's then the children's user and system time: "0m1.234s 0m0.056s".
  const children = r.stdout.trim().split("\n").at(-1) ?? "";
  let cpu = 0;
  for (const m of children.matchAll(/(\d+)m([\d.]+)s/g)) cpu += (Number(m[1]) * 60 + Number(m[2])) * 1000;
  return { wall, cpu };
}

export function benchReplay(root: string, runs: number, say: (s: string) => void): void {
  // ../shared beside the repository (IOVALAB_SHARED names a copy elsewhere).
  const shared = process.env.IOVALAB_SHARED ?? join(root, "..", "shared");
  const file = join(shared, "kernel-timers", "trace-6.12-lazy-timers.txt.gz");
  say("");
  if (!existsSync(file)) {
    say(`replay speed: skipped (${file} is not beside the repository)`);
    return;
  }
  let lines = 0;
  const text = gunzipSync(readFileSync(file));
  for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, i + 1)) lines++;
  const cli = `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${file}" --machine qemu-q35-nvme --kernel mainline --captured lazy > /dev/null`;
  const zcat: { wall: number; cpu: number }[] = [];
  const replay: { wall: number; cpu: number }[] = [];
  for (let i = 0; i < runs; i++) {
    zcat.push(timed(`zcat "${file}" > /dev/null`));
    replay.push(timed(cli));
  }
  const rate = (xs: { wall: number; cpu: number }[], k: "wall" | "cpu") => (lines / median(xs.map((x) => x[k]))) * 1000;
  say(`replay speed, trace-6.12-lazy-timers.txt.gz (${lines} lines, whole process, median of ${runs}; M lines/s by wall / CPU time):`);
  for (const k of ["wall", "cpu"] as const) {
    const z = rate(zcat, k);
    const r = rate(replay, k);
    say(
      `  ${k.padEnd(4)}: zcat alone ${(z / 1e6).toFixed(2)}, iovalab replay ${(r / 1e6).toFixed(2)}; ratio ${(r / z).toFixed(2)} (goals: >= 1 M lines/s, ratio >= 0.6)`,
    );
  }
}
