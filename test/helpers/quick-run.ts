/**
 * The quick tier's runner (`npm run test:quick`): every test file of src/
 * and test/, two at a time, each in its own process as `node --test` runs
 * them, with the same spec output and exit status; the tier itself is
 * IOVALAB_QUICK=1 (see quick.ts).
 *
 * `node --test` starts the files in path order, so a long file late in the
 * alphabet runs alone at the end while the other worker idles. This runner
 * starts the longest first (each file's time in the last run, kept in a
 * small file beside the compile cache), so the two workers end together;
 * files it has no time for yet start first, in reverse path order (test/'s
 * command-line and replay files before src/'s unit tests). The order
 * changes no result: every file runs in a process of its own.
 *
 * Arguments, if any, are the test files to run (paths or globs).
 */

import { globSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { run } from "node:test";
import { spec } from "node:test/reporters";

const ROOT = join(import.meta.dirname, "..", "..");
const PATTERNS = ["src/**/*.test.ts", "test/**/*.test.ts"];
const TIMES = join(process.env.TMPDIR ?? tmpdir(), "iovalab-test-times.json");

function readTimes(): Record<string, number> {
  try {
    const t = JSON.parse(readFileSync(TIMES, "utf8")) as unknown;
    return t !== null && typeof t === "object" ? (t as Record<string, number>) : {};
  } catch {
    return {};
  }
}

const args = process.argv.slice(2);
const files = [...new Set(globSync(args.length > 0 ? args : PATTERNS, { cwd: ROOT }))].map((f) =>
  relative(ROOT, resolve(ROOT, f)),
);
const times = readTimes();
const known = (f: string) => typeof times[f] === "number" && Number.isFinite(times[f]);
files.sort((a, b) => {
  if (known(a) !== known(b)) return known(a) ? 1 : -1;
  if (known(a)) return times[b] - times[a] || (a < b ? -1 : 1);
  return a < b ? 1 : -1;
});

// Each file's time: its top-level tests' durations (the process start-up is much the same for all).
const took = new Map<string, number>();
const stream = run({ files: files.map((f) => join(ROOT, f)), concurrency: 2, cwd: ROOT });
stream.on("test:fail", (data) => {
  if (!data.todo) process.exitCode = 1;
});
for (const event of ["test:pass", "test:fail"] as const) {
  stream.on(event, (data) => {
    if (data.nesting !== 0 || data.file === undefined) return;
    const f = relative(ROOT, data.file);
    if (f.startsWith("..")) return;
    took.set(f, (took.get(f) ?? 0) + data.details.duration_ms);
  });
}
stream.on("end", () => {
  const next = { ...readTimes() };
  for (const [f, ms] of took) next[f] = Math.round(ms);
  const tmp = `${TIMES}.${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(next)}\n`);
    renameSync(tmp, TIMES);
  } catch {
    // Only the next run's order is lost.
  }
});
stream.compose(spec).pipe(process.stdout);
