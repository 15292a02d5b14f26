/**
 * The one-pass reading of iommu map/unmap text against the values the text
 * was printed from (the kernel's TP_printk formats), and on texts that
 * differ from the usual shape: those must give what the general decoder
 * gives, never another result.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { hex16 } from "../stdx/hex.ts";
import { DecodeError, decodeEvent } from "./events.ts";
import type { TraceLineHead } from "./line.ts";

function head(event: string, body: string): TraceLineHead {
  return { comm: "fio", pid: 7, cpu: 1, flags: "d.h1.", timestampNs: 5, system: "", event, body, shape: "ftrace" };
}

test("fast-check: map and unmap text printed from values decodes to those values", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.integer({ min: 1, max: 2 ** 30 }),
      fc.integer({ min: 0, max: 2 ** 30 }),
      (pfn, ppfn, pages, unmapped) => {
        const iova = pfn * 4096;
        const size = pages * 4096;
        const m = decodeEvent(
          3,
          head("map", `IOMMU: iova=${hex16(iova)} - ${hex16(iova + size)} paddr=${hex16(ppfn * 4096)} size=${size}`),
        );
        assert.deepEqual(m, {
          line: 3,
          comm: "fio",
          pid: 7,
          cpu: 1,
          timestampNs: 5,
          name: "map",
          flags: "d.h1.",
          type: "iommu_map",
          iova,
          paddr: ppfn * 4096,
          size,
        });
        const u = decodeEvent(
          4,
          head("unmap", `IOMMU: iova=${hex16(iova)} - ${hex16(iova + size)} size=${size} unmapped_size=${unmapped}`),
        );
        assert.equal(u.type, "iommu_unmap");
        assert.ok(u.type === "iommu_unmap" && u.iova === iova && u.size === size && u.unmappedSize === unmapped);
      },
    ),
  );
});

test("fast-check: a mutated map/unmap text decodes as before or is a DecodeError", () => {
  const base = [
    ["map", "IOMMU: iova=0x00000000fffff000 - 0x0000000100000000 paddr=0x000000002efa6000 size=4096"],
    ["unmap", "IOMMU: iova=0x00000000ffffd000 - 0x00000000ffffe000 size=4096 unmapped_size=4096"],
  ] as const;
  fc.assert(
    fc.property(
      fc.constantFrom(...base),
      fc.nat(),
      fc.constantFrom("", "0", "f", "F", "x", " ", "-", "=", "9"),
      ([event, body], at, ch) => {
        const i = at % (body.length + 1);
        const text = body.slice(0, i) + ch + body.slice(i + 1);
        try {
          const e = decodeEvent(1, head(event, text));
          // Whatever decoded from a text of the usual shape must be what the text says.
          assert.ok(e.type === "iommu_map" || e.type === "iommu_unmap");
          const m = /^IOMMU: iova=(?:0x)?([0-9a-fA-F]+) - (?:0x)?([0-9a-fA-F]+) (?:paddr=\S+ )?size=(\d+)( |$)/.exec(
            text,
          );
          if (m !== null) {
            assert.equal(e.iova, Number.parseInt(m[1], 16));
            assert.equal(e.size, Number(m[3]));
            assert.equal(Number.parseInt(m[2], 16), e.iova + e.size);
          }
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
        }
      },
    ),
    { numRuns: 3000, seed: 3000 },
  );
});
