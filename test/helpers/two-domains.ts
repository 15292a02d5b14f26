/**
 * Test helper: a trace of two lazy DMA domains built from a real capture of
 * one (Linux 6.12, `dma:*` events on). The capture's lines stay as they are;
 * a copy of them stands for a second device, `0000:00:02.0`, with its own
 * flush-queue timer and depot work items, its timestamps and jiffies a few
 * jiffies later. The two are merged by timestamp the way one CPU's events
 * can interleave: one call's lines on a CPU stay together (a map's lines up
 * to its `dma_map_*`, with any interrupt's lines inside them; a
 * `dma_unmap_sg` and its unmap; an unmap with its `timer_start` and
 * `dma_unmap_page`), and a line that had to wait is moved forward to the
 * time of the line before it. The kernel runs each domain's allocator, flush
 * queue and depot work apart from the other's, so each device's replay in
 * the merged trace must give what its lines give alone.
 *
 * test/fixtures/traces/linux-6.12-lazy-timers-two-domains-*.txt.gz were made
 * with it (README there).
 */

const DEVICE = "0000:00:01.0";
const COPY_DEVICE = "0000:00:02.0";
/** The copy's flush-queue timer (the capture's is renamed to it). */
export const COPY_TIMER = "00000000c0ffee11";
/** Microseconds a jiffy lasts at the captures' HZ (250). */
const JIFFY_US = 4000;

/** An event line of ftrace's text (`[CPU] FLAGS`) or of `trace-cmd report -l` (`CPUFLAGS`): its head, CPU, time, event, rest. */
const LINE = /^(\s*\S+-\d+\s+(?:\[(\d+)\]\s+\S+|(\d+)[^\s\d]\S*)\s+)(\d+)\.(\d{6}):( \S+:)(.*)$/;

interface Line {
  us: number;
  cpu: number;
  head: string;
  event: string;
  rest: string;
}

/** Where a line of each source went in the merge: `A` the capture's, `B` the copy's. */
export interface TwoDomains {
  header: string[];
  lines: string[];
  source: ("A" | "B")[];
}

function parse(lines: readonly string[]): Line[] {
  const out: Line[] = [];
  for (const l of lines) {
    const m = LINE.exec(l);
    if (m === null) continue;
    out.push({
      us: Number(m[4]) * 1_000_000 + Number(m[5]),
      cpu: Number(m[2] ?? m[3]),
      head: m[1],
      event: m[6].trim(),
      rest: m[7],
    });
  }
  return out;
}

/** The copy: the second device's events only, renamed, `shift` jiffies later. */
function copyOf(a: readonly Line[], fqTimer: string, shift: number): Line[] {
  const out: Line[] = [];
  for (const x of a) {
    if (x.event === "add_device_to_group:" || x.event === "attach_device_to_domain:") continue;
    if (x.event.startsWith("timer_") && !x.rest.includes(fqTimer)) continue;
    if (x.event === "map:" && x.rest.includes("size=16777216")) continue;
    const rest = x.rest
      .replaceAll(DEVICE, COPY_DEVICE)
      .replaceAll(fqTimer, COPY_TIMER)
      .replace(/work struct (0x)?([0-9a-f]{4})/, (_, x: string | undefined) => `work struct ${x ?? ""}beef`)
      .replace(/(expires|now|bucket_expiry|baseclk)=(\d+)/g, (_, k: string, v: string) => `${k}=${Number(v) + shift}`);
    out.push({ ...x, us: x.us + shift * JIFFY_US, rest });
  }
  return out;
}

/** Whether a call is still open after line `i` of `s` (see the file comment): its next line on that CPU is its own. */
function openAfter(s: readonly Line[]): boolean[] {
  const next = new Array<Line | undefined>(s.length);
  const last = new Map<number, Line>();
  for (let i = s.length - 1; i >= 0; i--) {
    next[i] = last.get(s[i].cpu);
    last.set(s[i].cpu, s[i]);
  }
  const inMap = new Map<number, boolean>();
  return s.map((x, i) => {
    if (x.event === "map:") inMap.set(x.cpu, true);
    else if (x.event === "dma_map_page:" || x.event === "dma_map_sg:" || x.event === "dma_alloc:")
      inMap.set(x.cpu, false);
    const n = next[i]?.event;
    const joined =
      (x.event === "dma_unmap_sg:" && n === "unmap:") ||
      (x.event === "unmap:" && (n === "timer_start:" || n === "dma_unmap_page:")) ||
      (x.event === "timer_start:" && n === "dma_unmap_page:");
    return joined || inMap.get(x.cpu) === true;
  });
}

