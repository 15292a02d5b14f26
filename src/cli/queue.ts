/**
 * The job queue behind `iovalab sweep --queue`, `iovalab replay --queue` and
 * `iovalab worker`: a thin adapter over BullMQ on Redis, so a grid or a batch
 * of traces runs on as many machines as take jobs.
 *
 * A job names its kind (`sweep`: one run of one grid point, carrying the
 * scenario's data, so workers need no files; `replay`: one trace, named by
 * path, so workers need the same storage at the same path). A kind no worker
 * knows fails with that said; adding one (say `advise`) is one more case in
 * `JobData` and in queue-job.ts.
 *
 * Delivery is at least once: a worker killed mid-job loses its lock, and
 * another worker runs the job again. So the submitter alone writes results,
 * and keeps each job's first result only. A job's id is a hash of its data:
 * resubmitting the same grid finds the jobs already queued, running or
 * finished while no submitter watched (a rerun collects those), and a job
 * leaves Redis once its result is recorded.
 */

import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { Queue, QueueEvents, Worker } from "bullmq";
import { Redis } from "ioredis";
import { Piscina } from "piscina";
import { InputError, quote } from "../face/allocator.ts";
import type { SweepTask } from "../face/simulation.ts";
import { onInterrupt, writeStdout } from "./io.ts";
import type { ReplayCliOptions, ReplayJob } from "./replay.ts";
import { workerEntry } from "./worker-entry.ts";

/** The one queue every submitter and worker of a Redis shares; jobs of different grids never collide (ids are hashes). */
const QUEUE_NAME = "iovalab";

/** The kinds of job. */
export type JobData =
  | { kind: "sweep"; task: SweepTask }
  /** `stamp` (the trace's size and time as the submitter saw them) makes an edited trace another job. */
  | { kind: "replay"; trace: ReplayJob; stamp: string };

/** A finished job's result: the output text and the worker that made it. */
export interface JobOutput {
  worker: string;
  text: string;
}

/** What a job returns from its worker thread: errors as values, since error classes do not cross threads. */
export type JobReply = { ok: true; text: string } | { ok: false; message: string };

/** A job to submit, with the caller's item it stands for. */
export interface Submission<T> {
  label: string;
  data: JobData;
  item: T;
}

export interface JobFailure<T> {
  sub: Submission<T>;
  reason: string;
  attempts: number;
}

/** Checks a `--queue` value: a Redis URL (redis://HOST:PORT, optionally /DB, rediss:// for TLS). */
export function parseQueueUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "redis:" && url.protocol !== "rediss:") || url.hostname === "") {
    throw new InputError(`--queue: expected redis://HOST:PORT, found ${quote(text)}`);
  }
  return text;
}

/**
 * Connects once without retrying, so an unreachable Redis is an error now
 * rather than a wait forever; returns the last id of the stream `key` ("0-0"
 * if none).
 */
async function probe(url: string, key = "none"): Promise<string> {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  let cause: Error | undefined;
  r.on("error", (e: Error) => {
    cause ??= e;
  });
  try {
    await r.connect();
    const last = await r.xrevrange(key, "+", "-", "COUNT", 1);
    return last.length > 0 ? last[0][0] : "0-0";
  } catch (e) {
    const why = (cause ?? e) as NodeJS.ErrnoException;
    throw new InputError(`--queue ${url}: cannot reach Redis: ${why.code ?? why.message}`);
  } finally {
    r.disconnect();
  }
}

function connection(url: string) {
  // BullMQ's blocking connections must retry forever rather than fail a command.
  return { url, maxRetriesPerRequest: null };
}

function jobId(data: JobData): string {
  return `${data.kind}-${createHash("sha256").update(JSON.stringify(data)).digest("hex").slice(0, 40)}`;
}

/** What a job is about, for progress lines. */
function jobLabel(data: JobData): string {
  if (data?.kind === "sweep") return data.task?.id ?? "?";
  if (data?.kind === "replay") return data.trace?.file ?? "?";
  return "?";
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function isOutput(v: unknown): v is JobOutput {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as JobOutput).worker === "string" &&
    typeof (v as JobOutput).text === "string"
  );
}

/**
 * Submits the jobs and waits until each has finished or failed its last
 * attempt. `onDone` runs once per submission, in completion order, and
 * returns what the progress line says of the result; a throw from it fails
 * that job. Failures are returned, not thrown: the rest still finish.
 */
