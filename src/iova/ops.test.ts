/**
 * The conformance runner fed in chunks that cut lines anywhere, into a buffer
 * its caller reuses (as the CLI reads files), gives exactly the output of the
 * whole script at once.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { OpsRunner } from "./ops.ts";

const FIX = join(import.meta.dirname, "..", "..", "test", "fixtures", "conformance", "mainline");

test("chunked feeding gives the same output and walks as the whole script", () => {
  const script = gunzipSync(readFileSync(join(FIX, "mixed-api.iovaops.gz")));
  const expected = gunzipSync(readFileSync(join(FIX, "mixed-api.expected.gz"))).toString("latin1");
  const walks = gunzipSync(readFileSync(join(FIX, "mixed-api.walks.gz"))).toString("latin1");
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 4000 }), { minLength: 1, maxLength: 20 }), (sizes) => {
      const runner = new OpsRunner("mixed-api.iovaops");
      const reused = new Uint8Array(4000);
      let at = 0;
      for (let i = 0; at < script.length; i++) {
        const n = Math.min(sizes[i % sizes.length], script.length - at);
        reused.set(script.subarray(at, at + n));
        runner.feed(reused.subarray(0, n));
        reused.fill(0x23); // the caller overwrites its buffer before the next chunk
        at += n;
      }
      const r = runner.finish();
      assert.equal(Buffer.from(r.output).toString("latin1"), expected);
      assert.equal(Buffer.from(r.walks).toString("latin1"), walks);
    }),
    { numRuns: 30, seed: 9 },
  );
});

test("a last line without a newline still runs", () => {
  const runner = new OpsRunner("t.iovaops");
  runner.feed(new TextEncoder().encode("domain granule=4096 start_pfn=1 cpus=1\nalloc 1 1048575 0"));
  assert.equal(Buffer.from(runner.finish().output).toString(), "1048575\n");
});
