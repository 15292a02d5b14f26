/**
 * The shell of `iovalab shell`: a few commands over a booted kernel, with the
 * output and error text a bash script on the real machine prints (bash 5.2
 * for redirections and builtins, busybox 1.35 for cat, ls and readlink, as
 * in the reference machine's sysfs session, docs/reference-machines.md).
 *
 * Commands, one per line, `#` comments:
 *   cat PATH...            echo [-n] [ARGS]     printf FORMAT [ARGS]
 *   ls PATH...             readlink PATH        dmesg
 *   dma-info BDF           four lines: dma_max_mapping_size, dma_opt_mapping_size, domain TYPE, group ID
 *   map BDF SIZE [--cpu N] [--phys ADDR]           dma_map_page: prints the DMA address
 *   map-sg BDF LEN[@PHYS],... [--cpu N]            dma_map_sg: prints "ADDR LEN" per output segment
 *   unmap BDF ADDR SIZE [--cpu N]                  dma_unmap_page / the span of a mapped list
 *   sleep MS                                       moves the virtual clock (flush-queue timers fire)
 *   help                                           the list of commands
 *   exit [N]                                       ends the shell with status N (default: the last)
 * Any command's output may be redirected with `> PATH`. `$?` expands to the
 * last status. Every command line moves the virtual clock by 1 ms first, so
 * log timestamps advance; nothing else depends on anything but the input.
 */

import { DURATION_EXPECTED, isDurationMs } from "../stdx/duration.ts";
import type { Errno } from "../stdx/errno.ts";
import { InputError, quote } from "../stdx/errors.ts";
import type { Kernel } from "./kernel.ts";

export interface ShellResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number;
}

/** strerror() texts of glibc, as bash prints them. */
export const STRERROR: Readonly<Record<Errno, string>> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EIO: "Input/output error",
  ENXIO: "No such device or address",
  EAGAIN: "Resource temporarily unavailable",
  ENOMEM: "Cannot allocate memory",
  EACCES: "Permission denied",
  EFAULT: "Bad address",
  EBUSY: "Device or resource busy",
  ENODEV: "No such device",
  ENOTDIR: "Not a directory",
  EISDIR: "Is a directory",
  EINVAL: "Invalid argument",
  ERANGE: "Numerical result out of range",
  ELOOP: "Too many levels of symbolic links",
  EPROBE_DEFER: "Unknown error 517",
};

const COMMAND_STEP_NS = 1_000_000;

interface Word {
  text: string;
}

/** What `help` prints: the commands of the file header, in a person's words. */
export const HELP = `Commands (one per line; # starts a comment; > PATH redirects; $? is the last status):
  cat PATH...                          print sysfs files
  echo [-n] [-e] [ARGS]                print ARGS (to a sysfs file with > PATH)
  printf FORMAT [ARGS]                 bash's printf: %s %d %i %u %x %%
  ls PATH...                           list sysfs directories
  readlink PATH                        a symlink's target
  dmesg                                the kernel log
  dma-info BDF                         DMA limits, domain type and group of a device
  map BDF SIZE [--cpu N] [--phys ADDR] dma_map_page: prints the DMA address
  map-sg BDF LEN[@PHYS],... [--cpu N]  dma_map_sg: prints "ADDR LEN" per segment
  unmap BDF ADDR SIZE [--cpu N]        dma_unmap_page (or the whole mapped list)
  sleep MS                             move the virtual clock (flush-queue timers fire)
  help                                 this list
  exit [N]                             leave the shell (Ctrl-D too)
`;

export class Shell {
  readonly kernel: Kernel;
  lastStatus = 0;
  /** The status `exit` asked for; null while the shell runs. */
  exitStatus: number | null = null;
  /** Physical pages handed out to `map` without `--phys`. */
  private nextPhys = 0x1_0000_0000;

  constructor(kernel: Kernel) {
    this.kernel = kernel;
  }

  /** Runs a whole script; line numbers count from 1. */
  runScript(text: string): ShellResult {
    let stdout = "";
    let stderr = "";
    const lines = text.split("\n");
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    lines.forEach((line, i) => {
      const r = this.runLine(line, i + 1);
      stdout += r.stdout;
      stderr += r.stderr;
    });
    return { stdout, stderr, status: this.lastStatus };
  }

