/**
 * The driver core (drivers/base/dd.c, bus.c): matching, `really_probe()` with
 * the bus `dma_configure` / `dma_cleanup` around the driver's probe, the
 * deferred-probe lists and their triggers, and the sysfs `bind`/`unbind`
 * stores. Rules: docs/kernel-rules.md §4 (R-DD-*).
 *
 * The deferred-probe work runs on a workqueue in the kernel; here it runs to
 * completion at the end of the operation that queued it (a boot step, a
 * sysfs write), which gives the same order of probes for one thread of
 * events. The kernel's `dev_dbg` lines of the deferral path are logged as if
 * dynamic debug were on for dd.c, so the boot log shows each step.
 */

import type { IommuDma } from "../dma/iommu-dma.ts";
import type { DmaMapping } from "../dma/mapping.ts";
import type { IommuCore } from "../iommu/core.ts";
import type { Device } from "../iommu/device.ts";
import { assert } from "../stdx/assert.ts";
import { type Errno, fail, OK, type Outcome } from "../stdx/errno.ts";
import { sysfsStreq } from "../stdx/kstr.ts";

/** What a driver model sees while it probes or is removed. */
export interface ProbeContext {
  readonly log: (line: string) => void;
  readonly mapping: DmaMapping;
  readonly dma: IommuDma;
  /** The CPU the probe runs on. */
  readonly cpu: number;
  /** A module parameter `<driver>.<name>=` from the command line or the machine. */
  param(name: string): string | undefined;
  /** Lowest free instance number for `prefix` (an IDA), e.g. nvme0. */
  allocInstance(prefix: string): number;
  freeInstance(prefix: string, n: number): void;
}

export interface DriverModel {
  readonly name: string;
  /**
   * Module parameters writable at run time (`module_param(..., 0644)`) and
   * their defaults, shown under /sys/module/<name>/parameters/.
   */
  readonly params?: Readonly<Record<string, string>>;
  /** Models the driver's `probe()`: 0 or a negative errno by name. */
  probe(ctx: ProbeContext, dev: Device): 0 | Errno;
  /** Models the driver's `remove()`. */
  remove(ctx: ProbeContext, dev: Device): void;
}

export interface DriverMatch {
  readonly vendor?: number;
  readonly device?: number;
  /** Class code and the mask of its bits that must match. */
  readonly classCode?: number;
  readonly classMask?: number;
}

export interface RegisteredDriver {
  readonly model: DriverModel;
  readonly idTable: readonly DriverMatch[];
}

export class DriverCore {
  /** Devices on the PCI bus, in `device_add` order. */
  readonly devices: Device[] = [];
  /** Drivers in registration order. */
  readonly drivers: RegisteredDriver[] = [];
  /** The deferred-probe lists (R-DD-2.1). */
  readonly pending: Device[] = [];
  readonly active: Device[] = [];
  /** Set by the late initcall; triggers before it are no-ops (R-DD-2.2). */
  deferredProbeEnabled = false;
  triggerCount = 0;
  /** `driver_deferred_probe_timeout` in seconds (0: none). */
  deferredProbeTimeoutS = 0;
  /** When the deferred-probe timeout work runs, or null when it is not queued. */
  timeoutWorkDueNs: number | null = null;
  /** The "deferred probe pending" line names the reason (newer kernels). */
  pendingLineHasReason = false;
  private workQueued = false;
  private readonly iommu: IommuCore;
  private readonly ctx: (dev: Device, drv: DriverModel) => ProbeContext;
  private readonly log: (line: string) => void;

  constructor(iommu: IommuCore, ctx: (dev: Device, drv: DriverModel) => ProbeContext, log: (line: string) => void) {
    this.iommu = iommu;
    this.ctx = ctx;
    this.log = log;
  }

  findDevice(name: string): Device | undefined {
    return this.devices.find((d) => d.name === name);
  }

  findDriver(name: string): RegisteredDriver | undefined {
    return this.drivers.find((d) => d.model.name === name);
  }

