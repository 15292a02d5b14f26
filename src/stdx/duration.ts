/**
 * The one limit on simulated time, however a duration is given (a scenario's
 * `durationMs`/`warmupMs`, `run --duration`/`--warmup`, the shell's
 * `sleep`): 24 hours, enough to age a machine's caches for a day, and no
 * value that would run forever. Durations are milliseconds in whole
 * nanoseconds, so every instant stays an exact integer of ns below 2^53.
 */

import { InputError, quote } from "./errors.ts";

/** 24 h in milliseconds. */
export const MAX_DURATION_MS = 24 * 60 * 60 * 1000;

/** What a duration must be, for messages. */
export const DURATION_EXPECTED = `milliseconds from 0 to ${MAX_DURATION_MS} (24 h), in whole nanoseconds`;

/** Whether `ms` is a duration iovalab runs: 0 to 24 h in whole nanoseconds. */
export function isDurationMs(ms: number): boolean {
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_DURATION_MS && Number.isInteger(ms * 1e6);
}

/**
 * Parses a duration given as text (a flag, a shell word): a plain decimal
 * number of milliseconds. `what` names it in the message; `positive`
 * refuses 0.
 */
export function parseDurationMs(what: string, text: string, positive = false): number {
  const ms = /^[0-9]+(\.[0-9]+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!isDurationMs(ms) || (positive && ms === 0)) {
    throw new InputError(`${what}: expected ${positive ? "positive " : ""}${DURATION_EXPECTED}, found ${quote(text)}`);
  }
  return ms;
}
