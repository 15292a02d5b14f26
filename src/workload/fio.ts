/**
 * fio job files (fio 3.x, `man fio`): an INI text with `[global]` and job
 * sections, and the I/O stream each job issues. A pure parser over text (no
 * file access: the CLI reads the file and passes its name for messages).
 *
 * Supported options: rw, rwmixread, bs, bssplit, iodepth, numjobs,
 * cpus_allowed, cpus_allowed_policy, size, io_size (io_limit), runtime,
 * ramp_time, time_based, direct, ioengine, filename, file_service_type, name, group_reporting.
 * An option fio has but iovalab does not model is reported as
 * `FILE:LINE: unknown fio option "x"`, as an error or in the warning list, as
 * the caller decides: never ignored silently. Bad values raise
 * `FILE:LINE: expected ..., found ...`.
 *
 * Semantics kept from fio: a `[global]` section applies to the jobs after it
 * (a later `[global]` changes only the jobs that follow); sizes use
 * kb_base=1024 (4k = 4KiB = 4096); a bare runtime is in seconds; `numjobs=N`
 * clones a job N times; `bssplit` percentages without a value share the
 * rest equally.
 */

import { F64_ZERO } from "../stdx/arrays.ts";
import { InputError, quote } from "../stdx/errors.ts";
import type { Prng } from "../stdx/prng.ts";

export type FioRw = "read" | "write" | "rw" | "randread" | "randwrite" | "randrw";

export interface FioBsSplit {
  bytes: number;
  /** Share of I/Os in percent. */
  percent: number;
}

export interface FioJob {
  name: string;
  /** Line of the job's section header. */
  line: number;
  rw: FioRw;
  /** Percentage of reads in a mixed workload (rw, randrw). */
  rwmixread: number;
  bs: number;
  bssplit: FioBsSplit[] | null;
  iodepth: number;
  numjobs: number;
  /** CPUs the job may run on, ascending; null when unrestricted. */
  cpusAllowed: number[] | null;
  cpusAllowedPolicy: "shared" | "split";
  sizeBytes: number | null;
  ioSizeBytes: number | null;
  runtimeNs: number | null;
  rampTimeNs: number;
  timeBased: boolean;
  direct: boolean;
  ioengine: string;
  filename: string | null;
  /**
   * How a thread of several files (`filename=a:b`) picks the file of its next
   * I/O: fio's `file_service_type`, default `roundrobin`, switching after
   * `ios` I/Os (the `:N` suffix, default 1).
   */
  fileService: { kind: "roundrobin" | "random"; ios: number };
  groupReporting: boolean;
}

export interface FioParseOptions {
  /** "error": an unknown option throws; "warn": it is listed in `warnings`. */
  unknownOptions?: "error" | "warn";
}

export interface FioJobFile {
  jobs: FioJob[];
  warnings: string[];
}

const RW_MODES: Record<string, FioRw> = {
  read: "read",
  write: "write",
  rw: "rw",
  readwrite: "rw",
  randread: "randread",
  randwrite: "randwrite",
  randrw: "randrw",
};

const IOENGINES = ["libaio", "io_uring", "psync", "sync", "pvsync", "pvsync2", "posixaio", "mmap", "null"];

function defaults(name: string, line: number): FioJob {
  return {
    name,
    line,
    rw: "read",
    rwmixread: 50,
    bs: 4096,
    bssplit: null,
    iodepth: 1,
    numjobs: 1,
    cpusAllowed: null,
    cpusAllowedPolicy: "shared",
    sizeBytes: null,
    ioSizeBytes: null,
    runtimeNs: null,
    rampTimeNs: 0,
    timeBased: false,
    direct: false,
    ioengine: "psync",
    filename: null,
    fileService: { kind: "roundrobin", ios: 1 },
    groupReporting: false,
  };
}

/** The longest read or write the kernel does at once: INT_MAX rounded down to a 4 KiB page (rw_verify_area). */
const MAX_RW_COUNT = 0x7fff_f000;
/** The most bytes the jobs' threads may have submitted at once, at their largest block size. */
const MAX_HELD_BYTES = 2 ** 38;

