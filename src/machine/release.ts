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
 * A release between them (Ubuntu 22.04's HWE 5.19, the 6.6 LTS, Ubuntu
 * 24.04's 6.8) has no profile of its own. It gets the profile whose IOVA
 * allocator it has, by the versions at which the allocator changed
 * (`docs/kernel-rules.md` §7): the retry above the cached node and the
 * depot's flush on a failed allocation came in 5.11 (5.10's profile has
 * neither), magazines of 127 in 6.0 (VER-2), the depot's list and trim work
 * in 6.7 (VER-1). So 5.11 to 5.19 take the 5.15 profile, 6.0 to 6.6 the 6.1
 * profile, 6.7 to 6.11 mainline. The caller is told in which other switch
 * the release differs from its profile: the start of a retried tree search
 * (5.13, VER-8), the 32-bit-first rule (6.4, VER-4), the flush-queue
 * timer's migration (6.9, `dma/fq-timer-policy.ts`). Other layers changed
 * too (the IOMMU core's `type` rules, nvme-pci's queue limits), but a replay
 * takes its requests from the trace and writes no sysfs, so only these
 * decide its IOVAs. Releases before 5.10 get none.
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
 * The releases between the profiles' own versions, as runs of versions
 * that share one allocator: the profile that has it (whose own version the
 * switches below are compared at), and the allocator as a note says it.
 */
const BETWEEN: readonly { from: number; to: number; profile: ProfileName; version: number; allocator: string }[] = [
  {
    from: versionOf(5, 11),
    to: versionOf(5, 19),
    profile: "5.15",
    version: versionOf(5, 15),
    allocator: "the allocator of 5.11 to 5.19: the retry above the cached node, magazines of 128",
  },
  {
    from: versionOf(6, 0),
    to: versionOf(6, 6),
    profile: "6.1",
    version: versionOf(6, 1),
    allocator: "the allocator of 6.0 to 6.6: magazines of 127, the rcache depot of 6.6 and before",
  },
  {
    from: versionOf(6, 7),
    to: versionOf(6, 11),
    profile: "mainline",
    version: versionOf(...MAINLINE_FROM),
    allocator: "the rcache depot of 6.7 and later",
  },
];

/** A switch that changed between 5.11 and 6.12, outside the allocator's runs, from its version on, as a note says it. */
export interface SwitchChange {
  readonly from: number;
  readonly what: string;
  /** Only where the timer runs: a trace with flush-queue timer events places each flush itself. */
  readonly timer: boolean;
  /** Only how long the tree walks are: the IOVAs are the same. */
  readonly walksOnly?: boolean;
}

/** The switches, other than those that make the runs of BETWEEN, that changed within or across them. */
const CHANGES: readonly SwitchChange[] = [
  {
    from: versionOf(5, 13),
    what: "where a retried tree search starts (from 5.13 at the first node above its limit; before, at the top of the tree: the same IOVAs, more walk steps)",
    timer: false,
    walksOnly: true,
  },
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
 * or for a release between the profiles' own versions the one whose
 * allocator it has; null where there is neither (before 5.10).
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
  const base = BETWEEN.find((b) => v >= b.from && v <= b.to);
  if (base === undefined) return null;
  const differs = CHANGES.filter((c) => v >= c.from !== base.version >= c.from);
  return { profile: base.profile, own: false, differs, allocator: base.allocator };
}

/** The releases between the profiles' own versions, as `major.minor`, in order (`iovalab kernels` lists them). */
export function releasesBetween(): string[] {
  const out: string[] = [];
  for (const b of BETWEEN) {
    for (let v = b.from; v <= b.to; ) {
      const major = Math.floor(v / 1000);
      const minor = v % 1000;
      if (!SERIES.has(`${major}.${minor}`)) out.push(`${major}.${minor}`);
      // 5.19 was followed by 6.0.
      v = major === 5 && minor === 19 ? versionOf(6, 0) : v + 1;
    }
  }
  return out;
}

/** The versions `releaseProfile` knows, for messages. */
export const RELEASES_WITH_PROFILES = `${[...SERIES.keys()].join(", ")}, and ${MAINLINE_FROM.join(".")} or later (mainline); 5.11 to 6.11 take the profile whose allocator they have`;
