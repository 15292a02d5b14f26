/**
 * Bit helpers of the kernel (include/linux/bitops.h, log2.h), exact for the
 * non-negative integers below 2^53 that iovalab keeps pfns and sizes in
 * (docs/kernel-rules.md §0.2). Float maths with powers of two is exact there,
 * so no BigInt is needed on hot paths.
 */

/** `fls_long(x)`: 1-based index of the most significant set bit, 0 for 0. */
export function flsLong(x: number): number {
  if (x < 0x1_0000_0000) return x === 0 ? 0 : 32 - Math.clz32(x);
  return 32 + flsLong(Math.floor(x / 0x1_0000_0000));
}

/** `order_base_2(n)`: ceil(log2(n)) for n >= 1, 0 for n = 0 and n = 1. */
export function orderBase2(n: number): number {
  return n <= 1 ? 0 : flsLong(n - 1);
}

/**
 * `order_base_2(n)` for 0 <= n <= 2^31, the sizes of the rcache classes and
 * the hot paths that ask for one: one count of leading zeros, no branch on
 * the 32-bit boundary.
 */
export function orderBase2Small(n: number): number {
  return n <= 1 ? 0 : 32 - Math.clz32(n - 1);
}

/** `roundup_pow_of_two(n)` for n >= 1. */
export function roundupPowOfTwo(n: number): number {
  return 2 ** orderBase2(n);
}

/** `__ffs(x)`: 0-based index of the least significant set bit (x > 0). */
export function ffs0(x: number): number {
  let shift = 0;
  while (x % 2 === 0) {
    x /= 2;
    shift++;
  }
  return shift;
}

export function isPowerOfTwo(x: number): boolean {
  return Number.isSafeInteger(x) && x > 0 && 2 ** ffs0(x) === x;
}

/** `ALIGN_DOWN(x, a)` for a power of two `a`. */
export function alignDown(x: number, a: number): number {
  return x - (x % a);
}

/** 2^64 - 1 (ULONG_MAX) as a decimal string, for printing the anchor. */
export const ULONG_MAX_DECIMAL = "18446744073709551615";
