import assert from "node:assert/strict";
import { test } from "node:test";
import { unameRelease } from "../trace/dat.ts";
import { releaseProfile } from "./release.ts";

test("a trace.dat's uname gives its release: the word before the machine, whatever the node name", () => {
  // The UNAME option of the public 6.1 mid-life capture, as trace-cmd record wrote it.
  assert.equal(unameRelease("Linux (none) 6.1.0-56-amd64 x86_64"), "6.1.0-56-amd64");
  assert.equal(unameRelease("Linux db 01 5.15.0-91-generic x86_64"), "5.15.0-91-generic");
  assert.equal(unameRelease("Linux host 6.12.9+bpo-amd64 aarch64\n"), "6.12.9+bpo-amd64");
  for (const bad of ["", "Linux", "Linux host x86_64", "Linux host unknown x86_64"])
    assert.equal(unameRelease(bad), null);
});

test("a release's own profile: its series, 6.12 and later mainline, none between", () => {
  const cases: [string, string | null][] = [
    ["5.10.0-28-amd64", "5.10"],
    ["5.15.0-91-generic", "5.15"],
    ["5.15.167", "5.15"],
    ["6.1.0-56-amd64", "6.1"],
    ["6.1.192", "6.1"],
    ["6.12.9+bpo-amd64", "mainline"],
    ["6.12.0-rc3", "mainline"],
    ["6.18.1", "mainline"],
    ["7.0.0", "mainline"],
    ["6.11.5", null],
    ["6.6.30-android15", null],
    ["6.8.0-45-generic", null],
    ["6.10", null],
    ["5.16.1", null],
    ["5.19.0-50-generic", null],
    ["4.19.0-27-amd64", null],
    ["5.1.0", null],
    ["x", null],
  ];
  // A release's own profile: `releaseProfile` with `own`.
  const own = (release: string) => {
    const r = releaseProfile(release);
    return r?.own === true ? r.profile : null;
  };
  for (const [release, profile] of cases) assert.equal(own(release), profile, release);
});

test("a release between the profiles' own versions: the profile whose allocator it has, and the switches in which it differs", () => {
  const restart = /retried tree search/;
  const sac = /32-bit-first/;
  const timer = /flush-queue timer/;
  const cases: [string, string, RegExp[]][] = [
    // From 5.11 (the retry above the cached node, the depot's flush) to 5.19: 5.15's allocator, magazines of 128;
    // the retry started at the top of the tree before 5.13.
    ["5.11.0", "5.15", [restart]],
    ["5.12.19", "5.15", [restart]],
    ["5.13.0", "5.15", []],
    // RHEL 9's release string (a distribution kernel may carry later changes: its version is what it says).
    ["5.14.0-427.13.1.el9_4.x86_64", "5.15", []],
    ["5.16.1", "5.15", []],
    ["5.19.0-50-generic", "5.15", []],
    // Magazines of 127 from 6.0 (merged for 6.0 in August 2022): 6.1's allocator up to the depot of 6.7.
    ["6.0.19", "6.1", []],
    ["6.2.16", "6.1", []],
    ["6.3.13", "6.1", []],
    ["6.4.0", "6.1", [sac]],
    ["6.6.30-android15", "6.1", [sac]],
    // From 6.7: mainline's allocator; the timer's migration came in 6.9.
    ["6.7.12", "mainline", [timer]],
    ["6.8.0-45-generic", "mainline", [timer]],
    ["6.9.1", "mainline", []],
    ["6.11.5", "mainline", []],
  ];
  for (const [release, profile, differs] of cases) {
    const r = releaseProfile(release);
    assert.ok(r !== null, release);
    assert.equal(r.profile, profile, release);
    assert.equal(r.own, false, release);
    assert.equal(r.differs.length, differs.length, `${release}: ${r.differs.map((d) => d.what).join("; ")}`);
    for (const [i, re] of differs.entries()) assert.match(r.differs[i].what, re, release);
  }
  // Their own versions differ in nothing; versions before 6.1 that no series covers get none.
  assert.deepEqual(releaseProfile("6.1.0-56-amd64"), { profile: "6.1", own: true, differs: [], allocator: "" });
  assert.deepEqual(releaseProfile("6.12.9"), { profile: "mainline", own: true, differs: [], allocator: "" });
  assert.match((releaseProfile("6.6.1") as { allocator: string }).allocator, /depot of 6\.6 and before/);
  assert.match((releaseProfile("6.8.1") as { allocator: string }).allocator, /depot of 6\.7 and later/);
  assert.match((releaseProfile("5.19.17") as { allocator: string }).allocator, /magazines of 128/);
  assert.match((releaseProfile("6.0.1") as { allocator: string }).allocator, /magazines of 127/);
  // Before 5.10 no profile has the allocator.
  for (const r of ["4.19.0-27-amd64", "5.4.0-200-generic", "5.9.16"]) assert.equal(releaseProfile(r), null, r);
});
