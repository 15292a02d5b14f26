// What the bundled command (dist/bundle, written by scripts/build.ts) was
// built from, and whether it is still current. Shared by the build, which
// writes the stamp, and the `iovalab` entry, which compares it on every
// start before it runs the bundle instead of the sources.
//
// JavaScript, like the entry, so that checking costs no TypeScript stripping.
// The stamp is the listing of every file the bundle can depend on with its
// size and modification time, so any edit, added, removed or renamed file,
// or a checkout of other sources, makes the bundle stale and the sources run.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository: this file is in bin/. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where the bundle lives (git-ignored); two levels deep, as src/cli/ is, so that the paths the sources resolve against their own URL (../../package.json, ../../assets) hold from it too. */
export const BUNDLE_DIR = join(ROOT, "dist", "bundle");
export const STAMP_FILE = "stamp.txt";
export const BUNDLE_ENTRY = "main.js";

/** Files outside src/ that shape the bundle: the build's inputs and options. */
const CONFIG_FILES = ["package.json", "tsconfig.json", "scripts/build.ts", "bin/bundle-stamp.js"];

/**
 * One line a file, `path size mtime`, in a fixed order: the configuration
 * files, then every file under src/ but the tests (the bundle never contains
 * a test; the explorer's page files are listed too, which costs a stat each).
 * A missing configuration file is listed as missing.
 */
export function sourceListing(root = ROOT) {
  const lines = [];
  const line = (rel) => {
    try {
      const s = statSync(join(root, rel));
      lines.push(`${rel} ${s.size} ${s.mtimeMs}`);
    } catch {
      lines.push(`${rel} missing`);
    }
  };
  for (const rel of CONFIG_FILES) line(rel);
  // A walk by hand: readdirSync's own `recursive` costs several times as much.
  const walk = (rel) => {
    const entries = readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (e.isDirectory()) walk(`${rel}/${e.name}`);
      else if (!e.name.endsWith(".test.ts")) line(`${rel}/${e.name}`);
    }
  };
  walk("src");
  return `${lines.join("\n")}\n`;
}

/**
 * The URL of the bundle's entry when the bundle exists and was built from
 * exactly the sources there are now; otherwise null (the sources run).
 * `IOVALAB_NO_BUNDLE=1` asks for the sources regardless.
 */
export function currentBundle(root = ROOT) {
  if (process.env.IOVALAB_NO_BUNDLE === "1") return null;
  const dir = join(root, "dist", "bundle");
  let stamp;
  try {
    stamp = readFileSync(join(dir, STAMP_FILE), "utf8");
  } catch {
    return null;
  }
  // The first line names the build; the rest is the listing it was built from.
  const listing = stamp.slice(stamp.indexOf("\n") + 1);
  return listing === sourceListing(root) ? new URL(`file://${join(dir, BUNDLE_ENTRY)}`).href : null;
}