  /** Runs one input line (line `lineNo` of the input, for bash's messages). */
  runLine(line: string, lineNo: number): ShellResult {
    if (line.endsWith("\r")) line = line.slice(0, -1);
    let words: Word[];
    try {
      words = tokenize(line, this.lastStatus);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      this.lastStatus = 2;
      return { stdout: "", stderr: `bash: line ${lineNo}: ${e.message}\n`, status: 2 };
    }
    if (words.length === 0) return { stdout: "", stderr: "", status: this.lastStatus };
    this.kernel.advanceTo(this.kernel.nowNs + COMMAND_STEP_NS);
    // Split off `> PATH`.
    let redirect: string | null = null;
    const args: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i].text;
      if (w === "\u0000>") {
        const target = words[i + 1];
        if (!target) {
          this.lastStatus = 2;
          return {
            stdout: "",
            stderr: `bash: line ${lineNo}: syntax error near unexpected token \`newline'\n`,
            status: 2,
          };
        }
        redirect = target.text;
        i++;
      } else {
        args.push(w);
      }
    }
    const r = this.exec(args, redirect, lineNo);
    this.lastStatus = r.status;
    return r;
  }

  private exec(args: string[], redirect: string | null, lineNo: number): ShellResult {
    const k = this.kernel;
    let file = null;
    if (redirect !== null) {
      const o = k.sysfs.openWrite(redirect);
      if (!o.ok) return { stdout: "", stderr: `bash: line ${lineNo}: ${redirect}: ${STRERROR[o.errno]}\n`, status: 1 };
      file = o.file;
    }
    if (args.length === 0) return { stdout: "", stderr: "", status: 0 };
    const [cmd, ...rest] = args;
    let out: { chunks: string[]; stderr: string; status: number };
    switch (cmd) {
      case "echo":
        out = this.echo(rest);
        break;
      case "printf":
        out = this.printf(rest, lineNo);
        break;
      case "cat":
        out = this.cat(rest);
        break;
      case "ls":
        out = this.ls(rest);
        break;
      case "readlink":
        out = this.readlink(rest);
        break;
      case "dmesg":
        out = { chunks: [k.dmesg()], stderr: "", status: 0 };
        break;
      case "dma-info":
        out = this.dmaInfo(rest);
        break;
      case "map":
        out = this.map(rest);
        break;
      case "map-sg":
        out = this.mapSg(rest);
        break;
      case "unmap":
        out = this.unmap(rest);
        break;
      case "sleep":
        out = this.sleep(rest);
        break;
      case "help":
        out = { chunks: [HELP], stderr: "", status: 0 };
        break;
      case "exit": {
        // bash: `exit` alone keeps the last status; `exit N` takes N mod 256.
        const n = rest.length === 0 ? this.lastStatus : parseNum(rest[0]);
        if (n === null || rest.length > 1) {
          return {
            stdout: "",
            stderr: `bash: line ${lineNo}: exit: ${rest[0]}: numeric argument required\n`,
            status: 2,
          };
        }
        this.exitStatus = n % 256;
        return { stdout: "", stderr: "", status: n % 256 };
      }
      default:
        return { stdout: "", stderr: `bash: line ${lineNo}: ${cmd}: command not found\n`, status: 127 };
    }
    if (file === null) return { stdout: out.chunks.join(""), stderr: out.stderr, status: out.status };
    // Each chunk is one write(2); the first failing write ends the command.
    for (const chunk of out.chunks) {
      if (chunk === "") continue;
      const w = k.sysfs.write(file, chunk);
      if (!w.ok) {
        const who = cmd === "echo" || cmd === "printf" ? `bash: line ${lineNo}: ${cmd}` : cmd;
        return { stdout: "", stderr: `${out.stderr}${who}: write error: ${STRERROR[w.errno]}\n`, status: 1 };
      }
    }
    return { stdout: "", stderr: out.stderr, status: out.status };
  }

  /** bash's `echo`: one write of the whole line. */
  private echo(args: string[]) {
    let newline = true;
    let escapes = false;
    while (args.length > 0 && /^-[neE]+$/.test(args[0])) {
      const f = args.shift()!;
      if (f.includes("n")) newline = false;
      if (f.includes("e")) escapes = true;
    }
    let text = args.join(" ");
    if (escapes) text = unescapeC(text);
    return { chunks: [text + (newline ? "\n" : "")], stderr: "", status: 0 };
  }

  /**
   * bash's `printf` with %s, %d, %i, %u, %x, %%, and backslash escapes in the
   * format. The format is reused while arguments remain, and only if it
   * consumed one (a format without conversions prints once). A number that
   * does not parse whole prints what its leading part gives and bash's
   * message, status 1; values are 64-bit as in bash (%u and %x of a negative
   * number wrap, a value beyond 64 bits is clamped with a warning). Its
   * output reaches the file one line at a time (stdio line buffering:
   * `printf 'identity\n\n'` is two writes, as on the real machine).
   */
  private printf(args: string[], lineNo: number) {
    if (args.length === 0) {
      return {
        chunks: [],
        stderr: `bash: line ${lineNo}: printf: usage: printf [-v var] format [arguments]\n`,
        status: 2,
      };
    }
    const [fmt, ...vals] = args;
    let out = "";
    let stderr = "";
    let status = 0;
    let i = 0;
    for (;;) {
      const before = i;
      out += fmt.replace(/%([%sdiux])|\\(0[0-7]{0,3}|.)/g, (_m, conv, esc) => {
        if (esc !== undefined) return unescapeC(`\\${esc}`);
        if (conv === "%") return "%";
        const v = vals[i++] ?? "";
        if (conv === "s") return v;
        const n = printfNumber(v);
        if (n.error !== null) {
          stderr += `bash: line ${lineNo}: printf: ${n.error}\n`;
          status = 1;
        }
        if (conv === "d" || conv === "i") return n.value.toString();
        const u = BigInt.asUintN(64, n.value);
        return conv === "x" ? u.toString(16) : u.toString();
      });
      if (i >= vals.length || i === before) break;
    }
    const chunks: string[] = [];
    let start = 0;
    for (let j = 0; j < out.length; j++) {
      if (out[j] === "\n") {
        chunks.push(out.slice(start, j + 1));
        start = j + 1;
      }
    }
    if (start < out.length) chunks.push(out.slice(start));
    return { chunks, stderr, status };
  }

  /** busybox `cat`. */
  private cat(paths: string[]) {
    let stdout = "";
    let stderr = "";
    let status = 0;
    for (const p of paths) {
      const r = this.kernel.sysfs.read(p);
      if (r.ok) {
        stdout += r.text;
      } else {
        stderr +=
          r.errno === "EISDIR"
            ? `cat: read error: ${STRERROR.EISDIR}\n`
            : `cat: can't open '${p}': ${STRERROR[r.errno]}\n`;
        status = 1;
      }
    }
    return { chunks: [stdout], stderr, status };
  }

  /** busybox `ls` without options: names one per line, sorted. */
  private ls(paths: string[]) {
    let stdout = "";
    let stderr = "";
    let status = 0;
    const many = paths.length > 1;
    paths.forEach((p, i) => {
      const r = this.kernel.sysfs.list(p);
      if (!r.ok) {
        stderr += `ls: ${p}: ${STRERROR[r.errno]}\n`;
        status = 1;
        return;
      }
      if (many && r.isDir) stdout += `${i > 0 ? "\n" : ""}${p}:\n`;
      for (const n of r.names) stdout += `${n}\n`;
    });
    return { chunks: [stdout], stderr, status };
  }

  /** busybox `readlink`: the target, or silently status 1. */
  private readlink(paths: string[]) {
    if (paths.length !== 1) return { chunks: [], stderr: "readlink: need exactly one argument\n", status: 1 };
    const r = this.kernel.sysfs.readlink(paths[0]);
    if (!r.ok) return { chunks: [], stderr: "", status: 1 };
    return { chunks: [`${r.target}\n`], stderr: "", status: 0 };
  }

  private findDevice(cmd: string, bdf: string | undefined) {
    const dev = bdf === undefined ? undefined : this.kernel.device(bdf);
    if (!dev) return { err: { chunks: [], stderr: `${cmd}: ${bdf ?? "missing BDF"}: No such device\n`, status: 1 } };
    return { dev };
  }

  /** `dma-info BDF`: exactly four lines (issue 3). */
  private dmaInfo(args: string[]) {
    const extra = extraOperands("dma-info BDF", args, 1);
    if (extra) return extra;
    const f = this.findDevice("dma-info", args[0]);
    if (!f.dev) return f.err;
    const k = this.kernel;
    const group = k.groupOf(f.dev);
    const type = group ? k.iommu.showType(group).trimEnd() : "none";
    const text =
      `dma_max_mapping_size ${k.mapping.maxMappingSize(f.dev)}\n` +
      `dma_opt_mapping_size ${k.mapping.optMappingSize(f.dev)}\n` +
      `domain ${type}\n` +
      `group ${group ? group.id : "none"}\n`;
    return { chunks: [text], stderr: "", status: 0 };
  }

  /** Parses `--cpu N` and `--phys ADDR` out of a command's arguments. */
  private options(cmd: string, args: string[]): { pos: string[]; cpu: number; phys: number | null } | string {
    const pos: string[] = [];
    let cpu = 0;
    let phys: number | null = null;
    for (let i = 0; i < args.length; i++) {
      if (args[i] === "--cpu" || args[i] === "--phys") {
        const v = parseNum(args[i + 1]);
        if (v === null) return `${cmd}: ${args[i]}: expected a number, found ${JSON.stringify(args[i + 1] ?? "")}`;
        if (args[i] === "--cpu") {
          if (v >= this.kernel.cpus) return `${cmd}: --cpu: expected a CPU below ${this.kernel.cpus}, found ${v}`;
          cpu = v;
        } else {
          phys = v;
        }
        i++;
      } else {
        pos.push(args[i]);
      }
    }
    return { pos, cpu, phys };
  }

  private takePhys(size: number): number {
    const p = this.nextPhys;
    this.nextPhys += Math.ceil(size / 4096) * 4096;
    return p;
  }

  private map(args: string[]) {
    const o = this.options("map", args);
    if (typeof o === "string") return { chunks: [], stderr: `${o}\n`, status: 2 };
    const extra = extraOperands("map BDF SIZE [--cpu N] [--phys ADDR]", o.pos, 2);
    if (extra) return extra;
    const f = this.findDevice("map", o.pos[0]);
    if (!f.dev) return f.err;
    const size = parseNum(o.pos[1]);
    if (size === null || size === 0)
      return { chunks: [], stderr: "map: SIZE: expected a positive number\n", status: 2 };
    const phys = o.phys ?? this.takePhys(size);
    const a = this.kernel.dma.mapPhys(f.dev, o.cpu, phys, size);
    if (a === null) return { chunks: [], stderr: `map: ${f.dev.name}: DMA mapping error\n`, status: 1 };
    return { chunks: [`0x${a.toString(16)}\n`], stderr: "", status: 0 };
  }

  private mapSg(args: string[]) {
    const o = this.options("map-sg", args);
    if (typeof o === "string") return { chunks: [], stderr: `${o}\n`, status: 2 };
    const extra = extraOperands("map-sg BDF LEN[@PHYS],... [--cpu N]", o.pos, 2);
    if (extra) return extra;
    const f = this.findDevice("map-sg", o.pos[0]);
    if (!f.dev) return f.err;
    const sg: { phys: number; length: number }[] = [];
    for (const item of (o.pos[1] ?? "").split(",")) {
      const [lenText, physText] = item.split("@");
      const len = parseNum(lenText);
      const phys = physText === undefined ? null : parseNum(physText);
      if (len === null || len === 0 || (physText !== undefined && phys === null)) {
        return { chunks: [], stderr: `map-sg: expected LEN[@PHYS],..., found ${JSON.stringify(item)}\n`, status: 2 };
      }
      sg.push({ phys: phys ?? this.takePhys(len), length: len });
    }
    const m = this.kernel.dma.mapSg(f.dev, o.cpu, sg);
    if (m.nents === 0) return { chunks: [], stderr: `map-sg: ${f.dev.name}: DMA mapping error\n`, status: 1 };
    return {
      chunks: [m.segments.map((s) => `0x${s.dmaAddr.toString(16)} ${s.length}\n`).join("")],
      stderr: "",
      status: 0,
    };
  }

  private unmap(args: string[]) {
    const o = this.options("unmap", args);
    if (typeof o === "string") return { chunks: [], stderr: `${o}\n`, status: 2 };
    const extra = extraOperands("unmap BDF ADDR SIZE [--cpu N]", o.pos, 3);
    if (extra) return extra;
    const f = this.findDevice("unmap", o.pos[0]);
    if (!f.dev) return f.err;
    const addr = parseNum(o.pos[1]);
    const size = parseNum(o.pos[2]);
    if (addr === null || size === null || size === 0) {
      return { chunks: [], stderr: "unmap: expected BDF ADDR SIZE\n", status: 2 };
    }
    if (!this.kernel.dma.unmapPhys(f.dev, o.cpu, addr, size)) {
      return { chunks: [], stderr: `unmap: ${f.dev.name}: 0x${addr.toString(16)}: not mapped\n`, status: 1 };
    }
    return { chunks: [], stderr: "", status: 0 };
  }

  private sleep(args: string[]) {
    const extra = extraOperands("sleep MS", args, 1);
    if (extra) return extra;
    const ms = parseNum(args[0]);
    if (ms === null || !isDurationMs(ms)) {
      return { chunks: [], stderr: `sleep: expected ${DURATION_EXPECTED}, found ${quote(args[0] ?? "")}\n`, status: 2 };
    }
    this.kernel.advanceTo(this.kernel.nowNs + ms * 1_000_000);
    return { chunks: [], stderr: "", status: 0 };
  }
}

