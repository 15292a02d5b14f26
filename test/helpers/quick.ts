/**
 * The quick tier (`npm run test:quick`, IOVALAB_QUICK=1): tests that replay
 * full-length kernel traces or run long simulations pass this as their
 * `skip`, so the tier runs everything else in about a minute. `npm test`
 * (no IOVALAB_QUICK) runs them all.
 */
import { existsSync } from "node:fs";

export const QUICK = process.env.IOVALAB_QUICK === "1";

/** A skip reason under the quick tier for a test that takes `what`, else false. */
export function quickSkip(what: string): string | false {
  return QUICK ? `${what} (IOVALAB_QUICK=1: npm test runs it)` : false;
}

/**
 * The skip of a test that reads `path`, a full file of ../shared beside the
 * repository: absent (a user's clone), or the quick tier.
 */
export function sharedSkip(path: string, what = "a full trace of ../shared"): string | false {
  if (!existsSync(path)) return `${path} is absent: the full traces live in ../shared beside the repository`;
  return quickSkip(what);
}
