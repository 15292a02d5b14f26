/**
 * A closed-loop storage-like load in the engine's own terms, with no IOVAs
 * and no block layer: submitters on every CPU keep `iodepth` requests in
 * flight on disks behind one HBA; each submission runs CPU work, an injected
 * "map" hook and the device submit; each completion raises an interrupt on
 * the submitting CPU that runs an injected "unmap" hook and reissues. It
 * exercises every mechanism of the engine at once, so it serves the
 * determinism test, the invariant checks and the events/s measurement, and it
 * shows the shape of the seam the DMA layer plugs into (`mapHook`/`unmapHook`).
 */

import type { Prng } from "../stdx/prng.ts";
import { chargeKernelOp, emptyKernelOpRecord } from "./charge.ts";
import type { CostModel } from "./cost.ts";
import { defaultCostModel } from "./cost.ts";
import { Cpu } from "./cpu.ts";
import { DEVICE_PRESETS, Disk, Hba } from "./device.ts";
import { Engine } from "./engine.ts";
import { LatencyHistogram } from "./histogram.ts";
import { SpinLock } from "./lock.ts";
import { type Hook, Script, ScriptTask } from "./script.ts";
import { SerialResource } from "./serial.ts";

export interface LoadgenOptions {
  seed: number;
  cpus: number;
  disks: number;
  iodepthPerCpu: number;
  /** Request sizes in bytes to pick from uniformly. */
  sizes: readonly number[];
  durationNs: number;
  warmupNs: number;
  checkEveryEvents?: number;
  logEvents?: boolean;
  strict?: boolean;
  /** Share (per mille) of maps that miss the rcache and take the tree lock. */
  treeMissPerMille?: number;
  cost?: CostModel;
}

export interface LoadgenResult {
  seed: number;
  simulatedNs: number;
  iops: number;
  bytesPerSec: number;
  mapLatencyNs: { p50: number; p99: number };
  busyShare: number;
  lockWaitShare: number;
  syncWaitShare: number;
  treeLock: { acquisitions: number; contended: number; waitNs: number };
  events: number;
  invariantChecks: number;
}

interface Req {
  bytes: number;
  cpu: number;
  disk: number;
  pages: number;
  task: ScriptTask;
  mapStartNs: number;
}

