/**
 * The inputs part of the library's Node face (src/node.ts is all of it), as
 * face/ splits src/index.ts: a command that only reads files and stdin loads
 * neither the trace file reader nor the PNG renderer.
 */
export {
  errnoText,
  inputChunks,
  inputName,
  isPlainFile,
  isRereadable,
  readInputBytes,
  readInputText,
} from "./stdx/node-input.ts";
