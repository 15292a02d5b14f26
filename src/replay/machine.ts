/**
 * The replay's view of a machine description: the trace domains the
 * reconstruction needs (one per IOMMU group) and the device a trace replays
 * by default.
 */

import type { MachineDesc } from "../machine/schema.ts";
import { InputError } from "../stdx/errors.ts";
import type { TraceMachine } from "../trace/machine.ts";

/**
 * The reconstruction's view of a machine description: one trace domain per
 * IOMMU group with its devices and its direct reserved regions; device-less
 * events default to the replayed device's group.
 */
export function traceMachineOf(desc: MachineDesc, device: string): TraceMachine {
  const groups = new Map<string, { devices: string[]; direct: { start: number; end: number }[] }>();
  for (const d of desc.devices) {
    let g = groups.get(d.group);
    if (!g) groups.set(d.group, (g = { devices: [], direct: [] }));
    g.devices.push(d.bdf);
    for (const r of d.reservedRegions) {
      if (r.type === "direct" || r.type === "direct-relaxable") g.direct.push({ start: r.start, end: r.end + 1 });
    }
  }
  const own = desc.devices.find((d) => d.bdf === device);
  if (!own) throw new InputError(`--device: expected a device of ${desc.name}, found ${JSON.stringify(device)}`);
  return {
    domains: [...groups].map(([id, g]) => ({ name: `group${id}`, devices: g.devices, directMappings: g.direct })),
    defaultDomain: `group${own.group}`,
    granule: desc.iommu.granule,
  };
}

/** The trace domain of `device` (its IOMMU group's, as `traceMachineOf` names it). */
export function domainOfDevice(desc: MachineDesc, device: string): string {
  return `group${desc.devices.find((d) => d.bdf === device)?.group}`;
}

/** Every device a DMA driver of the machine binds, the first driver's first: each has a domain a trace can replay. */
export function dmaDevices(desc: MachineDesc): string[] {
  const out: string[] = [];
  for (const drv of desc.drivers) {
    if (drv.model === "plain") continue;
    for (const d of desc.devices) {
      const hit = drv.match.some(
        (m) =>
          (m.vendor === undefined || m.vendor === d.vendor) &&
          (m.device === undefined || m.device === d.device) &&
          (m.class === undefined || (m.class & (m.classMask ?? 0xffffff)) === (d.class & (m.classMask ?? 0xffffff))),
      );
      if (hit && !out.includes(d.bdf)) out.push(d.bdf);
    }
  }
  return out;
}

/** The device a trace of this machine replays by default: the first one a driver of the machine binds. */
export function defaultReplayDevice(desc: MachineDesc): string {
  const all = dmaDevices(desc);
  if (all.length === 0)
    throw new InputError(`${desc.name}: no device with a DMA driver to replay; name one with --device`);
  return all[0];
}

/** The other devices with a DMA driver of the same class as `device` (a second NVMe controller): traffic of one kind. */
export function sameKindDevices(desc: MachineDesc, device: string): string[] {
  const cls = desc.devices.find((d) => d.bdf === device)?.class;
  return dmaDevices(desc).filter((x) => x !== device && desc.devices.find((d) => d.bdf === x)?.class === cls);
}

/**
 * The machine as one device's replay boots it: every other group that can
 * take one gets an identity default domain (`identityDefault`, as an IOMMU
 * driver's `def_domain_type` would ask). That replay drives only its own
 * group's domain, and a DMA domain in every other group (its IOVA tree,
 * magazines, flush queue) made a trace of N devices boot N^2 of them.
 * Untrusted devices keep theirs: their group cannot be identity.
 */
export function machineForDevice(desc: MachineDesc, device: string): MachineDesc {
  const group = desc.devices.find((d) => d.bdf === device)?.group;
  if (desc.devices.every((d) => d.group === group || d.untrusted || d.identityDefault)) return desc;
  return {
    ...desc,
    devices: desc.devices.map((d) => (d.group === group || d.untrusted ? d : { ...d, identityDefault: true })),
  };
}