/** A command's operands beyond the `n` it takes are an error (status 2), never ignored. */
function extraOperands(usage: string, operands: readonly string[], n: number) {
  if (operands.length <= n) return null;
  return {
    chunks: [],
    stderr: `${usage.split(" ")[0]}: expected "${usage}", found extra operand ${quote(operands[n])}\n`,
    status: 2,
  };
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * A printf numeric argument as bash reads it (strtoimax, base 0): blanks,
 * a sign, then hex (0x), octal (leading 0) or decimal digits, or a quote
 * and a character. What does not parse whole is an error with the value of
 * the leading part; what exceeds 64 bits is clamped.
 */
function printfNumber(text: string): { value: bigint; error: string | null } {
  if (text === "") return { value: 0n, error: null };
  if (text[0] === "'" || text[0] === '"') {
    return { value: text.length > 1 ? BigInt(text.codePointAt(1) ?? 0) : 0n, error: null };
  }
  const m = /^[ \t\n]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(text);
  let value = 0n;
  if (m) {
    const digits = m[2];
    const magnitude =
      digits.length > 1 && digits[0] === "0" && (digits[1] === "x" || digits[1] === "X")
        ? BigInt(digits)
        : digits.length > 1 && digits[0] === "0"
          ? BigInt(`0o${digits.slice(1)}`)
          : BigInt(digits);
    value = m[1] === "-" ? -magnitude : magnitude;
  }
  let error: string | null = null;
  if (!m || m[0].length !== text.length) {
    const kind = /^0[0-9]/.test(text)
      ? "invalid octal number"
      : /^0[xX]/.test(text)
        ? "invalid hex number"
        : "invalid number";
    error = `${text}: ${kind}`;
  }
  if (value > INT64_MAX || value < INT64_MIN) {
    value = value > INT64_MAX ? INT64_MAX : INT64_MIN;
    error ??= `warning: ${text}: Numerical result out of range`;
  }
  return { value, error };
}

function parseNum(s: string | undefined): number | null {
  if (s === undefined || !/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s)) return null;
  const v = Number(BigInt(s));
  return v <= Number.MAX_SAFE_INTEGER ? v : null;
}

