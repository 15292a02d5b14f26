/**
 * The kernel profile of a kernel release (`uname -r`), where iovalab has one.
 *
 * A trace can name the kernel it was recorded on: a trace.dat's UNAME option
 * (`trace/dat.ts`), `perf script --header`'s `# os release :` line. The
 * release's version (its first two numbers) picks the profile whose
 * switches are that version's: a stable series (5.10.y, 5.15.y, 6.1.y) its
 * own profile, and 6.12 or later the mainline profile (6.12's allocator,
 * which later kernels keep). A release between them (6.6, 6.8) may differ
 * from the profile before it in a switch the profiles document (`iovalab
 * kernels`: the depot of 6.7, the SAC rule of 6.4, the timer migration of
 * 6.9) or in one they do not, so it gets none: the caller says so and
 * replays with what it would have used.
 */

import type { ProfileName } from "../iova/profile.ts";

/** The profiles with a version of their own, by `major.minor`; mainline stands for MAINLINE_FROM and later. */
const SERIES: ReadonlyMap<string, ProfileName> = new Map([
  ["5.10", "5.10"],
  ["5.15", "5.15"],
  ["6.1", "6.1"],
]);

/** The first version whose every switch is the mainline profile's (the dma:* trace events came with it too). */
const MAINLINE_FROM: readonly [number, number] = [6, 12];

/** The profile of `release` (`6.1.0-56-amd64`, `6.12.9`), or null where no profile is that version's. */
export function profileOfRelease(release: string): ProfileName | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m === null) return null;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const series = SERIES.get(`${major}.${minor}`);
  if (series !== undefined) return series;
  if (major > MAINLINE_FROM[0] || (major === MAINLINE_FROM[0] && minor >= MAINLINE_FROM[1])) return "mainline";
  return null;
}

/** The versions `profileOfRelease` knows, for messages. */
export const RELEASES_WITH_PROFILES = `${[...SERIES.keys()].join(", ")}, and ${MAINLINE_FROM.join(".")} or later (mainline)`;
