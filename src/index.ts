/**
 * iovalab's library API: the pieces a program or a browser page uses. The
 * command line (src/cli) is built on exactly these, with the Node adapters
 * of src/node.ts; the explorer's page on these alone.
 */

export * from "./face/allocator.ts";
export * from "./face/kernel.ts";
export * from "./face/machine-file.ts";
export * from "./face/simulation.ts";
