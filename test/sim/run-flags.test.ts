/**
 * `iovalab run`'s settings flags as a user types them: over a scenario's
 * runs, as one run without a scenario, a machine file, and bad values
 * (exit 2 with the flag's name). Runs of a few simulated milliseconds on
 * the two-CPU VM.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { builtinMachine } from "../../src/machine/index.ts";
import { iovalab } from "../helpers/iovalab.ts";

const dir = mkdtempSync(join(tmpdir(), "iovalab-run-flags-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const FIO = "[j]\nrw=randread\nbs=4k\niodepth=4\nnumjobs=2\ncpus_allowed=0-1\ntime_based\nruntime=1\n";
const SHORT = ["--duration", "2", "--warmup", "1", "--no-progress", "--json"];

function runs(stdout: string): { name: string; mode: string; rangeSource: string; rcacheOrders: number }[] {
  return (JSON.parse(stdout) as { runs: { name: string; mode: string; rangeSource: string; rcacheOrders: number }[] })
    .runs;
}

test("run SCENARIO --mode/--range overrides the scenario's runs; its machine file is read beside it", () => {
  const yaml = join(dir, "s.yaml");
  // The scenario names a machine file beside it.
  writeFileSync(join(dir, "q35.json"), JSON.stringify(builtinMachine("qemu-q35-nvme")));
  writeFileSync(
    yaml,
    `name: s\nmachine: q35.json\nkernel: mainline\nfio: |\n${FIO.trimEnd().replace(/^/gm, "  ")}\nruns:\n  - { name: a, mode: strict, range: default }\n  - { name: b, mode: lazy, range: default }\n`,
  );
  const r = iovalab(["run", yaml, "--range", "256K", "--out", join(dir, "o1"), ...SHORT]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    runs(r.stdout).map((x) => [x.name, x.mode, x.rangeSource, x.rcacheOrders]),
    [
      ["cmdline-strict", "strict", "cmdline", 7],
      ["cmdline-lazy", "lazy", "cmdline", 7],
    ],
  );
  const p = iovalab(["run", yaml, "--mode", "passthrough", "--out", join(dir, "o2"), ...SHORT]);
  assert.equal(p.status, 0, p.stderr);
  assert.deepEqual(
    runs(p.stdout).map((x) => [x.name, x.rcacheOrders]),
    [["passthrough", 0]],
  );
});

test("run with setting flags and no scenario makes one run; a machine file works as a name does", () => {
  const fio = join(dir, "j.fio");
  writeFileSync(fio, FIO);
  const file = join(dir, "vm.json");
  writeFileSync(file, JSON.stringify({ ...builtinMachine("qemu-q35-nvme"), name: "my-vm" }));
  const r = iovalab([
    "run",
    "--machine",
    file,
    "--fio",
    fio,
    "--mode",
    "lazy",
    "--range-via",
    "sysfs",
    "--range",
    "512K",
    "--out",
    join(dir, "o3"),
    ...SHORT,
  ]);
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(r.stdout) as { machine: string; kernel: string };
  assert.equal(json.machine, file);
  assert.equal(json.kernel, "6.1", "the machine's own kernel");
  assert.deepEqual(
    runs(r.stdout).map((x) => [x.name, x.rangeSource, x.rcacheOrders]),
    [["sysfs-lazy", "sysfs", 8]],
  );
});

test("bad settings exit 2 naming the flag", () => {
  const out = ["--out", join(dir, "bad")];
  const cases: [string[], RegExp][] = [
    [["--mode", "fast"], /^iovalab: --mode: expected one of strict, lazy, passthrough, found "fast"\n$/],
    [["--range", "lots"], /^iovalab: --range: expected bytes such as 131072 or 512K, found "lots"\n$/],
    [["--range-via", "cmdline"], /^iovalab: --range-via: expected --range BYTES with range-via cmdline, found none\n$/],
    [
      ["--machine", "vax"],
      /^iovalab: --machine: expected a built-in machine \(.*\) or a description file, found "vax"\n$/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = iovalab(["run", ...args, ...out, "--no-progress"]);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, re);
  }
});

test("replay takes --mode for its what-if, as run does", () => {
  const trace = new URL("../fixtures/traces/linux-6.1-strict-4k-head600.txt.gz", import.meta.url).pathname;
  const byMode = iovalab(["replay", trace, "--mode", "lazy"]);
  const byFlag = iovalab(["replay", trace, "--lazy"]);
  assert.equal(byMode.status, 0, byMode.stderr);
  assert.equal(byMode.stdout, byFlag.stdout);
  assert.match(byMode.stdout, /what if/);
  const bad = iovalab(["replay", trace, "--mode", "passthrough"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--mode: expected strict or lazy, found "passthrough"/);
});
