/**
 * The HTML report of a scenario: plots as vega-lite specs rendered to inline
 * SVG (vega's headless renderer, no DOM), the comparison table, and the
 * JSON. The page is self-contained: no scripts, no external fetches. The
 * same figure as one SVG is what the PNG adapter (png.ts) rasterises.
 */

import type * as vl from "vega-lite";
import type { ScenarioReport } from "./results.ts";
import { formatBytes } from "./table.ts";

type Spec = Record<string, unknown>;
type Run = ScenarioReport["runs"][number];

const FONT = "DejaVu Sans";

/**
 * One colour per meaning, the same in every chart: a run's colour is its
 * rcache range (smallest first); the CPU chart's states have colours no range
 * uses; marks that are not a range (p50 ticks, limits) are black or grey.
 */
export const RANGE_COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#eeca3b", "#ff9da6"];
const CPU_STATES = [
  { key: "busy", label: "busy", colour: "#72b7b2" },
  // The IOVA locks, and on VT-d and AMD-Vi the invalidation queue's lock too.
  { key: "lock", label: "spinning on locks", colour: "#e45756" },
  { key: "sync", label: "waiting for IOTLB syncs", colour: "#79706e" },
] as const;
const LIMIT_COLOUR = "#222222";

/** A run's range as the legend names it: bytes and size classes. */
export function rangeLabel(r: Pick<Run, "rangeBytes" | "rcacheOrders">): string {
  return `${formatBytes(r.rangeBytes)} (${r.rcacheOrders} classes)`;
}

/** Width and height of each chart's plot area, px. */
const W = 400;
const H = 180;

/** A chart with a title and, under it, a short line saying how to read it. */
function chart(title: string, subtitle: string, data: Record<string, unknown>[], rest: Spec): Spec {
  return {
    title: { text: title, subtitle, anchor: "start", subtitleColor: "#555555" },
    width: W,
    height: H,
    data: { values: data },
    ...rest,
  };
}

