#!/usr/bin/env node
// The `iovalab` command. npm puts node_modules/.bin first on PATH, so this runs
// on the pinned Node 24, which runs the TypeScript sources directly.
//
// This entry is JavaScript on purpose: Node's compile cache (in the OS temp
// directory, keyed by each source's hash) keeps the type-stripped modules, and
// only an entry that needs no stripping itself lets a warm start skip loading
// the TypeScript stripper at all (about 0.1 s of every run).
import module from "node:module";

module.enableCompileCache?.();
await import("../src/cli/main.ts");
