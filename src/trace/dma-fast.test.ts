/**
 * The one-pass reading of the commonest lines (`fastEvent`: iommu map/unmap,
 * dma_map_page/dma_unmap_page) against the general field decoder
 * (`decodeEventFields`) on real lines and on every one-character mutation of
 * them: the fast reading gives the general decoder's event or nothing,
 * never another result; and the reader, which reads them in place in the
 * chunk a line is in, gives the same events as decoding each line alone.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError, decodeEventFields, fastEvent, type TraceEvent } from "./events.ts";
import type { TraceLineHead } from "./line.ts";
import { readTraceText } from "./reader.ts";

function head(event: string, body: string): TraceLineHead {
  return { comm: "fio", pid: 7, cpu: 1, flags: "d.h1.", timestampNs: 5, system: "", event, body, shape: "ftrace" };
}

/** Lines of kernel-timers/trace-6.12-lazy-timers (6.12) and the dma.h formats around them. */
const BASE = [
  ["dma_map_page", "0000:00:01.0 dir=FROM_DEVICE dma_addr=ff320000 size=131072 phys_addr=19580000 attrs="],
  ["dma_unmap_page", "0000:00:01.0 dir=FROM_DEVICE dma_addr=ffc9f000 size=4096 attrs="],
  [
    "dma_map_phys",
    "0000:00:01.0 dir=TO_DEVICE dma_addr=0x00000000ff31f000 size=4096 phys_addr=0x19460000 attrs=SKIP_CPU_SYNC",
  ],
  [
    "dma_unmap_resource",
    "0000:00:02.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 attrs=WEAK_ORDERING|SKIP_CPU_SYNC",
  ],
  ["map", "IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096"],
  ["unmap", "IOMMU: iova=0x00000000ffffd000 - 0x00000000ffffe000 size=4096 unmapped_size=4096"],
] as const;

function general(event: string, body: string): TraceEvent | DecodeError {
  try {
    return decodeEventFields(9, head(event, body));
  } catch (e) {
    if (e instanceof DecodeError) return e;
    throw e;
  }
}

test("fastEvent reads the usual lines as the general decoder does", () => {
  for (const [event, body] of BASE) {
    const fast = fastEvent(9, head(event, body), body, 0, body.length);
    assert.notEqual(fast, null, body);
    assert.deepEqual(fast, general(event, body));
  }
});

test("fast-check: a mutated line reads as the general decoder reads it, or not at all", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...BASE),
      fc.nat(),
      fc.constantFrom("", "0", "f", "F", "x", " ", "-", "=", "9", "  ", "a=b ", "12345678901234567"),
      ([event, body], at, ch) => {
        const i = at % (body.length + 1);
        const text = body.slice(0, i) + ch + body.slice(i + 1);
        // In place in a longer text, as the reader passes a chunk: the next line must not be read.
        const chunk = `x\n${text}\n0000:00:01.0 dir=X dma_addr=1 size=2 attrs=\n`;
        const fast = fastEvent(9, head(event, text), chunk, 2, 2 + text.length);
        if (fast !== null) assert.deepEqual(fast, general(event, text));
      },
    ),
    { numRuns: 5000, seed: 11 },
  );
});

test("the reader's in-place reading gives the events of each line decoded alone", () => {
  const lines = BASE.map(
    ([event, body], k) => `             fio-196     [000] .....    24.70${k}428: ${event}: ${body}`,
  );
  const { events } = readTraceText(`${lines.join("\n")}\n`, { file: "t" });
  assert.equal(events.length, BASE.length);
  for (let k = 0; k < BASE.length; k++) {
    const [event, body] = BASE[k];
    assert.deepEqual(events[k], {
      ...(general(event, body) as TraceEvent),
      line: k + 1,
      comm: "fio",
      pid: 196,
      cpu: 0,
      flags: ".....",
      timestampNs: 24_700_428_000 + k * 1_000_000,
    });
  }
});
