/**
 * `--search-start` on a busy lazy cut (src/replay/busy-start.ts): the
 * repository's 6,000 lines of the 6.1 mid-life capture from its line
 * 237,251, a trace begun while 4 KiB reads ran, whose start state the
 * search finds over thousands of trial replays. Whole process, wall and
 * CPU seconds (user + system of the command, from bash's `times`), median
 * of N runs, and what the search made of the trace: the exact share of what
 * it could show must stay at 100.00%.
 */

import { spawnSync } from "node:child_process";
import { join } from "node:path";

const CUT = "test/fixtures/traces/linux-6.1-midlife-lazy-report-l-lines237251-243250.txt.gz";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function benchBusySearch(root: string, runs: number, say: (s: string) => void): void {
  const cmd = `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${join(root, CUT)}" --search-start --json`;
  const wall: number[] = [];
  const cpu: number[] = [];
  let exact = "";
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync("bash", ["-c", `${cmd}; times >&2`], { encoding: "utf8" });
    wall.push((performance.now() - t0) / 1000);
    if (r.status !== 0) throw new Error(`bench: ${cmd} failed: ${r.stderr}`);
    // `times` prints the shell's then the children's user and system time: "0m1.234s 0m0.056s".
    const children = r.stderr.trim().split("\n").at(-1) ?? "";
    let s = 0;
    for (const m of children.matchAll(/(\d+)m([\d.]+)s/g)) s += Number(m[1]) * 60 + Number(m[2]);
    cpu.push(s);
    const total = (JSON.parse(r.stdout) as { total: { exactOfKnowable: number } }).total;
    exact = `${(total.exactOfKnowable * 100).toFixed(2)}%`;
  }
  say("");
  say(
    `busy-cut search, \`iovalab replay ${CUT} --search-start\` (whole process, median of ${runs}): ` +
      `${median(wall).toFixed(1)} s wall, ${median(cpu).toFixed(1)} s CPU; exact of what the trace could show ${exact}`,
  );
}
