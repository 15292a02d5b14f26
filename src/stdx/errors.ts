/**
 * The one error type for bad user input (house style, failure kind 3): CLI
 * arguments, input files, sysfs writes. Its message is what a person reads,
 * `FILE:LINE: expected ..., found ...`; the CLI prints it without a stack.
 */
export class InputError extends Error {
  override name = "InputError";
}

/**
 * `e` as the InputError it is, or was before it crossed from a worker
 * thread: the structured clone of an error keeps its message and stack, not
 * its class, and the stack still begins with the name it had there. Null for
 * any other error.
 */
export function asInputError(e: unknown): InputError | null {
  if (e instanceof InputError) return e;
  if (e instanceof Error && e.stack?.startsWith(`InputError: ${e.message}`) === true) return new InputError(e.message);
  return null;
}

/** Shows a token the way error messages quote what was found. */
export function quote(found: string): string {
  if (found === "") return "end of line";
  return JSON.stringify(found.length > 60 ? `${found.slice(0, 57)}...` : found);
}
