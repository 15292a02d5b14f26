import assert from "node:assert/strict";
import { test } from "node:test";
import { assertInputError } from "../../test/helpers/input-error.ts";
import { parseScenarioYaml, seedScenario } from "./scenario.ts";

function fails(yaml: string, message: RegExp): void {
  assertInputError(() => parseScenarioYaml(yaml, "s.yaml"), message);
}

test("an empty file is an error, not the seed scenario; keys override the seed", () => {
  for (const empty of ["", "---\n", "# only a comment\n", "~\n"]) {
    fails(empty, /^s\.yaml:1: expected a mapping of scenario keys, found an empty document$/);
  }
  assert.deepEqual(parseScenarioYaml("name: seed\n", "s.yaml"), seedScenario());
  const s = parseScenarioYaml(
    "seed: 9\ndurationMs: 5\ndisks:\n  queueDepth: 16\ncost:\n  lockHandoffNs: 300\n",
    "s.yaml",
  );
  assert.equal(s.seed, 9);
  assert.equal(s.durationMs, 5);
  assert.equal(s.disks.queueDepth, 16);
  // Other disk keys stay unset: the machine description's figures (hisi-sas-128's 12 disks) apply.
  assert.deepEqual(s.disks, { queueDepth: 16 });
  assert.deepEqual(s.cost, { lockHandoffNs: 300 });
  assert.equal(s.runs.length, 6);
});

test("bad inputs name the file, the line, the key path and what was expected", () => {
  fails("seed: 1\nkernel: 4.19\n", /^s\.yaml:2: kernel: expected one of mainline, 6\.1, 5\.15, 5\.10, found "4\.19"$/);
  fails("durationMs: fast\n", /^s\.yaml:1: durationMs: expected number, found "fast"$/);
  fails("disks:\n  queueDepth: -3\n", /^s\.yaml:2: disks\.queueDepth: expected a number > 0, found "-3"$/);
  fails("colour: blue\n", /^s\.yaml:1: \(top level\): expected one of the known keys, found "colour"$/);
  fails(
    "cost:\n  treeWalkNs: 3\n",
    /^s\.yaml:2: cost: expected one of the known keys \(treeWalkStepNs, .*\), found "treeWalkNs"$/,
  );
  fails(
    "machine: pdp-11\n",
    /^s\.yaml:1: machine: expected a built-in machine \(qemu-q35-nvme, qemu-q35-two-nvme, hisi-sas-128, arm-2s-nvme8, epyc-nvme, xeon-100g\) or a description file \(\.yaml, \.yml, \.json\), found "pdp-11"$/,
  );
  fails(
    "runs:\n  - { name: a, mode: strict, range: sysfs }\n",
    /^s\.yaml:2: runs\.0\.bytes: expected the range in bytes for range sysfs, found nothing$/,
  );
  fails(
    "runs:\n  - { name: a, mode: strict, range: default }\n  - { name: a, mode: lazy, range: default }\n",
    /runs\.1\.name: expected a unique name, found "a" twice/,
  );
  fails(
    "runs:\n  - { name: a, mode: fast, range: default }\n",
    /^s\.yaml:2: runs\.0\.mode: expected one of strict, lazy/,
  );
  fails("seed: [1\n", /^s\.yaml:\d+: expected YAML, found an error/);
  fails("- 1\n- 2\n", /^s\.yaml:1: expected a mapping of scenario keys/);
});

test("scenarios/calibration.yaml is the calibration test's scenario", async () => {
  const { readFileSync } = await import("node:fs");
  const { calibrationScenario } = await import("./calibrate.ts");
  const file = new URL("../../scenarios/calibration.yaml", import.meta.url);
  assert.deepEqual(parseScenarioYaml(readFileSync(file, "utf8"), "calibration.yaml"), calibrationScenario());
});
