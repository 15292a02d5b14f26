/**
 * A device the trace shows no DMA for (the q35 machine's e1000e while the
 * NVMe does all the I/O) is replayed beside the busy one, and takes the
 * trace's timer events too. Told where the reconstruction stands, it runs
 * them as the trace goes instead of holding every one to the end: its
 * memory stays constant in the trace's length, and its result is the same.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { builtinMachine } from "../../src/machine/index.ts";
import { Replayer, traceMachineOf } from "../../src/replay/replay.ts";
import { isKernelWorkEvent } from "../../src/trace/events.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";

const FILE = new URL("../fixtures/traces/linux-6.12-lazy-timers-head8000.txt.gz", import.meta.url).pathname;

function replayIdle(advance: boolean) {
  const machine = builtinMachine("qemu-q35-nvme");
  assert.ok(machine);
  const { events } = readTraceText(gunzipSync(readFileSync(FILE)).toString(), { file: FILE });
  const idle = new Replayer({ machine, kernel: "mainline", device: "0000:00:02.0", strict: false });
  const rc = new Reconstructor({ machine: traceMachineOf(machine, "0000:00:01.0"), file: FILE }, (c) => idle.push(c));
  let maxHeld = 0;
  let work = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (isKernelWorkEvent(e)) {
      idle.pushWork(e);
      work++;
    } else rc.push(e);
    if (i % 256 === 255) {
      if (advance) idle.advanceTo(rc.horizonLine());
      maxHeld = Math.max(maxHeld, idle.heldWork);
    }
  }
  rc.end();
  const r = idle.end();
  return { maxHeld, work, r };
}

test("an idle device's replay runs the trace's timer events as the trace goes, with the same result", () => {
  const held = replayIdle(false);
  const run = replayIdle(true);
  // Held to the end, it keeps every timer and work event of the trace.
  assert.ok(held.work > 100);
  assert.ok(held.maxHeld > held.work / 2, `held ${held.maxHeld} of ${held.work}`);
  // Advanced every 256 events, it holds only those the reconstruction's window still covers.
  assert.ok(run.maxHeld < 70, `held ${run.maxHeld} of ${run.work}`);
  assert.equal(run.r.allocations, 0);
  assert.deepEqual(run.r.timerFlushes, held.r.timerFlushes);
  assert.deepEqual(run.r.iovad.stats, held.r.iovad.stats);
});