/** Parses a job file. `file` names it in messages. */
export function parseFioJobFile(text: string, file: string, opts: FioParseOptions = {}): FioJobFile {
  const unknown = opts.unknownOptions ?? "error";
  const warnings: string[] = [];
  const jobs: FioJob[] = [];
  const global = defaults("global", 0);
  let current: FioJob | null = null;
  let inGlobal = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${file}:${i + 1}`;
    const line = lines[i].trim();
    if (line === "" || line.startsWith(";") || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      if (!line.endsWith("]"))
        throw new InputError(`${where}: expected a section header like [job], found ${quote(line)}`);
      const name = line.slice(1, -1).trim();
      if (name === "" || /[\s[\]]/.test(name)) {
        throw new InputError(`${where}: expected a section name without spaces or brackets, found ${quote(line)}`);
      }
      if (current !== null) jobs.push(finish(current, file));
      if (name === "global") {
        inGlobal = true;
        current = null;
      } else {
        inGlobal = false;
        current = { ...global, name, line: i + 1 };
      }
      continue;
    }
    const target = inGlobal ? global : current;
    if (target === null) {
      throw new InputError(
        `${where}: expected a [global] or [job] section header before options, found ${quote(line)}`,
      );
    }
    const eq = line.indexOf("=");
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    const value = eq < 0 ? null : line.slice(eq + 1).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new InputError(`${where}: expected an option like key=value, found ${quote(line)}`);
    }
    const known = setOption(target, key, value, where);
    if (!known) {
      const msg = `${where}: unknown fio option ${quote(key)}`;
      if (unknown === "error") throw new InputError(msg);
      warnings.push(msg);
    }
  }
  if (current !== null) jobs.push(finish(current, file));
  if (jobs.length === 0) throw new InputError(`${file}: expected at least one job section, found none`);
  // Each thread's I/O is held page by page from its submission (a thread waiting for a tag holds
  // all of it): past this the simulation's memory runs out, not the machine's.
  let held = 0;
  for (const j of jobs) held += j.numjobs * (j.bssplit === null ? j.bs : Math.max(...j.bssplit.map((b) => b.bytes)));
  if (held > MAX_HELD_BYTES) {
    throw new InputError(
      `${file}: expected numjobs x the largest block size, over the jobs, up to ${MAX_HELD_BYTES} (256 GiB: the simulation holds each thread's I/O page by page), found ${held}`,
    );
  }
  return { jobs, warnings };
}

function need(value: string | null, key: string, where: string, what: string): string {
  if (value === null || value === "") throw new InputError(`${where}: ${key}: expected ${what}, found end of line`);
  return value;
}

