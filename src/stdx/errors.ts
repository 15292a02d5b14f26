/**
 * The one error type for bad user input (house style, failure kind 3): CLI
 * arguments, input files, sysfs writes. Its message is what a person reads,
 * `FILE:LINE: expected ..., found ...`; the CLI prints it without a stack.
 */
export class InputError extends Error {
  override name = "InputError";
}

/** Shows a token the way error messages quote what was found. */
export function quote(found: string): string {
  if (found === "") return "end of line";
  return JSON.stringify(found.length > 60 ? `${found.slice(0, 57)}...` : found);
}
