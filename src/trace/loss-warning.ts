/**
 * What a trace's ring-buffer losses mean to a replay that goes on past them
 * (`iovalab advise`, the explorer's lanes): the kernel ran calls the trace
 * does not hold, so a map it lost leaves its unmap without a mapping, and an
 * unmap it lost leaves its mapping live in the model to the end. Such a
 * replay still compares settings on the same calls; it is not the kernel's.
 * (`iovalab replay` does otherwise: a file is replayed in spans, one after
 * each loss.)
 */

import type { TraceReaderStats } from "./reader.ts";

/** What the ring buffer lost and where, as every warning says it: "lost 100 events in one place". */
export function lostText(stats: TraceReaderStats): string {
  const where = stats.losses === 1 ? "in one place" : `in ${stats.losses} places`;
  return `lost ${stats.lostEvents > 0 ? `${stats.lostEvents} events` : "events"} ${where}`;
}

/** The warning for a trace that lost events, or null for one that lost none. */
export function lossWarning(stats: TraceReaderStats): string | null {
  if (stats.losses === 0) return null;
  return (
    `the ring buffer ${lostText(stats)} (an overrun); the calls the trace kept are replayed past the losses, ` +
    "every setting on the same ones, but a lost map leaves its unmap without a mapping and a lost unmap leaves its " +
    "mapping live: the figures are the trace's calls', not the kernel's (`iovalab replay` replays in spans, one after each loss)"
  );
}
