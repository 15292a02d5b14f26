/**
 * The built-ins as stored validated (builtin-descs.ts) are what the schema
 * makes of builtins.ts today, key order included, and the device template is
 * what it makes of a minimal device: a change to either side fails here
 * until test/helpers/builtin-descs.ts --write is run again.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { builtinDescs, deviceTemplate } from "../../test/helpers/builtin-descs.ts";
import { BUILTIN_DESCS, DEVICE_TEMPLATE } from "./builtin-descs.ts";
import { BUILTIN_MACHINES, builtinMachine } from "./builtins.ts";

const REGENERATE = "run `node test/helpers/builtin-descs.ts --write` and format src/machine/builtin-descs.ts";

test("each stored built-in is its source as the schema validates it", () => {
  const fresh = builtinDescs();
  assert.deepEqual(Object.keys(BUILTIN_DESCS), Object.keys(fresh), REGENERATE);
  for (const name of BUILTIN_MACHINES) {
    assert.equal(JSON.stringify(BUILTIN_DESCS[name]), JSON.stringify(fresh[name]), `${name}: ${REGENERATE}`);
  }
});

test("the device template is a minimal device as the schema completes it", () => {
  assert.equal(JSON.stringify(DEVICE_TEMPLATE), JSON.stringify(deviceTemplate()), REGENERATE);
});

test("builtinMachine hands out a copy: a caller's change does not reach the next caller", () => {
  const a = builtinMachine("qemu-q35-nvme");
  assert.ok(a !== null);
  a.devices[0].bdf = "0000:ff:1f.7";
  a.cpus = 99;
  const b = builtinMachine("qemu-q35-nvme");
  assert.equal(JSON.stringify(b), JSON.stringify(BUILTIN_DESCS["qemu-q35-nvme"]));
  assert.equal(builtinMachine("no-such-machine"), null);
  assert.equal(builtinMachine("toString"), null);
});
