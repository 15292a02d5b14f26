/**
 * A machine of two lazy devices whose trace begins while both were busy
 * (Linux 6.12): each device's domain has its own allocator, magazines, depot
 * and flush queue, all of them unknown at the start, so each device's start
 * is searched, over its own window of the trace's first events
 * (`LearningWindow.forDevice`). Before, only the first device's was: the
 * second replayed from the empty start.
 *
 * The trace: 40,000 lines of the 6.12 mid-life capture from its line 127,273
 * (read from ../shared when present; alone, searched, it places all it could
 * show), and a copy of them as a second device with its own flush-queue
 * timer, 12 ms later, interleaved without breaking a call
 * (`test/helpers/two-domains.ts`, `twoDomainsWhole`).
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { iovalabProcess } from "../helpers/iovalab.ts";
import { sharedSkip } from "../helpers/quick.ts";
import { twoDomainsWhole } from "../helpers/two-domains.ts";

const PATH = new URL("../../../shared/kernel-more/trace-6.12-midlife-lazy.txt.gz", import.meta.url).pathname;
const FROM = 127_273;
const LINES = 40_000;
/** The capture's flush-queue timer. */
const TIMER = "ff404cb8c1a5f8a0";

test("two busy devices: each device's start is searched, and each replays all its lines could show", {
  skip: sharedSkip(PATH, "a cut of a full trace of ../shared, two devices searched (about a minute)"),
}, (t) => {
  const all = gunzipSync(readFileSync(PATH)).toString("utf8").split("\n");
  const cut = all.slice(FROM - 1, FROM - 1 + LINES).join("\n");
  const two = twoDomainsWhole(cut, TIMER);
  const dir = mkdtempSync(join(tmpdir(), "iovalab-two-busy-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "two.txt");
  writeFileSync(file, `cpus=2\n${two.lines.join("\n")}\n`);
  const device = (out: string, bdf: string) =>
    (JSON.parse(out) as { devices: { device: string; exactOfKnowable: number }[] }).devices.find(
      (d) => d.device === bdf,
    )?.exactOfKnowable ?? -1;
  const r = iovalabProcess(["replay", file, "--machine", "qemu-q35-two-nvme", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  // Both searched, the second device on its own line.
  assert.match(r.stderr, /^iovalab replay: begun while the disk was busy/m);
  assert.match(r.stderr, /^iovalab replay: 0000:00:02\.0: begun while the disk was busy .* given/m);
  assert.equal(device(r.stdout, "0000:00:01.0"), 1);
  assert.equal(device(r.stdout, "0000:00:02.0"), 1);
  // From the empty start the second device places little of it: what the search found is what places it.
  const unsearched = iovalabProcess(["replay", file, "--machine", "qemu-q35-two-nvme", "--json", "--no-search-start"]);
  assert.ok(device(unsearched.stdout, "0000:00:02.0") < 0.1, unsearched.stdout);
});
