/**
 * What `iovalab explore` hands the page: the input it was started on, as
 * JSON in the page itself (a served page and a file:// bundle read it the
 * same way). The model runs in the page; nothing here is computed by the
 * command line but the checks of the flags.
 */

import type { ProfileName } from "../index.ts";

/** A built-in machine by name, or a description file's text. */
export type MachineRef = { builtin: string } | { file: string; text: string };

export interface TraceInput {
  kind: "trace";
  /** The file name shown in the page and in trace-line references. */
  name: string;
  /** The traced machine; none: the machine the trace implies. */
  machine?: MachineRef;
  kernel?: ProfileName;
  /** How the trace was captured; default: what the trace shows, else the machine's command line. */
  captured?: "strict" | "lazy";
  device?: string;
  /** The trace file's bytes, base64; gzip'd or plain. */
  data: string;
}

export interface ScenarioInput {
  kind: "scenario";
  name: string;
  /** The scenario's YAML text; empty for the built-in seed scenario. */
  yaml: string;
  kernel?: ProfileName;
  machine?: string;
}

export type ExploreInput = TraceInput | ScenarioInput;

/** The id of the `<script type="application/json">` element that carries the input. */
export const INPUT_ELEMENT_ID = "iovalab-input";

/** The input as the text of a script element: `<` escaped so no `</script>` can end it early. */
export function inputScript(input: ExploreInput): string {
  const json = JSON.stringify(input).replace(/</g, "\\u003c");
  return `<script id="${INPUT_ELEMENT_ID}" type="application/json">${json}</script>`;
}
