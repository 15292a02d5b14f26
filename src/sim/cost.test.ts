import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { COST_PARAM_NAMES, defaultCostModel, freeParams } from "./cost.ts";

test("docs/cost-model.md explains every cost parameter with the table's value", () => {
  const doc = readFileSync(new URL("../../docs/cost-model.md", import.meta.url), "utf8");
  const model = defaultCostModel();
  for (const name of COST_PARAM_NAMES) {
    // A table row `| \`name\` | ns |` and a bullet that explains it.
    assert.ok(
      doc.includes(`| \`${name}\` | ${model[name].ns} |`),
      `no table row for ${name} with ${model[name].ns} ns`,
    );
    const bullets = doc.split("\n").filter((l) => l.startsWith("- **") && l.includes(`\`${name}\``));
    assert.ok(bullets.length > 0, `no explanation of ${name}`);
  }
});

test("few free parameters, as the issue asks", () => {
  assert.deepEqual(freeParams(defaultCostModel()), ["treeWalkStepNs", "lockHandoffNs", "iotlbSyncNs", "fioSubmitNs"]);
});