  /** Models `pci_match_device()` against a driver's id table. */
  matches(drv: RegisteredDriver, dev: Device): boolean {
    return drv.idTable.some(
      (m) =>
        (m.vendor === undefined || m.vendor === dev.pci.vendor) &&
        (m.device === undefined || m.device === dev.pci.device) &&
        (m.classCode === undefined || (dev.pci.classCode & (m.classMask ?? 0xffffff)) === m.classCode),
    );
  }

  /** Models `device_add()` → `bus_probe_device()` (R-DD-3.1). */
  addDevice(dev: Device): void {
    this.devices.push(dev);
    this.deviceAttach(dev);
    this.runWork();
  }

  /**
   * Models `driver_register()` → `driver_attach()` (R-DD-3.2), and
   * `deferred_probe_extend_timeout()`: a registration while the timeout work
   * is queued pushes it back by the whole timeout (R-DD-2.4 e).
   */
  registerDriver(drv: RegisteredDriver, nowNs = 0): void {
    this.drivers.push(drv);
    if (this.timeoutWorkDueNs !== null) this.timeoutWorkDueNs = nowNs + this.deferredProbeTimeoutS * 1e9;
    for (const dev of this.devices) {
      if (dev.driver !== null || !this.matches(drv, dev)) continue;
      this.driverProbeDevice(drv, dev);
    }
    this.runWork();
  }

  /** Models `__device_attach()`: the first matching driver that binds or fails stops the walk. */
  private deviceAttach(dev: Device): void {
    if (dev.driver !== null) return;
    for (const drv of this.drivers) {
      if (!this.matches(drv, dev)) continue;
      const ret = this.driverProbeDevice(drv, dev);
      if (ret === 0 || ret === "EPROBE_DEFER") return;
    }
  }

  /** Models `driver_probe_device()` (R-DD-1.3): a deferral goes on the pending list. */
  private driverProbeDevice(drv: RegisteredDriver, dev: Device): 0 | Errno {
    const ret = this.driverProbeDeviceInner(drv, dev);
    if (ret === "EPROBE_DEFER") this.deferredAdd(dev);
    return ret;
  }

  /** Models `__driver_probe_device()` (R-DD-1.4). */
  private driverProbeDeviceInner(drv: RegisteredDriver, dev: Device): 0 | Errno {
    if (dev.driver !== null) return "EBUSY";
    dev.canMatch = true;
    return this.reallyProbe(drv, dev);
  }

  /** Models `really_probe()` (R-DD-1.1, 1.2). */
  private reallyProbe(drv: RegisteredDriver, dev: Device): 0 | Errno {
    const model = drv.model;
    dev.driver = model.name;
    // Step 5: the bus dma_configure (R-GRP-3.10 and the range hook, GAR-M.2).
    const cfg = this.iommu.useDefaultDomain(dev);
    if (!cfg.ok) {
      dev.driver = null;
      this.logProbeError(model, dev, cfg.errno);
      return cfg.errno;
    }
    const ret = model.probe(this.ctx(dev, model), dev);
    if (ret !== 0) {
      // Unwind in reverse: dma_cleanup, then device_unbind_cleanup.
      this.iommu.unuseDefaultDomain(dev);
      dev.driver = null;
      this.logProbeError(model, dev, ret);
      return ret;
    }
    this.driverBound(dev);
    return 0;
  }

  /** Models `call_driver_probe()`'s messages (R-DD-1.2). */
  private logProbeError(model: DriverModel, dev: Device, errno: Errno): void {
    if (errno === "EPROBE_DEFER") {
      this.log(`${model.name} ${dev.name}: Driver ${model.name} requests probe deferral`);
    } else if (errno !== "ENODEV" && errno !== "ENXIO") {
      this.log(`${model.name}: probe of ${dev.name} failed with error -${ERRNO_NUMBERS[errno]}`);
    }
  }

  /** Models `driver_bound()`: off the deferred lists, then a trigger (R-DD-2.4 a). */
  private driverBound(dev: Device): void {
    dev.bound = true;
    this.deferredDel(dev);
    this.trigger();
  }

