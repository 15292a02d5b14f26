/** `iovalab shell` as a process: stdin in, stdout and stderr apart, the CLI's exit statuses. */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../helpers/temp-dir.ts";

const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;

function shell(args: string[], input: string) {
  return spawnSync(process.execPath, [MAIN, "shell", ...args], { input, encoding: "utf8" });
}

test("a script on stdin: stdout carries only what the commands print, errors in bash's words", () => {
  const r = shell(
    ["--machine", "hisi-sas-128"],
    "# comment\necho 1 > /sys/kernel/iommu_groups/0/max_opt_dma_size\necho $?\ndma-info 0000:74:02.0\n",
  );
  assert.equal(r.status, 0);
  assert.equal(
    r.stdout,
    "1\ndma_max_mapping_size 18446744073709551615\ndma_opt_mapping_size 524288\ndomain DMA\ngroup 0\n",
  );
  assert.equal(r.stderr, "bash: line 2: echo: write error: Device or resource busy\n");
});

test("--kernel, --cmdline and --cpus reach the boot", () => {
  const r = shell(
    ["--kernel", "mainline", "--cmdline", "iommu.strict=0", "--cpus", "4"],
    "cat /sys/kernel/iommu_groups/1/type\nmap 0000:00:01.0 4096 --cpu 3\nmap 0000:00:01.0 4096 --cpu 4\n",
  );
  assert.equal(r.stdout, "DMA-FQ\n0xfffff000\n");
  assert.equal(r.stderr, "map: --cpu: expected a CPU below 4, found 4\n");
});

test("a machine file with an error: exit 2 and a message naming the file and the path", () => {
  const dir = tempDir("iovalab-");
  const file = join(dir, "bad.yaml");
  writeFileSync(file, "name: bad\ncpus: 0\n");
  const r = shell(["--machine", file], "");
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    new RegExp(`^iovalab: ${file.replace(/[.]/g, "\\.")}:2: cpus: expected a number >= 1, found "0"\\n$`),
  );
});
