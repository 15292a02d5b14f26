/**
 * The explorer page: scrub or play a replay call by call and watch the IOVA
 * allocator (Linux 5.10 to mainline profiles) decide; the model runs in the
 * worker, this thread draws. A what-if runs a second lane beside the first.
 */

import { render } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import {
  cpuRows,
  cpuRowsText,
  describeCell,
  drawHeat,
  drawMagazines,
  drawMap,
  drawMarks,
  FREE_COLOUR,
  KIND_COLOURS,
  type MapGeometry,
  type Zoom,
} from "./draw.ts";
import { type ExploreInput, INPUT_ELEMENT_ID } from "./input.ts";
import type { LaneInfo, LaneView } from "./lane.ts";
import type { FromWorker, LoadedInfo, ToWorker } from "./protocol.ts";
import type { Settings } from "./source.ts";
import ExploreWorker from "./worker.ts?worker&inline";
import "./style.css";

/** What the page exposes for tests and measurements. */
export interface PageStats {
  ready: boolean;
  /** Animation frames while playing, views drawn, and the worker's time for them. */
  frames: number;
  views: number;
  workerMs: number;
  /** Main-thread time from a view's arrival to its drawn canvases. */
  renderMs: number;
  pos: number;
  /** Not playing, and the shown view is the one wanted. */
  idle: boolean;
  error: string | null;
}
const stats: PageStats = {
  ready: false,
  frames: 0,
  views: 0,
  workerMs: 0,
  renderMs: 0,
  pos: 0,
  idle: false,
  error: null,
};
(window as unknown as { __iovalab: PageStats }).__iovalab = stats;

const worker = new ExploreWorker();
const send = (m: ToWorker) => worker.postMessage(m);

const RANGES = [0, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304];
const SPEEDS = [1, 4, 16, 64, 256, 1024];

function readInput(): ExploreInput | null {
  const el = document.getElementById(INPUT_ELEMENT_ID);
  return el?.textContent ? (JSON.parse(el.textContent) as ExploreInput) : null;
}

function pfnText(pfn: number, granule: number): string {
  return Number.isFinite(pfn) && pfn >= 0 ? `0x${Math.floor(pfn * granule).toString(16)}` : "the top";
}

function fmtNs(ns: number): string {
  return `${(ns / 1e9).toFixed(6)} s`;
}

function bytes(n: number): string {
  return n === 0 ? "default" : n >= 1048576 ? `${n / 1048576} MiB` : `${n / 1024} KiB`;
}

