/**
 * Replay defaults from the trace (issue 13 part 3) on the verbatim excerpts
 * of test/fixtures/traces/: dma:* events mean the mainline profile,
 * flush-queue timer events or no immediate IOVA reuse mean lazy, frequent
 * reuse strict; --kernel and --captured win with a warning; without
 * --machine a machine built from the trace's devices, or the built-in q35
 * shape when the trace names none.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { validateMachine } from "../../src/machine/schema.ts";
import { machineFromTrace, traceMachineSource } from "../../src/replay/defaults.ts";
import { TraceFacts } from "../../src/trace/facts.ts";
import { readTraceText } from "../../src/trace/reader.ts";
import { iovalab } from "../helpers/iovalab.ts";
import { QUICK, sharedSkip } from "../helpers/quick.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { type DatTestRecord, payload, writeTraceDat } from "../helpers/trace-dat.ts";

const FIXTURES = new URL("../fixtures/traces/", import.meta.url).pathname;
const H612 = `${FIXTURES}linux-6.12-lazy-mixed-head600.txt.gz`;
// Its lazy capture shows too few reuse pairs to tell, so it replays strict and the replay searches call orders at
// its misses until a run of them fails; the strict two-NVMe head is a 6.12 trace the defaults read the same way, and replays exact.
const TWO612 = `${FIXTURES}linux-6.12-two-nvme-strict-head761.txt.gz`;
const T612 = `${FIXTURES}linux-6.12-lazy-timers-head8000.txt.gz`;
const LAZY61 = `${FIXTURES}linux-6.1-lazy-mixed-head1100.txt.gz`;
const STRICT61 = `${FIXTURES}linux-6.1-strict-4k-head600.txt.gz`;
const MIDLIFE61 = `${FIXTURES}linux-6.1-midlife-lazy-report-l-head400.txt.gz`;

function facts(path: string): { f: TraceFacts; fq: number } {
  const f = new TraceFacts();
  const { events, reader } = readTraceText(gunzipSync(readFileSync(path)).toString(), { file: path });
  for (const e of events) f.observe(e);
  return { f, fq: reader.stats.fqTimerEvents };
}

/** The maps that follow an unmap on their CPU, and those at the unmapped IOVA, counted from the raw text. */
function reuseFromText(path: string): [number, number] {
  const last = new Map<string, string>();
  let pairs = 0;
  let same = 0;
  for (const l of gunzipSync(readFileSync(path)).toString().split("\n")) {
    const m = /\[(\d+)\].* (map|unmap): IOMMU: iova=(0x[0-9a-f]+)/.exec(l);
    if (m === null) continue;
    if (m[2] === "unmap") last.set(m[1], m[3]);
    else if (last.has(m[1])) {
      pairs++;
      if (last.get(m[1]) === m[3]) same++;
      last.delete(m[1]);
    }
  }
  return [pairs, same];
}

test("the facts a trace shows: dma:* events, flush-queue timers, immediate IOVA reuse", () => {
  const a = facts(H612);
  assert.equal(a.f.kernel(), "mainline");
  assert.equal(a.f.busiestDevice(), "0000:00:01.0");
  // The boot-time 16 MiB identity map of group 3 (the trace's first map line,
  // its tenth decoded event).
  assert.deepEqual(a.f.directMaps, [{ start: 0, end: 0x100_0000, event: 1 }]);
  const lazy = facts(LAZY61);
  assert.equal(lazy.f.kernel(), null);
  assert.deepEqual([lazy.f.reusePairs, lazy.f.reuseSame], reuseFromText(LAZY61));
  assert.equal(lazy.f.capture(lazy.fq)?.mode, "lazy");
  const strict = facts(STRICT61);
  assert.deepEqual([strict.f.reusePairs, strict.f.reuseSame], reuseFromText(STRICT61));
  assert.equal(strict.f.capture(strict.fq)?.mode, "strict");
  const mid = facts(MIDLIFE61);
  assert.ok(mid.fq > 0);
  assert.equal(mid.f.capture(mid.fq)?.mode, "lazy");
  assert.match(mid.f.capture(mid.fq)?.why ?? "", /flush-queue timer/);
});

