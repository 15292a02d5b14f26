/**
 * Every example in README.md runs from the repository alone and prints what
 * the README shows: each ```sh block with `$ ` commands is run by bash (in a
 * scratch directory that sees only the repository's `samples/` and `test/`),
 * and what it prints (stdout and stderr, as on a terminal) must be the
 * block's other lines.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { quickSkip } from "./helpers/quick.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = join(ROOT, "bin/iovalab.js");

interface Example {
  line: number;
  script: string;
  output: string;
}

/** The README's examples: commands (with continuation lines and here-documents) and the output after them. */
function examples(): Example[] {
  const lines = readFileSync(join(ROOT, "README.md"), "utf8").split("\n");
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== "```sh") continue;
    const start = i + 1;
    const script: string[] = [];
    const output: string[] = [];
    let j = start;
    for (; lines[j] !== "```"; j++) {
      const l = lines[j];
      if (!l.startsWith("$ ")) {
        output.push(l);
        continue;
      }
      script.push(l.slice(2));
      let heredoc = /<<'(\w+)'$/.exec(l)?.[1];
      while (lines[j].endsWith("\\") || heredoc !== undefined) {
        j++;
        script.push(lines[j]);
        if (lines[j] === heredoc) heredoc = undefined;
      }
    }
    i = j;
    if (script.length > 0) out.push({ line: start, script: script.join("\n"), output: output.join("\n") });
  }
  return out;
}

const scratch = mkdtempSync(join(tmpdir(), "iovalab-readme-"));
symlinkSync(join(ROOT, "samples"), join(scratch, "samples"));
symlinkSync(join(ROOT, "test"), join(scratch, "test"));
after(() => rmSync(scratch, { recursive: true, force: true }));

for (const ex of examples()) {
  // Writing the explorer's page builds it (tens of seconds after any change to the model); `run --duration` simulates.
  const skip =
    (/iovalab explore .*--out /.test(ex.script) && quickSkip("the explorer page's build")) ||
    (/iovalab run .*--duration /.test(ex.script) && quickSkip("simulated runs"));
  test(`README.md:${ex.line}: ${ex.script.split("\n")[0]}`, { skip }, () => {
    // `npx iovalab` is the command of this repository; stderr shows where a terminal shows it.
    const prelude = `exec 2>&1\nnpx() { shift; '${process.execPath}' '${MAIN}' "$@"; }\n`;
    const r = spawnSync("bash", ["-c", prelude + ex.script], { cwd: scratch, encoding: "utf8", timeout: 300_000 });
    assert.equal(r.stdout, `${ex.output}\n`);
  });
}