  /** Models `driver_deferred_probe_add()` (R-DD-2.1): the tail of pending, once. */
  private deferredAdd(dev: Device): void {
    if (!dev.canMatch || this.pending.includes(dev) || this.active.includes(dev)) return;
    this.log(`${dev.bus} ${dev.name}: Added to deferred list`);
    this.pending.push(dev);
  }

  private deferredDel(dev: Device): void {
    for (const list of [this.pending, this.active]) {
      const i = list.indexOf(dev);
      if (i >= 0) list.splice(i, 1);
    }
  }

  /** Models `driver_deferred_probe_trigger()` (R-DD-2.2). */
  trigger(): void {
    if (!this.deferredProbeEnabled) return;
    this.triggerCount++;
    this.active.push(...this.pending.splice(0));
    this.workQueued = true;
  }

  /** Models `deferred_probe_work_func()` (R-DD-2.3), run to completion. */
  runWork(): void {
    while (this.workQueued) {
      this.workQueued = false;
      while (this.active.length > 0) {
        const dev = this.active.shift()!;
        this.log(`${dev.driver ?? dev.bus} ${dev.name}: Retrying from deferred list`);
        this.deviceAttach(dev);
      }
    }
  }

  /**
   * Models `deferred_probe_initcall()` (R-DD-2.4 b): enable, trigger and
   * flush twice, then queue the timeout work if there is a timeout.
   */
  lateInitcall(nowNs = 0): void {
    this.deferredProbeEnabled = true;
    this.trigger();
    this.runWork();
    this.trigger();
    this.runWork();
    if (this.deferredProbeTimeoutS > 0) this.timeoutWorkDueNs = nowNs + this.deferredProbeTimeoutS * 1e9;
  }

  /**
   * Models `deferred_probe_timeout_work_func()` (R-DD-2.4 e): the timeout
   * ends, one trigger and flush, then each device still pending is named.
   */
  runTimeoutWork(): void {
    this.timeoutWorkDueNs = null;
    this.deferredProbeTimeoutS = 0;
    this.trigger();
    this.runWork();
    for (const dev of this.pending) {
      this.log(
        `${dev.bus} ${dev.name}: deferred probe pending${this.pendingLineHasReason ? ": (reason unknown)" : ""}`,
      );
    }
  }

  /** Models `__device_release_driver()` (R-DD-4.2). The group's default domain is untouched. */
  release(dev: Device): void {
    assert(dev.driver !== null && dev.bound, "release of an unbound device");
    const drv = this.findDriver(dev.driver);
    assert(drv !== undefined, "bound to an unregistered driver");
    drv.model.remove(this.ctx(dev, drv.model), dev);
    this.iommu.unuseDefaultDomain(dev);
    dev.driver = null;
    dev.bound = false;
  }

  /** Models `unbind_store()` (R-DD-4.1). */
  unbindStore(driverName: string, buf: string): Outcome {
    const dev = this.devices.find((d) => sysfsStreq(buf, d.name));
    if (!dev || dev.driver !== driverName || !dev.bound) return fail("ENODEV");
    this.release(dev);
    this.runWork();
    return OK;
  }

  /**
   * Models `bind_store()` → `device_driver_attach()` (R-DD-4.3): the probe
   * runs directly; a deferral returns -EAGAIN and is not queued.
   */
  bindStore(driverName: string, buf: string): Outcome {
    const drv = this.findDriver(driverName);
    const dev = this.devices.find((d) => sysfsStreq(buf, d.name));
    if (!drv || !dev || !this.matches(drv, dev)) return fail("ENODEV");
    const ret = this.driverProbeDeviceInner(drv, dev);
    this.runWork();
    if (ret === 0) return OK;
    return fail(ret === "EPROBE_DEFER" ? "EAGAIN" : ret);
  }
}

/** errno numbers for the kernel's "%d" messages (include/uapi/asm-generic/errno-base.h, linux/errno.h). */
export const ERRNO_NUMBERS: Readonly<Record<Errno, number>> = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  ENXIO: 6,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  ELOOP: 40,
  EINVAL: 22,
  ERANGE: 34,
  EPROBE_DEFER: 517,
};
