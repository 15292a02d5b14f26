/**
 * A thread of the busy-start search's trials (`trial-workers.ts`): takes the
 * queued trial asked first from the shared table (`trial-slots.ts`), runs it
 * on its own copy of the search's window (`BusyTrials`), writes the result,
 * and sleeps while nothing is queued. A new window comes as a message, read
 * without the event loop (the thread never returns to it while it works).
 */

import { type MessagePort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { BusyTrials, type BusyWindow } from "../face/kernel.ts";
import { DONE, FAILED, H_RAN, H_STOP, H_WAKE, QUEUED, RUNNING, TrialSlots } from "./trial-slots.ts";

interface Begin {
  epoch: number;
  window: BusyWindow;
  vectors?: SharedArrayBuffer;
  len: number;
}

const { ctl, results, port } = workerData as { ctl: SharedArrayBuffer; results: SharedArrayBuffer; port: MessagePort };
let slots: TrialSlots | null = null;
let trials: BusyTrials | null = null;
let epoch = -1;
const header = new Int32Array(ctl);

for (;;) {
  const wake = Atomics.load(header, H_WAKE);
  if (Atomics.load(header, H_STOP) === 1) break;
  // The newest window only: the ones before it are searched no more.
  let last: Begin | null = null;
  for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) last = m.message as Begin;
  if (last !== null) {
    const vectors = last.vectors ?? (slots?.vectors.buffer as SharedArrayBuffer);
    slots = new TrialSlots(ctl, results, vectors, last.len);
    trials = new BusyTrials(last.window);
    epoch = last.epoch;
  }
  const s = slots === null ? -1 : slots.firstQueued(epoch);
  if (slots === null || trials === null || s < 0) {
    Atomics.wait(header, H_WAKE, wake);
    continue;
  }
  if (!slots.move(s, QUEUED, RUNNING)) continue;
  // Taken back and queued again for a newer window between the look and the take: left for that window's threads.
  if (slots.epochOf(s) !== epoch) {
    slots.settle(s, QUEUED);
    continue;
  }
  try {
    slots.writeResult(s, trials.run(slots.ask(s)));
    Atomics.add(header, H_RAN, 1);
    slots.settle(s, DONE);
  } catch {
    slots.settle(s, FAILED);
  }
}
