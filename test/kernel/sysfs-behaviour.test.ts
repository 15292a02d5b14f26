/**
 * Every applicable command of the real kernels' sysfs-behaviour captures
 * (`../shared/kernel/sysfs-behaviour.txt` for 6.1, `../shared/kernel-6.12/`
 * for mainline; copied into fixtures/) replayed through the shell on
 * qemu-q35-nvme with the matching profile: stdout and stderr text, exit
 * status, and the kernel's console lines each command caused.
 *
 * Not applicable, skipped: `ls -l` listings (iovalab's shell has no `ls -l`,
 * and the groups carry iovalab's extra `max_opt_dma_size` file), `dd` (no
 * block layer). busybox `sh -c` lines are checked by status and errno text.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import type { ProfileName } from "../../src/iova/profile.ts";
import { bootMachine, Shell } from "../../src/machine/index.ts";

interface Step {
  cmd: string;
  console: string[];
  output: string[];
  status: number;
}

/** Splits a capture into runs (fresh boots) of steps. */
function parseCapture(text: string): Step[][] {
  const runs: Step[][] = [];
  let steps: Step[] | null = null;
  let cur: Step | null = null;
  for (const raw of text.split("\n")) {
    if (raw.startsWith("================ RUN")) {
      steps = [];
      runs.push(steps);
      continue;
    }
    if (!steps) continue;
    if (raw.startsWith("$ ")) {
      cur = { cmd: raw.slice(2), console: [], output: [], status: -1 };
      continue;
    }
    if (!cur) continue;
    const exit = /^\s*\[exit status: (\d+)\]$/.exec(raw);
    if (exit) {
      cur.status = Number(exit[1]);
      steps.push(cur);
      cur = null;
      continue;
    }
    const con = /^\[\s*\d+\.\d+\] (.*)$/.exec(raw);
    if (con) cur.console.push(con[1]);
    else cur.output.push(raw.startsWith("  out: ") ? raw.slice(7) : raw);
  }
  return runs;
}

function replay(fixture: string, kernel: ProfileName): number {
  const text = readFileSync(new URL(`fixtures/${fixture}`, import.meta.url), "utf8");
  const runs = parseCapture(text);
  assert.equal(runs.length, 2, "both runs found");
  let checked = 0;
  for (const steps of runs) {
    const k = bootMachine("qemu-q35-nvme", { kernel });
    const sh = new Shell(k);
    for (const step of steps) {
      let cmd = step.cmd;
      if (cmd.startsWith("dd ")) continue;
      if (cmd.startsWith("ls -l ")) {
        if (!step.output[0]?.startsWith("ls: ")) continue;
        cmd = `ls ${cmd.slice(6)}`;
      }
      const bb = /^busybox sh -c '(.*)'$/.exec(cmd);
      if (bb) cmd = bb[1];
      const logBefore = k.log.length;
      const r = sh.runLine(cmd, 1);
      const where = `${fixture}: $ ${step.cmd}`;
      assert.equal(r.status, step.status, `${where}: exit status`);
      const got = (r.stdout + r.stderr).split("\n").filter((l) => l !== "");
      if (bb) {
        const want = step.output.map((l) => l.replace(/^sh: /, ""));
        assert.deepEqual(
          got.map((l) => l.replace(/^bash: line 1: echo: /, "")),
          want,
          `${where}: output`,
        );
      } else {
        assert.deepEqual(got, step.output, `${where}: output`);
      }
      const newLog = k.log.slice(logBefore).map((l) => l.text);
      assert.deepEqual(newLog, step.console, `${where}: kernel console lines`);
      k.verifyInvariants();
      checked++;
    }
  }
  return checked;
}

test("6.1 sysfs behaviour of qemu-q35-nvme, every applicable command", () => {
  const n = replay("sysfs-behaviour-6.1.txt", "6.1");
  assert.ok(n >= 80, `checked ${n} commands`);
});

test("6.12 (mainline) sysfs behaviour of qemu-q35-nvme, every applicable command", () => {
  const n = replay("sysfs-behaviour-6.12.txt", "mainline");
  assert.ok(n >= 80, `checked ${n} commands`);
});
