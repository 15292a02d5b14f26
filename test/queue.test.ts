/**
 * `sweep --queue`, `replay --queue` and `worker` on real parts: a
 * redis-server of its own on a free loopback port (no persistence, its own
 * temporary directory) and two worker processes, one killed (SIGKILL) while
 * it runs a point. The results must equal the local pool's, line for line
 * once both are sorted by point, each point recorded once. Without
 * redis-server the test skips, except in CI, where it fails.
 */

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseQueueUrl } from "../src/cli/queue.ts";
import { assertInputError } from "./helpers/input-error.ts";
import { iovalab } from "./helpers/iovalab.ts";
import { quickSkip } from "./helpers/quick.ts";

const MAIN = new URL("../bin/iovalab.js", import.meta.url).pathname;
const TRACES = new URL("fixtures/traces/", import.meta.url).pathname;
const HAVE_REDIS = spawnSync("redis-server", ["--version"]).status === 0;
const IN_CI = (process.env.CI ?? "") !== "" && process.env.CI !== "false" && process.env.CI !== "0";
const SKIP = HAVE_REDIS || IN_CI ? false : "redis-server is not installed (CI installs it)";

/** A short grid: 3 points x 2 runs, each run a few simulated milliseconds. */
const SCENARIO = `name: queue-test
machine: hisi-sas-128
kernel: "6.1"
seed: 7
durationMs: 6
warmupMs: 3
disks: { count: 12, queueDepth: 32 }
runs:
  - { name: default-strict, mode: strict, range: default }
  - { name: driver-strict, mode: strict, range: driver }
`;
const OVER = ["--over", "disks.queueDepth=8,16,32"];

/** A process of the test, its output gathered as it comes. */
interface Proc {
  child: ChildProcess;
  out: string;
  err: string;
}

function start(cmd: string, args: string[], cwd: string, procs: Proc[]): Proc {
  const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const p: Proc = { child, out: "", err: "" };
  child.stdout?.on("data", (d) => (p.out += d));
  child.stderr?.on("data", (d) => (p.err += d));
  procs.push(p);
  // Even if the test process ends early, no redis-server or worker outlives it.
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  child.once("exit", () => process.removeListener("exit", kill));
  return p;
}

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, "close");
  return port;
}

async function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      got += d;
      if (got.includes("\r\n")) {
        s.destroy();
        resolve(got.startsWith("+PONG"));
      }
    });
    s.on("error", () => resolve(false));
  });
}

function sorted(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .sort((a, b) => {
      const ia = JSON.parse(a).id as string;
      const ib = JSON.parse(b).id as string;
      return ia < ib ? -1 : ia > ib ? 1 : 0;
    });
}

