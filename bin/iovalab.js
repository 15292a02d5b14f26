#!/usr/bin/env node
// The `iovalab` command. npm puts node_modules/.bin first on PATH, so this runs
// on the pinned Node 24, which runs the TypeScript sources directly.
import "../src/cli/main.ts";
