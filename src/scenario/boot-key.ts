/**
 * The state a run's simulation starts from, as one comparable string: two
 * runs with the same key simulate the same thing, event for event, so the
 * main job simulates each key once. The range set through sysfs and the one
 * the driver asks for are two routes to the same domain (unbind, write,
 * bind; or deferral and the reprobe's rebuild): the kernel model ends both
 * boots in the same state, and the key shows it rather than assuming it.
 *
 * The key holds everything `runOne` reads after the boot: the scenario as
 * the run sees it (kernel, timing, workload, costs, seed) and the run's
 * mode, the engine's start time, every live DMA domain's full state (the
 * IOVA tree with its shape, cached nodes, every magazine and depot, pending
 * trim work, counters, clock, flush queue and live mappings, which is what
 * `Kernel.checkpoint()` restores) with the domain's fixed parameters, every
 * device's masks, SAC flag, binding and block queue limits. What is
 * left out (the kernel log, module parameters, where the range came from)
 * is read by nothing after the boot but the label of the run's range source,
 * which each run keeps as its own.
 */

import { queueLimits } from "../machine/index.ts";
import type { Kernel } from "../machine/kernel.ts";
import { bootForRun, type RunResult, rangeSourceOf, workloadDevices, workloadStartNs } from "./run.ts";
import { type RunSpec, type Scenario, scenarioOfRun } from "./scenario.ts";

/**
 * The key of one run of `s` and the range source its boot recorded (its
 * workload's first device's: the HBA on the seed's machine). Boots the run's machine: some tens of ms.
 */
export function bootKey(s: Scenario, run: RunSpec): { key: string; rangeSource: RunResult["rangeSource"] } {
  const sr = scenarioOfRun(s, run);
  const k = bootForRun(sr, run);
  const { runs: _runs, name: _name, ...rest } = sr;
  // As runOne does before its first event: the clock moved to the workload's start.
  const startNs = workloadStartNs(k);
  k.advanceTo(startNs);
  const parts: string[] = [JSON.stringify(rest), run.mode, String(startNs)];
  parts.push(kernelState(k));
  // Where the range came from, as the workload's first device records it (the HBA on the seed's machine).
  const dev = workloadDevices(k, sr).find((d) => d.bound);
  const rangeSource = dev !== undefined ? rangeSourceOf(k, dev, run) : run.range;
  return { key: parts.join("\n"), rangeSource };
}

function kernelState(k: Kernel): string {
  const out: string[] = [];
  for (const c of k.dma.cookies) {
    if (c.dead) continue;
    const d = c.iovad;
    out.push(
      JSON.stringify([
        d.profile.name,
        d.granule,
        d.startPfn,
        d.dma32bitPfn,
        d.cpus,
        d.rcacheOrders,
        d.roundUpBelow,
        d.maxReservablePfn,
        d.search,
        d.depotWorkPlacedOutside,
      ]),
    );
    out.push(serialize(c.snapshot()));
  }
  for (const g of k.iommu.groups.values()) {
    for (const dev of g.devices) {
      // Its block queue limits too, where a driver set them: they shape the requests a workload makes.
      out.push(
        `${g.id} ${dev.name} ${dev.bound} ${dev.pci32bitWorkaround} ${String(dev.dmaMask)} ${String(dev.coherentDmaMask)} ${JSON.stringify(queueLimits.get(dev) ?? null)}`,
      );
    }
  }
  return out.join("\n");
}

/** Plain data, typed arrays and buffers as bytes in hex: equal text, equal state. */
function serialize(v: unknown): string {
  if (v === null || v === undefined || typeof v !== "object") {
    return typeof v === "bigint" ? `${v}n` : (JSON.stringify(v) ?? "undefined");
  }
  if (v instanceof ArrayBuffer) return hex(new Uint8Array(v));
  if (ArrayBuffer.isView(v)) return hex(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  if (Array.isArray(v)) return `[${v.map(serialize).join(",")}]`;
  if (v instanceof Map) return `M{${[...v.entries()].map(([a, b]) => `${serialize(a)}:${serialize(b)}`).join(",")}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([a, b]) => `${a}:${serialize(b)}`)
    .join(",")}}`;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}