test("a 6.12 trace without --machine or --kernel: the mainline profile on a machine built from its devices, said on stderr", () => {
  const r = iovalab(["replay", TWO612]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /kernel from the trace: .*dma:\* events.*mainline profile/);
  assert.match(r.stderr, /no --machine: replaying on a machine built from the trace/);
  assert.match(r.stdout, /\nmachine: from-trace, kernel mainline, /);
});

test("without --machine, the boot-time identity map goes to the group whose devices attach next, not to the replayed device", () => {
  // Lines 13-25 of the trace: the groups, then 00:00.0, 00:01.0 and 00:02.0
  // attach, the 0-16 MiB identity map is made, and 00:1f.x attach: the map is
  // group 3's. Replayed on group 1 it would hold 16 MiB of the NVMe's space.
  const text = gunzipSync(readFileSync(T612)).toString();
  const { reader } = readTraceText(text, { file: T612 });
  assert.deepEqual(
    [...reader.stats.deviceAttached.keys()],
    ["0000:00:00.0", "0000:00:01.0", "0000:00:02.0", "0000:00:1f.0", "0000:00:1f.2", "0000:00:1f.3"],
  );
  const f = facts(T612).f;
  const m = machineFromTrace(f, reader.stats);
  assert.ok(m !== null);
  const direct = m.devices.filter((d) => d.reservedRegions.some((r) => r.type === "direct-relaxable"));
  assert.deepEqual(
    direct.map((d) => [d.bdf, d.group]),
    [["0000:00:1f.0", "3"]],
  );
  // The replay on it is the replay on the machine the trace came from.
  const built = iovalab(["replay", T612]);
  const named = iovalab(["replay", T612, "--machine", "qemu-q35-nvme"]);
  const matches = (out: string) => /\nexact IOVA matches: .*\n/.exec(out)?.[0];
  assert.ok(matches(named.stdout) !== undefined);
  assert.equal(matches(built.stdout), matches(named.stdout));
  assert.match(built.stdout, /\nlearning phase: none /);
});

test("--kernel against a 6.12 trace: the flag wins, with a warning", () => {
  const r = iovalab(["replay", TWO612, "--machine", "qemu-q35-nvme", "--kernel", "6.1"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: --kernel 6\.1 .*dma:\* events.*replaying with 6\.1 as asked/);
  assert.match(r.stdout, /\nmachine: qemu-q35-nvme, kernel 6\.1, /);
});

/**
 * The iommu map and unmap lines of a text trace as trace.dat records (the
 * other lines left out), in a trace.dat whose UNAME option is `uname`.
 */
function datOf(path: string, uname: string | undefined, traceClock?: string): Uint8Array {
  const LINE =
    /^\s*\S+-(\d+)\s+\[(\d+)\]\s+\S+\s+(\d+)\.(\d{6}): (map|unmap): IOMMU: iova=0x([0-9a-f]+) - 0x[0-9a-f]+ (?:paddr=0x([0-9a-f]+) )?size=(\d+)(?: unmapped_size=(\d+))?$/;
  const records: DatTestRecord[] = [];
  for (const line of gunzipSync(readFileSync(path)).toString().split("\n")) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const iova = BigInt(`0x${m[6]}`);
    records.push({
      cpu: Number(m[2]),
      timestampNs: Number(m[3]) * 1e9 + Number(m[4]) * 1000,
      event: m[5] === "map" ? "iommu-map" : "iommu-unmap",
      pid: Number(m[1]),
      flags: 0,
      preemptCount: 0,
      payload:
        m[5] === "map"
          ? payload([
              [iova, 8],
              [BigInt(`0x${m[7]}`), 8],
              [Number(m[8]), 8],
            ])
          : payload([
              [iova, 8],
              [Number(m[8]), 8],
              [Number(m[9]), 8],
            ]),
    });
  }
  return writeTraceDat({ records, cpus: 2, compress: true, kallsyms: "", cmdlines: "", uname, traceClock });
}

