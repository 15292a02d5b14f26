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

const DURATION_UNITS_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, min: 60e9, h: 3600e9 };

/**
 * Parses a duration given as text (a flag, a shell word): a decimal number
 * with a unit (`500ms`, `10s`, `30min`, `2h`; a bare number is ms), in ms.
 * `what` names it in the message; `positive` refuses 0.
 */
export function parseDurationMs(what: string, text: string, positive = false): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|min|h)?\s*$/.exec(text);
  const expected = `${positive ? "positive " : ""}${DURATION_EXPECTED}, or with a unit such as 500ms, 10s, 30min or 2h`;
  if (m === null) throw new InputError(`${what}: expected ${expected}, found ${quote(text)}`);
  // Whole nanoseconds, as the engine counts time (1.5s is 1500 ms exactly, 0.5ns is refused).
  const ns = Number(m[1]) * DURATION_UNITS_NS[m[2] ?? "ms"];
  const whole = Math.round(ns);
  const ms = Math.abs(ns - whole) > 1e-6 * Math.max(1, ns) ? Number.NaN : whole / 1e6;
  if (!isDurationMs(ms) || (positive && ms === 0)) {
    throw new InputError(`${what}: expected ${expected}, found ${quote(text)}`);
  }
  return ms;
}
