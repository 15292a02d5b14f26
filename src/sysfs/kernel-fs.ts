/**
 * The /sys tree of the modelled kernel: `kernel/iommu_groups/<id>/` (R-GRP-4,
 * docs/configurable-range.md §3), `bus/pci/{devices,drivers}` with `bind` and
 * `unbind` (R-DD-4), `devices/<root>/<bdf>/` with its `driver` and
 * `iommu_group` links, and iovalab's debug file
 * `kernel/debug/iova/<id>/range` (docs/configurable-range.md §5), and
 * `module/<driver>/parameters/` for run-time module parameters. Modes are
 * the kernel's: attribute files 0644 / 0444, bind and unbind 0200.
 */

import type { DriverCore } from "../driver/core.ts";
import type { IommuCore } from "../iommu/core.ts";
import type { Device } from "../iommu/device.ts";
import type { IommuGroup } from "../iommu/group.ts";
import { isDmaType } from "../iommu/types.ts";
import { fail, OK } from "../stdx/errno.ts";
import { kstrtoull } from "../stdx/kstr.ts";
import { dir, file, link, SysFs, type SysNode } from "./tree.ts";

export interface KernelParts {
  readonly iommu: IommuCore;
  readonly drivers: DriverCore;
  /** `<module>.<param>` → value (absent: the driver's default). */
  readonly moduleParams: Map<string, string>;
}

const hex4 = (n: number) => `0x${n.toString(16).padStart(4, "0")}\n`;

export function buildSysfs(k: KernelParts): SysFs {
  const devPath = (d: Device) => `devices/${d.rootName}/${d.name}`;
  const groupDir = (g: IommuGroup): SysNode =>
    dir(() => {
      const c: [string, SysNode][] = [
        ["devices", dir(() => g.devices.map((d) => [d.name, link(`../../../../${devPath(d)}`)] as [string, SysNode]))],
        ["reserved_regions", file(0o444, () => g.reservedRegionsText())],
        [
          "type",
          k.iommu.policy.typeWritable
            ? file(
                0o644,
                () => k.iommu.showType(g),
                (buf) => k.iommu.storeType(g, buf),
              )
            : file(0o444, () => k.iommu.showType(g)),
        ],
        [
          "max_opt_dma_size",
          file(
            0o644,
            () => k.iommu.showMaxOptDmaSize(g),
            (buf) => k.iommu.storeMaxOptDmaSize(g, buf),
          ),
        ],
      ];
      if (g.name !== null) c.push(["name", file(0o444, () => `${g.name}\n`)]);
      return c;
    });
  const groups = () => [...k.iommu.groups.values()].sort((a, b) => a.id - b.id);
  const deviceDir = (d: Device): SysNode =>
    dir(() => {
      const c: [string, SysNode][] = [
        ["vendor", file(0o444, () => hex4(d.pci.vendor))],
        ["device", file(0o444, () => hex4(d.pci.device))],
        ["class", file(0o444, () => `0x${d.pci.classCode.toString(16).padStart(6, "0")}\n`)],
        ["dma_mask_bits", file(0o444, () => `${d.dmaMaskBits}\n`)],
        ["consistent_dma_mask_bits", file(0o444, () => `${d.coherentDmaMaskBits}\n`)],
      ];
      if (d.bound && d.driver) c.push(["driver", link(`../../../bus/pci/drivers/${d.driver}`)]);
      if (d.groupId >= 0) c.push(["iommu_group", link(`../../../kernel/iommu_groups/${d.groupId}`)]);
      return c;
    });
  const roots = () => {
    const m = new Map<string, SysNode>();
    for (const rootName of new Set(k.drivers.devices.map((d) => d.rootName))) {
      m.set(
        rootName,
        dir(() =>
          k.drivers.devices
            .filter((d) => d.rootName === rootName)
            .map((d) => [d.name, deviceDir(d)] as [string, SysNode]),
        ),
      );
    }
    return m;
  };
  const driverDir = (name: string): SysNode =>
    dir(() => {
      const c: [string, SysNode][] = [
        ["bind", file(0o200, undefined, (buf) => k.drivers.bindStore(name, buf))],
        ["unbind", file(0o200, undefined, (buf) => k.drivers.unbindStore(name, buf))],
      ];
      for (const d of k.drivers.devices) {
        if (d.bound && d.driver === name) c.push([d.name, link(`../../../../${devPath(d)}`)]);
      }
      return c;
    });
  // /sys/module/<name>/parameters/<param>: param_get/set_ulong (kstrtoul, -EINVAL).
  const modules = () =>
    k.drivers.drivers
      .filter((d) => d.model.params !== undefined)
      .map((d) => {
        const name = d.model.name;
        const params = d.model.params!;
        const files = Object.keys(params).map((p) => {
          const key = `${name}.${p}`;
          const node = file(
            0o644,
            () => `${k.moduleParams.get(key) ?? params[p]}\n`,
            (buf) => {
              const v = kstrtoull(buf);
              if (typeof v === "string") return fail("EINVAL");
              k.moduleParams.set(key, v.toString());
              return OK;
            },
          );
          return [p, node] as [string, SysNode];
        });
        return [name, dir(() => [["parameters", dir(() => files)]])] as [string, SysNode];
      });
  const root = dir(() => [
    [
      "kernel",
      dir(() => [
        ["iommu_groups", dir(() => groups().map((g) => [String(g.id), groupDir(g)] as [string, SysNode]))],
        [
          "debug",
          dir(() => [
            [
              "iova",
              dir(() =>
                groups().map(
                  (g) => [String(g.id), dir(() => [["range", file(0o444, () => rangeText(g))]])] as [string, SysNode],
                ),
              ),
            ],
          ]),
        ],
      ]),
    ],
    [
      "bus",
      dir(() => [
        [
          "pci",
          dir(() => [
            [
              "devices",
              dir(() => k.drivers.devices.map((d) => [d.name, link(`../../../${devPath(d)}`)] as [string, SysNode])),
            ],
            [
              "drivers",
              dir(() => k.drivers.drivers.map((d) => [d.model.name, driverDir(d.model.name)] as [string, SysNode])),
            ],
          ]),
        ],
      ]),
    ],
    ["devices", dir(roots)],
    ["module", dir(modules)],
  ]);
  return new SysFs(dir(() => [["sys", root]]));
}

/** `/sys/kernel/debug/iova/<id>/range` (docs/configurable-range.md §5): exactly four lines. */
export function rangeText(g: IommuGroup): string {
  const d = g.defaultDomain;
  if (!d || !isDmaType(d.type) || !d.cookie) {
    return `orders: 0\nmax_cached: 0\nsource: none\ndriver_request: ${g.driverMaxOptDmaSize}\n`;
  }
  const maxCached = d.granule * 2 ** (d.range.orders - 1);
  return `orders: ${d.range.orders}\nmax_cached: ${maxCached}\nsource: ${d.range.source}\ndriver_request: ${g.driverMaxOptDmaSize}\n`;
}