export function runLoadgen(opts: LoadgenOptions): { result: LoadgenResult; engine: Engine } {
  const engine = new Engine({
    seed: opts.seed,
    checkEveryEvents: opts.checkEveryEvents ?? 0,
    logEvents: opts.logEvents ?? false,
  });
  const cost = opts.cost ?? defaultCostModel();
  const rng: Prng = engine.prng.derive();
  const cpus: Cpu[] = [];
  for (let i = 0; i < opts.cpus; i++) cpus.push(new Cpu(engine, i));
  const hba = new Hba(engine, "hba0", { canQueue: 4096, linkBytesPerSec: 8e9 });
  const disks: Disk<Req>[] = [];
  for (let i = 0; i < opts.disks; i++) {
    disks.push(new Disk<Req>(engine, `sd${i}`, DEVICE_PRESETS.sasSsd12g, hba));
  }
  const treeLock = new SpinLock(engine, "iova_rbtree_lock", {
    acquireNs: cost.lockAcquireNs.ns,
    handoffNs: cost.lockHandoffNs.ns,
  });
  const iq = new SerialResource(engine, "smmu-cmdq");
  const mapLatency = new LatencyHistogram();
  const missPerMille = opts.treeMissPerMille ?? 100;

  // The hooks stand in for the DMA layer: they decide (here at random) what the kernel did.
  const mapHook: Hook = {
    name: "map",
    run(_cpu, arg, out) {
      const req = reqs[arg];
      req.mapStartNs = engine.nowNs;
      const rec = emptyKernelOpRecord("map");
      rec.pagesMapped = req.pages;
      if (rng.below(1000) < missPerMille) {
        rec.treeLock = treeLock;
        rec.treeAllocWalkSteps.push(1 + rng.below(200));
      } else {
        rec.magazineOps = 1;
      }
      chargeKernelOp(out, cost, rec);
      out.hook(mapDone, arg);
    },
  };
  const mapDone: Hook = {
    name: "map-done",
    run(_cpu, arg) {
      const req = reqs[arg];
      mapLatency.record(engine.nowNs - req.mapStartNs);
      disks[req.disk].submit(req);
    },
  };
  const unmapHook: Hook = {
    name: "unmap",
    run(_cpu, arg, out) {
      const req = reqs[arg];
      const rec = emptyKernelOpRecord("unmap");
      rec.pagesUnmapped = req.pages;
      rec.magazineOps = 1;
      if (opts.strict ?? true) {
        rec.iq = iq;
        rec.invalidations = 1;
        rec.syncs = 1;
      } else {
        rec.flushQueueOps = 1;
      }
      chargeKernelOp(out, cost, rec);
    },
  };
  const reissue: Hook = {
    name: "reissue",
    run(_cpu, arg) {
      const req = reqs[arg];
      req.bytes = opts.sizes[rng.below(opts.sizes.length)];
      req.pages = Math.ceil(req.bytes / 4096);
      req.disk = rng.below(opts.disks);
      req.task.reset(submitScripts[arg]);
      cpus[req.cpu].enqueue(req.task);
    },
  };

  const reqs: Req[] = [];
  const submitScripts: Script[] = [];
  const completeScripts: Script[] = [];
  for (let c = 0; c < opts.cpus; c++) {
    for (let k = 0; k < opts.iodepthPerCpu; k++) {
      const id = reqs.length;
      const bytes = opts.sizes[rng.below(opts.sizes.length)];
      submitScripts.push(
        new Script()
          .compute(cost.fioSubmitNs.ns + cost.blockBioNs.ns + cost.blockRequestNs.ns)
          .hook(mapHook, id)
          .compute(cost.driverSubmitNs.ns),
      );
      completeScripts.push(
        new Script()
          .compute(cost.irqNs.ns + cost.driverCompleteNs.ns)
          .hook(unmapHook, id)
          .compute(cost.blockCompleteNs.ns + cost.fioReapNs.ns)
          .hook(reissue, id),
      );
      reqs.push({
        bytes,
        cpu: c,
        disk: rng.below(opts.disks),
        pages: Math.ceil(bytes / 4096),
        task: new ScriptTask(`io${id}`, submitScripts[id]),
        mapStartNs: 0,
      });
    }
  }
  const completionTasks = reqs.map((_, id) => new ScriptTask(`irq${id}`, completeScripts[id]));
  const reqIds = new Map<Req, number>(reqs.map((r, i) => [r, i]));
  for (const d of disks) {
    d.sink = {
      onComplete(req) {
        const id = reqIds.get(req) as number;
        completionTasks[id].reset();
        cpus[req.cpu].raiseIrq(completionTasks[id]);
      },
    };
  }
  for (const r of reqs) cpus[r.cpu].enqueue(r.task);

  engine.run(opts.warmupNs);
  for (const c of cpus) c.resetStats();
  for (const d of disks) d.resetStats();
  treeLock.resetStats();
  iq.resetStats();
  mapLatency.reset();
  engine.run(opts.warmupNs + opts.durationNs);

  let busy = 0;
  let lockWait = 0;
  let syncWait = 0;
  let elapsed = 0;
  for (const c of cpus) {
    const s = c.stats();
    busy += s.busyNs;
    lockWait += s.lockWaitNs;
    syncWait += s.syncWaitNs;
    elapsed += s.elapsedNs;
  }
  let completed = 0;
  let bytes = 0;
  for (const d of disks) {
    completed += d.completed;
    bytes += d.bytes;
  }
  const seconds = opts.durationNs / 1e9;
  const result: LoadgenResult = {
    seed: opts.seed,
    simulatedNs: opts.durationNs,
    iops: Math.round(completed / seconds),
    bytesPerSec: Math.round(bytes / seconds),
    mapLatencyNs: { p50: mapLatency.quantile(0.5), p99: mapLatency.quantile(0.99) },
    busyShare: busy / elapsed,
    lockWaitShare: lockWait / elapsed,
    syncWaitShare: syncWait / elapsed,
    treeLock: { acquisitions: treeLock.acquisitions, contended: treeLock.contended, waitNs: treeLock.waitNs },
    events: engine.eventsRun,
    invariantChecks: engine.invariantChecks,
  };
  return { result, engine };
}
