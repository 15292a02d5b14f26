/**
 * Golden tests: every public conformance vector of every kernel profile,
 * recorded by running the kernel's own iova.c (test/fixtures/conformance,
 * copied gzip'd from ../shared/conformance), reproduced byte for byte, output
 * and walks. The small vectors also run with the full invariant check after
 * every operation. Where ../shared is beside the repository, the fixtures are
 * checked against it so the copies cannot drift.
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { runOps } from "../src/iova/ops.ts";
import { QUICK } from "./helpers/quick.ts";

const FIXTURES = join(import.meta.dirname, "fixtures", "conformance");
const SHARED = join(import.meta.dirname, "..", "..", "shared", "conformance");
const KERNELS = ["mainline", "6.1", "5.15", "5.10"];
/**
 * Vectors up to this many operations also run with verifyInvariants() after
 * every op; the quick tier checks the smaller ones only (the check is half
 * the file's time), and every vector byte for byte.
 */
const VERIFY_MAX_OPS = QUICK ? 2500 : 5000;

function gz(path: string): string {
  return gunzipSync(readFileSync(path)).toString("utf8");
}

/** A vector's script, expected output and walks, read once for both searches' tests. */
let held: { dir: string; name: string; script: string; expected: string; walks: string } | null = null;
function vector(dir: string, name: string): { script: string; expected: string; walks: string } {
  if (held === null || held.dir !== dir || held.name !== name) {
    const at = (ext: string) => gz(join(dir, `${name}.${ext}.gz`));
    held = { dir, name, script: at("iovaops"), expected: at("expected"), walks: at("walks") };
  }
  return held;
}

for (const kernel of KERNELS) {
  const dir = join(FIXTURES, kernel);
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(".iovaops.gz"))
    .map((f) => f.slice(0, -".iovaops.gz".length))
    .sort();
  test(`${kernel}: the fixture set is complete`, () => {
    // Counts from the tables of ../shared/conformance/README.md and the
    // per-kernel READMEs.
    const expected: Record<string, number> = { mainline: 29, "6.1": 29, "5.15": 31, "5.10": 31 };
    assert.equal(names.length, expected[kernel]);
  });
  for (const name of names) {
    for (const search of ["augmented", "walk"] as const) {
      test(`${kernel}/${name} (${search} search): output and walks are the kernel's, byte for byte`, () => {
        const { script, expected, walks } = vector(dir, name);
        const ops = script.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length - 1;
        const result = runOps(`${name}.iovaops`, script, {
          search,
          verify: search === "augmented" && ops <= VERIFY_MAX_OPS,
        });
        assert.equal(result.header.kernel, kernel);
        const output = Buffer.from(result.output).toString("latin1");
        const walked = Buffer.from(result.walks).toString("latin1");
        if (output !== expected) assert.fail(firstDifference("output", output, expected));
        if (walked !== walks) assert.fail(firstDifference("walks", walked, walks));
      });
    }
  }
  test(`${kernel}: fixtures match ../shared/conformance`, (t) => {
    const shared = join(SHARED, kernel);
    if (!existsSync(shared)) {
      t.skip("../shared/conformance is not beside the repository");
      return;
    }
    const sharedNames = readdirSync(shared).filter((f) => /\.(iovaops|expected|walks)$/.test(f));
    assert.equal(sharedNames.length, names.length * 3);
    for (const f of sharedNames) {
      assert.equal(gz(join(dir, `${f}.gz`)), readFileSync(join(shared, f), "utf8"), f);
    }
  });
}

function firstDifference(what: string, got: string, want: string): string {
  const a = got.split("\n");
  const b = want.split("\n");
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `${what} differs first at line ${i + 1}: got ${JSON.stringify(a[i])}, kernel ${JSON.stringify(b[i])}`;
}
