/**
 * The kernel profile of a kernel release (`uname -r`).
 *
 * A trace can name the kernel it was recorded on: a trace.dat's UNAME option
 * (`trace/dat.ts`), `perf script --header`'s `# os release :` line. The
 * release's version (its first two numbers) picks the profile whose
 * switches are that version's: a stable series (5.10.y, 5.15.y, 6.1.y) its
 * own profile, and 6.12 or later the mainline profile (6.12's allocator,
 * which later kernels keep).
 *
 * A release between 6.1 and 6.12 (6.6 LTS, Ubuntu 24.04's 6.8) has no
 * profile of its own. The profiles differ in three switches whose version
 * the kernel rules give (`docs/kernel-rules.md` §7): the 32-bit-first rule
 * of 6.4 (VER-4), the rcache depot of 6.7 (VER-1) and the flush-queue
 * timer's migration of 6.9 (`dma/fq-timer-policy.ts`). Such a release gets
 * the profile whose allocator it has, the depot deciding (before 6.7 the 6.1
 * profile, from 6.7 mainline), and the caller is told in which of the other
 * two switches the release differs from it. Between 6.1 and 6.12 the other
 * layers changed too (the IOMMU core's `type` rules, nvme-pci's queue
 * limits), but a replay takes its requests from the trace and writes no
 * sysfs, so only these three decide its IOVAs. Releases before 6.1 that no
 * series covers (5.11 to 5.14, 5.16 to 6.0) get none: their allocator
 * changed at versions the rules do not pin (VER-2's magazine size).
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

/** A version as one number, major * 1000 + minor. */
function versionOf(major: number, minor: number): number {
  return major * 1000 + minor;
}

/**
 * The profiles a release between 6.1 and MAINLINE_FROM can take, with the
 * version each stands for: the switches below are compared at it.
 */
const BETWEEN_FROM = versionOf(6, 2);
const BASES: readonly { profile: ProfileName; version: number; depot: string }[] = [
  { profile: "6.1", version: versionOf(6, 1), depot: "the rcache depot of 6.6 and before" },
  { profile: "mainline", version: versionOf(...MAINLINE_FROM), depot: "the rcache depot of 6.7 and later" },
];

/** The depot of 6.7 (VER-1): the switch that picks the profile of a release between 6.1 and 6.12. */
const DEPOT_FROM = versionOf(6, 7);

/** A switch that changed between 6.1 and 6.12, from its version on, as a note says it. */
export interface SwitchChange {
  readonly from: number;
  readonly what: string;
  /** Only where the timer runs: a trace with flush-queue timer events places each flush itself. */
  readonly timer: boolean;
}

/** The switches other than the depot that changed between 6.1 and 6.12. */
const CHANGES: readonly SwitchChange[] = [
  {
    from: versionOf(6, 4),
    what: "the 32-bit-first try (from 6.4 a device's first failed 32-bit allocation ends it; before, every allocation tries)",
    timer: false,
  },
  {
    from: versionOf(6, 9),
    what: "where the flush-queue timer runs (from 6.9 it stays on the arming CPU; before, an idle CPU hands it to a busy one)",
    timer: true,
  },
];

/** The profile a release replays with, and how well it fits. */
export interface ReleaseProfile {
  readonly profile: ProfileName;
  /** The release is the profile's own version: its stable series, or 6.12 and later for mainline. */
  readonly own: boolean;
  /** For a release between two profiles, the switches in which it differs from `profile`. */
  readonly differs: readonly SwitchChange[];
  /** For a release between two profiles, the allocator it shares with `profile`, as a note says it ("" for its own). */
  readonly allocator: string;
}

/**
 * The profile of `release` (`6.1.0-56-amd64`, `6.8.0-45-generic`): its own,
 * or for a release between 6.1 and 6.12 the one whose allocator it has;
 * null where there is neither.
 */
export function releaseProfile(release: string): ReleaseProfile | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m === null) return null;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const series = SERIES.get(`${major}.${minor}`);
  if (series !== undefined) return { profile: series, own: true, differs: [], allocator: "" };
  const v = versionOf(major, minor);
  if (v >= versionOf(...MAINLINE_FROM)) return { profile: "mainline", own: true, differs: [], allocator: "" };
  if (v < BETWEEN_FROM) return null;
  const base = v >= DEPOT_FROM ? BASES[1] : BASES[0];
  const differs = CHANGES.filter((c) => v >= c.from !== base.version >= c.from);
  return { profile: base.profile, own: false, differs, allocator: base.depot };
}

/** The versions `releaseProfile` knows, for messages. */
export const RELEASES_WITH_PROFILES = `${[...SERIES.keys()].join(", ")}, and ${MAINLINE_FROM.join(".")} or later (mainline); 6.2 to 6.11 take the profile whose allocator they have`;
