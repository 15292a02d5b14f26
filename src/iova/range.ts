/**
 * The configurable rcache range (docs/configurable-range.md §1): bytes to the
 * number of size classes K, and K back to the largest cached size.
 */

import { orderBase2, roundupPowOfTwo } from "../stdx/bits.ts";
import { DEFAULT_RCACHE_ORDERS } from "./domain.ts";

/**
 * `K = order_base_2(roundup_pow_of_two(bytes) >> granule_shift) + 1`, with at
 * least one granule (GAR-5.2). 0 bytes means the built-in default (6).
 */
export function rcacheOrdersForBytes(bytes: number, granule: number): number {
  if (bytes === 0) return DEFAULT_RCACHE_ORDERS;
  const granules = Math.max(1, roundupPowOfTwo(bytes) / granule);
  return orderBase2(Math.ceil(granules)) + 1;
}

/** The largest mapping a domain with K classes caches: `granule << (K - 1)`. */
export function maxCachedBytes(rcacheOrders: number, granule: number): number {
  return granule * 2 ** (rcacheOrders - 1);
}
