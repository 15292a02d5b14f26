/**
 * The conformance runner fed in chunks that cut lines anywhere, into a buffer
 * its caller reuses (as the CLI reads files), gives exactly the output of the
 * whole script at once.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { quickSkip } from "../../test/helpers/quick.ts";
import { OpsRunner, runOps } from "./ops.ts";

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

/**
 * The same script with every decimal operand written in hex: no line of it
 * fits the byte-level fast path, so every operation goes through the general
 * parser. Both forms must print the same, so the two paths cannot drift.
 */
function slowForm(script: string): string {
  return script
    .split("\n")
    .map((line, i) => {
      if (i === 0 || line.startsWith("#") || line.startsWith("domain")) return line;
      return line
        .split(" ")
        .map((t) => (/^[0-9]+$/.test(t) ? `0x${BigInt(t).toString(16)}` : t))
        .join(" ");
    })
    .join("\n");
}

function outputs(name: string, script: string): [string, string] {
  const r = runOps(name, script);
  return [Buffer.from(r.output).toString("latin1"), Buffer.from(r.walks).toString("latin1")];
}

/**
 * A script's output and walks, or its error without the operand as written:
 * bad input fails the same way on both paths, up to how the operand was spelt.
 */
function outputsOrError(script: string): [string, string] | string {
  try {
    return outputs("t.iovaops", script);
  } catch (e) {
    return (e as Error).message.replace(/, found .*/s, "");
  }
}

const CONFORMANCE = join(import.meta.dirname, "..", "..", "test", "fixtures", "conformance");

// 12 s here: npm test runs it; the quick tier keeps the random scripts below.
test("every public vector through the general parser alone gives the kernel's output and walks", {
  skip: quickSkip("every public vector a second time"),
}, () => {
  let vectors = 0;
  for (const kernel of readdirSync(CONFORMANCE)) {
    const dir = join(CONFORMANCE, kernel);
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".iovaops.gz"))) {
      const name = f.slice(0, -".iovaops.gz".length);
      const script = gunzipSync(readFileSync(join(dir, f))).toString("latin1");
      const slow = slowForm(script);
      assert.notEqual(slow, script, `${kernel}/${name}: the slow form differs from the script`);
      const [out, walks] = outputs(f, slow);
      assert.equal(
        out,
        gunzipSync(readFileSync(join(dir, `${name}.expected.gz`))).toString("latin1"),
        `${kernel}/${name}`,
      );
      assert.equal(
        walks,
        gunzipSync(readFileSync(join(dir, `${name}.walks.gz`))).toString("latin1"),
        `${kernel}/${name}`,
      );
      vectors++;
    }
  }
  assert.ok(vectors >= 120, `${vectors} vectors`);
});

test("random scripts: the fast path and the general parser print the same output and walks", () => {
  const op = fc.oneof(
    fc.tuple(fc.constant("alloc"), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 1200 }), fc.boolean()),
    fc.tuple(
      fc.constant("alloc_fast"),
      fc.integer({ min: 1, max: 300 }),
      fc.integer({ min: 0, max: 5000 }),
      fc.boolean(),
    ),
    fc.tuple(fc.constant("free"), fc.integer({ min: 0, max: 1200 })),
    fc.tuple(fc.constant("free_fast"), fc.integer({ min: 0, max: 1200 }), fc.integer({ min: 1, max: 300 })),
    fc.tuple(fc.constant("cpu"), fc.integer({ min: 0, max: 3 })),
  );
  let completed = 0;
  fc.assert(
    fc.property(fc.constantFrom("mainline", "6.1", "5.15", "5.10"), fc.array(op, { maxLength: 400 }), (kernel, ops) => {
      const lines = [`domain granule=4096 start_pfn=1 cpus=4 rcache_orders=4 kernel=${kernel}`];
      for (const o of ops) lines.push(o.map((x) => (typeof x === "boolean" ? (x ? 1 : 0) : x)).join(" "));
      const script = `${lines.join("\n")}\n`;
      const fast = outputsOrError(script);
      if (typeof fast !== "string") completed++;
      assert.deepEqual(outputsOrError(slowForm(script)), fast);
    }),
    { numRuns: 200, seed: 19 },
  );
  // Most scripts run to the end (a failing one still compares its error).
  assert.ok(completed > 150, `${completed} of 200 scripts ran to the end`);
});

