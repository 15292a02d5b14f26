/**
 * The kernel model's library API: boot a machine, find devices, drive their
 * DMA on a CPU at a virtual time, read and write /sys.
 *
 * ```ts
 * import { bootMachine } from "./src/machine/index.ts";
 *
 * // A built-in machine by name (or a MachineDesc from schema.ts's parseMachine()), a
 * // kernel profile and extra command-line words (later words win).
 * const k = bootMachine("qemu-q35-nvme", { kernel: "6.1", cmdline: "iommu.strict=0" });
 * const nvme = k.device("0000:00:01.0")!;        // find a device by BDF
 *
 * k.advanceTo(6_000_000_000);                   // virtual ns; flush-queue timers and depot trims fire
 * const addr = k.dma.mapPhys(nvme, 1, 0x4570d000, 4096);   // dma_map_page on CPU 1 → DMA address or null
 * k.dma.unmapPhys(nvme, 1, addr!, 4096);                   // dma_unmap_page on CPU 1 (false: not mapped)
 * const sg = k.dma.mapSg(nvme, 0, [{ phys: 0x1000, length: 8192 }]);   // dma_map_sg
 * k.dma.unmapSg(nvme, 0, sg);
 *
 * const iovad = k.dma.cookieOf(nvme)?.iovad;     // the IovaDomain behind it (stats, invariants)
 * k.mapping.optMappingSize(nvme);               // dma_opt_mapping_size() as bigint
 * k.sysfs.read("/sys/kernel/iommu_groups/1/type");
 * k.dmesg();                                    // the kernel log with virtual timestamps
 * k.rangeCosts();                               // each DMA domain's range and the memory/IOVA space its caches hold
 * k.iommu.strict;                               // live strictness (VT-d Caching Mode can force it after parsing)
 * queueLimits.get(nvme);                        // the disk's max_hw_sectors_kb, max_sectors_kb, max_segments from probe
 * ```
 *
 * Replaying a kernel trace: boot with the trace's profile and strictness,
 * then for each event `advanceTo(ts)` and `mapPhys` / `unmapPhys` on the
 * event's CPU with its size and physical address (the in-page offset
 * decides the IOVA size, DMA-5.1). `Kernel.advanceTo` must be called with
 * non-decreasing times. The shell (`Shell`) is the same API line by line.
 */

import type { ProfileName } from "../iova/profile.ts";
import { InputError } from "../stdx/errors.ts";
import { BUILTIN_MACHINES, builtinMachine } from "./builtins.ts";
import { type BootOptions, Kernel } from "./kernel.ts";
import type { MachineDesc } from "./schema.ts";

export { type QueueLimits, queueLimits } from "../driver/drivers.ts";
export { BUILTIN_MACHINES, builtinMachine } from "./builtins.ts";
export { type Cmdline, parseCmdline } from "./cmdline.ts";
export { type BootOptions, type DomainRangeCost, formatTs, Kernel, type LogLine } from "./kernel.ts";
export type { DeviceDesc, MachineDesc } from "./schema.ts";
export { Shell, type ShellResult } from "./shell.ts";

/** Boots a built-in machine by name, or a parsed description. */
export function bootMachine(machine: string | MachineDesc, opts: BootOptions = {}): Kernel {
  let desc: MachineDesc | null;
  if (typeof machine === "string") {
    desc = builtinMachine(machine);
    if (!desc) {
      throw new InputError(
        `unknown machine: expected one of ${BUILTIN_MACHINES.join(", ")}, found ${JSON.stringify(machine)}`,
      );
    }
  } else {
    desc = machine;
  }
  return Kernel.boot(desc, opts);
}

export type { ProfileName };
