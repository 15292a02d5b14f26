/**
 * `iovalab replay` and the replay driver: a strict trace of the q35 NVMe
 * machine must replay with every IOVA the kernel chose (issue 4 part 4).
 * The expected IOVAs are the trace's own `iova=` fields, read with a plain
 * regular expression; nothing here is copied from the replay's output.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { builtinMachine } from "../../src/machine/index.ts";
import { Replayer, traceMachineOf } from "../../src/replay/replay.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { Reconstructor } from "../../src/trace/reconstruct.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { quickSkip, sharedSkip } from "../helpers/quick.ts";
import { traceOracle } from "./trace-oracle.ts";

const MAIN = new URL("../../bin/iovalab.js", import.meta.url).pathname;
const FIXTURE = new URL("../fixtures/traces/linux-6.1-strict-4k-head600.txt.gz", import.meta.url).pathname;
const FULL = new URL("../../../shared/kernel/trace-strict-4k.txt.gz", import.meta.url).pathname;

/** The `iova=` of every `map` event, as the trace prints it (0x%016llx), with its line. */
function traceMaps(text: string): { line: number; iova: string }[] {
  const out: { line: number; iova: string }[] = [];
  text.split("\n").forEach((l, i) => {
    const m = / map: IOMMU: iova=(0x[0-9a-f]{16}) /.exec(l);
    if (m) out.push({ line: i + 1, iova: m[1] });
  });
  return out;
}

function traceIovas(text: string): string[] {
  return traceMaps(text).map((m) => m.iova);
}

/**
 * The trace's IOVAs up to the first map still in flight where the copy was cut (beyond the
 * driver's 44 probe-time pages of lines 13-66): with no unmap after it, the trace cannot say
 * whether back-to-back maps of consecutive IOVAs were one allocation or several.
 */
function decidedIovas(text: string): string[] {
  const cut = traceOracle(text).liveMapLines.find((l) => l > 66) ?? Number.POSITIVE_INFINITY;
  return traceMaps(text)
    .filter((m) => m.line < cut)
    .map((m) => m.iova);
}

function replayText(text: string, strict: boolean, irqReorder?: boolean, cpuOrder?: boolean) {
  const machine = builtinMachine("qemu-q35-nvme");
  assert.ok(machine);
  const emitted: string[] = [];
  const rp = new Replayer({ machine, kernel: "6.1", strict, irqReorder, cpuOrder, emitIova: (t) => emitted.push(t) });
  const rc = new Reconstructor({ machine: traceMachineOf(machine, "0000:00:01.0") }, (c) => rp.push(c));
  const { events } = readTraceText(text, { file: "t", strictInput: true });
  for (const e of events) rc.push(e);
  rc.end();
  return { result: rp.end(), emitted };
}

test("the strict 6.1 trace's first 600 lines replay with every IOVA the kernel chose", () => {
  const text = gunzipSync(readFileSync(FIXTURE)).toString();
  const { result, emitted } = replayText(text, true);
  const want = decidedIovas(text);
  assert.ok(want.length > 300);
  assert.deepEqual(emitted.slice(0, want.length), want);
  assert.equal(emitted.length, traceIovas(text).length);
  assert.equal(result.refusedUnmaps, 0);
});

test("without replaying interrupted allocations before the interrupt's unmaps, the replay diverges where the trace shows it", () => {
  // Trace lines 498-511: a hardirq frees 13 IOVAs on CPU 0, then CPU 0's map at line 511 gets 0xfffac000,
  // the magazine's top before those frees (the allocation came before the interrupt).
  const text = gunzipSync(readFileSync(FIXTURE)).toString();
  // (Nor trying the CPUs' other orders where an IOVA differs, which finds the same move from the IOVAs.)
  const { result } = replayText(text, true, false, false);
  assert.equal(result.firstMismatch?.line, 511);
  assert.equal(result.firstMismatch?.traceIova, 0xfffa_c000);
});

test("iovalab replay --emit-iovas prints the trace's own IOVAs for a strict trace", () => {
  const out = iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--emit-iovas"]);
  assert.equal(out.status, 0, out.stderr);
  const text = gunzipSync(readFileSync(FIXTURE)).toString();
  const want = decidedIovas(text);
  assert.deepEqual(out.stdout.split("\n").slice(0, want.length), want);
});

test("iovalab replay prints a summary; bad input exits 2 with FILE:LINE", () => {
  const out = iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--lazy"]);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /^trace: .*: 600 lines, 588 DMA events \(map 322, unmap 266\)/);
  assert.match(out.stdout, /kernel 6\.1, lazy \(flush queue\), device 0000:00:01\.0 \(group1\)/);
  assert.match(out.stdout, /findings \(DMA-API debug\): live-at-end /);
  // --lazy on a trace captured strict (the machine's command line) is a what-if: the baseline replays as captured.
  assert.match(out.stdout, /\nsettings +6\.1, strict, 6 rcache classes +6\.1, lazy, 6 rcache classes\n/);
  const bad = iovalab(
    ["replay", "-", "--machine", "qemu-q35-nvme", "--strict-input"],
    "fio-1 [000] ..... 1.000000: map: IOMMU: iova=0xzz - 0x1000 paddr=0x0 size=4096\n",
  );
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'iovalab: <stdin>:1: expected map: "iova=" a hexadecimal number, found "iova=0xzz"\n');
  const both = iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme", "--strict", "--lazy"]);
  assert.equal(both.status, 2);
});

