#!/usr/bin/env node
// The `iovalab` command. npm puts node_modules/.bin first on PATH, so this runs
// on the pinned Node 24, which runs the TypeScript sources directly, or the
// bundle of them that scripts/build.ts writes to dist/bundle (`npm install`
// and `npm run build` build it) while it is current.
//
// This entry is JavaScript on purpose: Node's compile cache (in the OS temp
// directory, keyed by each source's hash) keeps the type-stripped modules, and
// only an entry that needs no stripping itself lets a warm start skip loading
// the TypeScript stripper at all (about 0.1 s of every run). The staleness
// rule lives here too (the build imports it), so checking costs no module more.

// An older Node (a system's own, run as `node bin/iovalab.js`) would run none
// of what follows: `import.meta.main` is undefined before Node 24, so the
// command would end at once, silent, with status 0. Say so and stop first.
if (Number(process.versions.node.split(".")[0]) < 24) {
  process.stderr.write(
    `iovalab: expected Node 24 or later, found ${process.version} (${process.execPath}): ` +
      "run it as `npx iovalab ...` or `npm start` in the repository, which use the Node 24 that " +
      "`npm install` put in node_modules/.bin, or put that directory first on PATH\n",
  );
  process.exit(2);
}

// Node's modules as their CommonJS objects: an ESM import of node:fs makes a
// namespace of all its exports, whose `promises` loads the whole promise API
// (about 2.5 MiB and 8% of a short command's CPU, measured).
const { readdirSync, readFileSync, statSync } = process.getBuiltinModule("node:fs");
const module = process.getBuiltinModule("node:module");

/** The repository, with a trailing slash: this file is in bin/. */
export const ROOT = `${import.meta.dirname.slice(0, import.meta.dirname.lastIndexOf("/"))}/`;
/**
 * Where the bundle is (git-ignored): two levels under the repository, as
 * src/cli/ is, so that the paths the sources resolve against their own URL
 * (../../package.json, ../../assets) hold from it too.
 */
export const BUNDLE = "dist/bundle";
/** In the bundle: the build's description, then the listing of the sources it was built from. */
export const STAMP = "stamp.txt";

/** Files outside src/ that shape the bundle: the build, its options and this rule. */
const CONFIG_FILES = ["package.json", "tsconfig.json", "scripts/build.ts", "bin/iovalab.js"];

/**
 * The sources, as the stamp lists them: one line a file, `path size mtime`,
 * the configuration files, then every file under src/ but the tests (the
 * explorer's page files too, at a stat each), in the order the directories
 * list them (unsorted: an unchanged directory lists in the same order, and a
 * changed one changes the listing anyway). Any edit, added, removed or
 * renamed file, or a checkout of other sources, changes it.
 *
 * It runs before every command from a bundle, so it is written for a cold
 * start (about 5 ms of CPU for 175 files here, nearly all of it the stats):
 * string concatenation, no path module, no exceptions.
 */
export function sourceListing(root = ROOT) {
  let listing = "";
  const line = (rel) => {
    const s = statSync(root + rel, { throwIfNoEntry: false });
    listing += s === undefined ? `${rel} missing\n` : `${rel} ${s.size} ${s.mtimeMs}\n`;
  };
  for (const rel of CONFIG_FILES) line(rel);
  // A walk by hand: readdirSync's own `recursive` costs several times as much.
  const walk = (dir) => {
    for (const e of readdirSync(root + dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (!e.name.endsWith(".test.ts")) line(`${dir}/${e.name}`);
    }
  };
  walk("src");
  return listing;
}

/**
 * The bundle's entry when the bundle exists and was built from exactly the
 * sources there are now, else null. IOVALAB_NO_BUNDLE=1 asks for the sources.
 */
function currentBundle() {
  if (process.env.IOVALAB_NO_BUNDLE === "1") return null;
  let stamp;
  try {
    stamp = readFileSync(`${ROOT}${BUNDLE}/${STAMP}`, "utf8");
  } catch {
    return null;
  }
  return stamp.slice(stamp.indexOf("\n") + 1) === sourceListing() ? `${ROOT}${BUNDLE}/main.js` : null;
}

if (import.meta.main) {
  const cache = module.enableCompileCache?.();
  // Worker threads (the runs and sweep points on a pool) start without the cache
  // unless the environment names it: each thread would strip every module again
  // (about 0.4 s of CPU a thread). They inherit the environment when created.
  if (cache?.directory !== undefined && process.env.NODE_COMPILE_CACHE === undefined)
    process.env.NODE_COMPILE_CACHE = cache.directory;
  // The bundle loads a few modules where the sources are over a hundred, each
  // costing Node's loader its lookups; after any edit the sources run, as they are.
  await import(currentBundle() ?? "../src/cli/main.ts");
}
