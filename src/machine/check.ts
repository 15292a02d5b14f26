/**
 * The checks of a machine description that zod's shapes cannot say (unique
 * addresses and names, references between fields), and the IOMMU unit of a
 * device. No zod here: a machine built in code (the built-ins, one built
 * from a trace) is checked without loading the schema's validator.
 */

import { InputError } from "../stdx/errors.ts";
import type { MachineDesc } from "./schema.ts";

/** A path inside a description as its error messages show it: `devices[0].bdf`. */
export function pathText(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(top level)";
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? String(p) : `.${String(p)}`;
  return s;
}

/**
 * Cross-field checks zod's shapes cannot say; `at` words where in the
 * description (file and line) an error is.
 */
export function checkMachine(m: MachineDesc, at: (path: readonly PropertyKey[]) => string): void {
  const bridges = new Set(m.hostBridges.map((b) => b.name));
  const seen = new Set<string>();
  m.devices.forEach((d, i) => {
    if (seen.has(d.bdf))
      throw new InputError(`${at(["devices", i, "bdf"])}: expected a unique PCI address, found "${d.bdf}" twice`);
    seen.add(d.bdf);
    if (d.hostBridge !== undefined && !bridges.has(d.hostBridge)) {
      throw new InputError(
        `${at(["devices", i, "hostBridge"])}: expected one of ${[...bridges].join(", ")}, found "${d.hostBridge}"`,
      );
    }
    if (d.iommuUnit !== undefined && !iommuUnits(m).includes(d.iommuUnit)) {
      throw new InputError(
        `${at(["devices", i, "iommuUnit"])}: expected one of iommu.units (${iommuUnits(m).join(", ")}), found "${d.iommuUnit}"`,
      );
    }
    d.reservedRegions.forEach((r, j) => {
      if (r.end < r.start) {
        throw new InputError(
          `${at(["devices", i, "reservedRegions", j, "end"])}: expected an end at or above start ${r.start}, found ${r.end}`,
        );
      }
    });
  });
  const units = m.iommu.units ?? [];
  units.forEach((u, i) => {
    if (units.indexOf(u) !== i)
      throw new InputError(`${at(["iommu", "units", i])}: expected a unique unit name, found "${u}" twice`);
  });
  const names = new Set<string>();
  m.drivers.forEach((d, i) => {
    if (names.has(d.name))
      throw new InputError(`${at(["drivers", i, "name"])}: expected a unique driver name, found "${d.name}" twice`);
    names.add(d.name);
  });
  if (m.iommu.granule > m.pageSize) {
    // dma-iommu refuses granules above PAGE_SIZE for the DMA API.
    throw new InputError(
      `${at(["iommu", "granule"])}: expected at most pageSize ${m.pageSize}, found ${m.iommu.granule}`,
    );
  }
}

/** The machine's IOMMU units: `iommu.units`, or the one unit `iommu.name`. */
export function iommuUnits(m: MachineDesc): readonly string[] {
  return m.iommu.units ?? [m.iommu.name];
}

/** The unit a device sits behind: its `iommuUnit`, or the first unit. */
export function iommuUnitOf(m: MachineDesc, bdf: string): string {
  return m.devices.find((d) => d.bdf === bdf)?.iommuUnit ?? iommuUnits(m)[0];
}
