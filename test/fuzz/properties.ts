/**
 * Fuzz properties over every input surface that reads a person's text, run
 * in process (in a worker, under `harness.ts`'s watchdog): `.iovaops`
 * scripts, trace text through the replay, scenario YAML, machine YAML and
 * shell lines. Each asserts the input contract: the input is accepted, or
 * rejected with an `InputError` reading `FILE:LINE: expected ..., found ...`;
 * never another exception (an internal error is a bug), never a hang.
 *
 * The inputs are grammars of the real formats with every token drawn from
 * pools of good, boundary and bad values, then cut, spliced and chunked.
 * Fixed seeds: a failure reproduces with the same seed and the path
 * fast-check prints.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { stringify } from "yaml";
import { OpsRunner } from "../../src/iova/ops.ts";
import { bootMachine, builtinMachine, Shell } from "../../src/machine/index.ts";
import { parseMachine } from "../../src/machine/schema.ts";
import { defaultReplayDevice, Replayer, traceMachineOf } from "../../src/replay/replay.ts";
import { parseScenarioYaml } from "../../src/scenario/scenario.ts";
import { InputError } from "../../src/stdx/errors.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";

type Beat = () => void;

/** The contract: `fn` returns, or throws an InputError `FILE:LINE: expected ..., found ...`. */
function contract<T>(file: string, fn: () => T): T | InputError {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const at = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assert.match(e.message, new RegExp(`^${at}:\\d+: (.*: )?expected .+, found .+`, "s"), "the error's form");
    assert.ok(e.message.length < 2000, `a short message, not ${e.message.length} characters`);
    return e;
  }
}

