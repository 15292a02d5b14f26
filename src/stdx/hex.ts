/**
 * `0x%016lx`: a 64-bit address as the kernel prints it in sysfs, debug
 * messages and trace lines: a number below 2^53, as iovalab holds
 * addresses, or a bigint (a raw 64-bit field of a binary trace).
 */
export function hex16(n: number | bigint): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}
