/**
 * The one-way layers of docs/ARCHITECTURE.md, checked on the import lines of
 * every source file: a lower layer never imports a higher one, `iova/` and
 * `sim/` never import each other, and the model uses no Node APIs outside the
 * command line and its named thin adapters.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";

const SRC = join(import.meta.dirname, "..", "src");

/** What each layer may import from the others (itself is always allowed). */
const ALLOWED: Record<string, string[]> = {
  stdx: [],
  iova: ["stdx"],
  sim: ["stdx"],
  iommu: ["stdx", "iova"],
  dma: ["stdx", "iova", "iommu"],
  driver: ["stdx", "iova", "iommu", "dma"],
  sysfs: ["stdx", "iova", "iommu", "dma", "driver"],
  machine: ["stdx", "iova", "iommu", "dma", "driver", "sysfs"],
  trace: ["stdx"],
  replay: ["stdx", "iova", "iommu", "dma", "driver", "sysfs", "machine", "trace"],
  workload: ["stdx", "iova", "iommu", "dma", "driver", "sysfs", "machine", "sim", "trace"],
  scenario: ["stdx", "iova", "iommu", "dma", "driver", "sysfs", "machine", "sim", "trace", "replay", "workload"],
  report: ["stdx", "iova", "sim", "workload", "scenario"],
  // The explorer page: the model through its public face (src/index.ts), run in a browser.
  explore: ["index.ts"],
  // The library's face, in parts (src/index.ts is all of them): every model layer, nothing above.
  face: [
    "stdx",
    "iova",
    "iommu",
    "dma",
    "driver",
    "sysfs",
    "machine",
    "sim",
    "trace",
    "replay",
    "workload",
    "scenario",
    "report",
  ],
  // The command line: the model only through the library's face (its parts,
  // so a command loads only what it uses) and the Node adapters' src/node.ts
  // (src/node-input.ts is its inputs alone); the explorer's page, to build
  // and serve it.
  cli: ["face", "node.ts", "node-input.ts", "explore"],
};

/** Files outside cli/ that may use Node APIs: thin adapters, each for one reason. */
const NODE_ADAPTERS = new Set([
  "trace/node-source.ts", // streams trace files
  "stdx/node-input.ts", // the one way inputs are opened: checks, limits, gunzip
  "report/png.ts", // locates the shipped font for the native PNG renderer
]);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? files(join(dir, e.name))
      : /\.tsx?$/.test(e.name) && !e.name.endsWith(".test.ts")
        ? [join(dir, e.name)]
        : [],
  );
}

test("layers import only downwards, and the model uses no Node APIs", () => {
  const problems: string[] = [];
  for (const file of files(SRC)) {
    const rel = relative(SRC, file);
    const layer = rel.includes("/") ? rel.split("/")[0] : "index";
    if (layer === "index") continue;
    const allowed = ALLOWED[layer];
    assert.ok(allowed, `${rel}: layer ${layer} is not in the layer table`);
    const text = readFileSync(file, "utf8");
    const imports = /(?:import|export)[^"'();]*?from\s+["']([^"']+)["']|import\s*\(?\s*["']([^"']+)["']/g;
    for (const m of text.matchAll(imports)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith("node:")) {
        if (layer !== "cli" && !NODE_ADAPTERS.has(rel)) problems.push(`${rel}: imports ${spec}`);
        continue;
      }
      if (!spec.startsWith(".")) continue;
      const target = relative(SRC, join(file, "..", spec)).split("/")[0];
      if (target !== layer && !allowed.includes(target)) problems.push(`${rel}: ${layer} imports ${target} (${spec})`);
    }
    // A Node module reached without an import (process.getBuiltinModule, require) is a Node API all the same.
    for (const m of text.matchAll(/\b(?:getBuiltinModule|require)\s*\(\s*["']([^"']+)["']/g)) {
      if (layer !== "cli" && !NODE_ADAPTERS.has(rel)) problems.push(`${rel}: loads ${m[1]}`);
    }
  }
  assert.deepEqual(problems, []);
});

test("nothing branches on a kernel profile's name: each version's behaviour is a switch in its layer's table", () => {
  const branch =
    /(?:===|!==)\s*"(?:mainline|6\.1|5\.15|5\.10)"|"(?:mainline|6\.1|5\.15|5\.10)"\s*(?:===|!==)|case\s+"(?:mainline|6\.1|5\.15|5\.10)"/;
  const problems: string[] = [];
  for (const file of files(SRC)) {
    const lines = readFileSync(file, "utf8").split("\n");
    lines.forEach((line, i) => {
      if (branch.test(line)) problems.push(`${relative(SRC, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(problems, []);
});
