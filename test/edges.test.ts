/**
 * The edges a user meets before the model (issue 12), each pinned by the
 * case that once crashed, hung or destroyed: how inputs are opened, how
 * outputs are written, how the shell reads numbers, YAML aliases and empty
 * files, durations, a closed stdout, the shell on a terminal, --version.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gunzipSync, gzipSync, zstdCompressSync } from "node:zlib";
import { ensureDir, prepareOutputSet, readChunks, writeOutput } from "../src/cli/io.ts";
import { OpsRunner } from "../src/iova/ops.ts";
import { bootMachine, Shell } from "../src/machine/index.ts";
import { parseMachine } from "../src/machine/schema.ts";
import { parseScenarioYaml } from "../src/scenario/scenario.ts";
import { MAX_DURATION_MS, parseDurationMs } from "../src/stdx/duration.ts";
import { readInputText } from "../src/stdx/node-input.ts";
import { readTraceFile } from "../src/trace/node-source.ts";
import { TraceReader } from "../src/trace/reader.ts";
import { assertInputError } from "./helpers/input-error.ts";
import { iovalab } from "./helpers/iovalab.ts";

const dir = mkdtempSync(join(tmpdir(), "iovalab-edges-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function shell(lines: string): { stdout: string; stderr: string; status: number } {
  const sh = new Shell(bootMachine("qemu-q35-nvme"));
  return sh.runScript(lines);
}

test("printf: a format without conversions prints once; numbers are read as bash reads them", () => {
  // Once looped forever while memory grew.
  assert.deepEqual(shell("printf abc def\n"), { stdout: "abc", stderr: "", status: 0 });
  // Once an internal BigInt error; bash 5.2 prints the leading part's value and says why.
  assert.deepEqual(shell("printf %d 0000:99:99.9\n"), {
    stdout: "0",
    stderr: "bash: line 1: printf: 0000:99:99.9: invalid octal number\n",
    status: 1,
  });
  const r = shell(`printf '%d\\n' 12abc 0x1f 010 -5 "'A" 99999999999999999999\n`);
  assert.equal(r.stdout, "12\n31\n8\n-5\n65\n9223372036854775807\n");
  assert.equal(
    r.stderr,
    "bash: line 1: printf: 12abc: invalid number\nbash: line 1: printf: warning: 99999999999999999999: Numerical result out of range\n",
  );
  assert.equal(shell("printf '%x %u|' -1 -1\n").stdout, "ffffffffffffffff 18446744073709551615|");
  assert.equal(shell("printf '%s-%s|' a b c\n").stdout, "a-b|c-|");
  assert.equal(shell("printf %d 0x\n").stderr, "bash: line 1: printf: 0x: invalid hex number\n");
});

test("shell commands refuse extra operands; sleep has the one duration limit; help and exit", () => {
  const r = shell("map 0000:00:01.0 4096 extra\ndma-info 0000:00:01.0 more\nsleep 1e30\nsleep 86400001\n");
  assert.equal(
    r.stderr,
    'map: expected "map BDF SIZE [--cpu N] [--phys ADDR]", found extra operand "extra"\n' +
      'dma-info: expected "dma-info BDF", found extra operand "more"\n' +
      'sleep: expected milliseconds from 0 to 86400000 (24 h), in whole nanoseconds, found "1e30"\n' +
      'sleep: expected milliseconds from 0 to 86400000 (24 h), in whole nanoseconds, found "86400001"\n',
  );
  assert.equal(r.stdout, "");
  assert.match(shell("help\n").stdout, /^Commands .*\n {2}cat PATH\.\.\./);
  const sh = new Shell(bootMachine("qemu-q35-nvme"));
  sh.runLine("exit 3", 1);
  assert.equal(sh.exitStatus, 3);
});

test("YAML: more than 100 aliases load; an alias bomb and an empty file are clean errors with a line", () => {
  const refs = `x: &x strict\nruns:\n${Array.from({ length: 150 }, (_, i) => `  - { name: r${i}, mode: *x, range: default }`).join("\n")}\n`;
  // 150 aliases: the yaml package's own guard refused more than 100 as an internal error.
  assert.equal(parseScenarioYaml(refs.replace("x: &x strict\n", "name: &x strict\n"), "s.yaml").runs.length, 150);
  const bomb =
    "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
  assertInputError(
    () => parseScenarioYaml(bomb, "s.yaml"),
    /^s\.yaml:2: expected at most 10000 alias expansions, found more/,
  );
  for (const empty of ["", "---\n", "# nothing\n"]) {
    assertInputError(
      () => parseScenarioYaml(empty, "s.yaml"),
      /^s\.yaml:1: expected a mapping of scenario keys, found an empty document$/,
    );
    assertInputError(
      () => parseMachine(empty, "m.yaml"),
      /^m\.yaml:1: expected a machine description, found an empty document$/,
    );
  }
});

test("machine file errors name the line of the key at fault", () => {
  const text = `name: m\ncpus: 2\niommu: { kind: intel-vtd, name: d, granule: 4096, addressWidth: 39 }\nhostBridges: [{ name: "pci0000:00" }]\ndevices:\n  - bdf: "0000:00:01.0"\n    vendor: 1\n    device: 2\n    class: zz\n    group: a\n`;
  assertInputError(() => parseMachine(text, "m.yaml"), /^m\.yaml:9: devices\[0\]\.class: expected .*, found "zz"$/);
});

test("durations: one limit, 24 h, whichever way they are given", () => {
  assert.equal(parseDurationMs("--duration", "86400000"), MAX_DURATION_MS);
  assertInputError(
    () => parseDurationMs("--duration", "1e30"),
    /^--duration: expected milliseconds from 0 to 86400000/,
  );
  assertInputError(() => parseDurationMs("--duration", "86400000.5"), /found "86400000\.5"/);
  assert.equal(parseScenarioYaml("durationMs: 86400000\n", "s.yaml").durationMs, MAX_DURATION_MS);
  assertInputError(
    () => parseScenarioYaml("durationMs: 86400001\n", "s.yaml"),
    /^s\.yaml:1: durationMs: expected a number <= 86400000/,
  );
});

test("a run's figures too large to simulate are bad input with a message, not an internal error", () => {
  // Each made an event past the engine's 2^50 ns, or at Infinity, and ended in an assertion (exit 1).
  const job = [
    "name: x",
    "machine: epyc-nvme",
    "seed: 1",
    "durationMs: 2",
    "warmupMs: 0",
    "fio: |",
    "  [j]",
    "  bs=4k",
    "  rw=randread",
    "  iodepth=16",
    "  filename=/dev/nvme0n1",
    "runs:",
    "  - { name: a, mode: strict, range: default }",
  ].join("\n");
  const cost = join(dir, "cost.yaml");
  writeFileSync(cost, `${job}\ncost:\n  irqNs: 4000000000000000\n`);
  const r = iovalab(["run", cost, "--json"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(
    r.stderr,
    /^iovalab: expected simulated times below 2\^50 ns \(about 13 days\), found cpu\d+'s event at \d+ ns: a cost, device or workload figure is too large to simulate\n$/,
  );
  assert.equal(r.stdout, "");
  // The same from a run on a worker thread (the error crosses it as a plain Error) and a sweep's point.
  const two = join(dir, "cost-two.yaml");
  writeFileSync(two, `${job}\n  - { name: b, mode: lazy, range: default }\ncost:\n  irqNs: 4000000000000000\n`);
  const pooled = iovalab(["run", two, "--workers", "2", "--json"]);
  assert.equal(pooled.status, 2, pooled.stderr);
  assert.match(pooled.stderr, /^iovalab: [ab]: expected simulated times below 2\^50 ns/);
  const swept = iovalab(["sweep", cost, "--over", "cost.irqNs=4000000000000000", "--out", join(dir, "sweep-big")]);
  assert.equal(swept.status, 2, swept.stderr);
  assert.match(swept.stderr, /\niovalab: cost\.irqNs=4000000000000000\|a: expected simulated times below 2\^50 ns/);
  // A device of less than one command or byte a second is refused where it is written.
  assertInputError(
    () => parseScenarioYaml("disks:\n  iopsMax: 1e-300\n", "s.yaml"),
    /^s\.yaml:2: disks\.iopsMax: expected a number >= 1, found "1e-300"$/,
  );
});

test(".iovaops: operands of 2^64 and above, and runaway lines, are bad input", () => {
  const run = (text: string) => {
    const r = new OpsRunner("f");
    r.feed(new TextEncoder().encode(text));
    return r.finish();
  };
  const head = "domain granule=4096 start_pfn=1 cpus=1\n";
  assert.equal(
    new TextDecoder().decode(run(`${head}find 18446744073709551615\n`).output),
    "18446744073709551615 18446744073709551615\n",
  );
  assertInputError(
    () => run(`${head}find 18446744073709551616\n`),
    /^f:2: expected a pfn below 2\^64, found "18446744073709551616"$/,
  );
  assertInputError(() => run(`${head}reserve 1 0x10000000000000000\n`), /^f:2: expected a pfn below 2\^64/);
  const r = new OpsRunner("f");
  const zeros = new Uint8Array(1 << 20);
  assertInputError(() => {
    for (let i = 0; i < 4; i++) r.feed(zeros);
  }, /^f:1: expected a line of at most 65536 bytes, found "a longer line"$/);
});

test("trace text: a line over 1 MiB is one malformed line, skipped without being held", () => {
  const reader = new TraceReader({ file: "t" });
  const sink = () => {};
  reader.push("# header\n", sink);
  const block = "x".repeat(1 << 19);
  for (let i = 0; i < 8; i++) reader.push(block, sink);
  reader.push("\n# after\n", sink);
  reader.end(sink);
  assert.equal(reader.stats.lines, 3);
  assert.equal(reader.stats.malformed, 1);
  assert.match(reader.diagnostics[0], /^t:2: expected a line of at most 1048576 characters, found "a longer line"$/);
  assertInputError(() => {
    const strict = new TraceReader({ file: "t", strictInput: true });
    for (let i = 0; i < 3; i++) strict.push(block, sink);
  }, /^t:1: expected a line of at most/);
});

test("trace files: opened the one way inputs are; a line over the limit in a file is one malformed line", async () => {
  await assert.rejects(
    readTraceFile(dir, () => {}),
    /: expected a file, found a directory$/,
  );
  await assert.rejects(
    readTraceFile("/dev/zero", () => {}),
    /^InputError: \/dev\/zero: expected a file, found a device$/,
  );
  await assert.rejects(
    readTraceFile(join(dir, "missing"), () => {}),
    /missing: cannot read: no such file or directory$/,
  );
  // 5 MiB without a newline (more than the bytes held waiting for a line's end), between two lines.
  const long = join(dir, "long-line.txt");
  writeFileSync(long, `# header\n${"x".repeat(5 << 20)}\n# after\n`);
  const reader = await readTraceFile(long, () => {});
  assert.equal(reader.stats.lines, 3);
  assert.equal(reader.stats.malformed, 1);
  assert.match(reader.diagnostics[0], /long-line\.txt:2: expected a line of at most 1048576 characters/);
  // A line over the limit that fits in one chunk of text is refused as well.
  const one = new TraceReader({ file: "t" });
  one.push(`# a\n${"y".repeat((1 << 20) + 1)}\n# b\n`, () => {});
  assert.deepEqual([one.stats.lines, one.stats.malformed], [3, 1]);
});

test("inputs: directories, devices, missing files, corrupt gzip and oversized files are clean errors", async () => {
  assertInputError(() => readInputText(dir), /: expected a file, found a directory$/);
  assertInputError(() => readInputText("/dev/zero"), /^\/dev\/zero: expected a file, found a device$/);
  assertInputError(() => readInputText(join(dir, "missing")), /missing: cannot read: no such file or directory$/);
  const gz = join(dir, "cut.gz");
  writeFileSync(gz, gzipSync("domain granule=4096 start_pfn=1 cpus=1\n".repeat(100)).subarray(0, 30));
  assertInputError(() => readInputText(gz), /cut\.gz: expected gzip data, found a corrupt or cut stream$/);
  await assert.rejects(
    readChunks(gz, () => {}),
    /cut\.gz: expected gzip data, found a corrupt or cut stream/,
  );
  await assert.rejects(
    readChunks(dir, () => {}),
    /expected a file, found a directory/,
  );
  const big = join(dir, "big.yaml");
  writeFileSync(big, Buffer.alloc((16 << 20) + 1, 0x20));
  assertInputError(() => readInputText(big), /big\.yaml: expected at most 16 MiB, found a larger input$/);
  const bomb = join(dir, "bomb.gz");
  writeFileSync(bomb, gzipSync(Buffer.alloc(17 << 20)));
  assertInputError(() => readInputText(bomb), /bomb\.gz: expected at most 16 MiB, found a larger input$/);
  // What the consumer throws passes through untouched (it once read "F.gz: cannot read: F.gz:3: ...").
  const script = join(dir, "s.iovaops.gz");
  writeFileSync(script, gzipSync("domain granule=4096 start_pfn=1 cpus=1\nalloc 1 100 0\nbogus\n"));
  const runner = new OpsRunner(script);
  await assert.rejects(
    readChunks(script, (c) => runner.feed(c)),
    (e: Error) =>
      e.message ===
      `${script}:3: expected an operation (alloc, free, reserve, find, cpu, alloc_fast, free_fast, cpu_dead, flush_all, advance, dump), found "bogus"`,
  );
});

test("inputs: zstd reads as gzip does; xz, bzip2 and lz4, which Node cannot read, are refused by name", async () => {
  // The repository's 6.1 strict sample, its first 300 lines, plain, gzip and zstd: the same replay.
  const text = gunzipSync(readFileSync(new URL("../samples/trace-6.1-strict-4k.txt.gz", import.meta.url)))
    .toString()
    .split("\n")
    .slice(0, 300)
    .join("\n");
  const plain = join(dir, "s.txt");
  writeFileSync(plain, text);
  const zst = join(dir, "s.txt.zst");
  writeFileSync(zst, zstdCompressSync(text));
  const gz = join(dir, "s.txt.gz");
  writeFileSync(gz, gzipSync(text));
  const args = ["--machine", "qemu-q35-nvme", "--kernel", "6.1", "--json"];
  const want = iovalab(["replay", plain, ...args]);
  assert.equal(want.status, 0, want.stderr);
  const exact = (out: string) => JSON.parse(out).total;
  for (const f of [zst, gz]) {
    const r = iovalab(["replay", f, ...args]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(exact(r.stdout), exact(want.stdout), f);
  }
  // From stdin too, and whole (a machine or scenario file, an .iovaops script).
  const piped = iovalab(["replay", "-", ...args], zstdCompressSync(text));
  assert.deepEqual(exact(piped.stdout), exact(want.stdout));
  assert.equal(readInputText(zst), text);
  const cut = join(dir, "cut.zst");
  writeFileSync(cut, zstdCompressSync(text).subarray(0, 1500));
  assertInputError(() => readInputText(cut), /cut\.zst: expected zstd data, found a corrupt or cut stream$/);
  await assert.rejects(
    readChunks(cut, () => {}),
    /cut\.zst: expected zstd data, found a corrupt or cut stream/,
  );
  // The formats' own first bytes, then anything.
  const heads: [string, number[]][] = [
    ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ["bzip2", [0x42, 0x5a, 0x68, 0x39]],
    ["lz4", [0x04, 0x22, 0x4d, 0x18]],
  ];
  for (const [name, head] of heads) {
    const f = join(dir, `s.${name}`);
    writeFileSync(f, Buffer.concat([Buffer.from(head), Buffer.alloc(64, 0x41)]));
    const want = new RegExp(
      `s\\.${name}: expected text, gzip or zstd, found ${name} data: decompress it first \\(${name} -d\\)`,
    );
    assertInputError(() => readInputText(f), want);
    const r = iovalab(["replay", f]);
    assert.equal(r.status, 2, name);
    assert.match(r.stderr, want);
  }
});

test("outputs: symlinks are written through, devices written directly, directories refused", async () => {
  const target = join(dir, "target.txt");
  writeFileSync(target, "old\n");
  const link = join(dir, "link.txt");
  symlinkSync(target, link);
  await writeOutput(link, "new\n");
  assert.ok(lstatSync(link).isSymbolicLink(), "the link stays a link");
  assert.equal(readFileSync(target, "utf8"), "new\n");
  await writeOutput("/dev/null", "nothing\n");
  assert.ok(lstatSync("/dev/null").isCharacterDevice(), "/dev/null stays a device");
  await assert.rejects(writeOutput(dir, "x"), /expected a file to write, found a directory/);
  const plain = join(dir, "plain.txt");
  await writeOutput(plain, [new TextEncoder().encode("a"), new TextEncoder().encode("b\n")]);
  assert.equal(readFileSync(plain, "utf8"), "ab\n");
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes("iovalab-tmp")),
    [],
    "no temporary file is left",
  );
});

test("Ctrl-C while an output is written leaves no temporary file beside it", async () => {
  const out = mkdtempSync(join(dir, "ctrl-c-"));
  const io = new URL("../src/cli/io.ts", import.meta.url).href;
  // 512 MiB written in one synchronous stretch: long enough to be caught in the act.
  const script = `import { writeOutput } from ${JSON.stringify(io)}; await writeOutput(process.argv[1], new Uint8Array(2 ** 29));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, join(out, "big.bin")], {
    stdio: "ignore",
  });
  const ended = new Promise<string | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
  const temps = () => readdirSync(out).filter((n) => n.includes("iovalab-tmp"));
  for (const end = Date.now() + 15_000; Date.now() < end && temps().length === 0; )
    await new Promise((r) => setImmediate(r));
  assert.equal(temps().length, 1, "the temporary file is being written");
  child.kill("SIGINT");
  assert.equal(await ended, "SIGINT");
  // Its remover (a process of its own) removes it once the writer is gone: up to 15 s on a loaded machine.
  for (let i = 0; i < 600 && temps().length > 0; i++) await new Promise((r) => setTimeout(r, 25));
  assert.deepEqual(readdirSync(out), [], "neither the output nor its temporary file");
});

test("directories: /proc paths and files in the way are clean errors, not a loop", () => {
  assertInputError(() => ensureDir("/proc/x/y"), /^\/proc\/x: cannot create the directory: no such file or directory$/);
  const file = join(dir, "a-file");
  writeFileSync(file, "");
  assertInputError(() => ensureDir(file), /a-file: expected a directory, found a file$/);
  assertInputError(
    () => ensureDir(join(file, "sub")),
    /cannot use as a directory: a part of the path is not a directory$/,
  );
});

test("a report set appears whole or not at all: a run killed before commit leaves the last set", () => {
  const out = join(dir, "out");
  const first = prepareOutputSet(out);
  first.commit([
    ["report.json", "1\n"],
    ["report.html", "1\n"],
  ]);
  // A second run prepares and is killed before it commits: its staging directory stays behind.
  const killed = join(out, ".iovalab-staging-999999999");
  mkdirSync(killed);
  writeFileSync(join(killed, "report.json"), "2\n");
  const third = prepareOutputSet(out);
  assert.ok(!existsSync(killed), "a dead run's staging directory is cleared");
  assert.equal(readFileSync(join(out, "report.json"), "utf8"), "1\n");
  third.commit([
    ["report.json", "3\n"],
    ["report.html", "3\n"],
  ]);
  assert.deepEqual(readdirSync(out).sort(), ["report.html", "report.json"]);
  assert.equal(readFileSync(join(out, "report.html"), "utf8"), "3\n");
});

test("the command line: --version, required options marked, a closed stdout ends quietly, bad --out paths", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal(iovalab(["--version"]).stdout, `${pkg.version}\n`);
  assert.match(iovalab(["sweep", "--help"]).stdout, /--over <key=v1,v2,\.\.\.>[\s\S]*\(required\)/);
  const main = new URL("../bin/iovalab.js", import.meta.url).pathname;
  const fixture = new URL("fixtures/conformance/mainline/network-io-mix.iovaops.gz", import.meta.url).pathname;
  const piped = spawnSync("bash", ["-c", `'${process.execPath}' '${main}' ops '${fixture}' | head -1`], {
    encoding: "utf8",
  });
  assert.equal(piped.stderr, "", "no EPIPE stack");
  assert.equal(piped.stdout.split("\n").length, 2);
  const status = spawnSync(
    "bash",
    ["-c", `'${process.execPath}' '${main}' ops '${fixture}' | head -1 >/dev/null; echo "\${PIPESTATUS[0]}"`],
    { encoding: "utf8" },
  );
  assert.equal(status.stdout, "0\n");
  const file = join(dir, "not-a-dir");
  writeFileSync(file, "");
  const r = iovalab(["run", "--out", file, "--duration", "1"]);
  assert.equal(r.status, 2);
  assert.equal(r.stderr, `iovalab: ${file}: expected a directory, found a file\n`);
  const ops = iovalab(["ops", realpathSync(dir)]);
  assert.equal(ops.stderr, `iovalab: ${realpathSync(dir)}: expected a file, found a directory\n`);
});

test("shell on a terminal: a banner, a prompt, help and exit", { skip: !existsSync("/usr/bin/script") }, () => {
  const main = new URL("../bin/iovalab.js", import.meta.url).pathname;
  const r = spawnSync("script", ["-qec", `'${process.execPath}' '${main}' shell`, "/dev/null"], {
    input: "help\ndma-info 0000:00:01.0\nexit 3\n",
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /iovalab shell: qemu-q35-nvme, kernel 6\.1, 2 CPUs; help lists the commands/);
  assert.match(r.stdout, /# /);
  assert.match(r.stdout, /map BDF SIZE \[--cpu N\] \[--phys ADDR\]/);
  assert.match(r.stdout, /dma_opt_mapping_size 131072/);
});