/** Applies one option; false if fio's option is unknown here. */
function setOption(job: FioJob, key: string, raw: string | null, where: string): boolean {
  switch (key) {
    case "rw":
    case "readwrite": {
      const v = need(raw, key, where, "an I/O pattern").toLowerCase();
      const mode = RW_MODES[v];
      if (mode === undefined) {
        throw new InputError(`${where}: rw: expected one of ${Object.keys(RW_MODES).join(", ")}, found ${quote(v)}`);
      }
      job.rw = mode;
      return true;
    }
    case "rwmixread":
      job.rwmixread = parseIntIn(need(raw, key, where, "a percentage"), 0, 100, key, where, "a percentage 0 to 100");
      return true;
    case "rwmixwrite":
      job.rwmixread =
        100 - parseIntIn(need(raw, key, where, "a percentage"), 0, 100, key, where, "a percentage 0 to 100");
      return true;
    case "bs":
    case "blocksize": {
      const v = need(raw, key, where, "a block size like 4k");
      // fio's "bs=r,w": one size for reads and one for writes; iovalab keeps one size, so both must agree.
      const parts = v.split(",");
      const sizes = parts.map((p) => parseSize(p.trim(), key, where));
      if (sizes.some((s) => s !== sizes[0])) {
        throw new InputError(`${where}: bs: expected the same size for reads and writes, found ${quote(v)}`);
      }
      if (sizes[0] === 0) throw new InputError(`${where}: bs: expected a size above 0, found ${quote(v)}`);
      job.bs = sizes[0];
      return true;
    }
    case "bssplit":
      job.bssplit = parseBsSplit(need(raw, key, where, "a split like 4k/50:64k/50"), where);
      return true;
    case "iodepth":
      job.iodepth = parseIntIn(
        need(raw, key, where, "a queue depth"),
        1,
        65536,
        key,
        where,
        "a queue depth 1 to 65536",
      );
      return true;
    case "numjobs":
      job.numjobs = parseIntIn(need(raw, key, where, "a job count"), 1, 65536, key, where, "a job count 1 to 65536");
      return true;
    case "cpus_allowed":
    case "cpus_allowed_list":
      job.cpusAllowed = parseCpuList(need(raw, key, where, "a CPU list like 0-127,130"), key, where);
      return true;
    case "cpus_allowed_policy": {
      const v = need(raw, key, where, "shared or split");
      if (v !== "shared" && v !== "split") {
        throw new InputError(`${where}: cpus_allowed_policy: expected shared or split, found ${quote(v)}`);
      }
      job.cpusAllowedPolicy = v;
      return true;
    }
    case "size":
      job.sizeBytes = parseSize(need(raw, key, where, "a size like 1g"), key, where);
      return true;
    case "io_size":
    case "io_limit":
      job.ioSizeBytes = parseSize(need(raw, key, where, "a size like 1g"), key, where);
      return true;
    case "runtime":
    case "timeout":
      job.runtimeNs = parseTimeNs(need(raw, key, where, "a time like 60s"), key, where);
      return true;
    case "ramp_time":
      job.rampTimeNs = parseTimeNs(need(raw, key, where, "a time like 5s"), key, where);
      return true;
    case "time_based":
      job.timeBased = parseBool(raw, key, where);
      return true;
    case "direct":
      job.direct = parseBool(raw, key, where);
      return true;
    case "buffered":
      job.direct = !parseBool(raw, key, where);
      return true;
    case "group_reporting":
      job.groupReporting = parseBool(raw, key, where);
      return true;
    case "ioengine": {
      const v = need(raw, key, where, "an I/O engine");
      if (!IOENGINES.includes(v)) {
        throw new InputError(`${where}: ioengine: expected one of ${IOENGINES.join(", ")}, found ${quote(v)}`);
      }
      job.ioengine = v;
      return true;
    }
    case "filename":
      job.filename = need(raw, key, where, "a file or device name");
      return true;
    case "file_service_type": {
      const v = need(raw, key, where, "roundrobin or random, with an optional :N");
      const m = /^(roundrobin|random)(?::([0-9]+))?$/.exec(v);
      if (m === null || (m[2] !== undefined && Number(m[2]) < 1)) {
        throw new InputError(
          `${where}: file_service_type: expected roundrobin or random, with an optional :N of I/Os per switch (sequential and the skewed kinds are not modelled), found ${quote(v)}`,
        );
      }
      job.fileService = { kind: m[1] as "roundrobin" | "random", ios: m[2] === undefined ? 1 : Number(m[2]) };
      return true;
    }
    case "name":
      job.name = need(raw, key, where, "a job name");
      return true;
    default:
      return false;
  }
}

/** The job's invariants that need every option: checked at the end of its section. */
function finish(job: FioJob, file: string): FioJob {
  const where = `${file}:${job.line}`;
  if (job.timeBased && job.runtimeNs === null) {
    throw new InputError(`${where}: [${job.name}]: expected runtime= with time_based, found none`);
  }
  // A device as filename gives fio its size; without one the job needs a size or a time to stop.
  if (job.sizeBytes === null && job.ioSizeBytes === null && job.runtimeNs === null && job.filename === null) {
    throw new InputError(`${where}: [${job.name}]: expected size=, io_size=, runtime= or filename=, found none`);
  }
  const blockSizes = job.bssplit === null ? [job.bs] : job.bssplit.map((s) => s.bytes);
  for (const b of blockSizes) {
    if (b > MAX_RW_COUNT) {
      throw new InputError(
        `${where}: [${job.name}]: expected block sizes up to ${MAX_RW_COUNT} (MAX_RW_COUNT: the kernel cuts a larger read or write short), found ${b}`,
      );
    }
  }
  if (job.direct) {
    for (const b of blockSizes) {
      if (b % 512 !== 0) {
        throw new InputError(
          `${where}: [${job.name}]: expected block sizes in multiples of 512 with direct=1, found ${b}`,
        );
      }
    }
  }
  if (job.sizeBytes !== null && job.sizeBytes < Math.max(...blockSizes)) {
    throw new InputError(`${where}: [${job.name}]: expected size= at least the block size, found ${job.sizeBytes}`);
  }
  return job;
}

function parseIntIn(v: string, lo: number, hi: number, key: string, where: string, what: string): number {
  if (!/^[0-9]+$/.test(v)) throw new InputError(`${where}: ${key}: expected ${what}, found ${quote(v)}`);
  const n = Number(v);
  if (n < lo || n > hi) throw new InputError(`${where}: ${key}: expected ${what}, found ${quote(v)}`);
  return n;
}

function parseBool(v: string | null, key: string, where: string): boolean {
  if (v === null || v === "1" || v === "true") return true;
  if (v === "0" || v === "false") return false;
  throw new InputError(`${where}: ${key}: expected 0 or 1, found ${quote(v)}`);
}

