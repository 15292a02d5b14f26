/**
 * The input contract under fuzzing (properties.ts, each in a worker under a
 * hang watchdog), and the command line itself: random argument lists for
 * every command, run as a person runs them, end in status 0, or in status 2
 * with a one-line message; never an internal error, a stack, a signal or a
 * hang, and never a replaced device or symlink.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { quickSkip } from "../helpers/quick.ts";
import { runProperty } from "./harness.ts";
import { PROPERTIES } from "./properties.ts";

// The properties and the command lines run side by side, each property in its own worker.
describe("fuzz", { concurrency: true, skip: quickSkip("fuzzing in workers and processes") }, () => {
  for (const name of Object.keys(PROPERTIES)) {
    test(`${name} inputs are accepted or refused as FILE:LINE: expected ..., found ...`, () => runProperty(name));
  }
  test("command lines end in status 0 or 2 with a clean message, and replace no device or symlink", commandLines);
});

// ---- the command line, as processes ----

const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;
const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const SAMPLES = new URL("../../samples/", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "iovalab-fuzz-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const target = join(dir, "target.txt");
writeFileSync(target, "kept\n");
const link = join(dir, "link.txt");
symlinkSync(target, link);
const aFile = join(dir, "a-file");
writeFileSync(aFile, "not a directory\n");
mkdirSync(join(dir, "a-dir"));
const badYaml = join(dir, "bad.yaml");
writeFileSync(badYaml, "seed: [1\n");
const emptyYaml = join(dir, "empty.yaml");
writeFileSync(emptyYaml, "---\n");
const script = join(dir, "s.iovaops");
writeFileSync(script, "domain granule=4096 start_pfn=1 cpus=2\nalloc 1 1048575 1\nfind 1048575\n");

const INPUTS = [
  script,
  `${FIXTURES}conformance/mainline/hand-worked-basics.iovaops.gz`,
  `${SAMPLES}trace-6.1-strict-4k.txt.gz`,
  badYaml,
  emptyYaml,
  aFile,
  join(dir, "a-dir"),
  "/nonexistent/file",
  "/dev/null",
  "/dev/zero",
  "-",
];
const OUTPUTS = [join(dir, "out"), join(dir, "w.txt"), link, "/dev/null", "-", aFile, join(dir, "a-dir"), "/proc/x/y"];
const VALUES = ["1", "0", "-1", "1e30", "abc", "", "2", "6.1", "mainline", "4.19", "128K", "99999999999999999999"];

const option = fc.oneof(
  fc.tuple(
    fc.constantFrom("--kernel", "--cpus", "--seed", "--search", "--range", "--captured"),
    fc.constantFrom(...VALUES),
  ),
  fc.tuple(fc.constantFrom("--walks", "--perfetto", "--results"), fc.constantFrom(...OUTPUTS)),
  fc.tuple(fc.constantFrom("--machine"), fc.constantFrom("qemu-q35-nvme", "pdp-11", ...INPUTS)),
  fc.tuple(fc.constantFrom("--duration", "--warmup", "--over"), fc.constantFrom(...VALUES, "seed=1,2", "x")),
  fc.constantFrom(
    ["--emit-iovas"],
    ["--strict"],
    ["--lazy"],
    ["--json"],
    ["--verify"],
    ["--bogus"],
    ["--version"],
    ["-h"],
  ),
);
const argv = fc
  .tuple(
    fc.constantFrom("ops", "replay", "shell", "run", "sweep", "kernels", "demo", "nope"),
    fc.array(fc.constantFrom(...INPUTS), { maxLength: 2 }),
    fc.array(option, { maxLength: 3 }),
  )
  .map(([cmd, files, opts]) => {
    const args = [cmd, ...files, ...opts.flat()];
    // Whatever else was drawn, the long jobs stay short: tiny simulations, small churns.
    if (cmd === "run" || cmd === "sweep") {
      args.push(
        "--duration",
        "0.01",
        "--warmup",
        "0",
        "--runs",
        "default-strict",
        "--no-progress",
        "--out",
        join(dir, "out"),
      );
    }
    if (cmd === "demo") args.push("--mappings", "2000", "--cpus", "2");
    if (cmd === "sweep") args.push("--workers", "1");
    return args;
  });

function runCli(args: string[]): Promise<{ status: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["pipe", "ignore", "pipe"], timeout: 60_000 });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.stdin.end("dmesg\ndma-info 0000:00:01.0\n");
    child.on("close", (status, signal) => resolve({ status, signal, stderr }));
  });
}

async function commandLines(): Promise<void> {
  const cases = fc.sample(argv, { seed: 20261209, numRuns: 12 });
  // Two at a time: the machine has two cores.
  for (let i = 0; i < cases.length; i += 2) {
    const batch = cases.slice(i, i + 2);
    const results = await Promise.all(batch.map(runCli));
    batch.forEach((args, j) => {
      const r = results[j];
      const what = `iovalab ${args.join(" ")}`;
      assert.equal(r.signal, null, `${what}: killed by ${r.signal} (a hang)`);
      assert.ok(r.status === 0 || r.status === 2, `${what}: status ${r.status}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error| {4}at |Error:/, `${what}: ${r.stderr}`);
      if (r.status === 2) assert.match(r.stderr, /^(iovalab: |error: )/, what);
    });
  }
  assert.ok(lstatSync("/dev/null").isCharacterDevice(), "/dev/null is still a device");
  assert.ok(lstatSync(link).isSymbolicLink(), "the symlink is still a symlink");
  assert.ok(lstatSync(aFile).isFile());
  assert.ok(readFileSync(target, "utf8").length > 0);
}