function AddressMap(props: { view: LaneView; zoom: Zoom; setZoom: (z: Zoom) => void; index: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const geo = useRef<MapGeometry | null>(null);
  const [tip, setTip] = useState("");
  // Drawn before the browser paints the frame (a layout effect), so the map never lags the counts.
  useLayoutEffect(() => {
    if (ref.current) geo.current = drawMap(ref.current, props.view, props.zoom);
  }, [props.view, props.zoom]);
  const frac = (e: MouseEvent) => {
    const r = (e.currentTarget as HTMLCanvasElement).getBoundingClientRect();
    return { fx: (e.clientX - r.left) / r.width, fy: (e.clientY - r.top) / r.height };
  };
  const onMove = (e: MouseEvent) => {
    if (!geo.current) return;
    const { fx, fy } = frac(e);
    setTip(describeCell(props.view, props.zoom, geo.current, fx, fy));
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const g = geo.current;
    if (!g) return;
    const { fx, fy } = frac(e);
    const z = props.zoom;
    const at = z.lo + (Math.floor(fy * g.rows) * g.cols + Math.floor(fx * g.cols)) * g.per;
    const f = e.deltaY < 0 ? 0.5 : 2;
    const span = Math.max(16, Math.min(props.view.limitPfn, (z.hi - z.lo) * f));
    const lo = Math.max(0, Math.min(props.view.limitPfn - span, at - (at - z.lo) * (span / (z.hi - z.lo))));
    props.setZoom({ lo: Math.round(lo), hi: Math.round(lo + span) });
  };
  return (
    <div class="map">
      <canvas
        ref={ref}
        width={768}
        height={288}
        data-testid={`map-${props.index}`}
        onMouseMove={onMove}
        onMouseLeave={() => setTip("")}
        onWheel={onWheel}
      />
      <pre class="tip">{tip || "hover over the map; wheel zooms"}</pre>
    </div>
  );
}

function Counts(props: { view: LaneView; index: number }) {
  const c = props.view.counts;
  const item = (key: keyof typeof c, name: string, colour: string) => (
    <span class="count">
      <i style={{ background: colour }} />
      {name} <b data-testid={`lane-${props.index}-count-${key}`}>{c[key]}</b>
    </span>
  );
  return (
    <div class="counts">
      {item("live", "live", KIND_COLOURS[0])}
      {item("cpu", "in CPU magazines", KIND_COLOURS[1])}
      {item("depot", "in the depot", KIND_COLOURS[2])}
      {item("fq", "in the flush queue", KIND_COLOURS[3])}
      {item("reserved", "reserved", KIND_COLOURS[4])}
      {item("holes", "free holes", FREE_COLOUR)}
    </div>
  );
}

function Series(props: { info: LaneInfo; pos: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const line = useRef<HTMLDivElement>(null);
  const pos = useRef(props.pos);
  pos.current = props.pos;
  /** Puts the green line at the current call. */
  const place = () => {
    const u = plot.current;
    if (!u || !line.current) return;
    line.current.style.left = `${u.valToPos(pos.current, "x") + u.over.offsetLeft}px`;
    line.current.style.top = `${u.over.offsetTop}px`;
    line.current.style.height = `${u.over.clientHeight}px`;
  };
  useEffect(() => {
    if (!box.current) return;
    const s = props.info.series;
    const u = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth),
        height: 150,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, live: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max)] } },
        axes: [
          { label: "call" },
          { label: "per sample", size: 50 },
          { label: "live IOVAs", side: 1, scale: "live", size: 50, grid: { show: false } },
        ],
        series: [
          {},
          { label: "tree allocations", stroke: "#2ca02c" },
          { label: "walk steps", stroke: "#8c564b" },
          { label: "live IOVAs", stroke: "#d62728", scale: "live" },
        ],
      },
      [Array.from(s.pos), Array.from(s.treeAllocs), Array.from(s.walkSteps), Array.from(s.live)],
      box.current,
    );
    plot.current = u;
    // The lane narrows when a what-if lane opens beside it: the chart follows its box.
    const ro = new ResizeObserver(() => {
      const w = Math.max(300, box.current?.clientWidth ?? 300);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: 150 });
      place();
    });
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [props.info]);
  useEffect(place, [props.pos, props.info]);
  return (
    <div class="series" ref={box}>
      <div class="cursor" ref={line} />
    </div>
  );
}

/** Which CPUs the cache views show, as their notes say it. */
function rowsNote(rows: readonly number[], cpus: number): string {
  if (rows.length === cpus) return `CPUs 0–${cpus - 1}`;
  return `CPU${rows.length === 1 ? "" : "s"} ${cpuRowsText(rows)} (the ${rows.length} of ${cpus} whose magazines held pfns)`;
}

