/**
 * CPU work written as a script of actions, and the hook through which an
 * upper layer (the DMA layer) plugs its exact decisions into simulated time.
 *
 * A `Script` is a list of actions: compute, lock, unlock, sync and post on a
 * serial resource, and `hook`. When a CPU reaches a hook, at that simulated
 * instant, the hook runs (for the DMA layer: `iommu_dma_map_sg()` on the
 * modelled kernel, which changes magazines, depot and tree) and writes what
 * that took into a fresh script: "took the depot lock, popped a magazine,
 * dropped it" or "took the rbtree lock, walked 700 steps, inserted, dropped
 * it". The CPU runs that script before going on, so the time charged and the
 * lock contention follow from what the model actually did.
 *
 * Ordering: the hook decides at the instant the CPU reaches it; the locks it
 * asks for are requested right after, at the same instant. Locks are FIFO, so
 * the order in which CPUs are granted a lock is the order in which their
 * decisions were made, and the model's state changes in the same order as in
 * simulated time. (A decision that must wait for a lock can instead emit
 * `lock` then a second `hook` that decides under the lock.)
 */

import { assert } from "../stdx/assert.ts";
import type { Cpu, Task } from "./cpu.ts";
import type { SpinLock } from "./lock.ts";
import type { SerialResource } from "./serial.ts";

/** Runs at the simulated instant a CPU reaches it and appends the work it did to `out`. */
export interface Hook {
  readonly name: string;
  run(cpu: Cpu, arg: number, out: Script): void;
}

const OP_COMPUTE = 1;
const OP_LOCK = 2;
const OP_UNLOCK = 3;
const OP_SYNC = 4;
const OP_POST = 5;
const OP_HOOK = 6;

export class Script {
  // Parallel arrays with a separate length: clearing keeps their capacity, so
  // a reused script allocates nothing once warm.
  private readonly op: number[] = [];
  private readonly num: number[] = [];
  private readonly ref: (SpinLock | SerialResource | Hook | null)[] = [];
  private n = 0;

  get length(): number {
    return this.n;
  }

  clear(): this {
    // The references left past the length (hooks, locks, queues) live as long as the run anyway:
    // clearing them would cost a write per action on every reuse.
    this.n = 0;
    return this;
  }

  compute(ns: number): this {
    assert(Number.isSafeInteger(ns) && ns >= 0, "compute time must be a non-negative integer ns");
    if (ns === 0) return this;
    // Adjacent computes fold into one step: fewer events, same time.
    const n = this.n;
    if (n > 0 && this.op[n - 1] === OP_COMPUTE) {
      this.num[n - 1] += ns;
      return this;
    }
    return this.push(OP_COMPUTE, ns, null);
  }

  lock(lock: SpinLock): this {
    return this.push(OP_LOCK, 0, lock);
  }

  unlock(lock: SpinLock): this {
    return this.push(OP_UNLOCK, 0, lock);
  }

  /**
   * Queue `serviceNs` of work on the resource and spin until it is done, plus
   * `latencyNs` that does not occupy the resource (a CMD_SYNC's completion
   * round trip: the queue serves other CPUs meanwhile).
   */
  sync(resource: SerialResource, serviceNs: number, latencyNs = 0): this {
    assert(Number.isSafeInteger(latencyNs) && latencyNs >= 0 && latencyNs < 2 ** 31, "sync latency");
    // The latency rides in the high part of the number: service + latency * 2^32 keeps both exact below 2^53.
    assert(serviceNs < 2 ** 32, "sync service time");
    return this.push(OP_SYNC, serviceNs + latencyNs * 2 ** 32, resource);
  }

  /** Queue `serviceNs` on the resource without waiting. */
  post(resource: SerialResource, serviceNs: number): this {
    return this.push(OP_POST, serviceNs, resource);
  }

  hook(hook: Hook, arg = 0): this {
    return this.push(OP_HOOK, arg, hook);
  }

  /** One line per action, for tests and debugging. */
  describe(): string[] {
    const names = ["", "compute", "lock", "unlock", "sync", "post", "hook"];
    const lines: string[] = [];
    for (let i = 0; i < this.n; i++) {
      const o = this.op[i];
      const r = this.ref[i];
      let line = names[o] + (r === null ? "" : ` ${r.name}`);
      if (o === OP_COMPUTE || o === OP_POST) line += ` ${this.num[i]}`;
      if (o === OP_SYNC) line += ` ${this.num[i] % 2 ** 32} +${Math.floor(this.num[i] / 2 ** 32)}`;
      lines.push(line);
    }
    return lines;
  }

