/**
 * The bound of the start-state search of a lazy mid-life trace
 * (`src/replay/busy-start.ts`): it counts the events each hypothesis
 * replays, and the calls the replay's own trials replay again
 * (`Replayer.extraApplies`). From a wrong start state every flush misses and
 * tries its phases at every place (`timer-flushes.ts`): on 12,000 lines of
 * the 6.1 mid-life capture from its line 131,236, the flush at the cut's line
 * 1,813 replays its 113 calls a few hundred times for each hypothesis, and
 * with only the events counted, the search ran past ten minutes.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { BusyBudget } from "../../src/replay/busy-start.ts";
import { Replayer } from "../../src/replay/replay.ts";
import { busyCut } from "../helpers/window-replay.ts";

const CUT = new URL("../fixtures/traces/linux-6.1-midlife-lazy-report-l-lines131236-143235.txt.gz", import.meta.url)
  .pathname;

/** A budget small enough for a test: the search's three kinds of climb each get this many events, and all of them this many calls replayed again. */
const BUDGET: BusyBudget = {
  trials: 5000,
  events: 300_000,
  restartTrials: 2000,
  restartEvents: 300_000,
  extraApplies: 300_000,
};

test("the busy-start search's bound counts the calls a hypothesis's flushes replay again", async () => {
  const { window: w, allocations } = await busyCut(CUT, "6.1");
  assert.ok(w.midLife);
  // Every call applied to a model, first time or again, in every hypothesis the search replays.
  const proto = Replayer.prototype as unknown as { applyAt: (...a: unknown[]) => unknown };
  const applyAt = proto.applyAt;
  let applied = 0;
  // The first climb, the cross-CPU climb and up to two rounds of perturbed climbs, each in its own events, and the
  // calls replayed again in all of them; one hypothesis may start below the bounds and run the whole window with
  // its trials (measured: at most 4,431 calls in one). With only the events counted, past this bound.
  const bound = BUDGET.events + 3 * BUDGET.restartEvents + BUDGET.extraApplies + 20_000;
  proto.applyAt = function (this: unknown, ...a: unknown[]) {
    // Past the bound the search is not bounded: stop it here rather than let it run for minutes.
    if (++applied > bound) throw new Error(`the search applied more than ${bound} calls`);
    return applyAt.apply(this, a);
  };
  try {
    w.search(allocations, false, BUDGET);
    w.searchAgain();
  } finally {
    proto.applyAt = applyAt;
  }
  assert.ok(applied <= bound, String(applied));
  // The search did run its hypotheses: a bound that stops it at once is no bound worth the name.
  assert.ok(applied > BUDGET.events / 4, String(applied));
});
