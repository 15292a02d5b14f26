/**
 * The allocator's face: the IOVA allocator (domains, `.iovaops` scripts,
 * kernel profiles, rcache ranges) and the generic helpers every layer shares.
 * One part of the library's face (src/index.ts is all of them): a command
 * imports only the part it needs, so it loads only that much of the model.
 */

export {
  ANCHOR_PFN,
  DEFAULT_RCACHE_ORDERS,
  IovaDomain,
  type IovaDomainOptions,
  type TreeSearch,
} from "../iova/domain.ts";
export { type OpsOptions, type OpsResult, OpsRunner, runOps } from "../iova/ops.ts";
export {
  getProfile,
  isProfileName,
  type KernelProfile,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
} from "../iova/profile.ts";
export { maxCachedBytes, rcacheOrdersForBytes } from "../iova/range.ts";
export { IovaStats } from "../iova/stats.ts";
export { assert } from "../stdx/assert.ts";
export { parseDurationMs } from "../stdx/duration.ts";
export { InputError, quote } from "../stdx/errors.ts";
export { hex16 } from "../stdx/hex.ts";
export { memparse } from "../stdx/kstr.ts";
export { Prng } from "../stdx/prng.ts";