/** The report's figure: one chart per metric, runs on the x axis in the scenario's order, coloured by range. */
export function reportFigure(r: ScenarioReport): Spec {
  const runs = r.runs.map((x) => x.name);
  const ranges = [...new Map(r.runs.map((x) => [x.rangeBytes, rangeLabel(x)])).entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, l]) => l);
  const rangeScale = { domain: ranges, range: ranges.map((_, i) => RANGE_COLOURS[i % RANGE_COLOURS.length]) };
  const colour = (legend: boolean) => ({
    field: "range",
    type: "nominal",
    scale: rangeScale,
    title: "rcache range",
    legend: legend ? { orient: "top", direction: "horizontal" } : null,
  });
  const xRun = { field: "run", type: "nominal", sort: runs, axis: { labelAngle: -40, title: null, labelLimit: 160 } };
  const row = (x: Run, extra: Record<string, unknown>) => ({ run: x.name, range: rangeLabel(x), ...extra });
  const bars = (
    title: string,
    subtitle: string,
    key: string,
    f: (x: Run) => number | null,
    y: Spec,
    legend = false,
    layers: Spec[] = [],
  ): Spec => {
    const log = (y.scale as Spec | undefined)?.type === "log";
    const bar = {
      mark: "bar",
      encoding: {
        x: xRun,
        // Unstacked on a log scale: a bar then starts at the bottom of the plot, not at 0.
        y: { field: key, type: "quantitative", ...y, ...(log ? { stack: null } : {}) },
        color: colour(legend),
      },
    };
    return chart(
      title,
      subtitle,
      r.runs.map((x) => row(x, { [key]: f(x) })),
      layers.length === 0 ? bar : { layer: [bar, ...layers] },
    );
  };
  /** A black tick per run at `key` over the bars: the p50 over a p99 bar, the part below 4 GiB over the whole. */
  const tick = (key: string) => ({
    mark: { type: "tick", color: LIMIT_COLOUR, thickness: 2, size: 18 },
    encoding: { x: xRun, y: { field: key, type: "quantitative" } },
  });
  const rule = (value: number, label: string) => ({
    data: { values: [{ v: value, label }] },
    layer: [
      {
        mark: { type: "rule", color: LIMIT_COLOUR, strokeDash: [4, 3] },
        encoding: { y: { field: "v", type: "quantitative" } },
      },
      {
        mark: { type: "text", align: "right", dy: -6, color: LIMIT_COLOUR, fontSize: 10 },
        encoding: { y: { field: "v", type: "quantitative" }, x: { value: W }, text: { field: "label" } },
      },
    ],
  });
  const latency = (title: string, f: (x: Run) => { p50: number; p99: number } | null) => {
    // A run with no sample (the stage never ran in the window) has no bar, and the subtitle names it.
    const none = r.runs.filter((x) => f(x) === null).map((x) => x.name);
    const q = (x: Run, k: "p50" | "p99") => {
      const v = f(x);
      return v === null ? null : Math.max(1, v[k]) / 1000;
    };
    return bars(
      title,
      `bars: p99; black ticks: p50; log scale${none.length === 0 ? "" : `; none measured in ${none.join(", ")}`}`,
      "p99",
      // In µs, as a person reads latencies (report.json keeps ns); 1 ns at least on the log scale.
      (x) => q(x, "p99"),
      { title: "µs", scale: { type: "log" } },
      false,
      [{ ...tick("p50"), data: { values: r.runs.map((x) => row(x, { p50: q(x, "p50") })) } }],
    );
  };
  const link = r.hbaLinkBytesPerSec;
  const charts: Spec[] = [
    bars(
      r.workload === "fio" ? "IOPS (4 KiB reads)" : r.workload === "network" ? "packets per second" : "IOPS",
      "colour: each run's rcache range, in every chart",
      "iops",
      (x) => x.iops,
      { title: r.workload === "network" ? "packets/s" : "IOPS" },
      true,
      link > 0 && r.workload === "fio" ? [rule(link / 4096, "HBA link ceiling")] : [],
    ),
    ...(r.workload === "network"
      ? [
          bars(
            "packets dropped per second",
            "received ones the NIC had no posted buffer for, and ones to send that found the ring or the sender full",
            "dropped",
            (x) => (x.network === undefined ? 0 : x.network.rxDroppedPerSec + x.network.txDroppedPerSec),
            { title: "packets/s" },
          ),
        ]
      : []),
    chart(
      "CPU time, all CPUs",
      "the rest of each bar's 100% is idle",
      r.runs.flatMap((x) =>
        CPU_STATES.map((st, i) => ({
          run: x.name,
          state: st.label,
          order: i,
          share: st.key === "busy" ? x.busyShare : st.key === "lock" ? x.lockWaitShare : x.syncWaitShare,
        })),
      ),
      {
        mark: "bar",
        encoding: {
          x: xRun,
          y: {
            field: "share",
            type: "quantitative",
            title: "share of CPU time",
            axis: { format: "%" },
            scale: { domain: [0, 1] },
          },
          color: {
            field: "state",
            type: "nominal",
            title: "CPU state",
            scale: { domain: CPU_STATES.map((x) => x.label), range: CPU_STATES.map((x) => x.colour) },
            legend: { orient: "top", direction: "horizontal", labelLimit: 220, columns: 2 },
          },
          order: { field: "order" },
        },
      },
    ),
    latency("dma_map_sg latency", (x) => x.mapLatencyNs),
    latency(
      r.workload === "network" ? "TX latency (sender to the wire)" : "I/O latency (fio, submit to completion)",
      (x) => x.ioLatencyNs,
    ),
    bars(
      "rbtree allocations per second",
      "allocations the rcaches could not serve",
      "treeAllocsPerSec",
      (x) => x.treeAllocsPerSec,
      { title: "allocations/s" },
    ),
    bars(
      "rb_prev steps per tree allocation",
      "each step under iova_rbtree_lock; log scale",
      "steps",
      (x) => Math.max(1, x.walkStepsPerTreeAlloc),
      // From half a step: a run whose walks all take one step still shows a bar (a log axis from 1 has none).
      { title: "steps", scale: { type: "log", domainMin: 0.5 } },
    ),
    bars(
      "iova_rbtree_lock: share of time held",
      "at 100% the lock is the machine's ceiling",
      "held",
      (x) => x.rbtreeLockBusyShare,
      { title: "held", axis: { format: "%" }, scale: { domain: [0, 1] } },
    ),
    bars(
      "iova_rbtree_lock: contended acquisitions",
      "share of all acquisitions that had to wait",
      "contended",
      (x) =>
        x.lockStats.rbtree.acquisitions === 0 ? 0 : x.lockStats.rbtree.contentions / x.lockStats.rbtree.acquisitions,
      { title: "contended", axis: { format: "%" }, scale: { domain: [0, 1] } },
    ),
    bars(
      "IOVA space held by the caches, GiB",
      `black ticks: the part below 4 GiB; the domain has ${formatBytes(Math.max(...r.runs.map((x) => x.iovaSpaceBytes)))}`,
      "GiB",
      (x) => x.cachedIovaBytes / 2 ** 30,
      { title: "GiB" },
      false,
      [
        {
          ...tick("below"),
          data: { values: r.runs.map((x) => row(x, { below: x.cachedIovaBytesBelow4G / 2 ** 30 })) },
        },
        rule(4, "32-bit window: 4 GiB"),
      ],
    ),
    bars(
      "magazine memory, MiB",
      "black ticks: the most the caches can take",
      "MiB",
      (x) => x.magazineBytes / 2 ** 20,
      { title: "MiB" },
      false,
      [
        {
          ...tick("max"),
          data: {
            values: r.runs
              .filter((x) => x.magazineBytesMax !== null)
              .map((x) => row(x, { max: (x.magazineBytesMax as number) / 2 ** 20 })),
          },
        },
      ],
    ),
  ];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: `${r.scenario}: ${r.machine}, kernel ${r.kernel}, seed ${r.seed}`, anchor: "start", fontSize: 16 },
    config: { font: FONT, view: { stroke: null }, axis: { labelFontSize: 10 } },
    background: "white",
    // The same meaning has the same colour in every chart by construction (explicit scales).
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
    vconcat: [
      {
        columns: 2,
        spacing: { column: 40, row: 30 },
        resolve: { scale: { color: "independent", y: "independent" }, legend: { color: "independent" } },
        concat: charts,
      },
      hitRates(r, colour),
    ],
  };
}

