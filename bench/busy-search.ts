/**
 * `--search-start` on a busy lazy cut (src/replay/busy-start.ts): the
 * repository's 6,000 lines of the 6.1 mid-life capture from its line
 * 237,251, a trace begun while 4 KiB reads ran, whose start state the
 * search finds over thousands of trial replays. Whole process, wall and
 * CPU seconds (`timed` in bench/replay.ts), median of N runs, and what the
 * search made of the trace: the exact share of what it could show must stay
 * at 100.00%.
 */

import { join } from "node:path";
import { median, timed } from "./replay.ts";

const CUT = "test/fixtures/traces/linux-6.1-midlife-lazy-report-l-lines237251-243250.txt.gz";

export function benchBusySearch(root: string, runs: number, say: (s: string) => void): void {
  const cmd = `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${join(root, CUT)}" --search-start --json`;
  const wall: number[] = [];
  const cpu: number[] = [];
  let exact = "";
  for (let i = 0; i < runs; i++) {
    const r = timed(cmd);
    wall.push(r.wall / 1000);
    cpu.push(r.cpu / 1000);
    const total = (JSON.parse(r.stdout) as { total: { exactOfKnowable: number } }).total;
    exact = `${(total.exactOfKnowable * 100).toFixed(2)}%`;
  }
  say("");
  say(
    `busy-cut search, \`iovalab replay ${CUT} --search-start\` (whole process, median of ${runs}): ` +
      `${median(wall).toFixed(1)} s wall, ${median(cpu).toFixed(1)} s CPU; exact of what the trace could show ${exact}`,
  );
}
