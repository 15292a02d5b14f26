/**
 * The explorer's worker: reads the input (a trace's bytes, gunzipped here;
 * or a scenario, simulated here), replays its calls in one or two lanes and
 * answers the page's seeks with each lane's view after that call. The page's
 * thread only draws, so it stays responsive while a large trace loads or a
 * seek replays from the start.
 */

import { PROFILE_NAMES } from "../index.ts";
import type { ExploreInput } from "./input.ts";
import { analyse, Lane, type LaneView } from "./lane.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import { type Settings, type Source, scenarioSource, traceSource } from "./source.ts";

/** Samples of the series over time (columns of the heat map). */
const SAMPLES = 1200;
/** Calls of trace text shown around the current one. */
const CONTEXT_CALLS = 4;

const post = (m: FromWorker, transfer: Transferable[] = []) =>
  (self as unknown as { postMessage(m: unknown, t: Transferable[]): void }).postMessage(m, transfer);

let source: Source | null = null;
const lanes: Lane[] = [];

async function textOf(b64: string): Promise<string> {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).text();
  }
  return new TextDecoder().decode(bytes);
}

function progress(text: string) {
  return (fraction: number) => post({ type: "progress", text, fraction });
}

function label(s: Settings): string {
  const range = s.rangeBytes === 0 ? "default range" : `range ${s.rangeBytes / 1024} KiB`;
  return `${s.kernel}, ${s.strict ? "strict" : "lazy"}, ${range}`;
}

async function load(input: ExploreInput): Promise<void> {
  post({ type: "progress", text: `reading ${input.name}`, fraction: 0 });
  source = input.kind === "trace" ? traceSource(input, await textOf(input.data)) : scenarioSource(input);
  const spec = source.lane(source.baseline, `baseline: ${label(source.baseline)}`, progress("simulating"));
  const info = analyse(spec, SAMPLES, progress("replaying"));
  lanes.length = 0;
  lanes.push(new Lane(spec));
  post({
    type: "loaded",
    info: {
      kind: source.kind,
      name: source.name,
      machine: source.machine.name,
      notes: source.notes,
      baseline: source.baseline,
      profiles: PROFILE_NAMES,
    },
    lane: info,
  });
}

function whatIf(settings: Settings | null): void {
  if (!source) return;
  lanes.length = 1;
  if (settings === null) {
    post({ type: "lane", lane: null });
    return;
  }
  const spec = source.lane(settings, `what-if: ${label(settings)}`, progress("simulating the what-if"));
  const info = analyse(spec, SAMPLES, progress("replaying the what-if"));
  lanes.push(new Lane(spec));
  post({ type: "lane", lane: info });
}

/** Lane `b`'s position for the baseline's: the same call for a trace, the same simulated time for a scenario. */
function posFor(b: Lane, pos: number): number {
  const a = lanes[0];
  if (source?.kind === "trace" || pos === 0) return pos;
  const t = a.calls[Math.min(pos, a.calls.length) - 1].timestampNs;
  let lo = 0;
  let hi = b.calls.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (b.calls[mid].timestampNs <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function seek(id: number, pos: number): void {
  const t0 = performance.now();
  const views: LaneView[] = [];
  for (const lane of lanes) {
    lane.seek(lane === lanes[0] ? pos : posFor(lane, pos));
    views.push(lane.view());
  }
  const a = lanes[0];
  const lines: { call: number; text: string[] }[] = [];
  const cur = Math.min(pos, a.calls.length) - 1;
  for (let i = Math.max(0, cur - CONTEXT_CALLS); i <= Math.min(a.calls.length - 1, cur + CONTEXT_CALLS); i++) {
    lines.push({ call: i, text: a.spec.lines(i) });
  }
  post(
    { type: "view", id, views, lines, workerMs: performance.now() - t0 },
    views.flatMap((v) => [v.spans.buffer, v.mags.buffer]),
  );
}

self.onmessage = async (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  try {
    if (m.type === "load") await load(m.input);
    else if (m.type === "seek") seek(m.id, m.pos);
    else if (m.type === "whatif") whatIf(m.settings);
  } catch (err) {
    post({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
