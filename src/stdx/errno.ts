/**
 * Kernel errno names and outcomes as values (include/uapi/asm-generic/errno*.h):
 * what a model function returns when the kernel would return `-E...`. Generic,
 * so every layer from iommu/ up to sysfs/ says a failure the same way.
 */

/** Kernel errno names the model returns as values (house style, failure kind 2). */
export type Errno =
  | "EPERM"
  | "ENOENT"
  | "EIO"
  | "EAGAIN"
  | "ENOMEM"
  | "EACCES"
  | "EFAULT"
  | "EBUSY"
  | "ENODEV"
  | "EINVAL"
  | "ERANGE"
  | "ENXIO"
  | "ENOTDIR"
  | "EISDIR"
  | "ELOOP"
  | "EPROBE_DEFER";

export type Outcome = { ok: true } | { ok: false; errno: Errno };

export const OK: Outcome = { ok: true };

export function fail(errno: Errno): Outcome {
  return { ok: false, errno };
}