function unescapeC(s: string): string {
  return s.replace(/\\(0[0-7]{0,3}|.)/g, (_m, e: string) => {
    if (e[0] === "0") return String.fromCharCode(Number.parseInt(e.slice(1) || "0", 8));
    const map: Record<string, string> = {
      n: "\n",
      t: "\t",
      r: "\r",
      "\\": "\\",
      a: "\u0007",
      b: "\b",
      f: "\f",
      v: "\v",
    };
    return map[e] ?? `\\${e}`;
  });
}

/**
 * Splits a line into words as bash does for these commands: quotes, one
 * backslash escape outside single quotes, `$?`, `#` comments, and `>` (kept
 * as a marker word that no quoted text can produce).
 */
export function tokenize(line: string, lastStatus: number): Word[] {
  const words: Word[] = [];
  let cur = "";
  let inWord = false;
  const end = () => {
    if (inWord) words.push({ text: cur });
    cur = "";
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === " " || c === "\t") {
      end();
    } else if (c === "#" && !inWord) {
      break;
    } else if (c === ">") {
      end();
      words.push({ text: "\u0000>" });
    } else if (c === "'") {
      const j = line.indexOf("'", i + 1);
      if (j < 0) throw new InputError("unexpected EOF while looking for matching `''");
      cur += line.slice(i + 1, j);
      inWord = true;
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && '"\\$`'.includes(line[j + 1] ?? "")) {
          cur += line[++j];
        } else if (line[j] === "$" && line[j + 1] === "?") {
          cur += String(lastStatus);
          j++;
        } else {
          cur += line[j];
        }
      }
      if (j >= line.length) throw new InputError("unexpected EOF while looking for matching `\"'");
      inWord = true;
      i = j;
    } else if (c === "\\") {
      if (i + 1 < line.length) cur += line[++i];
      inWord = true;
    } else if (c === "$" && line[i + 1] === "?") {
      cur += String(lastStatus);
      inWord = true;
      i++;
    } else {
      cur += c;
      inWord = true;
    }
  }
  end();
  return words;
}
