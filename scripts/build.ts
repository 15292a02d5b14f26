/**
 * Builds the bundled `iovalab` command into dist/bundle (git-ignored): the
 * command line and the worker threads' entries as a few ES modules, with the
 * npm packages left to node_modules. `npm install` runs it (the `prepare`
 * script), and `npm run build` by hand. bin/iovalab.js runs the bundle only
 * while the sources are unchanged since this build (its `sourceListing`).
 *
 * The bundle is written to a temporary folder, stamped, then renamed into
 * place, so a reader sees the old bundle, none, or the whole new one.
 */

import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, version } from "esbuild";
import { BUNDLE, ROOT, STAMP, sourceListing } from "../bin/iovalab.js";

/**
 * The entries: the command, and the modules that the command starts worker
 * threads from (src/cli/worker-entry.ts finds them beside its own chunk, by
 * their file name, so the names must stay unique).
 */
const ENTRIES = [
  "src/cli/main.ts",
  "src/scenario/run-worker.ts",
  "src/scenario/sweep-worker.ts",
  "src/cli/queue-job.ts",
  "src/cli/trial-worker.ts",
];

export async function buildBundle(root = ROOT, outDir = join(root, BUNDLE)): Promise<void> {
  // Listed before building: a file edited while esbuild reads it makes the
  // stamp disagree with the sources, and the bundle is not used.
  const listing = sourceListing(root);
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await build({
      absWorkingDir: root,
      entryPoints: ENTRIES,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node24",
      // Shared code in chunks, and every command's own modules in a chunk
      // loaded when that command runs, as the sources' dynamic imports do.
      splitting: true,
      // npm packages stay in node_modules, found from dist/bundle as from src/.
      packages: "external",
      // All in one folder two levels under the repository, as src/cli/ is.
      outdir: tmp,
      entryNames: "[name]",
      chunkNames: "chunk-[hash]",
      logLevel: "warning",
    });
    writeFileSync(join(tmp, STAMP), `iovalab bundle, esbuild ${version}\n${listing}`);
    // Renamed into place: the old bundle aside first (a folder cannot be
    // renamed over a folder that has files), then removed.
    const old = `${outDir}.old-${process.pid}`;
    let hadOld = true;
    try {
      renameSync(outDir, old);
    } catch {
      hadOld = false;
    }
    renameSync(tmp, outDir);
    if (hadOld) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

if (import.meta.main) {
  try {
    await buildBundle();
  } catch {
    // esbuild has printed each error with its file and line.
    process.stderr.write("iovalab build: failed; the command runs from the sources (any bundle there was is kept)\n");
    process.exit(1);
  }
  process.stdout.write(`built ${readdirSync(join(ROOT, BUNDLE)).length - 1} modules into dist/bundle\n`);
}