/** Splits text into 1 to 4 chunks at arbitrary points (a reader must not care where). */
const cuts = fc.array(fc.nat(), { maxLength: 3 });
function chunks(text: string, at: number[]): string[] {
  const points = [...new Set(at.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(text.slice(prev, p));
    prev = p;
  }
  out.push(text.slice(prev));
  return out;
}

/** Text damage: delete, insert, truncate or duplicate a span. */
const damage = fc.record({ kind: fc.nat(3), at: fc.nat(), len: fc.nat(40), ch: fc.string({ maxLength: 4 }) });
function damaged(text: string, ds: { kind: number; at: number; len: number; ch: string }[]): string {
  let t = text;
  for (const d of ds) {
    const p = d.at % (t.length + 1);
    if (d.kind === 0) t = t.slice(0, p) + t.slice(p + d.len);
    else if (d.kind === 1) t = t.slice(0, p) + d.ch + t.slice(p);
    else if (d.kind === 2) t = t.slice(0, p);
    else t = t.slice(0, p) + t.slice(p, p + d.len) + t.slice(p);
  }
  return t;
}

const NUMBERS = [
  "0",
  "1",
  "2",
  "3",
  "31",
  "32",
  "33",
  "127",
  "4096",
  "0xfffff",
  "1048575",
  "0x100000",
  "9007199254740991",
  "9007199254740992",
  "18446744073709551615",
  "0xffffffffffffffff",
  "18446744073709551616",
  "0x10000000000000000",
  "99999999999999999999999",
  "-1",
  "1e3",
  "0x",
  "abc",
  "",
];
const num = fc.oneof(fc.constantFrom(...NUMBERS), fc.nat(2_000_000).map(String));

// ---- .iovaops ----

const opsHeader = fc
  .record({
    granule: fc.constantFrom("4096", "65536", "512", "3000", "0", "1073741824", "2147483648", "x"),
    start: fc.constantFrom("1", "0", "4096", "9007199254740992", "-1"),
    cpus: fc.constantFrom("1", "2", "4", "0", "8193", "64"),
    orders: fc.option(fc.constantFrom("1", "6", "9", "20", "21", "0")),
    kernel: fc.option(fc.constantFrom("mainline", "6.1", "5.15", "5.10", "4.19")),
    extra: fc.option(fc.constantFrom("bogus=1", "cpus=2", "granule")),
  })
  .map(
    (h) =>
      `domain granule=${h.granule} start_pfn=${h.start} cpus=${h.cpus}` +
      (h.orders === null ? "" : ` rcache_orders=${h.orders}`) +
      (h.kernel === null ? "" : ` kernel=${h.kernel}`) +
      (h.extra === null ? "" : ` ${h.extra}`),
  );
const OPS = [
  "alloc",
  "alloc_fast",
  "free",
  "free_fast",
  "reserve",
  "find",
  "cpu",
  "cpu_dead",
  "flush_all",
  "advance",
  "dump",
  "alloc_iova",
  "#",
];
const opsLine = fc
  .tuple(fc.constantFrom(...OPS), fc.array(num, { maxLength: 4 }), fc.constantFrom(" ", " ", " ", "  ", "\t"))
  .map(([op, args, sep]) => [op, ...args].join(sep));
/** A header and lines that run, most of the time: the deeper paths are reached, not only the first check. */
const goodHeader = fc
  .record({
    cpus: fc.constantFrom(1, 2, 4),
    orders: fc.constantFrom(1, 6, 9),
    kernel: fc.constantFrom("mainline", "6.1", "5.15", "5.10"),
  })
  .map((h) => `domain granule=4096 start_pfn=1 cpus=${h.cpus} rcache_orders=${h.orders} kernel=${h.kernel}`);
const size = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(64, 256, 1048576, 2 ** 36));
const limit = fc.constantFrom(0, 1, 31, 0xfffff, 2 ** 36 - 1, 2 ** 52);
const pfn = fc.oneof(fc.integer({ min: 0xff000, max: 0xfffff }), fc.constantFrom(0, 1, 2 ** 36, 2 ** 53 - 1));
const goodLine = fc.oneof(
  fc.tuple(size, limit, fc.nat(1)).map(([a, b, c]) => `alloc ${a} ${b} ${c}`),
  fc.tuple(size, limit, fc.nat(1)).map(([a, b, c]) => `alloc_fast ${a} ${b} ${c}`),
  pfn.map((p) => `free ${p}`),
  fc.tuple(pfn, size).map(([p, z]) => `free_fast ${p} ${z}`),
  fc.tuple(pfn, pfn).map(([a, b]) => `reserve ${Math.min(a, b)} ${Math.max(a, b)}`),
  pfn.map((p) => `find ${p}`),
  fc.nat(3).map((c) => `cpu ${c}`),
  fc.nat(3).map((c) => `cpu_dead ${c}`),
  fc.constantFrom("flush_all", "dump", "# note", ""),
  fc.constantFrom(0, 1, 100, 1000, 86_400_000).map((ms) => `advance ${ms}`),
);
const opsScript = fc
  .tuple(
    fc.option(fc.constantFrom("# comment", "")),
    fc.oneof({ weight: 3, arbitrary: goodHeader }, { weight: 1, arbitrary: opsHeader }),
    fc.array(fc.oneof({ weight: 8, arbitrary: goodLine }, { weight: 1, arbitrary: opsLine }), { maxLength: 80 }),
  )
  .map(([pre, header, lines]) => `${pre === null ? "" : `${pre}\n`}${header}\n${lines.join("\n")}\n`);

function opsProperty(beat: Beat): void {
  fc.assert(
    fc.property(opsScript, fc.array(damage, { maxLength: 2 }), fc.nat(3), cuts, (script, ds, harm, at) => {
      beat();
      const text = harm === 0 ? damaged(script, ds) : script;
      const runner = new OpsRunner("f.iovaops");
      const enc = new TextEncoder();
      contract("f.iovaops", () => {
        for (const c of chunks(text, at)) runner.feed(enc.encode(c));
        return runner.finish();
      });
    }),
    { seed: 20261204, numRuns: 400 },
  );
}

// ---- trace text, through the reader, the reconstruction and the replay ----

