/**
 * `--search-start` on a busy lazy cut (src/replay/busy-start.ts): the
 * repository's 6,000 lines of the 6.1 mid-life capture from its line
 * 237,251, a trace begun while 4 KiB reads ran, whose start state the
 * search finds over thousands of trial replays; and the default replay of
 * the 6,000 lines from its line 158,167, whose search's first climb stalls
 * and whose replay is read a second time from that state and a third from
 * the restarts' (`BusyStartSearch.restarts`). Each with the search's
 * trials on the default threads (`--search-threads`), then on the main
 * thread alone. Whole process, wall and
 * CPU seconds (`timed` in bench/replay.ts), median of N runs, and what the
 * replay made of each trace: the exact share of what it could show must
 * stay at 100.00%.
 */

import { join } from "node:path";
import { median, timed } from "./replay.ts";

const CUT = "test/fixtures/traces/linux-6.1-midlife-lazy-report-l-lines237251-243250.txt.gz";
const STALLED = "test/fixtures/traces/linux-6.1-midlife-lazy-report-l-lines158167-164166.txt.gz";

export function benchBusySearch(root: string, runs: number, say: (s: string) => void): void {
  // The trials on the default threads, then on the main thread alone: the same state found (the same output).
  for (const threads of ["", "--search-threads 0"]) {
    const on = threads === "" ? "" : ", no trial threads";
    benchOne(root, runs, say, CUT, `--search-start ${threads}`.trim(), `busy-cut search${on}`);
    benchOne(root, runs, say, STALLED, threads, `busy-cut search climbing again (unasked)${on}`);
  }
}

function benchOne(root: string, runs: number, say: (s: string) => void, cut: string, flag: string, what: string): void {
  const cmd = `"${process.execPath}" "${join(root, "bin/iovalab.js")}" replay "${join(root, cut)}" ${flag} --json`;
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
    `${what}, \`iovalab replay ${cut}${flag === "" ? "" : ` ${flag}`}\` (whole process, median of ${runs}): ` +
      `${median(wall).toFixed(1)} s wall, ${median(cpu).toFixed(1)} s CPU; exact of what the trace could show ${exact}`,
  );
}