/** The two-domain trace of `text`, a capture of one lazy device `0000:00:01.0` whose flush-queue timer is `fqTimer`. */
export function twoDomains(text: string, fqTimer: string, shift = 3): TwoDomains {
  const all = text.split("\n");
  const header = all.filter((l) => l.startsWith("#"));
  const a = parse(all.filter((l) => !l.startsWith("#")));
  const b = copyOf(a, fqTimer, shift);
  const openA = openAfter(a);
  const openB = openAfter(b);
  const heldByA = new Map<number, boolean>();
  const heldByB = new Map<number, boolean>();
  const lines: string[] = [];
  const source: ("A" | "B")[] = [];
  let ai = 0;
  let bi = 0;
  let last = 0;
  while (ai < a.length || bi < b.length) {
    const ca = a[ai];
    const cb = b[bi];
    const okA = ca !== undefined && heldByB.get(ca.cpu) !== true;
    const okB = cb !== undefined && heldByA.get(cb.cpu) !== true;
    let takeA: boolean;
    if (okA && (!okB || ca.us <= cb.us)) takeA = true;
    else if (okB) takeA = false;
    else takeA = ca !== undefined && (cb === undefined || ca.us <= cb.us);
    let x: Line;
    if (takeA) {
      x = ca;
      heldByA.set(x.cpu, openA[ai]);
      ai++;
    } else {
      x = cb;
      heldByB.set(x.cpu, openB[bi]);
      bi++;
    }
    const us = Math.max(x.us, last);
    last = us;
    lines.push(`${x.head}${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, "0")}: ${x.event}${x.rest}`);
    source.push(takeA ? "A" : "B");
  }
  return { header, lines, source };
}

/**
 * `twoDomains` without a call ever broken in two: where each device's next
 * line is on a CPU the other device's open call holds (one device's call
 * open on each CPU; `twoDomains` then took the earlier line and broke the
 * other's call), the device takes its first line that is on a CPU neither
 * holds and comes first on its own CPU, ahead of its lines that wait (on a
 * machine the waiting CPU would have run them later). For long stretches of
 * two busy devices, where that happens hundreds of times.
 */
export function twoDomainsWhole(text: string, fqTimer: string, shift = 3): TwoDomains {
  const all = text.split("\n");
  const header = all.filter((l) => l.startsWith("#"));
  const streams = [parse(all.filter((l) => !l.startsWith("#")))];
  streams.push(copyOf(streams[0], fqTimer, shift));
  const open = streams.map(openAfter);
  const taken = streams.map((x) => new Uint8Array(x.length));
  const first = [0, 0];
  /** The stream whose call is open on each CPU. */
  const holder = new Map<number, number>();
  const lines: string[] = [];
  const source: ("A" | "B")[] = [];
  let last = 0;
  const free = (k: number, cpu: number): boolean => {
    const h = holder.get(cpu);
    return h === undefined || h === k;
  };
  /** Stream k's first line it may take now (its next one, or past lines that wait on held CPUs), or -1. */
  const next = (k: number, ahead: boolean): number => {
    const x = streams[k];
    const i = first[k];
    if (i >= x.length) return -1;
    if (free(k, x[i].cpu) || !ahead) return free(k, x[i].cpu) ? i : -1;
    const waiting = new Set<number>();
    for (let j = i; j < x.length && j < i + 100_000; j++) {
      if (taken[k][j] === 1) continue;
      const cpu = x[j].cpu;
      if (!waiting.has(cpu) && free(k, cpu)) return j;
      waiting.add(cpu);
    }
    return -1;
  };
  for (;;) {
    const ia = next(0, false);
    const ib = next(1, false);
    let k: number;
    let j: number;
    if (ia >= 0 && (ib < 0 || streams[0][ia].us <= streams[1][ib].us)) [k, j] = [0, ia];
    else if (ib >= 0) [k, j] = [1, ib];
    else {
      const la = next(0, true);
      const lb = la >= 0 ? -1 : next(1, true);
      if (la >= 0) [k, j] = [0, la];
      else if (lb >= 0) [k, j] = [1, lb];
      else break;
    }
    const x = streams[k][j];
    taken[k][j] = 1;
    while (first[k] < streams[k].length && taken[k][first[k]] === 1) first[k]++;
    if (open[k][j]) holder.set(x.cpu, k);
    else holder.delete(x.cpu);
    last = Math.max(x.us, last);
    lines.push(`${x.head}${Math.floor(last / 1e6)}.${String(last % 1e6).padStart(6, "0")}: ${x.event}${x.rest}`);
    source.push(k === 0 ? "A" : "B");
  }
  return { header, lines, source };
}