  /** @internal Used by ScriptTask. */
  opAt(i: number): number {
    return this.op[i];
  }
  /** @internal */
  numAt(i: number): number {
    return this.num[i];
  }
  /** @internal */
  refAt(i: number): SpinLock | SerialResource | Hook | null {
    return this.ref[i];
  }

  private push(op: number, num: number, ref: SpinLock | SerialResource | Hook | null): this {
    const n = this.n++;
    if (n === this.op.length) {
      this.op.push(op);
      this.num.push(num);
      this.ref.push(ref);
    } else {
      this.op[n] = op;
      this.num[n] = num;
      this.ref[n] = ref;
    }
    return this;
  }
}

/** Deepest nesting of hooks (a hook's script calling a hook ...): a bound against runaway recursion. */
const HOOK_DEPTH_MAX = 8;

/**
 * A task that runs a script; hook output runs as a nested script before the
 * rest. Reusable: `reset()` rewinds it (the caller owns the main script).
 */
export class ScriptTask implements Task {
  readonly name: string;
  private main: Script;
  // frames[0] is the main script; frames[d] is the output of the hook run at depth d.
  private readonly frames: Script[] = [];
  private readonly pcs = new Int32Array(HOOK_DEPTH_MAX);
  private depth = 1;
  /** A finished hook frame kept for the next tail call. */
  private spare: Script | null = null;

  constructor(name: string, main: Script) {
    this.name = name;
    this.main = main;
    this.frames.push(main);
  }

  reset(main: Script = this.main): void {
    this.main = main;
    this.frames[0] = main;
    this.pcs[0] = 0;
    this.depth = 1;
  }

  /**
   * Takes the computes that follow the one being started, across the ends of
   * hook frames, up to the next action of another kind; returns their sum.
   */
  private foldComputes(): number {
    let ns = 0;
    for (;;) {
      const d = this.depth - 1;
      const s = this.frames[d];
      const pc = this.pcs[d];
      if (pc === s.length) {
        if (d === 0) return ns;
        this.depth--;
        continue;
      }
      if (s.opAt(pc) !== OP_COMPUTE) return ns;
      ns += s.numAt(pc);
      this.pcs[d] = pc + 1;
    }
  }

  step(cpu: Cpu): void {
    for (;;) {
      const d = this.depth - 1;
      const s = this.frames[d];
      const pc = this.pcs[d];
      if (pc === s.length) {
        if (d === 0) {
          cpu.exit();
          return;
        }
        this.depth--;
        continue;
      }
      this.pcs[d] = pc + 1;
      const op = s.opAt(pc);
      switch (op) {
        case OP_COMPUTE:
          // Where nothing can preempt the task between two computes (an interrupt, or a spinlock
          // held), they are one stretch of busy time: one event instead of one per compute.
          cpu.compute(cpu.preemptible ? s.numAt(pc) : s.numAt(pc) + this.foldComputes());
          return;
        case OP_LOCK:
          cpu.lock(s.refAt(pc) as SpinLock);
          return;
        case OP_UNLOCK:
          cpu.unlock(s.refAt(pc) as SpinLock);
          return;
        case OP_SYNC: {
          const v = s.numAt(pc);
          // The high part, then the low one as what is left: the same as v % 2^32 (exact), without
          // `%` on a number past 2^31 (a library call, fmod) on every strict unmap's sync.
          const latency = Math.floor(v / 2 ** 32);
          cpu.sync(s.refAt(pc) as SerialResource, v - latency * 2 ** 32, latency);
          return;
        }
        case OP_POST:
          cpu.post(s.refAt(pc) as SerialResource, s.numAt(pc));
          return;
        case OP_HOOK: {
          const hook = s.refAt(pc) as Hook;
          const arg = s.numAt(pc);
          if (d > 0 && pc + 1 === s.length) {
            // A hook that ends a hook's script replaces that frame (a tail call), so a hook
            // that re-queues itself (run the queue again after each dispatch) does not nest.
            const out = (this.spare ??= new Script()).clear();
            this.spare = s;
            this.frames[d] = out;
            this.pcs[d] = 0;
            hook.run(cpu, arg, out);
            continue;
          }
          // Guarded: the template message would otherwise be built on every hook.
          if (this.depth >= HOOK_DEPTH_MAX) assert(false, `${this.name}: hooks nested too deep`);
          // Hook output scripts are made on first use and reused by later hooks at the same depth.
          if (this.frames.length === this.depth) this.frames.push(new Script());
          const out = this.frames[this.depth].clear();
          this.pcs[this.depth] = 0;
          this.depth++;
          hook.run(cpu, arg, out);
          continue;
        }
        default:
          assert(false, `${this.name}: bad script op ${op}`);
      }
    }
  }
}
