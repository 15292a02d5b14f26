/**
 * The `.iovaops` script face: the runner, its options and the kernel
 * profiles a script may name. One part of the library's face (src/index.ts is
 * all of them, through the allocator's part); apart so that `iovalab ops`
 * loads only the allocator a script runs on, nothing of the rest.
 */

export { type OpsOptions, type OpsResult, OpsRunner, runOps } from "../iova/ops.ts";
export { isProfileName, PROFILE_NAMES, type ProfileName } from "../iova/profile.ts";
