/**
 * Which `iovalab ops` command lines run without the option parser: the plain
 * forms only; anything else goes to the parser (help, usage errors).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { plainOpsArgs } from "./ops.ts";

test("plain ops arguments are read as the option parser reads them", () => {
  assert.deepEqual(plainOpsArgs(["x.iovaops"]), { file: "x.iovaops", opts: { search: "augmented" } });
  assert.deepEqual(plainOpsArgs(["-", "--walks", "-", "--kernel", "5.10", "--verify", "--search", "walk"]), {
    file: "-",
    opts: { search: "walk", walks: "-", kernel: "5.10", verify: true },
  });
  assert.deepEqual(plainOpsArgs(["--kernel", "4.19", "x"]), {
    file: "x",
    opts: { search: "augmented", kernel: "4.19" },
  });
});

test("any other ops command line is left to the option parser", () => {
  for (const args of [
    [],
    ["--help"],
    ["-h", "x"],
    ["x", "y"],
    ["x", "--walks"],
    ["x", "--walks=w"],
    ["x", "--walks", "--verify"],
    ["x", "--verify", "--verify"],
    ["x", "--kernel", "6.1", "--kernel", "5.10"],
    ["x", "--bogus"],
    ["-x"],
  ]) {
    assert.equal(plainOpsArgs(args), null, args.join(" "));
  }
});
