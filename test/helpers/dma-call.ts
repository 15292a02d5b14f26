/** Test helper: a reconstructed trace DMA call with plain defaults for the fields a test does not care about. */

import type { DmaCall } from "../../src/trace/reconstruct.ts";

export function dmaCall(
  fields: Pick<DmaCall, "kind" | "allocation" | "cpu" | "timestampNs"> & Partial<DmaCall>,
): DmaCall {
  return {
    domain: "group1",
    device: undefined,
    api: undefined,
    iova: 0,
    sizeBytes: 4096,
    requestedBytes: undefined,
    dmaAddr: undefined,
    pieces: fields.kind === "map" ? 1 : 0,
    mapLines: [],
    mapOffsets: [],
    irq: false,
    irqKnown: true,
    reuses: 0,
    reusesCpu: -1,
    lostAtNs: -1,
    unmapLost: false,
    pid: 1,
    comm: "fio",
    line: 0,
    lines: [],
    inferred: false,
    ...fields,
  };
}
