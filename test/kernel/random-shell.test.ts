/**
 * A seeded randomized run in the style of TigerBeetle's VOPR: random shell
 * lines (type and max_opt_dma_size writes, good and bad; bind and unbind;
 * module parameters; map, unmap, sleep) on both built-in machines and both
 * sysfs rule sets, with the kernel's full invariant walk after every line.
 * Every error must be one of the shell's known forms; nothing may throw.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { bootMachine, Shell } from "../../src/machine/index.ts";
import { Prng } from "../../src/stdx/prng.ts";

const SEED = 20261123;
const STEPS = 250;
const KNOWN_ERROR =
  /^(bash: line \d+: (echo|printf): write error: .+|bash: line \d+: \S+: (Permission denied|No such file or directory)|(map|unmap|map-sg): .+)$/;

for (const machine of ["qemu-q35-nvme", "hisi-sas-128"] as const) {
  for (const kernel of ["6.1", "mainline"] as const) {
    test(`random shell on ${machine} (${kernel}), seed ${SEED}`, () => {
      const rng = new Prng(SEED);
      const pick = <T>(xs: readonly T[]): T => xs[rng.below(xs.length)];
      const k = bootMachine(machine, { kernel, cmdline: rng.below(2) === 0 ? "iommu.strict=0" : "" });
      const sh = new Shell(k);
      const bdfs = k.drivers.devices.map((d) => d.name);
      const drivers = k.drivers.drivers.map((d) => d.model.name);
      const groups = [...k.iommu.groups.keys()];
      const mapped: { bdf: string; addr: number; size: number }[] = [];
      for (let step = 0; step < STEPS; step++) {
        const g = pick(groups);
        const bdf = pick(bdfs);
        let line: string;
        switch (rng.below(8)) {
          case 0:
            line = `echo ${pick(["identity", "DMA", "DMA-FQ", "auto", "foo", ""])} > /sys/kernel/iommu_groups/${g}/type`;
            break;
          case 1:
            line = `echo ${pick(["0", "4096", "65536", "524288", "0x100000", "2097152", "abc", "-1"])} > /sys/kernel/iommu_groups/${g}/max_opt_dma_size`;
            break;
          case 2:
            line = `echo ${bdf} > /sys/bus/pci/drivers/${pick(drivers)}/${pick(["bind", "unbind"])}`;
            break;
          case 3:
            line = `echo ${pick(["0", "262144", "1048576"])} > /sys/module/hisi_sas_v3_hw/parameters/max_opt_dma_size`;
            break;
          case 4:
          case 5: {
            const size = (1 + rng.below(64)) * 4096 - rng.below(2) * 100;
            const r = sh.runLine(`map ${bdf} ${size} --cpu ${rng.below(k.cpus)}`, step + 1);
            if (r.status === 0) mapped.push({ bdf, addr: Number(r.stdout.trim()), size });
            k.verifyInvariants();
            continue;
          }
          case 6: {
            if (mapped.length === 0) continue;
            const m = mapped.splice(rng.below(mapped.length), 1)[0];
            line = `unmap ${m.bdf} 0x${m.addr.toString(16)} ${m.size} --cpu ${rng.below(k.cpus)}`;
            break;
          }
          default:
            line = `sleep ${rng.below(30)}`;
        }
        const r = sh.runLine(line, step + 1);
        for (const err of r.stderr.split("\n").filter((l) => l !== "")) {
          assert.match(err, KNOWN_ERROR, `${line}`);
        }
        k.verifyInvariants();
      }
    });
  }
}