const SIZE_UNITS: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };

/** A fio size: an integer with an optional k/m/g/t/p suffix (also KiB, kb: kb_base=1024). */
export function parseSize(v: string, key: string, where: string): number {
  const m = /^([0-9]+)\s*([kmgtp]?)(i?b)?$/i.exec(v);
  if (m === null || (m[2] === "" && m[3] !== undefined && m[3].toLowerCase() !== "b")) {
    throw new InputError(`${where}: ${key}: expected a size like 4k, 512 or 1g, found ${quote(v)}`);
  }
  const n = Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()];
  if (!Number.isSafeInteger(n))
    throw new InputError(`${where}: ${key}: expected a size below 2^53 bytes, found ${quote(v)}`);
  return n;
}

const TIME_UNITS: Record<string, number> = { "": 1e9, s: 1e9, ms: 1e6, us: 1e3, m: 60e9, h: 3600e9, d: 86400e9 };

/** A fio time: an integer with an optional unit (s, ms, us, m, h, d); bare numbers are seconds. */
export function parseTimeNs(v: string, key: string, where: string): number {
  const m = /^([0-9]+)\s*(s|ms|us|m|h|d)?$/i.exec(v);
  if (m === null) throw new InputError(`${where}: ${key}: expected a time like 60, 30s or 500ms, found ${quote(v)}`);
  const n = Number(m[1]) * TIME_UNITS[(m[2] ?? "").toLowerCase()];
  if (!Number.isSafeInteger(n))
    throw new InputError(`${where}: ${key}: expected a time below 2^53 ns, found ${quote(v)}`);
  return n;
}

