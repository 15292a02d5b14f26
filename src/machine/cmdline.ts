/**
 * The kernel command line as the IOMMU DMA layer reads it: `iommu.strict=`,
 * `iommu.passthrough=`, `iommu.forcedac=` (kstrtobool, early params),
 * `iommu=pt`, iovalab's `iommu.max_opt_dma_size=` (memparse),
 * `modprobe.blacklist=`, and module parameters `<module>.<param>=`. Later
 * words override earlier ones, as the kernel parses left to right. A
 * malformed early option is reported the kernel's way and ignored.
 */

import { kstrtobool, memparse } from "../stdx/kstr.ts";

export interface Cmdline {
  readonly text: string;
  readonly strict: boolean | null;
  readonly passthrough: boolean | null;
  readonly forcedac: boolean;
  /** `iommu.max_opt_dma_size=` in bytes, 0 = none. */
  readonly maxOptDmaSize: number;
  readonly blacklist: ReadonlySet<string>;
  /** `deferred_probe_timeout=` (kstrtoint, base 10), null when not given. */
  readonly deferredProbeTimeoutS: number | null;
  /** `<module>.<param>` → value, for the module parameters of drivers. */
  readonly moduleParams: ReadonlyMap<string, string>;
  /** Log lines parsing produced ("Malformed early option ..."). */
  readonly warnings: readonly string[];
}

export function parseCmdline(text: string): Cmdline {
  let strict: boolean | null = null;
  let passthrough: boolean | null = null;
  let forcedac = false;
  let maxOptDmaSize = 0;
  let deferredProbeTimeoutS: number | null = null;
  const blacklist = new Set<string>();
  const moduleParams = new Map<string, string>();
  const warnings: string[] = [];
  const words = text.split(/\s+/).filter((w) => w !== "");
  const bool = (key: string, val: string): boolean | null => {
    const b = kstrtobool(val);
    if (b === null) warnings.push(`Malformed early option '${key}'`);
    return b;
  };
  for (const w of words) {
    const eq = w.indexOf("=");
    const key = eq < 0 ? w : w.slice(0, eq);
    const val = eq < 0 ? "" : w.slice(eq + 1);
    switch (key) {
      case "iommu.strict": {
        const b = bool(key, val);
        if (b !== null) strict = b;
        break;
      }
      case "iommu.passthrough": {
        const b = bool(key, val);
        if (b !== null) passthrough = b;
        break;
      }
      case "iommu.forcedac": {
        const b = bool(key, val);
        if (b !== null) forcedac = b;
        break;
      }
      case "iommu":
        if (val === "pt") passthrough = true;
        break;
      case "iommu.max_opt_dma_size": {
        const v = memparse(val);
        if (v === null || v > BigInt(Number.MAX_SAFE_INTEGER)) warnings.push(`Malformed early option '${key}'`);
        else maxOptDmaSize = Number(v);
        break;
      }
      case "deferred_probe_timeout":
        // A value kstrtoint cannot read leaves the default (the __setup returns 1 either way).
        if (/^[+-]?[0-9]+\n?$/.test(val)) deferredProbeTimeoutS = Math.max(0, Number.parseInt(val, 10));
        break;
      case "modprobe.blacklist":
        for (const m of val.split(",")) if (m !== "") blacklist.add(m);
        break;
      default:
        if (eq > 0 && key.includes(".")) moduleParams.set(key, val);
    }
  }
  return {
    text: words.join(" "),
    strict,
    passthrough,
    forcedac,
    maxOptDmaSize,
    blacklist,
    deferredProbeTimeoutS,
    moduleParams,
    warnings,
  };
}
