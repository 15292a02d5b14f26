/**
 * `--machine NAME|FILE`, the one way the commands read it: a built-in
 * machine by name, else a YAML or JSON description file. A name that is
 * neither says both, rather than only "no such file".
 */

import { existsSync } from "node:fs";
import { InputError, quote } from "../face/allocator.ts";
import { BUILTIN_MACHINES, builtinMachine, type MachineDesc, parseMachine } from "../face/kernel.ts";
import { readText } from "./io.ts";

export function loadMachineOption(name: string): MachineDesc {
  const builtin = builtinMachine(name);
  if (builtin) return builtin;
  if (name !== "-" && !name.includes("/") && !/\.(ya?ml|json)(\.gz)?$/.test(name) && !existsSync(name)) {
    throw new InputError(
      `--machine: expected a built-in machine (${BUILTIN_MACHINES.join(", ")}) or a description file, found ${quote(name)}`,
    );
  }
  return parseMachine(readText(name), name);
}
