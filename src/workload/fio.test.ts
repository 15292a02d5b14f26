import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../stdx/errors.ts";
import { Prng } from "../stdx/prng.ts";
import { expandJobs, FioStream, parseFioJobFile } from "./fio.ts";

const SEED_JOB = `; the published figures' job (seed-thread.md)
[global]
rw=read
bs=4k
iodepth=128
direct=1
ioengine=libaio
cpus_allowed=0-127
runtime=30
time_based

[sda]
filename=/dev/sda
[sdb]
filename=/dev/sdb
numjobs=2
`;

test("the seed's job file: [global] options reach every job, job options stay in their job", () => {
  const { jobs, warnings } = parseFioJobFile(SEED_JOB, "seed.fio");
  assert.deepEqual(warnings, []);
  assert.equal(jobs.length, 2);
  const [a, b] = jobs;
  assert.equal(a.name, "sda");
  assert.equal(a.line, 12);
  assert.equal(a.rw, "read");
  assert.equal(a.bs, 4096);
  assert.equal(a.iodepth, 128);
  assert.equal(a.direct, true);
  assert.equal(a.ioengine, "libaio");
  assert.equal(a.runtimeNs, 30e9);
  assert.equal(a.timeBased, true);
  assert.equal(a.cpusAllowed?.length, 128);
  assert.equal(a.cpusAllowed?.[127], 127);
  assert.equal(a.filename, "/dev/sda");
  assert.equal(a.numjobs, 1);
  assert.equal(b.filename, "/dev/sdb");
  assert.equal(b.numjobs, 2);
});

test("a later [global] changes only the jobs after it", () => {
  const text = "[global]\nbs=4k\nsize=1g\n[a]\n[global]\nbs=64k\n[b]\nrw=randread\n";
  const { jobs } = parseFioJobFile(text, "j.fio");
  assert.deepEqual(
    jobs.map((j) => [j.name, j.bs, j.rw, j.sizeBytes]),
    [
      ["a", 4096, "read", 2 ** 30],
      ["b", 65536, "randread", 2 ** 30],
    ],
  );
});

test("sizes, times, CPU lists and bssplit in fio's notations", () => {
  const text = [
    "[j]",
    "bs=8KiB",
    "size=2m",
    "io_size=1G",
    "runtime=500ms",
    "ramp_time=2s",
    "cpus_allowed=0-3, 8,130-131",
    "bssplit=4k/50:64k/:1m/",
    "rwmixread=70",
    "rw=randrw",
  ].join("\n");
  const [j] = parseFioJobFile(text, "n.fio").jobs;
  assert.equal(j.bs, 8192);
  assert.equal(j.sizeBytes, 2 * 2 ** 20);
  assert.equal(j.ioSizeBytes, 2 ** 30);
  assert.equal(j.runtimeNs, 500e6);
  assert.equal(j.rampTimeNs, 2e9);
  assert.deepEqual(j.cpusAllowed, [0, 1, 2, 3, 8, 130, 131]);
  // 50 left over, shared by two open entries: 25 each.
  assert.deepEqual(j.bssplit, [
    { bytes: 4096, percent: 50 },
    { bytes: 65536, percent: 25 },
    { bytes: 2 ** 20, percent: 25 },
  ]);
  assert.equal(j.rwmixread, 70);
  assert.equal(j.rw, "randrw");
});

test("unknown options: an error by default, a warning list when the caller asks", () => {
  const text = "[j]\nsize=1m\nnorandommap\nverify=md5\n";
  assert.throws(() => parseFioJobFile(text, "u.fio"), {
    name: "InputError",
    message: 'u.fio:3: unknown fio option "norandommap"',
  });
  const { jobs, warnings } = parseFioJobFile(text, "u.fio", { unknownOptions: "warn" });
  assert.equal(jobs.length, 1);
  assert.deepEqual(warnings, ['u.fio:3: unknown fio option "norandommap"', 'u.fio:4: unknown fio option "verify"']);
});