test("a trace.dat's uname names its kernel: its version's profile, from 5.11 to 6.11 the one whose allocator it has, else a warning", () => {
  // The 6.1 lazy head on a machine whose kernel is mainline: 6.1's depot of 32 magazines, emptied oldest first,
  // places 41 of its 545 allocations as the kernel did (no timer events: lazy IOVAs diverge early), mainline's 28.
  const dir = tempDir("iovalab-uname-");
  const write = (name: string, uname: string | undefined): string => {
    const f = join(dir, name);
    writeFileSync(f, datOf(LAZY61, uname));
    return f;
  };
  const MACHINE = ["--machine", "qemu-q35-two-nvme"];
  const exact = (out: string) => /\nexact IOVA matches: .*\n/.exec(out)?.[0] ?? "none";
  // The UNAME option of the public 6.1 capture, as trace-cmd record wrote it.
  const u61 = write("u61.dat", "Linux (none) 6.1.0-56-amd64 x86_64");
  const a = iovalab(["replay", u61, ...MACHINE]);
  assert.equal(a.status, 0, a.stderr);
  assert.match(
    a.stderr,
    /kernel from the trace: the trace was recorded on Linux 6\.1\.0-56-amd64 \(the release it names\): the 6\.1 profile/,
  );
  assert.match(a.stdout, /\nmachine: qemu-q35-two-nvme, kernel 6\.1, /);
  const asked = iovalab(["replay", u61, ...MACHINE, "--kernel", "6.1"]);
  assert.equal(exact(a.stdout), exact(asked.stdout));
  const none = iovalab(["replay", write("none.dat", undefined), ...MACHINE]);
  assert.doesNotMatch(none.stderr, /kernel from the trace/);
  assert.match(none.stdout, /kernel mainline, /);
  assert.notEqual(exact(none.stdout), exact(a.stdout));
  // A node name of two words; the release is the word before the machine.
  const u510 = iovalab(["replay", write("u510.dat", "Linux db 01 5.10.0-28-amd64 x86_64"), ...MACHINE]);
  assert.match(u510.stdout, /kernel 5\.10, /);
  // A release between the profiles: the profile whose allocator it has, and the switch it differs in.
  const u68 = iovalab(["replay", write("u68.dat", "Linux host 6.8.0-45-generic x86_64"), ...MACHINE]);
  assert.equal(u68.status, 0, u68.stderr);
  assert.match(
    u68.stderr,
    /kernel from the trace: the trace was recorded on Linux 6\.8\.0-45-generic \(the release it names\), a version with no profile of its own: the mainline profile, whose IOVA allocator it has \(the rcache depot of 6\.7 and later\)/,
  );
  assert.match(
    u68.stderr,
    /warning: Linux 6\.8\.0-45-generic differs from the mainline profile in where the flush-queue timer runs/,
  );
  assert.match(u68.stdout, /kernel mainline, /);
  // 6.6 has 6.1's depot: the 6.1 profile on this mainline machine, as the 6.1 uname gives.
  const u66 = iovalab(["replay", write("u66.dat", "Linux host 6.6.30 x86_64"), ...MACHINE]);
  assert.equal(u66.status, 0, u66.stderr);
  assert.match(
    u66.stderr,
    /the 6\.1 profile, whose IOVA allocator it has \(the allocator of 6\.0 to 6\.6: magazines of 127, the rcache depot of 6\.6 and before\)/,
  );
  assert.match(u66.stderr, /warning: Linux 6\.6\.30 differs from the 6\.1 profile in the 32-bit-first try/);
  assert.match(u66.stdout, /\nmachine: qemu-q35-two-nvme, kernel 6\.1, /);
  assert.equal(exact(u66.stdout), exact(a.stdout));
  // Ubuntu 22.04's HWE 5.19 has 5.15's allocator (magazines of 128 up to 6.0), and differs from it in nothing a replay reads.
  const u519 = iovalab(["replay", write("u519.dat", "Linux host 5.19.0-50-generic x86_64"), ...MACHINE]);
  assert.equal(u519.status, 0, u519.stderr);
  assert.match(
    u519.stderr,
    /a version with no profile of its own: the 5\.15 profile, whose IOVA allocator it has \(the allocator of 5\.11 to 5\.19: the retry above the cached node, magazines of 128\)/,
  );
  assert.doesNotMatch(u519.stderr, /differs from the 5\.15 profile/);
  assert.match(u519.stdout, /\nmachine: qemu-q35-two-nvme, kernel 5\.15, /);
  // 5.12 started a retried search at the top of the tree: the same IOVAs, other walk steps, said so.
  const u512 = iovalab(["replay", write("u512.dat", "Linux host 5.12.19 x86_64"), ...MACHINE]);
  assert.equal(u512.status, 0, u512.stderr);
  assert.match(
    u512.stderr,
    /warning: Linux 5\.12\.19 differs from the 5\.15 profile in where a retried tree search starts .*: the walk steps the summary counts may differ from the kernel's, not the IOVAs/,
  );
  assert.equal(exact(u512.stdout), exact(u519.stdout));
  // A release no profile stands for (before 5.10): the machine's, said so.
  const u54 = iovalab(["replay", write("u54.dat", "Linux host 5.4.0-200-generic x86_64"), ...MACHINE]);
  assert.equal(u54.status, 0, u54.stderr);
  assert.match(
    u54.stderr,
    /warning: the trace was recorded on Linux 5\.4\.0-200-generic \(the release it names\), a version iovalab has no profile of .*replaying with the mainline profile: --kernel names another/,
  );
  assert.match(u54.stdout, /kernel mainline, /);
  // --kernel wins, with a warning.
  const flag = iovalab(["replay", u61, ...MACHINE, "--kernel", "mainline"]);
  assert.match(
    flag.stderr,
    /warning: --kernel mainline replays what the trace was recorded on Linux 6\.1\.0-56-amd64 .*replaying with mainline as asked/,
  );
  assert.equal(exact(flag.stdout), exact(none.stdout));
});