/**
 * Hit rate per size class, one panel per kernel and mode, a line per range.
 * Runs whose rates are the same in every class are one line named after all
 * of them, so no line hides another.
 */
function hitRates(r: ScenarioReport, colour: (legend: boolean) => Spec): Spec {
  const rows: Record<string, unknown>[] = [];
  const groups = [...new Set(r.runs.map((x) => `${x.kernel} ${x.mode}`))];
  for (const g of groups) {
    const rs = r.runs.filter((x) => `${x.kernel} ${x.mode}` === g);
    const series = new Map<string, Run[]>();
    for (const x of rs) {
      const key = `${x.rangeBytes} ${JSON.stringify(x.cacheHitRateByClass)}`;
      series.set(key, [...(series.get(key) ?? []), x]);
    }
    // Each panel's bars side by side in slots 0, 1, ...: a panel is as wide as its own series.
    [...series.values()].forEach((same, slot) => {
      const x = same[0];
      const name = same.map((y) => y.name).join(" = ");
      x.cacheHitRateByClass.forEach((v, c) => {
        if (v !== null)
          rows.push({
            group: g,
            series: name,
            slot,
            range: rangeLabel(x),
            c,
            sizeClass: formatBytes(4096 * 2 ** c),
            hitRate: v,
          });
      });
    });
  }
  const classes = Math.max(0, ...r.runs.map((x) => x.cacheHitRateByClass.length));
  const sizes = Array.from({ length: classes }, (_, c) => formatBytes(4096 * 2 ** c));
  const x = { field: "sizeClass", type: "nominal", sort: sizes, title: "IOVA size", axis: { labelAngle: -40 } };
  const y = {
    field: "hitRate",
    type: "quantitative",
    title: "hit rate",
    scale: { domain: [0, 1] },
    axis: { format: "%" },
  };
  const xOffset = { field: "slot", type: "ordinal" };
  return {
    title: {
      text: "rcache hit rate by size class",
      subtitle:
        "one panel per kernel and mode, a bar per range side by side (a line marks 0%; none: no allocation of that size); runs with the same rates share a bar",
      anchor: "start",
      subtitleColor: "#555555",
    },
    data: { values: rows },
    facet: { column: { field: "group", type: "nominal", sort: groups, title: null } },
    spec: {
      width: 200,
      height: 150,
      layer: [
        { mark: "bar", encoding: { x, xOffset, y, color: colour(false) } },
        { mark: { type: "tick", thickness: 2 }, encoding: { x, xOffset, y, color: colour(false) } },
      ],
    },
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

/** What each run simulates: its measured window after its warm-up, per kernel where the kernels' differ. */
export function timingText(r: ScenarioReport): string {
  const kernels = new Set(r.runs.map((x) => x.kernel)).size;
  const parts = [
    ...new Set(
      r.runs.map(
        (x) =>
          `${x.simulatedMs} ms of the workload after ${x.warmupMs} ms of warm-up${kernels > 1 ? ` (${x.kernel})` : ""}`,
      ),
    ),
  ];
  return parts.join("; ");
}

/** The verdict's paragraphs; its answers (the leading sentences per kernel, "On ...") stand out. */
function verdictHtml(lines: readonly string[]): string {
  let answers = 0;
  while (answers < lines.length && lines[answers].startsWith("On ") && answers < lines.length - 1) answers++;
  return lines.map((v, i) => `<p${i < answers ? ' class="answer"' : ""}>${esc(v)}</p>`).join("\n");
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
svg { max-width: 100%; height: auto; }
p.answer { font-size: 1.1em; background: #f3f6fa; border-left: 4px solid #4c78a8; padding: 0.5em 0.8em; }
</style>
</head>
<body>
<h1>iovalab: ${esc(r.scenario)}</h1>
<h2>Verdict</h2>
${verdictHtml(r.verdict)}
<p>${esc(r.machine)}, kernel ${esc(r.kernel)}, seed ${r.seed}. Each run simulates ${esc(timingText(r))} (the warm-up is
excluded from every figure). Same seed, same bytes.
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
