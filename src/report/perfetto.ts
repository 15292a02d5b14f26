/**
 * A Chrome trace-event timeline of one run (docs/trace-formats.md
 * §4), which ui.perfetto.dev opens: one process per kind of thing —
 * CPUs (a thread per CPU: every dma_map_sg/dma_unmap_sg as an instant with
 * its size, path and walk steps; a counter of busy / lock-wait / sync-wait
 * share per sample), locks (rbtree and depot-lock waiters, rbtree hold
 * share), device queues (commands on and waiting for each disk), and the
 * caches (IOVA space held per size class, live IOVAs).
 *
 * It only reads state, on a sampling timer of its own, so a traced run's
 * figures are those of the same run untraced. The trace covers the first
 * `windowMs` of the measured window (the rest would make files too large
 * to open). Pure: returns the JSON text; the CLI writes it.
 */

import type { RunContext } from "../scenario/run.ts";
import type { Engine } from "../sim/engine.ts";
import { Priority } from "../sim/engine.ts";

interface Ev {
  name: string;
  ph: string;
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: string;
  args?: Record<string, number | string>;
}

const PID_CPUS = 1;
const PID_LOCKS = 2;
const PID_DEVICES = 3;
const PID_CACHES = 4;

export interface PerfettoOptions {
  /** Simulated ms traced from the start of the measured window. */
  windowMs?: number;
  /** Sampling period of the counters, ns. */
  sampleNs?: number;
}

export function writePerfetto(ctx: RunContext, opts: PerfettoOptions = {}): { finish(): string } {
  const { engine, seam, cpus, fio } = ctx;
  const windowNs = Math.min((opts.windowMs ?? 10) * 1e6, ctx.endNs - ctx.warmupEndNs);
  const sampleNs = opts.sampleNs ?? 20_000;
  const t0 = ctx.warmupEndNs;
  const tEnd = t0 + windowNs;
  const events: Ev[] = [];
  const us = (ns: number) => (ns - t0) / 1000;
  const meta = (pid: number, tid: number | null, name: string) =>
    events.push(
      tid === null
        ? { name: "process_name", ph: "M", ts: 0, pid, tid: 0, args: { name } }
        : { name: "thread_name", ph: "M", ts: 0, pid, tid, args: { name } },
    );
  meta(PID_CPUS, null, "CPUs");
  for (const c of cpus) meta(PID_CPUS, c.id, c.name);
  meta(PID_LOCKS, null, "IOVA locks");
  meta(PID_DEVICES, null, "device queues");
  meta(PID_CACHES, null, "IOVA caches");

  seam.onOp = (cpu, kind, pages, path, steps) => {
    const now = engine.nowNs;
    if (now < t0 || now > tEnd) return;
    events.push({
      name: kind === "map" ? "dma_map_sg" : "dma_unmap_sg",
      cat: path,
      ph: "i",
      s: "t",
      ts: us(now),
      pid: PID_CPUS,
      tid: cpu.id,
      args: { iovaPages: pages, path, walkSteps: steps },
    });
  };

  const prev = cpus.map(() => ({ busy: 0, lock: 0, sync: 0 }));
  let prevHold = 0;
  const iovad = seam.cookie.iovad;
  const sample = {
    name: "perfetto-sample",
    onEvent: () => {
      const now = engine.nowNs;
      const ts = us(now);
      for (let i = 0; i < cpus.length; i++) {
        const s = cpus[i].stats();
        const p = prev[i];
        if (now > t0) {
          events.push({
            name: `${cpus[i].name} time`,
            ph: "C",
            ts,
            pid: PID_CPUS,
            tid: cpus[i].id,
            args: {
              busy: round3((s.busyNs - p.busy) / sampleNs),
              lockWait: round3((s.lockWaitNs - p.lock) / sampleNs),
              syncWait: round3((s.syncWaitNs - p.sync) / sampleNs),
            },
          });
        }
        p.busy = s.busyNs;
        p.lock = s.lockWaitNs;
        p.sync = s.syncWaitNs;
      }
      const hold = seam.treeLock.stats().holdNs;
      const locks: Record<string, number> = { "iova_rbtree_lock waiters": seam.treeLock.waiting };
      seam.depotLocks.forEach((l, c) => {
        locks[`rcache${c} depot lock waiters`] = l.waiting;
      });
      events.push({ name: "lock waiters", ph: "C", ts, pid: PID_LOCKS, tid: 0, args: locks });
      if (now > t0) {
        events.push({
          name: "iova_rbtree_lock held",
          ph: "C",
          ts,
          pid: PID_LOCKS,
          tid: 0,
          args: { share: round3(Math.max(0, hold - prevHold) / sampleNs) },
        });
      }
      prevHold = hold;
      const dev: Record<string, number> = {};
      fio?.disks.forEach((d) => {
        dev[`${d.name} on disk`] = d.outstanding;
        dev[`${d.name} waiting`] = d.waiting;
      });
      if (ctx.net !== null) dev[`${ctx.net.nic.name} frames on the wire`] = ctx.net.nic.inFlight;
      events.push({ name: "disk queues", ph: "C", ts, pid: PID_DEVICES, tid: 0, args: dev });
      events.push({
        name: "smmu cmdq backlog (ns)",
        ph: "C",
        ts,
        pid: PID_DEVICES,
        tid: 1,
        args: { backlogNs: seam.iq.backlogNs },
      });
      const cache: Record<string, number> = {};
      for (let c = 0; c < iovad.rcacheOrders; c++) cache[`${4 << c} KiB`] = iovad.cachedIovaBytes(c) / 1024;
      events.push({ name: "IOVA space cached (KiB)", ph: "C", ts, pid: PID_CACHES, tid: 0, args: cache });
      events.push({ name: "live IOVAs", ph: "C", ts, pid: PID_CACHES, tid: 1, args: { live: iovad.liveIovas } });
      if (now + sampleNs <= tEnd) engine.at(now + sampleNs, Priority.timer, sample);
    },
  };
  scheduleAt(engine, t0, sample);
  return {
    finish: () => {
      seam.onOp = null;
      return `${JSON.stringify({ traceEvents: events, displayTimeUnit: "ns" })}\n`;
    },
  };
}

function scheduleAt(engine: Engine, t: number, h: { name: string; onEvent: () => void }): void {
  engine.at(Math.max(t, engine.nowNs), Priority.timer, h);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
