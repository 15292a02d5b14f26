/**
 * File adapter (Node only): rasterises an SVG to PNG with resvg, using the
 * shipped DejaVu Sans and no system fonts, so the picture is the same on
 * every machine.
 */

import { fileURLToPath } from "node:url";
import { Resvg } from "@resvg/resvg-js";

const FONT_FILE = fileURLToPath(new URL("../../assets/fonts/DejaVuSans.ttf", import.meta.url));

export function svgToPng(svg: string): Uint8Array {
  const r = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: 1.5 },
    font: { fontFiles: [FONT_FILE], loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  });
  return r.render().asPng();
}
