/**
 * A trace's text replayed strict on qemu-q35-nvme's NVMe (0000:00:01.0),
 * in process, for the replay tests that look at the result and at each
 * map's emitted IOVA line.
 */

import assert from "node:assert/strict";
import type { ProfileName } from "../../src/iova/profile.ts";
import { builtinMachine, type MachineDesc } from "../../src/machine/index.ts";
import { Replayer, type ReplayOptions, type ReplayResult, traceMachineOf } from "../../src/replay/replay.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";

const q35 = builtinMachine("qemu-q35-nvme");
assert.ok(q35);
export const MACHINE: MachineDesc = q35;

export function replayStrict(
  text: string,
  kernel: ProfileName,
  opts: Partial<ReplayOptions> = {},
): { result: ReplayResult; emitted: string[] } {
  const emitted: string[] = [];
  const rp = new Replayer({ machine: MACHINE, kernel, strict: true, emitIova: (t) => emitted.push(t), ...opts });
  const rc = new Reconstructor({ machine: traceMachineOf(MACHINE, "0000:00:01.0") }, (c) => rp.push(c));
  const { events } = readTraceText(text, { file: "t", strictInput: true });
  for (const e of events) rc.push(e);
  rc.end();
  return { result: rp.end(), emitted };
}