test("every class of bad input names the file, the line, what was expected and what was found", () => {
  const cases: [string, string][] = [
    ["bs=4k\n[j]\n", 'b.fio:1: expected a [global] or [job] section header before options, found "bs=4k"'],
    ["[j\nsize=1m\n", 'b.fio:1: expected a section header like [job], found "[j"'],
    ["[a b]\n", 'b.fio:1: expected a section name without spaces or brackets, found "[a b]"'],
    ["[j]\n=4k\n", 'b.fio:2: expected an option like key=value, found "=4k"'],
    ["[j]\nbs=4q\n", 'b.fio:2: bs: expected a size like 4k, 512 or 1g, found "4q"'],
    ["[j]\nbs=\n", "b.fio:2: bs: expected a block size like 4k, found end of line"],
    ["[j]\nbs=0\n", 'b.fio:2: bs: expected a size above 0, found "0"'],
    ["[j]\nbs=4k,8k\n", 'b.fio:2: bs: expected the same size for reads and writes, found "4k,8k"'],
    [
      "[j]\nrw=sideways\n",
      'b.fio:2: rw: expected one of read, write, rw, readwrite, randread, randwrite, randrw, found "sideways"',
    ],
    ["[j]\niodepth=0\n", 'b.fio:2: iodepth: expected a queue depth 1 to 65536, found "0"'],
    ["[j]\niodepth=-3\n", 'b.fio:2: iodepth: expected a queue depth 1 to 65536, found "-3"'],
    ["[j]\nnumjobs=two\n", 'b.fio:2: numjobs: expected a job count 1 to 65536, found "two"'],
    ["[j]\ncpus_allowed=5-2\n", 'b.fio:2: cpus_allowed: expected a range low-high with low <= high, found "5-2"'],
    ["[j]\ncpus_allowed=0-3,x\n", 'b.fio:2: cpus_allowed: expected a CPU list like 0-127,130, found "0-3,x"'],
    ["[j]\ncpus_allowed_policy=spread\n", 'b.fio:2: cpus_allowed_policy: expected shared or split, found "spread"'],
    ["[j]\nruntime=10 minutes\n", 'b.fio:2: runtime: expected a time like 60, 30s or 500ms, found "10 minutes"'],
    ["[j]\ntime_based=yes\n", 'b.fio:2: time_based: expected 0 or 1, found "yes"'],
    [
      "[j]\nioengine=spdk\n",
      'b.fio:2: ioengine: expected one of libaio, io_uring, psync, sync, pvsync, pvsync2, posixaio, mmap, null, found "spdk"',
    ],
    ["[j]\nbssplit=4k/60:8k/60\n", "b.fio:2: bssplit: expected percentages adding up to 100, found 120"],
    ["[j]\nbssplit=4k/60:8k/30\n", "b.fio:2: bssplit: expected percentages adding up to 100, found 90"],
    ["[j]\nbssplit=4k/50/1\n", 'b.fio:2: bssplit: expected entries like 4k/50, found "4k/50/1"'],
    ["[j]\nbssplit=4k/50,8k/50\n", 'b.fio:2: bssplit: expected one list for reads and writes, found "4k/50,8k/50"'],
    ["[j]\nrwmixread=101\n", 'b.fio:2: rwmixread: expected a percentage 0 to 100, found "101"'],
    ["[j]\nbs=4k\n", "b.fio:1: [j]: expected size=, io_size=, runtime= or filename=, found none"],
    ["[j]\ntime_based\nsize=1m\n", "b.fio:1: [j]: expected runtime= with time_based, found none"],
    [
      "[j]\nsize=1m\nbs=1000\ndirect=1\n",
      "b.fio:1: [j]: expected block sizes in multiples of 512 with direct=1, found 1000",
    ],
    ["[j]\nsize=2k\n", "b.fio:1: [j]: expected size= at least the block size, found 2048"],
    ["; only a comment\n[global]\nbs=4k\n", "b.fio: expected at least one job section, found none"],
    // Sizes past what the kernel does at once, or than the simulation can hold (each was an
    // internal error or ran out of memory).
    [
      "[j]\nsize=1t\nbs=16g\n",
      "b.fio:1: [j]: expected block sizes up to 2147479552 (MAX_RW_COUNT: the kernel cuts a larger read or write short), found 17179869184",
    ],
    [
      "[j]\nsize=1t\nbssplit=4k/50:3g/50\n",
      "b.fio:1: [j]: expected block sizes up to 2147479552 (MAX_RW_COUNT: the kernel cuts a larger read or write short), found 3221225472",
    ],
    [
      "[a]\nsize=1t\nbs=1g\nnumjobs=200\n[b]\nsize=1t\nbs=1g\nnumjobs=57\n",
      "b.fio: expected numjobs x the largest block size, over the jobs, up to 274877906944 (256 GiB: the simulation holds each thread's I/O page by page), found 275951648768",
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseFioJobFile(text, "b.fio"),
      (err: unknown) => {
        assert.ok(err instanceof InputError, `not an InputError for ${JSON.stringify(text)}`);
        assert.equal(err.message, message);
        return true;
      },
    );
  }
});