export async function runOnQueue<T>(
  url: string,
  subs: readonly Submission<T>[],
  opts: { retries: number; progress: boolean; command: string; onFail?: (sub: Submission<T>) => void },
  onDone: (sub: Submission<T>, out: JobOutput) => string,
): Promise<JobFailure<T>[]> {
  parseQueueUrl(url);
  await probe(url);
  const queue = new Queue(QUEUE_NAME, { connection: connection(url) });
  // Events from the stream's present end on, read before any job is added: none of ours is missed.
  const lastEventId = await probe(url, queue.keys.events);
  const events = new QueueEvents(QUEUE_NAME, { connection: connection(url), lastEventId });
  const log = (line: string) => {
    if (opts.progress) process.stderr.write(`${line}\n`);
  };
  const attempts = opts.retries + 1;
  const byId = new Map<string, Submission<T>[]>();
  for (const s of subs) {
    const id = jobId(s.data);
    const same = byId.get(id);
    if (same) same.push(s);
    else byId.set(id, [s]);
  }
  const pending = new Set(byId.keys());
  const running = new Set<string>();
  const failures: JobFailure<T>[] = [];
  const removals: Promise<unknown>[] = [];
  let finished = 0;
  let workers = 0;
  let wake = () => {};

  const labelOf = (id: string) => (byId.get(id) as Submission<T>[])[0].label;

  const fail = (id: string, reason: string, made: number) => {
    if (!pending.delete(id)) return;
    running.delete(id);
    for (const s of byId.get(id) as Submission<T>[]) {
      finished++;
      failures.push({ sub: s, reason, attempts: made });
      opts.onFail?.(s);
      log(`[${finished}/${subs.length}] ${s.label}: FAILED after ${made} of ${attempts} attempts: ${reason}`);
    }
    if (pending.size === 0) wake();
  };
  const complete = (id: string, out: unknown) => {
    if (!pending.has(id)) return;
    if (!isOutput(out)) return fail(id, `a result not of iovalab's form: ${quote(JSON.stringify(out) ?? "")}`, 1);
    pending.delete(id);
    running.delete(id);
    for (const s of byId.get(id) as Submission<T>[]) {
      let said: string;
      try {
        said = onDone(s, out);
      } catch (e) {
        failures.push({ sub: s, reason: `${out.worker}: ${(e as Error).message}`, attempts: 1 });
        opts.onFail?.(s);
        said = `not recorded: ${(e as Error).message}`;
      }
      finished++;
      log(
        `[${finished}/${subs.length}] ${s.label}: ${said}, on ${out.worker}; ${running.size} running, ${pending.size} to go, ${count(workers, "worker")}`,
      );
    }
    // Recorded: the queue forgets the job (a later submission of it runs it again).
    removals.push(queue.remove(id).catch(() => 0));
    if (pending.size === 0) wake();
  };
  const add = (id: string) => {
    const s = (byId.get(id) as Submission<T>[])[0];
    return queue.add(s.data.kind, s.data, {
      jobId: id,
      attempts,
      removeOnComplete: false,
      removeOnFail: false,
    });
  };
  /** Settles what finished unseen (events can be missed: before the listener started, or while Redis was away). */
  const reconcile = async (first: boolean) => {
    workers = await queue.getWorkersCount();
    for (const id of [...pending]) {
      const state = await queue.getJobState(id);
      // Settled meanwhile (and maybe removed): nothing to do, above all no re-adding.
      if (!pending.has(id)) continue;
      if (state === "completed") {
        const job = await queue.getJob(id);
        // Gone between the two looks (collected by another submitter of the same job): the next look re-adds it.
        if (job !== undefined) complete(id, job.returnvalue);
      } else if (state === "failed") {
        if (first) {
          // Failed in an earlier submission: a rerun tries it again, with this run's --retries.
          await queue.remove(id);
          await add(id);
        } else {
          const job = await queue.getJob(id);
          fail(id, job?.failedReason ?? "failed", job?.attemptsMade ?? attempts);
        }
      } else if (state === "unknown") {
        await add(id);
      }
    }
  };

  events.on("active", ({ jobId }) => {
    if (pending.has(jobId)) running.add(jobId);
  });
  events.on("completed", ({ jobId, returnvalue }) => complete(jobId, returnvalue));
  events.on("failed", ({ jobId, failedReason }) => {
    if (!pending.has(jobId)) return;
    void queue.getJob(jobId).then(
      (job) => fail(jobId, failedReason, job?.attemptsMade ?? attempts),
      () => fail(jobId, failedReason, attempts),
    );
  });
  events.on("stalled", ({ jobId }) => {
    if (!pending.has(jobId)) return;
    running.delete(jobId);
    log(`${labelOf(jobId)}: its worker stopped answering; the job goes back on the queue for another`);
  });
  // A worker says why an attempt failed as the job's progress (the failure event comes only after the last).
  events.on("progress", ({ jobId, data }) => {
    const d = data as { attempt?: unknown; error?: unknown };
    if (!pending.has(jobId) || typeof d?.attempt !== "number" || typeof d.error !== "string") return;
    running.delete(jobId);
    if (d.attempt < attempts)
      log(`${labelOf(jobId)}: attempt ${d.attempt} of ${attempts} failed: ${d.error}; it runs again`);
  });

  const removeStop = onInterrupt(
    "finished results are kept; queued jobs go on on the workers and a rerun collects them",
    async () => {
      await Promise.allSettled([events.close(), queue.close()]);
    },
  );
  try {
    await events.waitUntilReady();
    await queue.waitUntilReady();
    await reconcile(true);
    if (pending.size > 0) {
      log(
        `${opts.command}: ${count(byId.size, "job")} on ${url}; ${count(workers, "worker")} connected` +
          (workers === 0 ? " (start `iovalab worker --queue URL` where the jobs should run)" : ""),
      );
      const done = new Promise<void>((r) => {
        wake = r;
      });
      // Events settle jobs as they finish; the periodic look is for events missed.
      const timer = setInterval(() => void reconcile(false).catch(() => {}), 3000);
      try {
        await done;
      } finally {
        clearInterval(timer);
      }
    }
    await Promise.all(removals);
  } finally {
    removeStop();
    await events.close();
    await queue.close();
  }
  return failures;
}