/** `cpus_allowed`: comma-separated CPUs and inclusive ranges, e.g. `0-127,130`. */
export function parseCpuList(v: string, key: string, where: string): number[] {
  const cpus = new Set<number>();
  for (const part of v.split(",")) {
    const m = /^\s*([0-9]+)(?:\s*-\s*([0-9]+))?\s*$/.exec(part);
    if (m === null) throw new InputError(`${where}: ${key}: expected a CPU list like 0-127,130, found ${quote(v)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo)
      throw new InputError(`${where}: ${key}: expected a range low-high with low <= high, found ${quote(part.trim())}`);
    if (hi >= 65536)
      throw new InputError(`${where}: ${key}: expected CPU numbers below 65536, found ${quote(part.trim())}`);
    for (let c = lo; c <= hi; c++) cpus.add(c);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** `bssplit=4k/50:64k/40:1m/10`; entries without a percentage share what is left equally. */
function parseBsSplit(v: string, where: string): FioBsSplit[] {
  // fio's "reads,writes" form: one list only here.
  if (v.includes(","))
    throw new InputError(`${where}: bssplit: expected one list for reads and writes, found ${quote(v)}`);
  const out: FioBsSplit[] = [];
  const open: number[] = [];
  let given = 0;
  for (const entry of v.split(":")) {
    const [sizeText, pctText, extra] = entry.split("/");
    if (extra !== undefined || sizeText === undefined || sizeText.trim() === "") {
      throw new InputError(`${where}: bssplit: expected entries like 4k/50, found ${quote(entry)}`);
    }
    const bytes = parseSize(sizeText.trim(), "bssplit", where);
    if (bytes === 0) throw new InputError(`${where}: bssplit: expected a size above 0, found ${quote(entry)}`);
    if (pctText === undefined || pctText.trim() === "") {
      open.push(out.length);
      out.push({ bytes, percent: 0 });
      continue;
    }
    const percent = parseIntIn(pctText.trim(), 0, 100, "bssplit", where, "a percentage 0 to 100");
    given += percent;
    out.push({ bytes, percent });
  }
  if (given > 100 || (open.length === 0 && given !== 100)) {
    throw new InputError(`${where}: bssplit: expected percentages adding up to 100, found ${given}`);
  }
  // Integer shares: the first open entries take the remainder's leftover, so the total is exactly 100.
  const left = 100 - given;
  open.forEach((idx, k) => {
    out[idx].percent = Math.floor(left / open.length) + (k < left % open.length ? 1 : 0);
  });
  return out;
}

/** One running copy of a job (`numjobs` makes several), with the CPU it is placed on. */
export interface FioJobInstance {
  job: FioJob;
  /** 0 .. numjobs-1 */
  index: number;
  /** The CPU this instance's thread runs on. */
  cpu: number;
}

/**
 * Expands `numjobs` and places each instance on a CPU. fio's default policy
 * (`shared`) lets the scheduler pick any allowed CPU; iovalab places
 * instance i on the i-th allowed CPU, round robin, which is where a balanced
 * scheduler settles. `split` gives each instance its own CPU, as fio does.
 * A job without `cpus_allowed` may use every CPU of the machine.
 */
export function expandJobs(jobs: readonly FioJob[], machineCpus: number): FioJobInstance[] {
  const out: FioJobInstance[] = [];
  let next = 0;
  for (const job of jobs) {
    const allowed = job.cpusAllowed ?? Array.from({ length: machineCpus }, (_, i) => i);
    const bad = allowed.find((c) => c >= machineCpus);
    if (bad !== undefined) {
      throw new InputError(`[${job.name}]: cpus_allowed: expected CPUs below ${machineCpus}, found ${bad}`);
    }
    for (let i = 0; i < job.numjobs; i++) {
      const cpu = job.cpusAllowed === null ? next++ % machineCpus : allowed[i % allowed.length];
      out.push({ job, index: i, cpu });
    }
  }
  return out;
}

export interface FioIo {
  offset: number;
  bytes: number;
  write: boolean;
}

/**
 * The I/O stream of one job instance, as fio generates it: sequential
 * patterns advance by the block size and wrap at `size`; random patterns
 * pick block-aligned offsets uniformly (fio's default random map aside: no
 * "every block once" guarantee); `bssplit` picks each size by its share; mixed
 * patterns pick read or write by `rwmixread`. Offsets are relative to the
 * instance's own region (instance i starts at i * size, as fio's per-job files).
 */
export class FioStream {
  readonly job: FioJob;
  private readonly prng: Prng;
  private readonly regionBytes: number;
  private readonly baseOffset: number;
  private readonly alignBytes: number;
  private position = 0;
  issued = 0;
  bytesIssued = 0;

  private readonly files: number;

  /**
   * `regionBytes` stands for `size` when the job has none (a whole device).
   * One of `files` files of the job (`filename=a:b`): fio divides `size`
   * (and `io_size`) between them; a device without `size` is read whole.
   */
  constructor(instance: FioJobInstance, prng: Prng, deviceBytes: number, files = 1) {
    this.job = instance.job;
    this.prng = prng;
    this.files = files;
    this.regionBytes = this.job.sizeBytes === null ? deviceBytes : Math.floor(this.job.sizeBytes / files);
    this.baseOffset = instance.index * this.regionBytes;
    const sizes = this.job.bssplit === null ? [this.job.bs] : this.job.bssplit.map((s) => s.bytes);
    this.alignBytes = Math.min(...sizes);
  }

  /** True when the job's byte budget (io_size, else size) is used up; time-based jobs never finish here. */
  get done(): boolean {
    if (this.job.timeBased) return false;
    const budget = this.job.ioSizeBytes === null ? this.regionBytes : Math.floor(this.job.ioSizeBytes / this.files);
    return this.bytesIssued >= budget;
  }

  next(): FioIo {
    const job = this.job;
    const bytes = this.pickSize();
    let write: boolean;
    switch (job.rw) {
      case "read":
      case "randread":
        write = false;
        break;
      case "write":
      case "randwrite":
        write = true;
        break;
      default:
        write = this.prng.below(100) >= job.rwmixread;
    }
    let offset: number;
    if (job.rw === "randread" || job.rw === "randwrite" || job.rw === "randrw") {
      const slots = Math.max(1, Math.floor((this.regionBytes - bytes) / this.alignBytes) + 1);
      offset = this.prng.below(slots) * this.alignBytes;
    } else {
      if (this.position + bytes > this.regionBytes) this.position = 0;
      offset = this.position;
      this.position += bytes;
    }
    this.issued++;
    this.bytesIssued += bytes;
    const io = this.io;
    io.offset = this.baseOffset + offset;
    io.bytes = bytes;
    io.write = write;
    return io;
  }

  /** `next()`'s result, refilled by each call (no allocation per I/O): read it before the next. */
  private readonly io: FioIo = { offset: F64_ZERO, bytes: 0, write: false };

  private pickSize(): number {
    const split = this.job.bssplit;
    if (split === null) return this.job.bs;
    let r = this.prng.below(100);
    for (const s of split) {
      if (r < s.percent) return s.bytes;
      r -= s.percent;
    }
    return split[split.length - 1].bytes;
  }
}
