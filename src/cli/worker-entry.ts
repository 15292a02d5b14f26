/**
 * Where a worker thread's entry module is. From the sources, the `.ts` file
 * named relative to the caller; from the bundle (dist/bundle, built by
 * scripts/build.ts), where every module is a `.js` file in one folder and
 * the worker entries are entries of the bundle, the file of the same name
 * beside the caller's chunk. So a pool starts the bundled worker when the
 * bundle runs and the source otherwise, never a mix of the two.
 */

/** `here` is the caller's `import.meta.url`; `source` the entry's path relative to the caller's source file. */
export function workerEntry(here: string, source: string): string {
  if (here.endsWith(".ts")) return new URL(source, here).href;
  const name = source.slice(source.lastIndexOf("/") + 1).replace(/\.ts$/, ".js");
  return new URL(`./${name}`, here).href;
}
