/**
 * Messages between the explorer page and its worker, which holds the model:
 * the page asks for the state after a call and draws what comes back.
 */

import type { ExploreInput } from "./input.ts";
import type { LaneInfo, LaneView } from "./lane.ts";
import type { Settings } from "./source.ts";

export type ToWorker =
  | { type: "load"; input: ExploreInput }
  | { type: "seek"; id: number; pos: number }
  | { type: "whatif"; settings: Settings | null };

export interface LoadedInfo {
  kind: "trace" | "scenario";
  name: string;
  machine: string;
  notes: string[];
  baseline: Settings;
  profiles: readonly string[];
}

export type FromWorker =
  | { type: "progress"; text: string; fraction: number }
  | { type: "loaded"; info: LoadedInfo; lane: LaneInfo }
  | { type: "lane"; lane: LaneInfo | null }
  | { type: "view"; id: number; views: LaneView[]; lines: { call: number; text: string[] }[]; workerMs: number }
  | { type: "error"; message: string };
