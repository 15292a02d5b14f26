/**
 * The bundled command (scripts/build.ts, bin/bundle-stamp.js): built in a
 * copy of the repository, it runs while the sources are the ones it was
 * built from and prints what they print; touching, adding or removing a
 * source makes the sources run instead; a failed build keeps the old bundle.
 * And every worker thread the command starts has its entry in the bundle.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { workerEntry } from "../src/cli/worker-entry.ts";
import { quickSkip } from "./helpers/quick.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const copy = mkdtempSync(join(tmpdir(), "iovalab-bundle-"));
after(() => rmSync(copy, { recursive: true, force: true }));
for (const f of ["bin", "scripts", "src", "package.json", "tsconfig.json"])
  cpSync(join(ROOT, f), join(copy, f), { recursive: true });
for (const f of ["node_modules", "assets"]) symlinkSync(join(ROOT, f), join(copy, f));
const BUNDLE = join(copy, "dist", "bundle");
const MARK = "iovalab-test: the bundle ran\n";

function build() {
  return spawnSync(process.execPath, [join(copy, "scripts", "build.ts")], { cwd: copy, encoding: "utf8" });
}

/** The copy's command; `bundled` says whether the (marked) bundle ran, `stderr` is without the mark. */
function iovalab(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(copy, "bin", "iovalab.js"), ...args], {
    cwd: copy,
    encoding: "utf8",
    env: { ...process.env, IOVALAB_NO_BUNDLE: "", ...env },
  });
  const bundled = r.stderr.startsWith(MARK);
  return { status: r.status, stdout: r.stdout, stderr: bundled ? r.stderr.slice(MARK.length) : r.stderr, bundled };
}

test("npm run build writes the bundle and its stamp, and nothing beside it", () => {
  const r = build();
  assert.equal(r.status, 0, r.stderr);
  const files = readdirSync(BUNDLE);
  for (const f of ["main.js", "run-worker.js", "sweep-worker.js", "queue-job.js", "stamp.txt"])
    assert.ok(files.includes(f), f);
  assert.deepEqual(readdirSync(join(copy, "dist")), ["bundle"]);
  // The mark lets the tests below see which of the two ran: it changes no source.
  const main = join(BUNDLE, "main.js");
  writeFileSync(main, `process.stderr.write(${JSON.stringify(MARK)});\n${readFileSync(main, "utf8")}`);
});

test("the current bundle runs and prints what the sources print", () => {
  const fixture = join(ROOT, "test/fixtures/conformance/6.1/aligned-vs-unaligned.iovaops.gz");
  for (const args of [["--version"], ["replay", "--help"], ["ops", fixture], ["ops", join(copy, "absent.iovaops")]]) {
    const b = iovalab(args);
    const s = iovalab(args, { IOVALAB_NO_BUNDLE: "1" });
    assert.ok(b.bundled, `${args.join(" ")}: the bundle ran`);
    assert.ok(!s.bundled, `${args.join(" ")}: IOVALAB_NO_BUNDLE=1 ran the sources`);
    assert.ok(s.stdout.length + s.stderr.length > 0, args.join(" "));
    assert.deepEqual(b, { ...s, bundled: true }, args.join(" "));
  }
});

test("a sweep from the bundle starts the bundled worker threads and writes what the sources' sweep writes", {
  skip: quickSkip("two sweeps on worker threads"),
}, () => {
  const scenario = join(ROOT, "scenarios", "seed-short.yaml");
  // The same folder for both (the output names it), emptied first (a sweep resumes its results).
  const out = join(copy, "sweep");
  const sweep = (env: Record<string, string>) => {
    rmSync(out, { recursive: true, force: true });
    const r = iovalab(
      ["sweep", scenario, "--over", "disks.queueDepth=16,32", "--workers", "2", "--no-progress", "--out", out],
      env,
    );
    // Lines in the order the threads finished them: compared as a set.
    return { ...r, results: readFileSync(join(out, "sweep.jsonl"), "utf8").trim().split("\n").sort() };
  };
  const b = sweep({});
  const s = sweep({ IOVALAB_NO_BUNDLE: "1" });
  assert.ok(b.bundled && !s.bundled);
  assert.equal(b.status, 0, b.stderr);
  // Two points, each with the scenario's two runs.
  assert.equal(b.results.length, 4);
  assert.deepEqual({ ...b, bundled: false }, s);
});

test("an added, then removed, source file: the sources run, then the bundle again", () => {
  const extra = join(copy, "src", "cli", "extra.ts");
  writeFileSync(extra, "export {};\n");
  assert.equal(iovalab(["--version"]).bundled, false);
  rmSync(extra);
  assert.equal(iovalab(["--version"]).bundled, true);
});

test("a touched source file (even an older time) or package.json: the sources run", () => {
  for (const rel of ["src/iova/magazine.ts", "package.json"]) {
    const file = join(copy, rel);
    assert.ok(existsSync(file), rel);
    utimesSync(file, new Date(2001, 0, 1), new Date(2001, 0, 1));
    const r = iovalab(["--version"]);
    assert.equal(r.bundled, false, rel);
    assert.equal(r.stdout, "0.1.0\n");
  }
  // Built again, it runs again (unmarked: the build wrote a new bundle).
  assert.equal(build().status, 0);
  assert.equal(readFileSync(join(BUNDLE, "stamp.txt"), "utf8").includes("src/iova/magazine.ts"), true);
});

test("a failed build keeps the bundle there was and leaves no temporary folder", () => {
  const before = readFileSync(join(BUNDLE, "stamp.txt"), "utf8");
  const bad = join(copy, "src", "cli", "main.ts");
  const good = readFileSync(bad, "utf8");
  writeFileSync(bad, `${good}\nexport const broken = ;\n`);
  const r = build();
  writeFileSync(bad, good);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /main\.ts/);
  assert.equal(readFileSync(join(BUNDLE, "stamp.txt"), "utf8"), before);
  assert.deepEqual(readdirSync(join(copy, "dist")), ["bundle"]);
});

test("every worker the command starts is an entry of the bundle, and found beside the caller's chunk", () => {
  const calls = readdirSync(join(ROOT, "src", "cli"))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .flatMap((f) =>
      [
        ...readFileSync(join(ROOT, "src", "cli", f), "utf8").matchAll(/workerEntry\(import\.meta\.url, "([^"]+)"\)/g),
      ].map((m) => ({ file: join(ROOT, "src", "cli", f), source: m[1] })),
    );
  assert.equal(calls.length, 4);
  for (const { file, source } of calls) {
    const fromSources = workerEntry(`file://${file}`, source);
    assert.ok(existsSync(new URL(fromSources)), fromSources);
    const fromBundle = workerEntry(`file://${join(BUNDLE, "chunk-X.js")}`, source);
    assert.equal(dirname(new URL(fromBundle).pathname), BUNDLE);
    assert.ok(existsSync(new URL(fromBundle)), fromBundle);
  }
});