function Heat(props: { info: LaneInfo; cls: number; pos: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const rows = cpuRows(props.info);
  useEffect(() => {
    if (ref.current) drawHeat(ref.current, props.info, props.cls);
  }, [props.info, props.cls]);
  const x = (props.pos / Math.max(1, props.info.calls)) * 100;
  return (
    <div class="heat">
      <canvas ref={ref} width={760} height={Math.min(260, Math.max(60, (rows.length + 1) * 8))} />
      <div class="cursor" style={{ left: `${x}%` }} />
      <div class="note" data-testid="heat-rows">
        rows: {rowsNote(rows, props.info.cpus)} (pfns in the loaded + previous magazine, of 2×{props.info.magSize}),
        last row: the depot (magazines); columns: time
      </div>
    </div>
  );
}

function Magazines(props: { view: LaneView; cls: number; rows: readonly number[] }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useLayoutEffect(() => {
    if (ref.current) drawMagazines(ref.current, props.view, props.cls, props.rows);
  }, [props.view, props.cls, props.rows]);
  return (
    <div class="mags">
      <canvas ref={ref} width={760} height={60} />
      <div class="note">
        each of {rowsNote(props.rows, props.view.cpus)}: loaded magazine (top half), previous (bottom half); right: the
        depot ({props.view.depots[props.cls] ?? 0} full magazines)
      </div>
    </div>
  );
}

function LanePanel(props: {
  index: number;
  info: LaneInfo;
  view: LaneView | null;
  zoom: Zoom;
  setZoom: (z: Zoom) => void;
  cls: number;
}) {
  const v = props.view;
  return (
    <section class="lane" data-testid={`lane-${props.index}`} data-pos={v?.pos ?? -1}>
      <h2>{props.info.label}</h2>
      <ul class="summary">
        {props.info.summary.map((s) => (
          <li>{s}</li>
        ))}
      </ul>
      {v && (
        <>
          <div class="status">
            after call <b>{v.pos}</b> at {fmtNs(v.timeNs)}: tree allocations {v.treeAllocs}, walk steps {v.walkSteps},
            rcache hits {v.rcacheHits}/{v.rcacheHits + v.rcacheMisses}
          </div>
          <div class="status" data-testid={`lane-${props.index}-walk`}>
            {v.lastWalk === null
              ? "this call searched no tree (an rcache hit, or a free)"
              : `this call walked the tree: ${v.lastWalk.steps} rb_prev steps from ${pfnText(v.lastWalk.fromPfn, v.granule)} down to ${pfnText(v.lastWalk.toPfn, v.granule)} (shaded yellow on the map)`}
          </div>
          <Counts view={v} index={props.index} />
          <AddressMap view={v} zoom={props.zoom} setZoom={props.setZoom} index={props.index} />
          <h3>
            magazines of class {props.cls} ({2 ** props.cls} pages) now
          </h3>
          <Magazines view={v} cls={props.cls} rows={cpuRows(props.info)} />
        </>
      )}
      <h3>caches over time, class {props.cls}</h3>
      <Heat info={props.info} cls={props.cls} pos={v?.pos ?? 0} />
      <h3>tree allocations and walk steps over time</h3>
      <Series info={props.info} pos={v?.pos ?? 0} />
    </section>
  );
}

function App() {
  const [loaded, setLoaded] = useState<LoadedInfo | null>(null);
  const [lanes, setLanes] = useState<LaneInfo[]>([]);
  const [views, setViews] = useState<LaneView[]>([]);
  const [lines, setLines] = useState<{ call: number; text: string[] }[]>([]);
  const [progress, setProgress] = useState("starting");
  const [error, setError] = useState<string | null>(null);
  const [pos, setPos] = useState(0);
  const [playing, setPlaying] = useState(false);
  const playingRef = useRef(false);
  playingRef.current = playing;
  const [speed, setSpeed] = useState(16);
  const [zoom, setZoomState] = useState<Zoom | null>(null);
  // Until the user zooms, the map widens to show every IOVA in use.
  const userZoomed = useRef(false);
  const setZoom = (z: Zoom) => {
    userZoomed.current = true;
    setZoomState(z);
  };
  const [cls, setCls] = useState(0);
  const [whatIf, setWhatIf] = useState<Settings | null>(null);
  const [fps, setFps] = useState("");
  const marks = useRef<HTMLCanvasElement>(null);
  // The seek in flight and the position wanted next: one request at a time, the newest wins.
  const pending = useRef({ inFlight: false, want: -1, id: 0, shown: -1 });
  const posRef = useRef(0);
  const arrived = useRef(0);
  // After the lanes' own layout effects have drawn their canvases: the main thread's time for a view.
  useLayoutEffect(() => {
    if (arrived.current > 0) stats.renderMs += performance.now() - arrived.current;
    arrived.current = 0;
  }, [views]);
  posRef.current = pos;
  stats.idle = !playing && pending.current.want === pending.current.shown && !pending.current.inFlight;

  const pump = () => {
    const p = pending.current;
    if (p.inFlight || p.want < 0 || p.want === p.shown) return;
    p.inFlight = true;
    send({ type: "seek", id: ++p.id, pos: p.want });
  };
  /** Asks for the state after call `n`; playing, the position moves when the view comes (one render per frame). */
  const goTo = (n: number, playing = false) => {
    const total = lanes[0]?.calls ?? 0;
    const c = Math.max(0, Math.min(total, Math.round(n)));
    if (!playing) setPos(c);
    pending.current.want = c;
    pump();
  };

  useEffect(() => {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.type === "progress") setProgress(`${m.text} ${Math.round(m.fraction * 100)}%`);
      else if (m.type === "error") {
        stats.error = m.message;
        setError(m.message);
        pending.current.inFlight = false;
      } else if (m.type === "loaded") {
        setLoaded(m.info);
        setLanes([m.lane]);
        setWhatIf(m.info.baseline);
        const best = m.lane.series.heat.length > 0 ? busiestClass(m.lane) : 0;
        setCls(best);
        setProgress("");
        pending.current.want = 0;
        pending.current.shown = -1;
        pump();
      } else if (m.type === "lane") {
        setLanes((ls) => (m.lane ? [ls[0], m.lane] : [ls[0]]));
        setProgress("");
        pending.current.shown = -1;
        pending.current.want = posRef.current;
        pump();
      } else if (m.type === "view") {
        const p = pending.current;
        p.inFlight = false;
        p.shown = m.views[0].pos;
        stats.views++;
        stats.workerMs += m.workerMs;
        arrived.current = performance.now();
        stats.pos = p.shown;
        stats.idle = !playingRef.current && p.want === p.shown;
        setViews(m.views);
        if (playingRef.current || p.want === p.shown) setPos(p.shown);
        setLines(m.lines);
        if (!userZoomed.current) setZoomState((z) => widen(z, usedZoom(m.views[0])));
        if (!stats.ready) stats.ready = true;
        pump();
      }
    };
    const input = readInput();
    if (input) send({ type: "load", input });
    else setError("no input in the page (start it with iovalab explore)");
  }, []);

  // Play: each frame asks for `speed` calls further, when the previous view has come back.
  useEffect(() => {
    if (!playing) return;
    let raf = 0;
    let frames = 0;
    let views0 = stats.views;
    let t0 = performance.now();
    const tick = () => {
      // Paused, but this effect's cleanup (run after the next paint) has not cancelled the frame yet:
      // no step past the position the pause showed.
      if (!playingRef.current) return;
      stats.frames++;
      frames++;
      const p = pending.current;
      const total = lanes[0]?.calls ?? 0;
      if (!p.inFlight) {
        const next = Math.min(total, p.shown + speed);
        if (next === p.shown && p.shown >= total) {
          setPlaying(false);
          return;
        }
        goTo(next, true);
      }
      const t = performance.now();
      if (t - t0 >= 1000) {
        setFps(
          `${Math.round((frames * 1000) / (t - t0))} frames/s, ${Math.round(((stats.views - views0) * 1000) / (t - t0))} views/s`,
        );
        frames = 0;
        views0 = stats.views;
        t0 = t;
      }
      raf = requestAnimationFrame(tick);
    };
    raf = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(raf);
  }, [playing, speed, lanes]);

  useEffect(() => {
    if (marks.current && lanes[0]) drawMarks(marks.current, lanes[0]);
  }, [lanes]);

  const total = lanes[0]?.calls ?? 0;
  const first = lanes[0]?.firstMismatch ?? null;
  const mismatched = useMemo(() => new Set(lanes[0]?.mismatches ?? []), [lanes]);
  const classes = lanes[0]?.classes ?? 0;
  const applyWhatIf = () => {
    if (!whatIf) return;
    setProgress("what-if: starting");
    send({ type: "whatif", settings: whatIf });
  };
  const zoomTo = (which: "aperture" | "32" | "used" | "cached") => {
    const v = views[0];
    if (!v) return;
    if (which === "aperture") setZoom({ lo: 0, hi: v.limitPfn });
    else if (which === "32") setZoom({ lo: 0, hi: v.dma32Pfn });
    else if (which === "used") setZoom(usedZoom(v));
    else {
      // 16 MiB of pages around the cached node the next allocation starts from.
      const at = v.cached32Pfn >= 0 ? v.cached32Pfn : v.cachedPfn >= 0 ? v.cachedPfn : v.dma32Pfn;
      const half = Math.round((8 * 2 ** 20) / v.granule);
      setZoom({ lo: Math.max(0, at - half), hi: at + half });
    }
  };
  const settingsForm = useMemo(() => {
    if (!loaded || !whatIf) return null;
    return (
      <div class="whatif">
        <b>what if</b>
        <label>
          kernel{" "}
          <select
            data-testid="whatif-kernel"
            value={whatIf.kernel}
            onChange={(e) =>
              setWhatIf({ ...whatIf, kernel: (e.target as HTMLSelectElement).value as Settings["kernel"] })
            }
          >
            {loaded.profiles.map((p) => (
              <option value={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          mode{" "}
          <select
            data-testid="whatif-mode"
            value={whatIf.strict ? "strict" : "lazy"}
            onChange={(e) => setWhatIf({ ...whatIf, strict: (e.target as HTMLSelectElement).value === "strict" })}
          >
            <option value="strict">strict</option>
            <option value="lazy">lazy</option>
          </select>
        </label>
        <label>
          range{" "}
          <select
            data-testid="whatif-range"
            value={String(whatIf.rangeBytes)}
            onChange={(e) => setWhatIf({ ...whatIf, rangeBytes: Number((e.target as HTMLSelectElement).value) })}
          >
            {RANGES.map((r) => (
              <option value={String(r)}>{bytes(r)}</option>
            ))}
          </select>
        </label>
        <button type="button" data-testid="whatif-run" onClick={applyWhatIf}>
          run beside
        </button>
        {lanes.length > 1 && (
          <button type="button" onClick={() => send({ type: "whatif", settings: null })}>
            close
          </button>
        )}
      </div>
    );
  }, [loaded, whatIf, lanes]);

  if (error)
    return (
      <div class="error" data-testid="error">
        {error}
      </div>
    );
  if (!loaded) return <div class="loading">{progress}</div>;
  return (
    <div class="page">
      <header>
        <h1>iovalab explore: {loaded.name}</h1>
        <div class="notes">
          machine {loaded.machine}; {loaded.notes.filter((n) => !n.startsWith("warning: ")).join("; ")}
        </div>
        {/* A warning (a trace that lost events) on a line of its own, not lost among the notes. */}
        {loaded.notes
          .filter((n) => n.startsWith("warning: "))
          .map((n) => (
            <div class="warning" key={n} data-testid="warning">
              {n}
            </div>
          ))}
      </header>
      <div class="controls">
        <button type="button" title="start" onClick={() => goTo(0)}>
          start
        </button>
        <button type="button" title="back one call" data-testid="step-back" onClick={() => goTo(pos - 1)}>
          ◀
        </button>
        <button type="button" data-testid="play" onClick={() => setPlaying(!playing)}>
          {playing ? "pause" : "play"}
        </button>
        <button type="button" title="one call on" data-testid="step" onClick={() => goTo(pos + 1)}>
          ▶
        </button>
        <button type="button" title="end" onClick={() => goTo(total)}>
          end
        </button>
        <label>
          calls/frame{" "}
          <select
            data-testid="speed"
            value={String(speed)}
            onChange={(e) => setSpeed(Number((e.target as HTMLSelectElement).value))}
          >
            {SPEEDS.map((s) => (
              <option value={String(s)}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          call{" "}
          <input
            type="number"
            data-testid="goto"
            min={0}
            max={total}
            value={pos}
            onChange={(e) => goTo(Number((e.target as HTMLInputElement).value))}
          />{" "}
          / {total}
        </label>
        {first && first.call >= 0 && (
          <button type="button" data-testid="first-mismatch" onClick={() => goTo(first.call + 1)}>
            first mismatch (call {first.call + 1})
          </button>
        )}
        <span class="fps" data-testid="fps">
          {fps}
        </span>
        <span class="progress">{progress}</span>
      </div>
      <div class="scrubber">
        <input
          type="range"
          data-testid="scrubber"
          min={0}
          max={total}
          value={pos}
          onInput={(e) => goTo(Number((e.target as HTMLInputElement).value))}
        />
        <canvas
          ref={marks}
          width={1600}
          height={10}
          title="red: calls whose IOVA the model placed unlike the recorded one"
        />
      </div>
      <div class="trace">
        {lines.map((l) => (
          <div class={l.call === pos - 1 ? "line current" : "line"} data-mismatch={mismatched.has(l.call) ? "1" : "0"}>
            <span class="n">{l.call + 1}</span>
            <pre>{l.text.join("\n")}</pre>
          </div>
        ))}
      </div>
      <div class="tools">
        {settingsForm}
        <div class="zoom">
          <b>map</b>
          <button type="button" onClick={() => zoomTo("aperture")}>
            whole aperture
          </button>
          <button type="button" onClick={() => zoomTo("32")}>
            32-bit window
          </button>
          <button type="button" data-testid="zoom-used" onClick={() => zoomTo("used")}>
            in use
          </button>
          <button type="button" data-testid="zoom-cached" onClick={() => zoomTo("cached")}>
            cached node
          </button>
          {zoom && (
            <span>
              0x{Math.floor(zoom.lo * (views[0]?.granule ?? 4096)).toString(16)}–0x
              {Math.floor(zoom.hi * (views[0]?.granule ?? 4096)).toString(16)}
            </span>
          )}
          <label>
            size class{" "}
            <select value={String(cls)} onChange={(e) => setCls(Number((e.target as HTMLSelectElement).value))}>
              {Array.from({ length: classes }, (_, c) => (
                <option value={String(c)}>
                  {c} ({2 ** c} pages)
                </option>
              ))}
            </select>
          </label>
        </div>
      </div>
      <div class="lanes">
        {lanes.map((info, i) => (
          <LanePanel
            index={i}
            info={info}
            view={views[i] ?? null}
            zoom={zoom ?? { lo: 0, hi: 1 << 20 }}
            setZoom={setZoom}
            cls={cls}
          />
        ))}
      </div>
    </div>
  );
}

/** The size class whose magazines hold the most IOVA space over the run. */
function busiestClass(info: LaneInfo): number {
  const per = info.classes * (info.cpus + 1);
  const sums = new Float64Array(info.classes);
  for (let k = 0; k < info.series.pos.length; k++) {
    for (let c = 0; c < info.classes; c++) {
      for (let r = 0; r < info.cpus; r++) sums[c] += info.series.heat[k * per + c * (info.cpus + 1) + r] * 2 ** c;
    }
  }
  let best = 0;
  for (let c = 1; c < info.classes; c++) if (sums[c] > sums[best]) best = c;
  return best;
}

/** From a little below the lowest IOVA not reserved to the 32-bit boundary. */
function usedZoom(v: LaneView): Zoom {
  let lo = v.dma32Pfn;
  for (let i = 0; i < v.spans.length; i += 4) if (v.spans[i + 2] !== 4 && v.spans[i] < lo) lo = v.spans[i];
  if (lo === v.dma32Pfn) return { lo: 0, hi: v.dma32Pfn };
  const span = Math.max(64, v.dma32Pfn - lo);
  return { lo: Math.max(0, v.dma32Pfn - Math.ceil(span * 1.25)), hi: v.dma32Pfn + Math.ceil(span * 0.05) };
}

/** `z` widened to hold `used`; a 32-bit window (nothing in use yet) gives way to anything narrower. */
function widen(z: Zoom | null, used: Zoom): Zoom {
  if (z === null || z.lo === 0) return used;
  return { lo: Math.min(z.lo, used.lo), hi: Math.max(z.hi, used.hi) };
}

const root = document.getElementById("app");
if (root) render(<App />, root);
