#!/usr/bin/env node
// The `iovalab` command. npm puts node_modules/.bin first on PATH, so this runs
// on the pinned Node 24, which runs the TypeScript sources directly.
//
// This entry is JavaScript on purpose: Node's compile cache (in the OS temp
// directory, keyed by each source's hash) keeps the type-stripped modules, and
// only an entry that needs no stripping itself lets a warm start skip loading
// the TypeScript stripper at all (about 0.1 s of every run).
import module from "node:module";

const cache = module.enableCompileCache?.();
// Worker threads (the runs and sweep points on a pool) start without the cache
// unless the environment names it: each thread would strip every module again
// (about 0.4 s of CPU a thread). They inherit the environment when created.
if (cache?.directory !== undefined && process.env.NODE_COMPILE_CACHE === undefined)
  process.env.NODE_COMPILE_CACHE = cache.directory;
await import("../src/cli/main.ts");
