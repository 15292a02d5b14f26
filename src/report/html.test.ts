import assert from "node:assert/strict";
import { test } from "node:test";
import { RANGE_COLOURS, rangeLabel, renderSvg, reportFigure, reportHtml } from "./html.ts";
import type { ReportRun, ScenarioReport } from "./results.ts";
import { comparisonTable } from "./results.ts";

const NO_LOCK = { acquisitions: 0, contentions: 0, waitNsMax: 0, waitNsTotal: 0, holdNsAvg: 0 };

function run(over: Partial<ReportRun>): ReportRun {
  return {
    name: "r",
    mode: "strict",
    rangeSource: "default",
    rcacheOrders: 6,
    iops: 1000,
    mapLatencyNs: { p50: 100, p99: 1000 },
    treeAllocsPerSec: 10,
    walkStepsPerTreeAlloc: 1,
    lockWaitShare: 0,
    cacheHitRate: 1,
    cacheHitRateByClass: [0.5, null, 1],
    cachedIovaBytes: 2 ** 20,
    cachedIovaBytesByClass: [],
    magazineBytes: 1024,
    magazineBytesByClass: [],
    simulatedMs: 10,
    warmupMs: 20,
    maxSectorsKb: 128,
    requestBytesMean: 4096,
    mapsPerSec: 1000,
    requestsPerSec: 1000,
    bytesPerSec: 4096000,
    mapFailuresPerSec: 0,
    syncWaitShare: 0,
    busyShare: 0.5,
    rbtreeLockBusyShare: 0,
    cmdqBusyShare: 0,
    ioLatencyNs: { p50: 10, p99: 20 },
    liveIovas: 0,
    lockStats: { rbtree: NO_LOCK, depot: NO_LOCK },
    rangeBytes: 128 << 10,
    iovaSpaceBytes: 2 ** 48,
    cachedIovaBytesBelow4G: 2 ** 19,
    magazineBytesMax: 4096,
    kernel: "6.1",
    ...over,
  };
}

const raised = { rcacheOrders: 8, rangeBytes: 512 << 10 };
const report: ScenarioReport = {
  scenario: "t",
  seed: 1,
  runs: [
    run({ name: "default-strict" }),
    run({ name: "sysfs-strict", rangeSource: "sysfs", ...raised, cacheHitRateByClass: [1, 1, 1] }),
    run({ name: "driver-strict", rangeSource: "driver", ...raised, cacheHitRateByClass: [1, 1, 1] }),
    run({ name: "default-lazy", mode: "lazy", kernel: "5.15", warmupMs: 8000 }),
  ],
  simulatedMsPerRun: 10,
  warmupMsPerRun: 20,
  kernel: "6.1, 5.15",
  machine: "m",
  verdict: ["v"],
  workload: "fio",
  hbaLinkBytesPerSec: 4096e3,
};

/** Every colour encoding in the spec, with the chart title it sits under. */
function colourEncodings(spec: unknown, title = ""): { title: string; field: string; scale: unknown }[] {
  if (spec === null || typeof spec !== "object") return [];
  const o = spec as Record<string, unknown>;
  const t = (o.title as { text?: string } | undefined)?.text ?? title;
  const here =
    o.encoding !== undefined && (o.encoding as Record<string, unknown>).color !== undefined
      ? [{ title: t, ...((o.encoding as Record<string, unknown>).color as { field: string; scale: unknown }) }]
      : [];
  return [
    ...here,
    ...Object.entries(o)
      .filter(([k]) => k !== "encoding" && k !== "data")
      .flatMap(([, v]) => (Array.isArray(v) ? v.flatMap((x) => colourEncodings(x, t)) : colourEncodings(v, t))),
  ];
}

test("report figure: one colour per meaning — a run's colour is its range in every chart, other meanings use other colours", () => {
  const enc = colourEncodings(reportFigure(report));
  const byRange = enc.filter((e) => e.field === "range");
  assert.ok(byRange.length >= 8, `${byRange.length} charts coloured by range`);
  const want = { domain: [rangeLabel(run({})), rangeLabel(run(raised))], range: RANGE_COLOURS.slice(0, 2) };
  for (const e of byRange) assert.deepEqual(e.scale, want, e.title);
  assert.equal(rangeLabel(run(raised)), "512 KiB (8 classes)");
  for (const e of enc.filter((x) => x.field !== "range")) {
    const colours = (e.scale as { range: string[] }).range;
    for (const c of colours) assert.ok(!RANGE_COLOURS.includes(c), `${e.title}: ${c} is a range's colour`);
  }
});

test("report figure: runs with the same hit rates share one bar per class, named after both; panels per kernel and mode", () => {
  const fig = reportFigure(report) as { vconcat: { data: { values: Record<string, unknown>[] } }[] };
  const rows = fig.vconcat[1].data.values;
  const series = [...new Set(rows.map((r) => `${r.group}: ${r.series}`))];
  assert.deepEqual(series, [
    "6.1 strict: default-strict",
    "6.1 strict: sysfs-strict = driver-strict",
    "5.15 lazy: default-lazy",
  ]);
  // A class with no allocation has no bar (null), a 0% one a bar of 0.
  assert.equal(rows.filter((r) => r.series === "default-strict").length, 2);
});

test("report: the SVG renders, the page says each kernel's age, the table has the range and the CPU and I/O columns", async () => {
  const svg = await renderSvg(reportFigure(report));
  assert.match(svg, /^<svg/);
  for (const t of [
    "dma_map_sg latency",
    "I/O latency",
    "CPU time, all CPUs",
    "iova_rbtree_lock",
    "32-bit window: 4 GiB",
  ])
    assert.ok(svg.includes(t), t);
  const table = comparisonTable(report);
  const html = reportHtml(report, svg, table, "{}", "report.png");
  assert.match(
    html,
    /10 ms of the workload after 20 ms of warm-up \(6\.1\); 10 ms of the workload after 8000 ms of warm-up \(5\.15\)/,
  );
  assert.match(table, /^run +range +classes +IOPS/m);
  assert.match(table, /^sysfs-strict +512 KiB +8 /m);
  assert.match(table, /I\/O p50 +I\/O p99 +CPU busy/);
});

test("the run table prints times as a person reads them: ns, µs, ms, s (report.json keeps ns)", () => {
  const slow = {
    ...report,
    runs: report.runs.map((x, i) => ({
      ...x,
      mapLatencyNs: { p50: 983, p99: 3_777 },
      ioLatencyNs: { p50: 3_777_397, p99: 1_250_000_000 },
      lockStats: {
        rbtree: { ...NO_LOCK, waitNsMax: 53_000, waitNsTotal: 9_210_000, holdNsAvg: 212.57 },
        depot: NO_LOCK,
      },
      name: `r${i}`,
    })),
  };
  const table = comparisonTable(slow);
  assert.match(table, /^r0 .* 983 ns +3\.8 µs /m);
  assert.match(table, /^r0 .* 3\.78 ms +1\.25 s /m);
  assert.match(table, /^r0 +rbtree +0 +0 +53\.0 µs +9\.21 ms +212\.6 ns$/m);
  assert.ok(!/\d{4,} ns/.test(table), table);
  // The figure's latency charts are in µs too.
  const fig = JSON.stringify(reportFigure(slow));
  assert.ok(fig.includes('"title":"µs"') && !fig.includes('"title":"ns"'));
});
