/**
 * Pre-parsing of an `.iovaops` script for the execution-only benchmark, as the
 * C harness's exec-only figure was taken: operations parsed before the clock
 * starts, no output formatting inside it. The results are kept as numbers and
 * formatted afterwards, so the timed run can still be checked byte for byte.
 */

import { IovaDomain } from "../src/iova/domain.ts";
import { getProfile, isProfileName } from "../src/iova/profile.ts";

const OP = {
  alloc: 1,
  alloc_fast: 2,
  free: 3,
  free_fast: 4,
  cpu: 5,
  advance: 6,
  dump: 7,
  find: 8,
  flush_all: 9,
  cpu_dead: 10,
  reserve: 11,
} as const;

export interface Compiled {
  header: { granule: number; startPfn: number; cpus: number; rcacheOrders: number; kernel: string };
  code: Uint8Array;
  args: Float64Array;
  count: number;
}

export function compile(text: string): Compiled {
  const lines = text.split("\n");
  let header: Compiled["header"] | null = null;
  const code = new Uint8Array(lines.length);
  const args = new Float64Array(lines.length * 3);
  let n = 0;
  for (const line of lines) {
    if (line === "" || line.startsWith("#")) continue;
    const t = line.split(" ");
    if (header === null) {
      const f = Object.fromEntries(t.slice(1).map((kv) => kv.split("=")));
      header = {
        granule: Number(f.granule),
        startPfn: Number(f.start_pfn),
        cpus: Number(f.cpus),
        rcacheOrders: Number(f.rcache_orders ?? 6),
        kernel: f.kernel ?? "mainline",
      };
      continue;
    }
    const op = OP[t[0] as keyof typeof OP];
    if (op === undefined) throw new Error(`bench compile: unknown op ${t[0]}`);
    code[n] = op;
    for (let i = 1; i < t.length; i++) args[n * 3 + i - 1] = Number(t[i]);
    n++;
  }
  if (header === null) throw new Error("bench compile: no header");
  return { header, code, args, count: n };
}

/** Runs the compiled script; returns the domain and the raw results (pfn, -1 for fail, per alloc op). */
export function execute(c: Compiled): { domain: IovaDomain; results: Float64Array; nResults: number } {
  const h = c.header;
  if (!isProfileName(h.kernel)) throw new Error(`bench: unknown kernel ${h.kernel}`);
  const d = new IovaDomain({
    granule: h.granule,
    startPfn: h.startPfn,
    cpus: h.cpus,
    rcacheOrders: h.rcacheOrders,
    profile: getProfile(h.kernel),
  });
  const results = new Float64Array(c.count);
  let nr = 0;
  let cpu = 0;
  let clockMs = 0;
  const { code, args } = c;
  for (let i = 0; i < c.count; i++) {
    const a = i * 3;
    switch (code[i]) {
      case 1:
        results[nr++] = d.allocIova(args[a], args[a + 1], args[a + 2] !== 0);
        break;
      case 2:
        results[nr++] = d.allocIovaFast(cpu, args[a], args[a + 1], args[a + 2] !== 0);
        break;
      case 3:
        d.freeIova(args[a]);
        break;
      case 4:
        d.freeIovaFast(cpu, args[a], args[a + 1]);
        break;
      case 5:
        cpu = args[a];
        break;
      case 6:
        clockMs += args[a];
        d.advanceTo(clockMs * 1_000_000);
        break;
      case 9:
        for (let c2 = 0; c2 < d.cpus; c2++) d.freeCpuCachedIovas(c2);
        if (d.profile.flushDrainsDepot) d.freeGlobalCachedIovas();
        break;
      case 10:
        d.freeCpuCachedIovas(args[a]);
        break;
      case 11:
        d.reserveIova(args[a], args[a + 1]);
        break;
      default:
        // dump and find print but do not change the domain
        break;
    }
  }
  return { domain: d, results, nResults: nr };
}