function sampleLines(file: string, n: number): string[] {
  return gunzipSync(readFileSync(new URL(`../../samples/${file}`, import.meta.url)))
    .toString()
    .split("\n")
    .slice(0, n);
}
const TRACE_LINES = [
  ...sampleLines("trace-6.1-strict-4k.txt.gz", 400),
  ...sampleLines("trace-6.12-lazy-mixed.txt.gz", 400),
];
const traceLine = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TRACE_LINES) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom("fio-1", "<idle>-0", "kworker/u4:1-25", "x"),
        fc.constantFrom("[000]", "[001]", "[255]", "[999999]", "[x]"),
        fc.constantFrom("5.000001", "0.0", "99999999999.999999999", "1e9", "-1.0"),
        fc.constantFrom("map", "unmap", "dma_map_page", "dma_unmap_page", "dma_map_sg", "dma_unmap_sg", "dma_alloc"),
        fc.array(fc.constantFrom("iova=", "0x", "-", "size=", "paddr=", "dma_addr=", "{", "}", ","), {
          maxLength: 6,
        }),
        fc.array(num, { maxLength: 6 }),
      )
      .map(([task, cpu, ts, ev, words, nums]) => {
        const body = words.map((w, i) => `${w}${nums[i] ?? ""}`).join(" ");
        return `${task} ${cpu} ..... ${ts}: ${ev}: IOMMU: 0000:00:01.0 ${body}`;
      }),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
);
const QEMU = builtinMachine("qemu-q35-nvme");

function traceProperty(beat: Beat): void {
  assert.ok(QEMU);
  const device = defaultReplayDevice(QEMU);
  fc.assert(
    fc.property(
      fc.array(traceLine, { maxLength: 150 }),
      fc.array(damage, { maxLength: 3 }),
      fc.boolean(),
      fc.constantFrom("6.1" as const, "mainline" as const),
      fc.boolean(),
      (lines, ds, strictInput, kernel, strict) => {
        beat();
        const text = damaged(lines.join("\n"), ds);
        contract("t.txt", () => {
          const { events } = readTraceText(text, { file: "t.txt", strictInput });
          const replayer = new Replayer({ machine: QEMU, kernel, device, strict });
          const rc = new Reconstructor({ machine: traceMachineOf(QEMU, device), file: "t.txt" }, (c) =>
            replayer.push(c),
          );
          for (const e of events) rc.push(e);
          rc.end();
          return replayer.end();
        });
      },
    ),
    { seed: 20261205, numRuns: 60 },
  );
}

// ---- scenario YAML ----