test("a sweep on two workers over Redis, one killed mid-point, writes the local pool's results; a trace batch prints the local summaries", {
  skip: quickSkip("a sweep of worker processes over Redis") || SKIP,
  timeout: 120_000,
}, async (t) => {
  assert.ok(HAVE_REDIS, "redis-server is not installed; CI must install it (.ci/run)");
  const dir = mkdtempSync(join(tmpdir(), "iovalab-queue-"));
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill("SIGKILL");
        await once(p.child, "exit");
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, "grid.yaml"), SCENARIO);

  // The local references, no Redis (run while Redis and the workers start): the pool's sweep and the replays.
  const local = start(
    process.execPath,
    [MAIN, "sweep", join(dir, "grid.yaml"), ...OVER, "--out", join(dir, "local"), "--workers", "1", "--no-progress"],
    dir,
    procs,
  );
  const traces = ["linux-6.1-strict-4k-head600.txt.gz", "linux-6.1-lazy-mixed-head1100.txt.gz"].map((f) => TRACES + f);
  const replayOpts = ["--machine", "qemu-q35-nvme", "--kernel", "6.1", "--strict-input"];
  const localReplay = start(process.execPath, [MAIN, "replay", ...traces, ...replayOpts], dir, procs);

  const port = await freePort();
  const redisDir = join(dir, "redis");
  mkdirSync(redisDir);
  const redis = start(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", redisDir],
    redisDir,
    procs,
  );
  await until("redis-server", 10_000, () => redis.child.exitCode === null && redis.out.includes("Ready to accept"));
  assert.ok(await redisAnswers(port), "redis-server does not answer PING");
  const url = `redis://127.0.0.1:${port}`;

  const worker = () =>
    start(process.execPath, [MAIN, "worker", "--queue", url, "--concurrency", "1", "--lock-ms", "2000"], dir, procs);
  const [a, b] = [worker(), worker()];
  await until("two workers", 20_000, () => a.err.includes("taking jobs") && b.err.includes("taking jobs"));

  // A results file one point into the grid: the queued sweep resumes it.
  assert.equal(await exited(local), 0, local.err);
  const want = readFileSync(join(dir, "local", "sweep.jsonl"), "utf8");
  const results = join(dir, "queue.jsonl");
  writeFileSync(results, `${want.split("\n")[0]}\n`);
  const sweepArgs = [MAIN, "sweep", join(dir, "grid.yaml"), ...OVER, "--out", join(dir, "q"), "--results", results];
  const sweep = start(process.execPath, [...sweepArgs, "--queue", url], dir, procs);
  // Kill worker a as soon as it starts a point (a thread's first point loads the model: a second or more).
  await until("worker a to start a point", 30_000, () => /: started/.test(a.err));
  a.child.kill("SIGKILL");
  await once(a.child, "exit");
  const killed = (/sweep (\S+): started/.exec(a.err) as RegExpExecArray)[1];
  assert.doesNotMatch(a.err, /: done/, "worker a finished its point before the kill");

  assert.equal(await exited(sweep), 0, sweep.err);
  assert.match(sweep.err, /sweep: 6 tasks, 1 already in .*, 5 to run on the queue/);
  // The killed point went back on the queue and ran on b; each point recorded once.
  assert.match(sweep.err, new RegExp(`${literal(killed)}: its worker stopped answering`));
  assert.match(b.err, new RegExp(`sweep ${literal(killed)}: done`));
  const got = readFileSync(results, "utf8");
  assert.equal(sorted(got).length, 6);
  assert.deepEqual(sorted(got), sorted(want));

  // A batch of traces prints what the local replay prints, in the order given; a trace that fails is
  // reported with its worker's error after --retries more attempts, and the others still print.
  const bad = join(dir, "bad.txt");
  writeFileSync(bad, "not a trace line\n");
  assert.equal(await exited(localReplay), 0, localReplay.err);
  assert.equal((localReplay.out.match(/^trace: /gm) ?? []).length, 2);
  const queued = iovalab(["replay", traces[0], bad, traces[1], ...replayOpts, "--retries", "1", "--queue", url]);
  assert.equal(queued.status, 1, queued.stderr);
  assert.equal(queued.stdout, localReplay.out);
  const pid = b.child.pid;
  assert.match(queued.stderr, new RegExp(`attempt 1 of 2 failed: [^ ]+:${pid}: ${literal(bad)}:1: expected`));
  assert.match(queued.stderr, new RegExp(`FAILED after 2 of 2 attempts: [^ ]+:${pid}: ${literal(bad)}:1: expected`));
});

async function exited(p: Proc): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) await once(p.child, "exit");
  return p.child.exitCode;
}

function literal(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

test("a --queue that is not a Redis URL, or a Redis that does not answer, is bad input at once", () => {
  assert.equal(parseQueueUrl("redis://10.0.0.7:6379"), "redis://10.0.0.7:6379");
  assertInputError(() => parseQueueUrl("http://10.0.0.7:6379"), /--queue: expected redis:\/\/HOST:PORT, found "http/);
  assertInputError(() => parseQueueUrl("10.0.0.7:6379"), /--queue: expected redis:\/\/HOST:PORT/);
  const dir = mkdtempSync(join(tmpdir(), "iovalab-queue-"));
  try {
    writeFileSync(join(dir, "grid.yaml"), SCENARIO);
    // Port 1 on loopback: nothing listens there; the sweep stops rather than waits.
    const r = iovalab(["sweep", join(dir, "grid.yaml"), ...OVER, "--out", dir, "--queue", "redis://127.0.0.1:1"]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /iovalab: --queue redis:\/\/127\.0\.0\.1:1: cannot reach Redis: ECONNREFUSED\n/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
