/** Machine descriptions: errors name the file, the path inside it and what was expected. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../stdx/errors.ts";
import { BUILTIN_MACHINES, builtinMachine } from "./builtins.ts";
import { parseMachine } from "./schema.ts";

const GOOD = `
name: m
cpus: 2
iommu: { kind: intel-vtd, name: dmar0, granule: 4096, addressWidth: 39 }
hostBridges: [{ name: "pci0000:00" }]
devices:
  - { bdf: "0000:00:01.0", vendor: 0x1b36, device: 0x0010, class: 0x010802, group: a }
`;

function errorOf(text: string): string {
  try {
    parseMachine(text, "m.yaml");
  } catch (e) {
    assert.ok(e instanceof InputError);
    return e.message;
  }
  assert.fail("expected an InputError");
}

test("the built-ins validate, and a minimal YAML machine parses with defaults", () => {
  for (const name of BUILTIN_MACHINES) assert.ok(builtinMachine(name));
  const m = parseMachine(GOOD, "m.yaml");
  assert.equal(m.kernel, "mainline");
  assert.equal(m.hz, 250);
  assert.equal(m.devices[0].dmaMaskBits, 64);
  // JSON is YAML too.
  assert.equal(parseMachine(JSON.stringify(m), "m.json").name, "m");
});

test("errors name the file, the line, the path, what was expected and what was found", () => {
  assert.equal(
    errorOf(GOOD.replace("vendor: 0x1b36", 'vendor: "zz"')),
    'm.yaml:7: devices[0].vendor: expected an integer such as 4096 or "0xfee00000", found "zz"',
  );
  assert.equal(errorOf(GOOD.replace("cpus: 2", "cpus: two")), 'm.yaml:3: cpus: expected number, found "two"');
  assert.equal(
    errorOf(GOOD.replace('"0000:00:01.0"', '"00:01.0"')),
    'm.yaml:7: devices[0].bdf: expected a PCI address such as "0000:00:01.0" (lower-case hex), found "00:01.0"',
  );
  assert.equal(
    errorOf(GOOD.replace("granule: 4096", "granule: 12288")),
    'm.yaml:4: iommu.granule: expected a power of two, found "12288"',
  );
  // Sizes no kernel or IOMMU has: each made the model fail inside (an assertion, exit 1) or,
  // for a driver's disks, exhaust memory building them.
  assert.equal(
    errorOf(GOOD.replace("granule: 4096", "granule: 1")),
    'm.yaml:4: iommu.granule: expected a number >= 4096, found "1"',
  );
  assert.equal(
    errorOf(GOOD.replace("cpus: 2", "cpus: 2\npageSize: 1099511627776")),
    'm.yaml:4: pageSize: expected a number <= 65536, found "1099511627776"',
  );
  assert.equal(
    errorOf(GOOD.replace("cpus: 2", "cpus: 8193")),
    'm.yaml:3: cpus: expected a number <= 8192, found "8193"',
  );
  assert.equal(
    errorOf(
      `${GOOD}drivers:\n  - { name: sas, model: hisi_sas_v3_hw, match: [{ vendor: 0x19e5 }], disks: 100000000 }\n`,
    ),
    'm.yaml:9: drivers[0].disks: expected a number <= 1024, found "100000000"',
  );
  assert.match(
    errorOf(GOOD.replace("cpus: 2", "cpus: 2\ncpu: 3")),
    /^m\.yaml:4: \(top level\): expected one of the known keys, found "cpu"$/,
  );
  assert.match(
    errorOf(GOOD.replace('hostBridges: [{ name: "pci0000:00" }]', "")),
    /^m\.yaml:2: hostBridges: expected array, found nothing$/,
  );
  assert.match(errorOf("name: [unclosed"), /^m\.yaml:1: expected YAML, found an error: /);
  assert.equal(
    errorOf(`${GOOD}  - { bdf: "0000:00:01.0", vendor: 1, device: 1, class: 1, group: b }\n`),
    'm.yaml:8: devices[1].bdf: expected a unique PCI address, found "0000:00:01.0" twice',
  );
  assert.equal(
    errorOf(GOOD.replace("group: a", "group: a, hostBridge: pci0000:01")),
    'm.yaml:7: devices[0].hostBridge: expected one of pci0000:00, found "pci0000:01"',
  );
});

test("IOMMU units: named once each, a device's unit one of them; a SAS block takes hisi_sas v3's defaults", () => {
  const units = GOOD.replace("addressWidth: 39 }", "addressWidth: 39, units: [dmar0, dmar1, dmar0] }");
  assert.equal(errorOf(units), 'm.yaml:4: iommu.units[2]: expected a unique unit name, found "dmar0" twice');
  const two = GOOD.replace("addressWidth: 39 }", "addressWidth: 39, units: [dmar0, dmar1] }");
  assert.equal(
    parseMachine(two.replace("group: a }", "group: a, iommuUnit: dmar1 }"), "m.yaml").devices[0].iommuUnit,
    "dmar1",
  );
  assert.equal(
    errorOf(two.replace("group: a }", "group: a, iommuUnit: dmar2 }")),
    'm.yaml:7: devices[0].iommuUnit: expected one of iommu.units (dmar0, dmar1), found "dmar2"',
  );
  // Without units, the one unit is iommu.name.
  assert.equal(
    errorOf(GOOD.replace("group: a }", "group: a, iommuUnit: dmar1 }")),
    'm.yaml:7: devices[0].iommuUnit: expected one of iommu.units (dmar0), found "dmar1"',
  );
  const sas = parseMachine(GOOD.replace("group: a }", "group: a, sas: { canQueue: 64 } }"), "m.yaml").devices[0].sas;
  assert.deepEqual(sas, {
    canQueue: 64,
    linkBytesPerSec: 7.4e9,
    completionQueues: 16,
    disk: { iopsMax: 200_000, bandwidthBytesPerSec: 1.1e9, latencyNs: 80_000, queueDepth: 32 },
  });
});