test("runs of the rcache depot's trim work mean Linux 6.7 or later: mainline's allocator, with the 6.7 and 6.8 timer said", () => {
  // Real lines of the 6.12 mid-life capture with its dma:* lines taken out: what a 6.7 to 6.11 kernel, which has no
  // dma:* events, traces of the same work (the depot's trim at its line 8274).
  const lines = gunzipSync(readFileSync(`${FIXTURES}linux-6.12-midlife-lazy-report-l-lines8270-8280.txt.gz`))
    .toString()
    .split("\n")
    .filter((l) => !/ dma_(map|unmap)_page: /.test(l));
  const f = new TraceFacts();
  for (const e of readTraceText(lines.join("\n"), { file: "t" }).events) f.observe(e);
  assert.equal(f.dmaEvents, 0);
  assert.equal(f.depotWorkEvents, 1);
  assert.equal(f.kernel(), "mainline");
  const file = join(tempDir("iovalab-depot-work-"), "t.txt");
  writeFileSync(file, lines.join("\n"));
  const r = iovalab(["replay", file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    /kernel from the trace: the trace has runs of the rcache depot's trim work \(1 of iova_depot_work_func in its first \d+ events\), so Linux 6\.7 or later: the mainline profile/,
  );
  // No flush-queue timer events among these lines: where 6.7 and 6.8 run the timer is the model's.
  assert.match(
    r.stderr,
    /warning: Linux 6\.7 and 6\.8 may differ from the mainline profile in where the flush-queue timer runs/,
  );
  assert.match(r.stdout, /, kernel mainline, /);
  // Without the trim's lines nothing names the kernel: the built-in machine's profile, 6.1.
  writeFileSync(file, lines.filter((l) => !l.includes("iova_depot_work_func")).join("\n"));
  const none = iovalab(["replay", file]);
  assert.doesNotMatch(none.stderr, /kernel from the trace/);
  assert.match(none.stdout, /, kernel 6\.1, /);
});

test("a trace.dat recorded with the local clock (trace-cmd record's default) says so; with the global one it does not", () => {
  const dir = tempDir("iovalab-clock-");
  let n = 0;
  const run = (clock: string | undefined) => {
    const f = join(dir, `t${n++}.dat`);
    writeFileSync(f, datOf(LAZY61, undefined, clock));
    const r = iovalab(["replay", f, "--machine", "qemu-q35-nvme", "--kernel", "6.1"]);
    assert.equal(r.status, 0, r.stderr);
    return r;
  };
  const local = run("[local] global counter uptime perf mono mono_raw boot tai x86-tsc");
  assert.match(local.stderr, /warning: the trace was recorded with the local clock: .* record with -C global/);
  // The public 6.1 capture's option, as trace-cmd record wrote it with -C global.
  const global = run("local [global] counter uptime perf mono mono_raw boot tai x86-tsc");
  assert.doesNotMatch(global.stderr, /local clock/);
  const exact = (out: string) => /\nexact IOVA matches: .*\n/.exec(out)?.[0];
  assert.equal(exact(global.stdout), exact(local.stdout));
  assert.doesNotMatch(run(undefined).stderr, /local clock/);
});

test("timer events that name their function by address: a warning names the likely fq_flush_timeout, the flag reads it so", () => {
  // The repository's 6.12 lazy head as perf script or trace-cmd report print it without the kernel's symbols.
  const ADDR = "0xffffffff81a2b3c0";
  const text = gunzipSync(readFileSync(T612)).toString();
  const file = join(tempDir("iovalab-unresolved-"), "t.txt");
  writeFileSync(file, text.replaceAll("function=fq_flush_timeout", `function=${ADDR}`));
  const exact = (out: string) => /\nexact IOVA matches: .*\n/.exec(out)?.[0] ?? "none";
  const named = iovalab(["replay", T612]);
  assert.equal(named.status, 0, named.stderr);
  assert.doesNotMatch(named.stderr, /by address/);
  const bare = iovalab(["replay", file]);
  assert.equal(bare.status, 0, bare.stderr);
  assert.match(
    bare.stderr,
    new RegExp(
      `warning: the trace's timer events name their functions by address, .*: ${ADDR}, armed \\d+ times right after an unmap .* --fq-timer-function ${ADDR} reads it as such`,
    ),
  );
  assert.match(bare.stdout, /flushes: model-timer/);
  assert.notEqual(exact(bare.stdout), exact(named.stdout));
  // Named by the flag: the replay the symbols would have given, upper-case digits or not.
  for (const flag of [ADDR, ADDR.toUpperCase().replace("0X", "0x")]) {
    const r = iovalab(["replay", file, "--fq-timer-function", flag]);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /by address/);
    assert.match(r.stdout, /flushes: timer-events/);
    assert.equal(exact(r.stdout), exact(named.stdout));
  }
  const bad = iovalab(["replay", file, "--fq-timer-function", "fq_flush_timeout"]);
  assert.equal(bad.status, 2);
  assert.match(
    bad.stderr,
    /--fq-timer-function: expected the address the trace prints, such as 0x[0-9a-f]+, found "fq_flush_timeout"/,
  );
});