test("--range compares the baseline with a wider rcache range (1 MiB of 4 KiB pages: 9 size classes)", () => {
  const out = iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--range", "1M"]);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /\nsettings +6\.1, strict, 6 rcache classes +6\.1, strict, 9 rcache classes\n/);
  assert.match(out.stdout, /\n {2}hit rate 1024 KiB +- +-\n/);
  const bad = iovalab(["replay", FIXTURE, "--machine", "qemu-q35-nvme", "--range", "lots"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--range: expected bytes/);
});

test("the full strict 6.1 trace replays with every IOVA (71,365 map events)", {
  skip:
    quickSkip("a full-length kernel trace") ||
    (existsSync(FULL) ? false : `${FULL} is absent: the public kernel traces live in ../shared`),
}, () => {
  const out = iovalab(["replay", FULL, "--machine", "qemu-q35-nvme", "--kernel", "6.1", "--emit-iovas"]);
  assert.equal(out.status, 0, out.stderr);
  const want = traceIovas(gunzipSync(readFileSync(FULL)).toString());
  assert.equal(want.length, 71_365);
  const got = out.stdout.split("\n").slice(0, -1);
  assert.equal(got.length, want.length);
  const first = got.findIndex((x, i) => x !== want[i]);
  assert.equal(first, -1, `first different map event: #${first + 1}, model ${got[first]}, kernel ${want[first]}`);
});

test("--captured-kernel with another --kernel is a what-if across kernels (5.10's 128-pfn magazines)", () => {
  const out = iovalab([
    "replay",
    FIXTURE,
    "--machine",
    "qemu-q35-nvme",
    "--captured-kernel",
    "6.1",
    "--kernel",
    "5.10",
  ]);
  assert.equal(out.status, 0, out.stderr);
  assert.match(out.stdout, /\nsettings +6\.1, strict, 6 rcache classes +5\.10, strict, 6 rcache classes\n/);
  // A magazine is a size word and IOVA_MAG_SIZE pfns: 127 on 6.1, 128 on 5.10.
  const m = /\nmagazines \(memory\) +(\d+) \((\d+) bytes\) +(\d+) \((\d+) bytes\)\n/.exec(out.stdout);
  assert.ok(m, out.stdout);
  assert.equal(Number(m[2]), Number(m[1]) * (8 + 8 * 127));
  assert.equal(Number(m[4]), Number(m[3]) * (8 + 8 * 128));
  const same = iovalab([
    "replay",
    FIXTURE,
    "--machine",
    "qemu-q35-nvme",
    "--captured-kernel",
    "6.1",
    "--kernel",
    "6.1",
  ]);
  assert.equal(same.status, 0, same.stderr);
  assert.doesNotMatch(same.stdout, /\nwhat if /, "the same kernel is no what-if");
});

test("a trace from boot replays from its one reading of a file as from stdin, which is never read twice", () => {
  // A file from boot is read once: its first reading holds the events until the learning window shows a fresh
  // domain, then goes on as the replay. stdin has no first reading at all: the two must say the same.
  for (const name of [
    "linux-6.12-lazy-timers-head8000.txt.gz",
    "linux-6.1-strict-mixed-head3200.txt.gz",
    "linux-6.12-two-nvme-strict-head761.txt.gz",
  ]) {
    const path = new URL(`../fixtures/traces/${name}`, import.meta.url).pathname;
    const text = gunzipSync(readFileSync(path)).toString();
    for (const flags of [["--json"], ["--machine", "qemu-q35-nvme", "--emit-iovas"]]) {
      const file = iovalab(["replay", path, ...flags]);
      const stdin = iovalab(["replay", "-", ...flags], text);
      assert.equal(file.status, 0, `${name} ${flags.join(" ")}: ${file.stderr}`);
      assert.equal(stdin.status, 0, `${name} ${flags.join(" ")}: ${stdin.stderr}`);
      assert.ok(file.stdout.length > 100, name);
      assert.equal(file.stdout, stdin.stdout.replaceAll("<stdin>", path), `${name} ${flags.join(" ")}`);
      assert.equal(file.stderr, stdin.stderr, `${name} ${flags.join(" ")}`);
    }
  }
});

test("a trace that starts mid-life replays from stdin as from its file: the same window, proofs and phase", (t) => {
  // stdin cannot be read twice, so it holds its first events as a file's first reading does: a short trace
  // (all of it held; a file is read again) and a cut whose window closes early (one reading) give the same IOVAs.
  const texts: [string, string][] = [];
  for (const name of [
    "linux-6.1-midlife-lazy-report-l-head400.txt.gz",
    "linux-6.12-midlife-lazy-report-l-head600.txt.gz",
    "linux-6.1-midlife-lazy-report-l-head6450.txt.gz",
  ]) {
    texts.push([name, gunzipSync(readFileSync(new URL(`../fixtures/traces/${name}`, import.meta.url))).toString()]);
  }
  // The 6.12 lazy-timers capture from 67% of its lines on, its comment header kept (a mid-life cut).
  const full = new URL("../../../shared/kernel-timers/trace-6.12-lazy-timers.txt.gz", import.meta.url).pathname;
  const skip = sharedSkip(full, "a cut of a ../shared trace");
  if (skip) t.diagnostic(skip);
  else {
    const lines = gunzipSync(readFileSync(full)).toString().split("\n");
    const from = Math.floor((lines.length * 67) / 100) - 1;
    const cut = [...lines.slice(0, 12).filter((l) => l.startsWith("#")), ...lines.slice(from)].join("\n");
    texts.push(["6.12 lazy-timers from 67%", cut]);
  }
  const dir = mkdtempSync(join(tmpdir(), "iovalab-replay-"));
  for (const [name, text] of texts) {
    const path = join(dir, "trace.txt");
    writeFileSync(path, text);
    for (const flags of [
      ["--machine", "qemu-q35-nvme", "--json"],
      ["--machine", "qemu-q35-nvme", "--emit-iovas"],
    ]) {
      const file = iovalab(["replay", path, ...flags]);
      const stdin = iovalab(["replay", "-", ...flags], text);
      assert.equal(file.status, 0, `${name}: ${file.stderr}`);
      assert.ok(file.stdout.length > 100, name);
      if (flags.includes("--json")) assert.match(file.stdout, /"learned":[1-9]/, `${name} starts mid-life`);
      assert.equal(stdin.stdout.replaceAll("<stdin>", path), file.stdout, `${name} ${flags.join(" ")}`);
      assert.equal(stdin.stderr.replaceAll("<stdin>", path), file.stderr, `${name} ${flags.join(" ")}`);
    }
  }
  rmSync(dir, { recursive: true });
});

test("a busy mid-life start from stdin is searched as from its file: the states found replayed from its copy", {
  skip: quickSkip("three searches of a busy start (about 15 s)"),
}, (t) => {
  // The 6.1 mid-life capture from its line 397,418: the empty start places a few per cent, the search 100%.
  const path = new URL("../fixtures/traces/linux-6.1-midlife-lazy-report-l-lines397418-403417.txt.gz", import.meta.url)
    .pathname;
  const text = gunzipSync(readFileSync(path)).toString();
  const file = iovalab(["replay", path, "--json"]);
  assert.equal(file.status, 0, file.stderr);
  assert.match(file.stderr, /placed from the empty start: searched, .*: 100\.00%; that replay given/);
  // Read again from the copy the first reading wrote (`PipeCopy`), and where no copy can be made (TMPDIR a file),
  // from the events kept in memory.
  const dir = mkdtempSync(join(tmpdir(), "iovalab-replay-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "a-file"), "");
  for (const env of [{}, { TMPDIR: join(dir, "a-file") }]) {
    const r = spawnSync(process.execPath, [MAIN, "replay", "-", "--json"], {
      input: text,
      encoding: "utf8",
      maxBuffer: 1 << 28,
      env: { ...process.env, ...env },
    });
    assert.equal(r.stdout.replaceAll("<stdin>", path), file.stdout, JSON.stringify(env));
    assert.equal(r.stderr.replaceAll("<stdin>", path), file.stderr, JSON.stringify(env));
    assert.equal((JSON.parse(r.stdout) as { total: { exactOfKnowable: number } }).total.exactOfKnowable, 1);
  }
});

test("a trace from boot longer than the defaults window replays from its one reading as from stdin", (t) => {
  // Past DEFAULTS_WINDOW events the window decides while the file is still being read, and the replay goes on
  // from the held events in the same reading: the first 30,000 lines of the 6.12 lazy-timers capture.
  const full = new URL("../../../shared/kernel-timers/trace-6.12-lazy-timers.txt.gz", import.meta.url).pathname;
  const skip = sharedSkip(full, "a 30,000-line cut of a ../shared trace");
  if (skip) {
    t.skip(skip);
    return;
  }
  const text = `${gunzipSync(readFileSync(full)).toString().split("\n").slice(0, 30_000).join("\n")}\n`;
  const path = join(mkdtempSync(join(tmpdir(), "iovalab-replay-")), "head30000.txt");
  writeFileSync(path, text);
  for (const flags of [["--json"], ["--machine", "qemu-q35-nvme", "--emit-iovas"]]) {
    const file = iovalab(["replay", path, ...flags]);
    const stdin = iovalab(["replay", "-", ...flags], text);
    assert.equal(file.status, 0, file.stderr);
    assert.ok(file.stdout.length > 100);
    assert.equal(file.stdout, stdin.stdout.replaceAll("<stdin>", path), flags.join(" "));
    assert.equal(file.stderr, stdin.stderr, flags.join(" "));
  }
  rmSync(dirname(path), { recursive: true });
});
