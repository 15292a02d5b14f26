/**
 * The allocator's face: the IOVA allocator (domains, `.iovaops` scripts,
 * kernel profiles, rcache ranges) and the generic helpers every layer shares.
 * One part of the library's face (src/index.ts is all of them): a command
 * imports only the part it needs, so it loads only that much of the model.
 * It includes the input-error and `.iovaops` parts (errors.ts, ops.ts),
 * which commands that need only those import alone.
 */

export {
  ANCHOR_PFN,
  DEFAULT_RCACHE_ORDERS,
  IovaDomain,
  type IovaDomainOptions,
  type TreeSearch,
} from "../iova/domain.ts";
export { getProfile, type KernelProfile, PROFILES } from "../iova/profile.ts";
export { maxCachedBytes, rcacheOrdersForBytes } from "../iova/range.ts";
export { IovaStats } from "../iova/stats.ts";
export { assert } from "../stdx/assert.ts";
export { parseDurationMs } from "../stdx/duration.ts";
export { hex16 } from "../stdx/hex.ts";
export { HexLines } from "../stdx/hex-lines.ts";
export { memparse } from "../stdx/kstr.ts";
export { NR_CPUS_MAX } from "../stdx/nr-cpus.ts";
export { Prng } from "../stdx/prng.ts";
export * from "./errors.ts";
export * from "./ops.ts";
