/**
 * The kernel's symbol table as text (`/proc/kallsyms`, or a `System.map`):
 * one line per symbol, `ADDRESS TYPE NAME`, a module's symbols followed by
 * a tab and `[module]`. A trace written without the kernel's symbols
 * (`perf script`, `trace-cmd report` on another machine or without root)
 * prints the timer and work functions the replay places flushes and depot
 * trims by as addresses (`function=0xffffffff81a2b3c0`). The table of the
 * traced boot names them again (addresses move with KASLR at every boot).
 */

import { InputError } from "../stdx/errors.ts";

/** `ADDRESS TYPE NAME[\tMODULE]`: the address in hex, a one-letter type, the name up to a tab or the end. */
const SYMBOL_LINE = /^([0-9a-fA-F]{1,16}) ([A-Za-z?]) ([^\s]+)(?:\t\S.*)?$/;

/** An address as traces print an unnamed function: `0x`, lower-case digits, no leading zeros. */
export function functionAddress(hex: string): string {
  const digits = hex.replace(/^0x/i, "").replace(/^0+(?=.)/, "");
  return `0x${digits.toLowerCase()}`;
}

/**
 * The addresses of `names` in the symbol table `text` (read from `file`),
 * as a map from each address (as `functionAddress` writes it) to its name.
 * A line that is no symbol line, a table that holds none of `names`, and
 * one whose addresses are all zero (the kernel hides them from a reader
 * without root: `kptr_restrict`) are input errors.
 */
export function kallsymsNames(text: string, file: string, names: readonly string[]): Map<string, string> {
  const wanted = new Set(names);
  const found = new Map<string, string>();
  let zeroLine = 0;
  let symbols = 0;
  let lineNo = 0;
  let nonZero = false;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    start = end + 1;
    if (line === "") continue;
    const m = SYMBOL_LINE.exec(line);
    if (m === null) {
      const shown = line.length > 80 ? `${line.slice(0, 80)}...` : line;
      throw new InputError(
        `${file}:${lineNo}: expected a symbol line "ADDRESS TYPE NAME" (as /proc/kallsyms or System.map), found ${JSON.stringify(shown)}`,
      );
    }
    symbols++;
    const zero = /^0+$/.test(m[1]);
    if (!zero) nonZero = true;
    if (!wanted.has(m[3])) continue;
    if (zero) {
      if (zeroLine === 0) zeroLine = lineNo;
      continue;
    }
    found.set(functionAddress(m[1]), m[3]);
  }
  if (found.size > 0) return found;
  const list = names.join(" or ");
  if (zeroLine > 0 || (symbols > 0 && !nonZero)) {
    throw new InputError(
      `${file}:${Math.max(zeroLine, 1)}: expected the address of ${list}, found 0000000000000000: the kernel hides its addresses from a reader without root (kptr_restrict); copy /proc/kallsyms as root on the traced boot`,
    );
  }
  throw new InputError(
    `${file}: expected a symbol line for ${list}, found none in ${symbols} symbol${symbols === 1 ? "" : "s"}: give the symbol table of the traced kernel`,
  );
}
