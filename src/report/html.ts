/**
 * The HTML report of a scenario: plots as vega-lite specs rendered to inline
 * SVG (vega's headless renderer, no DOM), the comparison table, and the
 * JSON. The page is self-contained: no scripts, no external fetches. The
 * same figure as one SVG is what the PNG adapter (png.ts) rasterises.
 */

import type * as vl from "vega-lite";
import type { ScenarioReport } from "./results.ts";

type Spec = Record<string, unknown>;

const FONT = "DejaVu Sans";

function chart(title: string, data: Record<string, unknown>[], encoding: Spec, mark: Spec | string = "bar"): Spec {
  return { title, width: 360, height: 180, data: { values: data }, mark, encoding };
}

/** The report's figure: one chart per metric, runs on the x axis, coloured by IOMMU mode. */
export function reportFigure(r: ScenarioReport): Spec {
  const runs = r.runs.map((x) => x.name);
  const per = (key: string, f: (x: ScenarioReport["runs"][number]) => number) =>
    r.runs.map((x) => ({ run: x.name, mode: x.mode, [key]: f(x) }));
  const xRun = { field: "run", type: "nominal", sort: runs, axis: { labelAngle: -30, title: null } };
  const color = { field: "mode", type: "nominal", scale: { domain: ["strict", "lazy"] } };
  const bar = (title: string, key: string, f: (x: ScenarioReport["runs"][number]) => number, axis: string) =>
    chart(title, per(key, f), { x: xRun, y: { field: key, type: "quantitative", title: axis }, color });
  const latency = r.runs.flatMap((x) => [
    { run: x.name, percentile: "p50", ns: x.mapLatencyNs.p50 },
    { run: x.name, percentile: "p99", ns: x.mapLatencyNs.p99 },
  ]);
  const classes = r.runs.flatMap((x) =>
    x.cacheHitRateByClass.map((v, c) => ({ run: x.name, sizeClass: `${4 << c} KiB`, c, hitRate: v })),
  );
  const memory = r.runs.flatMap((x) => [
    { run: x.name, what: "IOVA space cached", MiB: x.cachedIovaBytes / 2 ** 20 },
    { run: x.name, what: "magazine memory", MiB: x.magazineBytes / 2 ** 20 },
  ]);
  const charts: Spec[] = [
    bar("IOPS (4 KiB reads)", "iops", (x) => x.iops, "IOPS"),
    chart("map latency (dma_map_sg, ns)", latency, {
      x: xRun,
      xOffset: { field: "percentile" },
      y: { field: "ns", type: "quantitative", title: "ns" },
      color: { field: "percentile", type: "nominal" },
    }),
    bar("rbtree allocations per second", "treeAllocsPerSec", (x) => x.treeAllocsPerSec, "allocations/s"),
    bar("walk steps per tree allocation", "steps", (x) => x.walkStepsPerTreeAlloc, "rb_prev steps"),
    bar("share of CPU time spinning on IOVA locks", "share", (x) => x.lockWaitShare, "fraction"),
    chart(
      "rcache hit rate by size class",
      classes.filter((d) => d.hitRate !== null),
      {
        x: { field: "sizeClass", type: "ordinal", sort: { field: "c" }, title: "IOVA size" },
        y: { field: "hitRate", type: "quantitative", title: "hit rate", scale: { domain: [0, 1] } },
        color: { field: "run", type: "nominal", sort: runs },
      },
      { type: "line", point: true },
    ),
    chart("memory and IOVA space held by the caches", memory, {
      x: xRun,
      xOffset: { field: "what" },
      y: { field: "MiB", type: "quantitative", title: "MiB" },
      color: { field: "what", type: "nominal" },
    }),
  ];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `${r.scenario}: ${r.machine}, kernel ${r.kernel}, seed ${r.seed}`,
    config: { font: FONT, view: { stroke: null } },
    background: "white",
    columns: 2,
    // Each chart has its own colours (mode, percentile, run, what): no shared legend.
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
    concat: charts,
  };
}

/**
 * Renders a vega-lite spec to SVG text (headless, deterministic). Vega is
 * loaded here, on first use: importing the library (every command of the
 * command line does) costs a replay no plotting code.
 */
export async function renderSvg(spec: Spec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const compiled = vegaLite.compile(spec as unknown as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The self-contained HTML page. */
export function reportHtml(r: ScenarioReport, svg: string, table: string, json: string, pngName: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>iovalab: ${esc(r.scenario)}</title>
<style>
body { font-family: "DejaVu Sans", sans-serif; margin: 2em; max-width: 72em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 12px; }
</style>
</head>
<body>
<h1>iovalab: ${esc(r.scenario)}</h1>
<h2>Verdict</h2>
${r.verdict.map((v) => `<p>${esc(v)}</p>`).join("\n")}
<p>${esc(r.machine)}, kernel ${esc(r.kernel)}, seed ${r.seed}. Each run simulates ${r.simulatedMsPerRun} ms of the
workload after ${r.warmupMsPerRun} ms of warm-up (excluded from every figure). Same seed, same bytes.
The figure as a picture: <a href="${esc(pngName)}">${esc(pngName)}</a>.</p>
<h2>Comparison</h2>
<pre>${esc(table)}</pre>
<h2>Plots</h2>
${svg}
<h2>Data</h2>
<pre>${esc(json)}</pre>
</body>
</html>
`;
}
