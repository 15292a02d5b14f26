/**
 * The library's face for machine files: reading and validating a machine
 * description (YAML or JSON) and importing a collected snapshot. Apart from
 * the rest of the kernel's face because these load the YAML reader and the
 * schema validator, which a run on a built-in machine does without.
 */

export { importSnapshot, parseSnapshot } from "../machine/import.ts";
export { parseMachine, validateMachine } from "../machine/schema.ts";
