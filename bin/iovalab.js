#!/usr/bin/env node
// The `iovalab` command. npm puts node_modules/.bin first on PATH, so this runs
// on the pinned Node 24, which runs the TypeScript sources directly.
//
// This entry is JavaScript on purpose: Node's compile cache (in the OS temp
// directory, keyed by each source's hash) keeps the type-stripped modules, and
// only an entry that needs no stripping itself lets a warm start skip loading
// the TypeScript stripper at all (about 0.1 s of every run).
import module from "node:module";
import { currentBundle } from "./bundle-stamp.js";

const cache = module.enableCompileCache?.();
// Worker threads (the runs and sweep points on a pool) start without the cache
// unless the environment names it: each thread would strip every module again
// (about 0.4 s of CPU a thread). They inherit the environment when created.
if (cache?.directory !== undefined && process.env.NODE_COMPILE_CACHE === undefined)
  process.env.NODE_COMPILE_CACHE = cache.directory;
// The bundle (npm run build; npm install builds it) loads a few modules where
// the sources are over a hundred, each costing Node's loader its lookups. It
// runs only when built from exactly the sources there are (bin/bundle-stamp.js);
// after any edit the sources run, as they are.
await import(currentBundle() ?? "../src/cli/main.ts");
