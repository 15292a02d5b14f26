/**
 * File adapter (Node only): rasterises an SVG to PNG with resvg, using the
 * shipped DejaVu Sans and no system fonts, so the picture is the same on
 * every machine.
 */

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Resvg as ResvgClass } from "@resvg/resvg-js";

const FONT_FILE = fileURLToPath(new URL("../../assets/fonts/DejaVuSans.ttf", import.meta.url));

/**
 * The native renderer, loaded on the first PNG (synchronously, as the
 * CommonJS addon it is): importing the library's Node face costs a command
 * that draws nothing no native module.
 */
let resvg: typeof ResvgClass | null = null;

export function svgToPng(svg: string): Uint8Array {
  resvg ??= (createRequire(import.meta.url)("@resvg/resvg-js") as { Resvg: typeof ResvgClass }).Resvg;
  const r = new resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: 1.5 },
    font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  });
  return r.render().asPng();
}
