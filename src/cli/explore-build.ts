/**
 * Builds the explorer page (src/explore) into one HTML file: scripts and
 * styles inlined, the worker started from a blob URL, so the page also works
 * from file:// (Chromium loads no module script or worker from there). Built
 * on demand with the installed vite and kept in a cache directory named by a
 * hash of the sources, so only a changed model or page builds again.
 */

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");
const SRC = join(ROOT, "src");
const PAGE = join(SRC, "explore");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .flatMap((e) =>
      e.isDirectory()
        ? e.name === "cli"
          ? []
          : sourceFiles(join(dir, e.name))
        : /\.(ts|tsx|css|html)$/.test(e.name) && !e.name.endsWith(".test.ts")
          ? [join(dir, e.name)]
          : [],
    );
}

/** A hash of everything the page is built from: the model's and the page's sources and the build's versions. */
function sourceHash(): string {
  const h = createHash("sha256");
  for (const f of sourceFiles(SRC)) {
    h.update(f.slice(ROOT.length));
    h.update(readFileSync(f));
  }
  for (const pkg of ["vite", "preact", "uplot", "vite-plugin-singlefile"]) {
    const p = join(ROOT, "node_modules", pkg, "package.json");
    if (existsSync(p)) h.update(`${pkg}@${JSON.parse(readFileSync(p, "utf8")).version}`);
  }
  return h.digest("hex").slice(0, 16);
}

function cacheRoot(): string {
  const inModules = join(ROOT, "node_modules", ".cache", "iovalab-explore");
  try {
    mkdirSync(inModules, { recursive: true });
    return inModules;
  } catch {
    const tmp = join(tmpdir(), "iovalab-explore");
    mkdirSync(tmp, { recursive: true });
    return tmp;
  }
}

/** The built page's HTML (without its input), building it first if the sources changed. */
export async function explorePageHtml(log: (line: string) => void): Promise<string> {
  const dir = join(cacheRoot(), sourceHash());
  const file = join(dir, "index.html");
  if (!existsSync(file)) {
    log("building the explorer page (once per change of the sources)...");
    const { build } = await import("vite");
    const { viteSingleFile } = await import("vite-plugin-singlefile");
    // Build beside the final place and rename: a concurrent or interrupted build never leaves half a page.
    const work = `${dir}.${process.pid}.tmp`;
    rmSync(work, { recursive: true, force: true });
    await build({
      configFile: false,
      root: PAGE,
      base: "./",
      logLevel: "error",
      plugins: [viteSingleFile()],
      esbuild: { jsx: "automatic", jsxImportSource: "preact" },
      worker: { format: "iife" },
      build: { outDir: work, emptyOutDir: true, reportCompressedSize: false, chunkSizeWarningLimit: 100_000 },
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  }
  return readFileSync(file, "utf8");
}
