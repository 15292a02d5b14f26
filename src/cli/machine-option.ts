/**
 * `--machine NAME|FILE`, the one way the commands read it: a built-in
 * machine by name, else a YAML or JSON description file. A name that is
 * neither says both, rather than only "no such file".
 */

import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { InputError, quote } from "../face/allocator.ts";
import { BUILTIN_MACHINES, builtinMachine, type MachineDesc } from "../face/kernel.ts";
import { parseMachine } from "../face/machine-file.ts";
import type { Scenario } from "../face/simulation.ts";
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

/**
 * A machine file a scenario names (`machine: my-server.yaml`), read relative
 * to the scenario file, into the scenario's `machineDesc`.
 */
export function resolveScenarioMachine(s: Scenario, scenarioFile: string): Scenario {
  if (s.machineDesc !== null || builtinMachine(s.machine) !== null) return s;
  const path = resolve(dirname(scenarioFile), s.machine);
  s.machineDesc = parseMachine(readText(path), s.machine);
  return s;
}

/** A sweep's `machine=` value: null for a built-in, else the file's description (relative to the working directory). */
export function sweepMachine(name: string): MachineDesc | null {
  return builtinMachine(name) === null ? loadMachineOption(name) : null;
}
