/** Plain-text tables for the terminal: right-aligned numbers, left-aligned text. */

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = header.map((_, i) => rows.every((r) => /^[-+0-9.,%x ]*[KMGi]?B?$/.test(r[i])));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] && i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n";
}

/** Bytes as KiB/MiB/GiB with one decimal, none where it is 0: `4 KiB`, `2.6 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1).replace(/\.0$/, "")} ${units[u]}`;
}

/**
 * A time in ns as a person reads it: `850 ns`, `3.8 µs`, `3.78 ms`, `1.25 s`
 * (a fraction of a ns, as an average hold, keeps one decimal). JSON keeps ns.
 */
export function formatNs(ns: number): string {
  if (ns < 0) return `-${formatNs(-ns)}`;
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return Number.isInteger(ns) ? `${ns} ns` : `${ns.toFixed(1)} ns`;
}

/** One quantile of a latency, or "none" where nothing of the kind ran in the measured window. */
export function formatLatency(q: { p50: number; p99: number } | null, which: "p50" | "p99"): string {
  return q === null ? "none" : formatNs(q[which]);
}

export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}
