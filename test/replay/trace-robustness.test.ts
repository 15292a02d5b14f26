/**
 * "Never a crash": real trace lines, randomly damaged, shuffled, duplicated
 * and dropped, go through the reader and the reconstruction without an
 * exception (bad lines become diagnostics, bad pairings become findings),
 * and --strict-input turns the first bad line into an InputError only.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { InputError } from "../../src/stdx/errors.ts";
import { Q35_NVME_TRACE_MACHINE } from "../../src/trace/machine.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { reconstruct } from "../../src/trace/reconstruct.ts";

const LINES = gunzipSync(
  readFileSync(new URL("../fixtures/traces/linux-6.12-sysfs-behaviour-boot.txt.gz", import.meta.url)),
)
  .toString()
  .split("\n")
  .filter((l) => l !== "" && !l.startsWith("#"));

type Damage = { at: number; kind: number; pos: number; ch: string };

function damage(line: string, d: Damage): string {
  const p = d.pos % (line.length + 1);
  switch (d.kind) {
    case 0:
      return line.slice(0, p) + line.slice(p + 1);
    case 1:
      return line.slice(0, p) + d.ch + line.slice(p);
    case 2:
      return line.slice(0, p);
    default:
      return line.replace(/[0-9a-f]/, d.ch);
  }
}

test("damaged, reordered and duplicated real lines never crash the reader or the reconstruction", () => {
  let malformed = 0;
  let findings = 0;
  let strictStops = 0;
  fc.assert(
    fc.property(
      fc.array(fc.nat(LINES.length - 1), { minLength: 1, maxLength: 200 }),
      fc.array(
        fc.record({
          at: fc.nat(199),
          kind: fc.nat(3),
          pos: fc.nat(300),
          ch: fc.constantFrom("x", " ", "-", "=", "0", "f", "[", "]", ":", "{", "}"),
        }),
        { maxLength: 20 },
      ),
      fc.integer({ min: 1, max: 64 }),
      (picks, damages, window) => {
        const lines = picks.map((i) => LINES[i]);
        for (const d of damages) if (d.at < lines.length) lines[d.at] = damage(lines[d.at], d);
        const text = lines.join("\n");
        const { events, reader } = readTraceText(text, { file: "fuzz" });
        malformed += reader.stats.malformed;
        // A damaged last line cut to nothing leaves the text ending in a
        // newline, and a trailing newline ends the last line: it is no line.
        assert.equal(reader.stats.lines, lines.length - (lines[lines.length - 1] === "" ? 1 : 0));
        const { calls, reconstructor } = reconstruct(events, {
          machine: Q35_NVME_TRACE_MACHINE,
          file: "fuzz",
          lookAheadEvents: window,
        });
        for (let i = 1; i < calls.length; i++) assert.ok(calls[i - 1].line < calls[i].line);
        for (const f of reconstructor.findings) assert.match(f.message, /^fuzz:\d+: DMA-API: /);
        findings += reconstructor.findings.filter((f) => f.kind !== "live-at-end").length;
        try {
          readTraceText(text, { file: "fuzz", strictInput: true });
          assert.equal(reader.stats.malformed, 0);
        } catch (e) {
          assert.ok(e instanceof InputError, String(e));
          strictStops++;
          assert.match(e.message, /^fuzz:\d+: expected /);
        }
      },
    ),
    { numRuns: 300, seed: 260222415 },
  );
  // The damage did reach both layers.
  assert.ok(malformed > 0 && strictStops > 0 && findings > 0, `${malformed} ${strictStops} ${findings}`);
});