test("--kallsyms names the timer function a trace prints as an address, as the kernel's symbols would", () => {
  const ADDR = "0xffffffff81a2b3c0";
  const text = gunzipSync(readFileSync(T612)).toString();
  const dir = tempDir("iovalab-kallsyms-");
  const file = join(dir, "t.txt");
  writeFileSync(file, text.replaceAll("function=fq_flush_timeout", `function=${ADDR}`));
  // A copy of /proc/kallsyms as its root reads it: 16 digits, a module's symbols after a tab.
  const syms = join(dir, "kallsyms");
  writeFileSync(
    syms,
    "ffffffff81000000 T _text\nffffffff81a2b3c0 t fq_flush_timeout\nffffffff81a2c120 t iova_depot_work_func\nffffffffc0a01000 t nvme_irq\t[nvme]\n",
  );
  const exact = (out: string) => /\nexact IOVA matches: .*\n/.exec(out)?.[0] ?? "none";
  const named = iovalab(["replay", T612]);
  const r = iovalab(["replay", file, "--kallsyms", syms]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /by address/);
  assert.match(r.stdout, /flushes: timer-events/);
  assert.equal(exact(r.stdout), exact(named.stdout));
  // Without it, the warning says what the flag does.
  assert.match(
    iovalab(["replay", file]).stderr,
    /--kallsyms FILE \(a copy of \/proc\/kallsyms the traced boot's root made\)/,
  );
  // A table of another boot (KASLR: fq_flush_timeout elsewhere) names nothing the trace prints: said so.
  const other = join(dir, "other-boot");
  writeFileSync(other, "ffffffff81d84c90 t fq_flush_timeout\n");
  const o = iovalab(["replay", file, "--kallsyms", other]);
  assert.equal(o.status, 0, o.stderr);
  assert.match(
    o.stderr,
    new RegExp(
      `${ADDR}, armed \\d+ times .* which the symbol table given \\(--kallsyms\\) has at 0xffffffff81d84c90: a table of another boot`,
    ),
  );
  assert.match(o.stdout, /flushes: model-timer/);
  // A copy made without root (kptr_restrict: every address zero) says so, before any replay.
  const hidden = join(dir, "hidden");
  writeFileSync(hidden, "0000000000000000 T _text\n0000000000000000 t fq_flush_timeout\n");
  const h = iovalab(["replay", file, "--kallsyms", hidden]);
  assert.equal(h.status, 2);
  assert.match(
    h.stderr,
    new RegExp(
      `${hidden}:2: expected the address of fq_flush_timeout or iova_depot_work_func, found 0000000000000000: .*as root`,
    ),
  );
  assert.equal(h.stdout, "");
  // The trace itself given as the table: its first line is no symbol.
  const t = iovalab(["replay", file, "--kallsyms", file]);
  assert.equal(t.status, 2);
  assert.match(t.stderr, new RegExp(`${file}:1: expected a symbol line "ADDRESS TYPE NAME"`));
});

const FULL612 = new URL("../../../shared/kernel-timers/trace-6.12-lazy-timers.txt.gz", import.meta.url).pathname;

test("the full 6.12 lazy capture with both its timer and its depot work printed as addresses: --kallsyms gives the named trace's replay", {
  skip: sharedSkip(FULL612),
}, () => {
  const text = gunzipSync(readFileSync(FULL612)).toString();
  const dir = tempDir("iovalab-kallsyms-full-");
  const file = join(dir, "t.txt");
  writeFileSync(
    file,
    text
      .replaceAll("function=fq_flush_timeout", "function=0xffffffff81a2b3c0")
      .replaceAll("function iova_depot_work_func", "function 0xffffffff81a2c120"),
  );
  const syms = join(dir, "System.map");
  writeFileSync(syms, "ffffffff81a2b3c0 t fq_flush_timeout\nffffffff81a2c120 t iova_depot_work_func\n");
  const named = iovalab(["replay", FULL612]);
  assert.equal(named.status, 0, named.stderr);
  const depot = (out: string) => /\n {2}depot trim work: .*\n/.exec(out)?.[0] ?? "none";
  assert.match(depot(named.stdout), /48 runs where the trace shows them/);
  // Unnamed, the trace's depot work is not seen: the model's own runs instead.
  assert.equal(depot(iovalab(["replay", file, "--fq-timer-function", "0xffffffff81a2b3c0"]).stdout), "none");
  const r = iovalab(["replay", file, "--kallsyms", syms]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.replaceAll(file, FULL612), named.stdout);
});

test("perf script --header names the kernel and its online CPUs: the 6.1 profile on a mainline machine", () => {
  // The real header of the perf run (perf 6.1.192), then its first 40 events.
  const header = readFileSync(`${FIXTURES}linux-6.1-perf-script-header.txt`, "utf8");
  const events = gunzipSync(readFileSync(`${FIXTURES}linux-6.1-perf-script-head40.txt.gz`)).toString();
  const { reader } = readTraceText(header + events, { file: "perf.txt" });
  assert.equal(reader.stats.release, "6.1.0-56-amd64");
  assert.equal(reader.stats.headerCpus, 2);
  assert.equal(reader.stats.malformed, 0);
  const f = join(tempDir("iovalab-perf-header-"), "perf.txt");
  writeFileSync(f, header + events);
  const r = iovalab(["replay", f, "--machine", "qemu-q35-two-nvme"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /kernel from the trace: the trace was recorded on Linux 6\.1\.0-56-amd64 .*the 6\.1 profile/);
  assert.match(r.stdout, /\nmachine: qemu-q35-two-nvme, kernel 6\.1, /);
  const bare = iovalab(["replay", `${FIXTURES}linux-6.1-perf-script-head40.txt.gz`, "--machine", "qemu-q35-two-nvme"]);
  assert.match(bare.stdout, /\nmachine: qemu-q35-two-nvme, kernel mainline, /);
});

test("a lazy trace on a machine whose command line is strict replays lazy; --captured strict wins with a warning", () => {
  const r = iovalab(["replay", LAZY61, "--machine", "qemu-q35-nvme"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /captured lazy \(from the trace: \d+ of \d+ allocations/);
  assert.match(r.stdout, /kernel 6\.1, lazy \(flush queue\)/);
  // A lazy trace replayed strict misses at nearly every map, and the replay searches call orders at each miss
  // until a run of them fails (test/replay/order-search.test.ts). The quick tier asks it of the mid-life head's first 60 lines (lazy by the
  // flush-queue timer event at line 43, 9 maps): the same warning and mode from another of the trace's signs.
  const cut = join(tempDir("iovalab-defaults-"), "midlife-head60.txt");
  writeFileSync(cut, `${gunzipSync(readFileSync(MIDLIFE61)).toString().split("\n").slice(0, 60).join("\n")}\n`);
  const s = iovalab(["replay", QUICK ? cut : LAZY61, "--machine", "qemu-q35-nvme", "--captured", "strict"]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stderr, /warning: --captured strict, but the trace looks lazy/);
  assert.match(s.stdout, /kernel 6\.1, strict, /);
  const t = iovalab(["replay", MIDLIFE61, "--machine", "qemu-q35-nvme"]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stderr, /captured lazy \(from the trace: \d+ flush-queue timer events/);
});

test("no --machine and no device in the trace: the built-in q35 shape, said so; the same replay as naming it", () => {
  const r = iovalab(["replay", STRICT61]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /no --machine and no device in the trace .*qemu-q35-nvme/);
  assert.match(r.stderr, /captured strict/);
  const named = iovalab(["replay", STRICT61, "--machine", "qemu-q35-nvme"]);
  assert.equal(r.stdout, named.stdout);
});

test("the machine built from a trace is, key for key and in order, what validating it as a file makes of it", () => {
  // It is completed without the validator (a replay's start-up loads none); the schema is the reference.
  let built = 0;
  for (const name of readdirSync(FIXTURES).filter((n) => n.endsWith(".txt.gz"))) {
    const path = `${FIXTURES}${name}`;
    const f = new TraceFacts();
    const { events, reader } = readTraceText(gunzipSync(readFileSync(path)).toString(), { file: path });
    for (const e of events) f.observe(e);
    const m = machineFromTrace(f, reader.stats);
    const raw = traceMachineSource(f, reader.stats);
    if (raw === null) {
      assert.equal(m, null, name);
      continue;
    }
    built++;
    assert.equal(JSON.stringify(m), JSON.stringify(validateMachine(raw, "<machine built from the trace>")), name);
  }
  assert.ok(built >= 10, `machines built from ${built} fixtures`);
});