test("an operation name is read whole: a misspelt one is an error, not its look-alike", () => {
  for (const name of ["alloc_fxst", "alloc_fas_", "free_fist", "cpx", "allac", "frey"]) {
    const args = name.startsWith("alloc") ? " 1 1048575 1" : name.startsWith("cpu") || name === "cpx" ? " 0" : " 5 1";
    assert.throws(
      () => runOps("t.iovaops", `domain granule=4096 start_pfn=1 cpus=1\n${name}${args}\n`),
      new RegExp(`t\\.iovaops:2: expected an operation .*found "${name}"`),
      name,
    );
  }
});

test("lines cut mid-operand, mid-name and before their newline by the chunks still run whole", () => {
  const script = new TextEncoder().encode(
    "domain granule=4096 start_pfn=1 cpus=2\nalloc_fast 3 1048575 1\ncpu 1\nalloc 5 1048575 0\nfree_fast 1048572 4\nfree 1048570",
  );
  const whole = Buffer.from(runOps("t.iovaops", script).output).toString();
  // By hand: alloc_fast rounds 3 up to 4 (mainline) and takes the top four pfns; the unaligned 5 go just below.
  assert.equal(whole, "1048572\n1048567\n");
  for (let cut = 1; cut < script.length; cut++) {
    const runner = new OpsRunner("t.iovaops");
    runner.feed(script.subarray(0, cut));
    runner.feed(script.subarray(cut));
    assert.equal(Buffer.from(runner.finish().output).toString(), whole, `cut at ${cut}`);
  }
});

test("operands of 1 to 17 digits, leading zeros included, read alike on the fast path and the general parser", () => {
  // The scanner sums a number's first nine digits as an int32 and the rest
  // apart: every length around that cut, up to 2^53 and past 15 digits
  // (which only the general parser reads).
  const digits = fc
    .tuple(fc.integer({ min: 1, max: 17 }), fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }))
    .map(([len, v]) => v.toString().padStart(len, "0"));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 64 }), digits, digits), { maxLength: 60 }), (ops) => {
      const lines = ["domain granule=4096 start_pfn=1 cpus=2"];
      for (const [size, limit, pfn] of ops) {
        lines.push(`alloc_fast ${size} ${limit} 0`, `free ${pfn}`, `alloc ${size} ${limit} 1`);
      }
      const script = `${lines.join("\n")}\n`;
      assert.deepEqual(outputsOrError(slowForm(script)), outputsOrError(script));
    }),
    { numRuns: 100, seed: 23 },
  );
});

test("lines longer than the scanner's window, in one chunk and cut by chunks, run as short ones do", () => {
  const long = `# ${"x".repeat(9000)}`;
  const script = new TextEncoder().encode(
    [
      "domain granule=4096 start_pfn=1 cpus=2",
      long,
      "alloc_fast 3 1048575 1",
      long,
      `alloc 5 ${"0".repeat(9000)}1048575 0`,
      long,
      "free_fast 1048572 4",
      "",
    ].join("\n"),
  );
  const whole = Buffer.from(runOps("t.iovaops", script).output).toString();
  assert.equal(whole, "1048572\n1048567\n");
  for (const cut of [1, 4095, 4096, 4097, 9001, 9050, 18100, script.length - 3]) {
    const runner = new OpsRunner("t.iovaops");
    runner.feed(script.subarray(0, cut));
    runner.feed(script.subarray(cut));
    assert.equal(Buffer.from(runner.finish().output).toString(), whole, `cut at ${cut}`);
  }
});