const value = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.5, 2, 12, 64, 65, 1000, 1e9, 1e30, Number.MAX_SAFE_INTEGER),
  fc.constantFrom("", "x", "6.1", "strict", "lazy", "fio", "trace", "network", "imix", "default", "sysfs", "driver"),
  fc.constantFrom(null, true, [], {}, [1, 2], { kind: "fio" }),
);
const SCENARIO_KEYS = [
  "name",
  "machine",
  "kernel",
  "seed",
  "durationMs",
  "warmupMs",
  "disks",
  "hba",
  "completion",
  "cpusPerCompletionQueue",
  "workload",
  "fio",
  "cmdline",
  "cost",
  "runs",
  "colour",
];
const run = fc.record(
  {
    name: fc.constantFrom("a", "b", "c", ""),
    mode: fc.constantFrom("strict", "lazy", "strict", "fast"),
    range: fc.constantFrom("default", "cmdline", "driver", "sysfs", "x"),
    bytes: fc.constantFrom(null, 4096, 524288, 0, -1, 1.5),
  },
  { requiredKeys: ["name", "mode", "range"] },
);
const scenarioData = fc.dictionary(
  fc.constantFrom(...SCENARIO_KEYS),
  fc.oneof(
    value,
    fc.array(run, { maxLength: 3 }),
    fc.record(
      {
        kind: fc.constantFrom("fio", "network", "trace", "x"),
        file: fc.constantFrom("", "/nonexistent", "x.gz"),
        mix: fc.constantFrom("imix", "tso-64k", "x"),
        queues: value,
        timeScale: value,
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.constantFrom("count", "queueDepth", "iopsMax", "treeWalkStepNs", "lockHandoffNs", "x"), value, {
      maxKeys: 3,
    }),
  ),
  { maxKeys: 6 },
);
/** YAML text with the shapes that broke loaders before: aliases, anchors, empty documents, flow and block mixes. */
const yamlExtras = fc.constantFrom(
  "",
  "---\n",
  "---\n---\n",
  "a: &a 1\nb: *a\n",
  `x: &x 1\ny: [${Array(150).fill("*x").join(", ")}]\n`,
  "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
  "seed: *nowhere\n",
  "? [a]\n: 1\n",
  "seed: 1\nseed: 2\n",
  "- 1\n",
  "!!binary aGVsbG8=\n",
  "\t- x\n",
  "seed: 0x10\n",
  "durationMs: .inf\n",
  "durationMs: 86400001\n",
);

/** Scenarios that validate, most of the time, so the checks after the schema run too. */
const goodScenario = fc.record(
  {
    name: fc.constantFrom("a", "fuzz"),
    machine: fc.constantFrom("qemu-q35-nvme", "hisi-sas-128"),
    kernel: fc.constantFrom("6.1", "mainline", "5.10"),
    seed: fc.nat(1000),
    durationMs: fc.constantFrom(0.001, 1, 5, 86_400_000),
    warmupMs: fc.constantFrom(0, 0.5),
    disks: fc.record({ count: fc.constantFrom(1, 12, 64), queueDepth: fc.constantFrom(1, 32) }, { requiredKeys: [] }),
    workload: fc.oneof(
      fc.constant({ kind: "fio" }),
      fc.record({
        kind: fc.constant("network"),
        mix: fc.constantFrom("imix", "tso-64k"),
        queues: fc.constantFrom(1, 4),
      }),
      fc.record({ kind: fc.constant("trace"), file: fc.constant("t.gz"), timeScale: fc.constantFrom(0.1, 1) }),
    ),
    runs: fc
      .uniqueArray(
        fc.record({
          name: fc.constantFrom("a", "b", "c"),
          mode: fc.constantFrom("strict", "lazy"),
          range: fc.constantFrom("default", "cmdline"),
          bytes: fc.constantFrom(4096, 524288),
        }),
        { minLength: 1, maxLength: 3, selector: (r) => r.name },
      )
      .map((rs) => rs.map((r) => (r.range === "default" ? { ...r, bytes: null } : r))),
    cost: fc.dictionary(fc.constantFrom("lockHandoffNs", "treeWalkStepNs"), fc.constantFrom(0, 100), { maxKeys: 2 }),
  },
  { requiredKeys: [] },
);

function scenarioProperty(beat: Beat): void {
  fc.assert(
    fc.property(
      fc.oneof({ weight: 3, arbitrary: goodScenario }, { weight: 1, arbitrary: scenarioData }),
      fc.oneof({ weight: 4, arbitrary: fc.constant("") }, { weight: 1, arbitrary: yamlExtras }),
      fc.array(damage, { maxLength: 2 }),
      fc.nat(3),
      (data, extra, ds, harm) => {
        beat();
        const yamlText = extra + stringify(data);
        const text = harm === 0 ? damaged(yamlText, ds) : yamlText;
        contract("s.yaml", () => parseScenarioYaml(text, "s.yaml"));
      },
    ),
    { seed: 20261206, numRuns: 500 },
  );
}

// ---- machine YAML, and booting what is accepted ----

const MACHINE_PATHS: (string | number)[][] = [
  ["name"],
  ["cpus"],
  ["kernel"],
  ["hz"],
  ["pageSize"],
  ["cmdline"],
  ["iommu", "kind"],
  ["iommu", "granule"],
  ["iommu", "addressWidth"],
  ["iommu", "cachingMode"],
  ["hostBridges", 0, "name"],
  ["hostBridges", 0, "windows", 0, "start"],
  ["hostBridges", 0, "windows", 0, "end"],
  ["devices", 0, "bdf"],
  ["devices", 0, "group"],
  ["devices", 0, "dmaMaskBits"],
  ["devices", 0, "hostBridge"],
  ["devices", 1, "untrusted"],
  ["devices", 1, "reservedRegions"],
  ["drivers", 0, "model"],
  ["drivers", 0, "match"],
  ["drivers", 0, "disks"],
  ["devices"],
  ["drivers"],
  ["extra"],
];
const machineEdit = fc.record({
  path: fc.constantFrom(...MACHINE_PATHS),
  value: fc.oneof(
    value,
    fc.constantFrom(
      "0000:00:01.0",
      "0000:00:09.0",
      "pci0000:00",
      "0xfee00000",
      "nvme",
      "hisi_sas_v3_hw",
      "iommu.strict=0",
      "iommu.max_opt_dma_size=1M iommu.passthrough=1",
      "intel-vtd",
      "arm-smmu-v3",
      4096,
      65536,
      39,
      48,
      64,
      24,
      4096,
    ),
    fc.constant(undefined),
  ),
});

function setAt(o: unknown, path: (string | number)[], v: unknown): void {
  let cur = o as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) {
    if (cur[p] === null || typeof cur[p] !== "object") return;
    cur = cur[p] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1];
  if (v === undefined) delete cur[last];
  else cur[last] = v;
}