/**
 * `iovalab worker`: takes jobs from the queue and runs them, `concurrency`
 * at once, each on a worker thread (the main thread keeps the jobs' locks
 * renewed meanwhile). Returns once stopped (SIGINT or SIGTERM: running jobs
 * finish first; a second signal stops at once, and those jobs run again
 * elsewhere after `lockMs`).
 */
export async function serveQueue(url: string, opts: { concurrency: number; lockMs: number }): Promise<void> {
  parseQueueUrl(url);
  await probe(url);
  const name = `${hostname()}:${process.pid}`;
  const log = (line: string) => process.stderr.write(`${name}: ${line}\n`);
  const pool = new Piscina({
    filename: workerEntry(import.meta.url, "./queue-job.ts"),
    minThreads: opts.concurrency,
    maxThreads: opts.concurrency,
  });
  const worker = new Worker<JobData, JobOutput>(
    QUEUE_NAME,
    async (job) => {
      const label = `${job.data?.kind} ${jobLabel(job.data)}`;
      log(`${label}: started (attempt ${job.attemptsMade + 1})`);
      const t0 = performance.now();
      // A thread that dies (out of memory, say) fails the attempt like an error in the job.
      const reply = (await pool
        .run(job.data)
        .catch((e: Error): JobReply => ({ ok: false, message: `worker thread died: ${e?.message ?? e}` }))) as JobReply;
      if (!reply.ok) {
        log(`${label}: failed: ${reply.message}`);
        const error = `${name}: ${reply.message}`;
        await job.updateProgress({ attempt: job.attemptsMade + 1, error });
        throw new Error(error);
      }
      log(`${label}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      return { worker: name, text: reply.text };
    },
    {
      connection: connection(url),
      concurrency: opts.concurrency,
      name,
      lockDuration: opts.lockMs,
      stalledInterval: Math.max(500, Math.floor(opts.lockMs / 2)),
      // A job whose worker died twice fails rather than kill a third.
      maxStalledCount: 2,
    },
  );
  worker.on("error", (e) => log(`queue error: ${e.message}`));
  await worker.waitUntilReady();
  log(`taking jobs from ${url}, ${opts.concurrency} at a time`);
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = () => {
      if (stopping) process.exit(130);
      stopping = true;
      log("stopping: running jobs finish first (again to stop now)");
      void worker
        .close()
        .then(() => pool.destroy())
        .finally(done);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
}

/** `iovalab replay --queue`: each trace one job; summaries printed in the order of the traces. */
export async function replayBatchOnQueue(
  url: string,
  traces: readonly string[],
  options: ReplayCliOptions,
  retries: number,
): Promise<void> {
  parseQueueUrl(url);
  const { replayJobMachine } = await import("./replay.ts");
  const machine = await replayJobMachine(options.machine);
  const subs: Submission<number>[] = traces.map((file, i) => {
    if (file === "-") throw new InputError("--queue: expected trace files, found - (stdin cannot go to workers)");
    const path = resolve(file);
    let stamp: string;
    try {
      const st = statSync(path);
      stamp = `${st.size}@${st.mtimeMs}`;
    } catch (e) {
      throw new InputError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return { label: file, item: i, data: { kind: "replay", trace: { path, file, ...machine, options }, stamp } };
  });
  const texts: (string | null | undefined)[] = traces.map(() => undefined);
  let printed = 0;
  let out = Promise.resolve();
  const flush = () => {
    while (printed < texts.length && texts[printed] !== undefined) {
      const t = texts[printed++];
      if (t) out = out.then(() => writeStdout(t));
    }
  };
  const onFail = (sub: Submission<number>) => {
    texts[sub.item] = null;
    flush();
  };
  const failures = await runOnQueue(url, subs, { retries, progress: true, command: "replay", onFail }, (sub, o) => {
    texts[sub.item] = o.text;
    flush();
    return "replayed";
  });
  await out;
  reportFailures("replay", failures);
}

/** Prints the failed jobs after a run; exit status 1. */
export function reportFailures<T>(command: string, failures: readonly JobFailure<T>[]): void {
  if (failures.length === 0) return;
  const lines = failures.map((f) => `  ${f.sub.label}: ${f.reason} (${f.attempts} attempts)`);
  process.stderr.write(
    `${command}: ${count(failures.length, "job")} failed; finished results are kept, a rerun tries the failed ones again\n${lines.join("\n")}\n`,
  );
  process.exitCode = 1;
}
