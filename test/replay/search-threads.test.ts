/**
 * The busy-start search's trials on threads (`src/cli/trial-workers.ts`): a
 * trial is a pure function of what it asks, so the threads change how soon
 * the search ends, never where it ends nor what it counts against its bounds.
 * Checked on the repository's 6,000 lines of the 6.1 mid-life capture from
 * its line 158,167, whose search climbs again (restarts) before it finds the
 * state that places everything.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { TrialWorkers } from "../../src/cli/trial-workers.ts";
import type { BusyBudget } from "../../src/replay/busy-start.ts";
import { describeStartState } from "../../src/replay/start-state.ts";
import { iovalabProcess } from "../helpers/iovalab.ts";
import { busyCut } from "../helpers/window-replay.ts";

const CUT = new URL("../fixtures/traces/linux-6.1-midlife-lazy-report-l-lines158167-164166.txt.gz", import.meta.url)
  .pathname;

/** Bounds small enough that the search stops on them (so that what it counts decides where it ends). */
const BUDGET: BusyBudget = {
  trials: 400,
  events: 2_000_000,
  restartTrials: 300,
  restartEvents: 2_000_000,
  extraApplies: 2_000_000,
};

test("the search finds the same states, bound for bound, with threads and without", async () => {
  const found: string[][] = [];
  let ranOnThreads = 0;
  for (const threads of [0, 2]) {
    const { window: w, allocations } = await busyCut(CUT, "6.1");
    const pool = threads > 0 ? new TrialWorkers(threads) : undefined;
    w.pool = pool;
    try {
      const first = w.search(allocations, false, BUDGET);
      const again = w.searchAgain();
      const tied = w.searchAgain(false, true);
      found.push([first, again, tied].map((s) => (s === null ? "none" : describeStartState(s))));
    } finally {
      ranOnThreads = pool?.threadTrials ?? ranOnThreads;
      pool?.close();
    }
  }
  assert.deepEqual(found[1], found[0]);
  // The threads did run trials: a pool that ran none would pass the comparison above without being tried.
  assert.ok(ranOnThreads > 50, `trials run on threads: ${ranOnThreads}`);
});

test("a replay that searches its start gives the same output with any number of threads", () => {
  const runs = ["0", "1", "3"].map((n) => iovalabProcess(["replay", CUT, "--json", "--search-threads", n]));
  for (const r of runs) assert.equal(r.status, 0, r.stderr);
  // The search ran: the replay from the empty start misses, the state found places everything.
  assert.match(runs[0].stderr, /searched/);
  assert.equal(JSON.parse(runs[0].stdout).total.exactOfKnowable, 1);
  for (const r of runs.slice(1)) {
    assert.equal(r.stdout, runs[0].stdout);
    assert.equal(r.stderr, runs[0].stderr);
  }
});

test("--search-threads takes a whole number up to 256", () => {
  for (const bad of ["-1", "x", "257", "1.5"]) {
    const r = iovalabProcess(["replay", CUT, "--search-threads", bad]);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      new RegExp(`--search-threads: expected an integer from 0 to 256, found "${bad.replace(".", "\\.")}"`),
    );
    assert.equal(r.stdout, "");
  }
});