function machineProperty(beat: Beat): void {
  const bases = ["qemu-q35-nvme", "hisi-sas-128"].map((n) => builtinMachine(n));
  fc.assert(
    fc.property(
      fc.nat(1),
      fc.array(machineEdit, { maxLength: 3 }),
      fc.array(damage, { maxLength: 1 }),
      fc.boolean(),
      (which, edits, ds, json) => {
        beat();
        const m = JSON.parse(JSON.stringify(bases[which])) as unknown;
        for (const e of edits) setAt(m, e.path, e.value);
        const text = damaged(json ? JSON.stringify(m, null, 1) : stringify(m), ds);
        const desc = contract("m.yaml", () => parseMachine(text, "m.yaml"));
        if (desc instanceof InputError) return;
        // An accepted description boots, or is refused as input; the model never fails.
        try {
          const k = bootMachine(desc, { cpus: Math.min(desc.cpus, 8) });
          k.verifyInvariants();
        } catch (e) {
          if (!(e instanceof InputError)) throw e;
        }
      },
    ),
    { seed: 20261207, numRuns: 150 },
  );
}

// ---- shell lines ----

const SHELL_WORDS = [
  "cat",
  "echo",
  "printf",
  "ls",
  "readlink",
  "dmesg",
  "dma-info",
  "map",
  "map-sg",
  "unmap",
  "sleep",
  "help",
  "exit",
  "rm",
  "/sys/kernel/iommu_groups/1/type",
  "/sys/kernel/iommu_groups/1/max_opt_dma_size",
  "/sys/kernel/debug/iova/1/range",
  "/sys/bus/pci/drivers/nvme/unbind",
  "/sys/bus/pci/drivers/nvme/bind",
  "/sys",
  "/",
  "0000:00:01.0",
  "0000:00:02.0",
  "0000:99:99.9",
  "DMA-FQ",
  "identity",
  "auto",
  ">",
  "$?",
  "'quoted word'",
  '"dq $? word"',
  "'unclosed",
  "%d",
  "%s%d%x%u%%",
  "\\n",
  "abc",
  "def",
  "--cpu",
  "--phys",
  "4096@0x1000,8192",
  "-n",
  "-e",
  "#",
  "\\",
];
const shellLine = fc
  .array(fc.oneof(fc.constantFrom(...SHELL_WORDS), num), { minLength: 0, maxLength: 7 })
  .map((ws) => ws.join(" "));

function shellProperty(beat: Beat): void {
  fc.assert(
    fc.property(
      fc.constantFrom("qemu-q35-nvme", "hisi-sas-128"),
      fc.array(shellLine, { minLength: 1, maxLength: 25 }),
      (machine, lines) => {
        beat();
        const k = bootMachine(machine, { cpus: 4 });
        const sh = new Shell(k);
        lines.forEach((line, i) => {
          if (sh.exitStatus !== null) return;
          const r = sh.runLine(line, i + 1);
          assert.ok(Number.isInteger(r.status) && r.status >= 0 && r.status <= 255, `status ${r.status}`);
          assert.equal(typeof r.stdout, "string");
          assert.ok(r.stdout.length < 1 << 20, "bounded output");
        });
        k.verifyInvariants();
      },
    ),
    { seed: 20261208, numRuns: 120 },
  );
}

export const PROPERTIES: Record<string, (beat: Beat) => void> = {
  ops: opsProperty,
  trace: traceProperty,
  scenario: scenarioProperty,
  machine: machineProperty,
  shell: shellProperty,
};
