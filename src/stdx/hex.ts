/**
 * `0x%016lx`: a 64-bit address as the kernel prints it in sysfs, debug
 * messages and trace lines, for the values below 2^53 iovalab holds them in.
 */
export function hex16(n: number): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}
