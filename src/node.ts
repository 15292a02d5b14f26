/**
 * The library's Node face: the thin adapters that use Node APIs (reading
 * trace files and inputs, rendering PNGs), for the command line and other
 * Node programs. Everything else is in src/index.ts, which also runs in a
 * browser page.
 */

export { errnoText, inputChunks, inputName, readInputBytes, readInputText } from "./node-input.ts";
export { svgToPng } from "./report/png.ts";
export { mayHoldLoss, readTraceFile, readTraceInto, spillContent } from "./trace/node-source.ts";