test("the largest block size the kernel reads at once, and 256 GiB over the jobs' threads, are taken", () => {
  assert.equal(parseFioJobFile("[j]\nsize=1t\nbs=2147479552\n", "b.fio").jobs[0].bs, 2147479552);
  assert.equal(parseFioJobFile("[j]\nsize=1t\nbs=1g\nnumjobs=256\n", "b.fio").jobs[0].numjobs, 256);
});

test("numjobs and cpus_allowed place instances round robin over the allowed CPUs", () => {
  const { jobs } = parseFioJobFile("[a]\nsize=1m\nnumjobs=5\ncpus_allowed=2-3\n[b]\nsize=1m\nnumjobs=3\n", "p.fio");
  const inst = expandJobs(jobs, 4);
  assert.deepEqual(
    inst.map((i) => `${i.job.name}${i.index}@${i.cpu}`),
    ["a0@2", "a1@3", "a2@2", "a3@3", "a4@2", "b0@0", "b1@1", "b2@2"],
  );
  assert.throws(
    () => expandJobs(parseFioJobFile("[a]\nsize=1m\ncpus_allowed=0-8\n", "p.fio").jobs, 8),
    /below 8, found 8/,
  );
});

test("a sequential stream advances by bs and wraps at size; a budget ends it", () => {
  const [job] = parseFioJobFile("[s]\nbs=4k\nsize=16k\nio_size=24k\n", "s.fio").jobs;
  const s = new FioStream({ job, index: 1, cpu: 0 }, new Prng(1), 1 << 30);
  const offs: number[] = [];
  while (!s.done) offs.push(s.next().offset);
  // Instance 1's region starts at 1 * 16 KiB; 24 KiB of 4 KiB reads wrap after four.
  const base = 16384;
  assert.deepEqual(
    offs,
    [0, 4096, 8192, 12288, 0, 4096].map((o) => base + o),
  );
});

test("a random stream stays block-aligned inside its region; bssplit follows its shares", () => {
  const [job] = parseFioJobFile(
    "[r]\nrw=randread\nbssplit=4k/75:64k/25\nsize=1m\ntime_based\nruntime=1\n",
    "r.fio",
  ).jobs;
  const s = new FioStream({ job, index: 0, cpu: 0 }, new Prng(3), 1 << 30);
  let small = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const io = s.next();
    assert.equal(io.offset % 4096, 0);
    assert.ok(io.offset + io.bytes <= 2 ** 20);
    assert.equal(io.write, false);
    if (io.bytes === 4096) small++;
  }
  assert.equal(s.done, false);
  // 75% expected; 3 standard deviations of a binomial(20000, 0.75) is about 0.9%.
  assert.ok(Math.abs(small / n - 0.75) < 0.01, `share of 4k ${small / n}`);
});

test("file_service_type: roundrobin by default, switching after each I/O; :N switches after N; sequential is refused", () => {
  const parse = (opt: string) => parseFioJobFile(`[j]\nfilename=/dev/sda:/dev/sdb\nsize=1m\n${opt}`, "f.fio").jobs[0];
  // fio's HOWTO, file_service_type: "roundrobin: Round robin over opened files. This is the default."
  assert.deepEqual(parse("").fileService, { kind: "roundrobin", ios: 1 });
  assert.deepEqual(parse("file_service_type=roundrobin:8\n").fileService, { kind: "roundrobin", ios: 8 });
  assert.deepEqual(parse("file_service_type=random\n").fileService, { kind: "random", ios: 1 });
  assert.throws(
    () => parse("file_service_type=sequential\n"),
    (e: unknown) =>
      e instanceof InputError &&
      e.message ===
        'f.fio:4: file_service_type: expected roundrobin or random, with an optional :N of I/Os per switch (sequential and the skewed kinds are not modelled), found "sequential"',
  );
});

test("a job of several files divides size and io_size between them, each file read from its own position", () => {
  const [job] = parseFioJobFile("[s]\nbs=4k\nsize=32k\nio_size=16k\nfilename=/dev/sda:/dev/sdb\n", "s.fio").jobs;
  const files = [0, 1].map(() => new FioStream({ job, index: 0, cpu: 0 }, new Prng(1), 1 << 30, 2));
  const offs = files.map((s) => {
    const o: number[] = [];
    while (!s.done) o.push(s.next().offset);
    return o;
  });
  // Each file 16 KiB of region and 8 KiB of budget: two 4 KiB reads from its own start.
  assert.deepEqual(offs, [
    [0, 4096],
    [0, 4096],
  ]);
});
