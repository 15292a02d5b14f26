/**
 * `iovalab sweep SCENARIO.yaml --over key=v1,v2,...`: every run of the
 * scenario at every grid point, on a piscina worker pool. Each result is
 * appended to the results file (JSON lines) as it finishes, so a crash or
 * Ctrl-C loses nothing finished and a rerun resumes where it stopped; at
 * the end each metric is plotted against the swept value (sweep.html with
 * inline SVG, sweep.png beside it).
 */

import { appendFileSync, existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { Piscina } from "piscina";
import { InputError, quote } from "../face/allocator.ts";
import {
  formatTable,
  parseOver,
  parseRangeVia,
  parseScenarioYaml,
  planSweep,
  type RunResult,
  readSweepLines,
  renderSvg,
  type SweepLine,
  sweepFigure,
  sweepLine,
} from "../face/simulation.ts";
import { readInputText, svgToPng } from "../node.ts";
import { checkOutput, onInterrupt, prepareOutputSet, readText, runCommand, writeOutput, writeStdout } from "./io.ts";
import { resolveScenarioMachine, sweepMachine } from "./machine-option.ts";
import { workerEntry } from "./worker-entry.ts";

interface SweepOpts {
  over: string[];
  out: string;
  results?: string;
  workers?: string;
  queue?: string;
  retries?: string;
  progress: boolean;
  rangeVia?: string;
}

export function registerSweep(program: Command): void {
  program
    .command("sweep")
    .description(
      "run a scenario over a grid of settings on a worker pool, or on the workers of a Redis job queue; results appended as they finish",
    )
    .argument("<scenario>", "scenario YAML file")
    .requiredOption("--over <key=v1,v2,...>", "a key of the scenario and its values (repeatable: a grid)", collect)
    .option(
      "--range-via <way>",
      "how range= values are set: cmdline (iommu.max_opt_dma_size=, default), sysfs or driver",
    )
    .option("--out <dir>", "directory for sweep.html and sweep.png", "out")
    .option("--results <file>", "results file, JSON lines (default: <out>/sweep.jsonl); a rerun resumes it")
    .option("--workers <n>", "worker threads of the local pool (default: the CPUs available)")
    .option(
      "--queue <redis://host:port>",
      "put the points on this Redis instead, for `iovalab worker` processes on any machines to run",
    )
    .option("--retries <n>", "with --queue: run a failed point again up to n times (default 0)")
    .option("--no-progress", "no progress lines on stderr")
    .addHelpText(
      "after",
      "\nKeys: any scalar of the scenario (disks.queueDepth, kernel, machine: a built-in or a description file,\n" +
        "cost.NAME), and mode=strict,lazy,passthrough or range=BYTES,... for every run.\n" +
        "\nWith --queue, each point's job carries its scenario, so workers need no shared files; results are\n" +
        "written here, by this command, exactly as a local sweep writes them. Stopping it leaves the queued\n" +
        "points running on the workers; a rerun collects them.\n",
    )
    .action((file: string, opts: SweepOpts) =>
      runCommand(async () => {
        const base = resolveScenarioMachine(parseScenarioYaml(readText(file), file), file);
        const axes = opts.over.map(parseOver);
        const tasks = planSweep(base, axes, file, {
          resolveMachine: sweepMachine,
          ...(opts.rangeVia === undefined ? {} : { rangeVia: parseRangeVia("--range-via", opts.rangeVia) }),
        });
        const outSet = prepareOutputSet(opts.out);
        const resultsFile = opts.results ?? join(opts.out, "sweep.jsonl");
        checkOutput(resultsFile);
        const done = new Map<string, SweepLine>();
        if (existsSync(resultsFile)) {
          const text = readInputText(resultsFile, 1 << 30);
          const kept = readSweepLines(text);
          for (const l of kept) done.set(l.id, l);
          // A torn last line (a crash mid-write) is dropped, so the next append starts a line of its own.
          if (text !== "" && !text.endsWith("\n")) {
            await writeOutput(resultsFile, kept.map((l) => `${JSON.stringify(l)}\n`).join(""));
          }
        }
        const todo = tasks.filter((t) => !done.has(t.id));
        if (opts.queue !== undefined && opts.workers !== undefined) {
          throw new InputError("--workers and --queue: expected one, found both (queue workers are `iovalab worker`)");
        }
        if (opts.queue === undefined && opts.retries !== undefined) {
          throw new InputError("--retries: expected with --queue, found it alone");
        }
        const retries = wholeNumber("--retries", opts.retries ?? "0");
        const workers = opts.workers === undefined ? availableParallelism() : positive("--workers", opts.workers);
        if (opts.progress) {
          process.stderr.write(
            `sweep: ${tasks.length} tasks, ${tasks.length - todo.length} already in ${resultsFile}, ${todo.length} to run ` +
              (opts.queue === undefined ? `on ${workers} workers\n` : `on the queue\n`),
          );
        }
        if (todo.length > 0 && opts.queue !== undefined) {
          const { runOnQueue, reportFailures } = await import("./queue.ts");
          const failures = await runOnQueue(
            opts.queue,
            todo.map((t) => ({ label: t.id, item: t, data: { kind: "sweep", task: t } })),
            { retries, progress: opts.progress, command: "sweep" },
            (sub, out) => {
              const line = oneLineFor(sub.item.id, out.text);
              // One write per line, with O_APPEND, as the local pool's.
              appendFileSync(resultsFile, out.text);
              done.set(line.id, line);
              return `${line.result.iops} IOPS`;
            },
          );
          if (failures.length > 0) {
            reportFailures("sweep", failures);
            return;
          }
        } else if (todo.length > 0) {
          const pool = new Piscina({
            filename: workerEntry(import.meta.url, "../scenario/sweep-worker.ts"),
            maxThreads: workers,
            minThreads: Math.min(workers, todo.length),
          });
          const removeStop = onInterrupt("finished results are kept, a rerun resumes", () => pool.destroy());
          let finished = 0;
          await Promise.all(
            todo.map(async (t) => {
              const result = (await pool.run(t)) as RunResult;
              // One write per line, with O_APPEND: a line is either whole or the torn last one.
              appendFileSync(resultsFile, sweepLine(t, result));
              done.set(t.id, { id: t.id, point: t.point, run: t.run, result });
              finished++;
              if (opts.progress) process.stderr.write(`[${finished}/${todo.length}] ${t.id}: ${result.iops} IOPS\n`);
            }),
          );
          removeStop();
          await pool.destroy();
        }
        const lines = tasks.map((t) => done.get(t.id) as SweepLine);
        const svg = await renderSvg(sweepFigure(lines, axes));
        outSet.commit([
          ["sweep.png", svgToPng(svg)],
          [
            "sweep.html",
            `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>iovalab sweep</title></head><body>\n<h1>iovalab sweep: ${file}</h1>\n${svg}\n</body></html>\n`,
          ],
        ]);
        const header = [
          ...axes.map((a) => a.key),
          "run",
          "IOPS",
          "tree allocs/s",
          "steps/alloc",
          "lock wait",
          "hit rate",
        ];
        const rows = lines.map((l) => [
          ...axes.map((a) => String(l.point[a.key])),
          l.run,
          String(l.result.iops),
          String(l.result.treeAllocsPerSec),
          String(l.result.walkStepsPerTreeAlloc),
          String(l.result.lockWaitShare),
          String(l.result.cacheHitRate),
        ]);
        await writeStdout(
          `${formatTable(header, rows)}\nresults in ${resultsFile}; plots in ${join(opts.out, "sweep.html")}\n`,
        );
      }),
    );
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** A worker's result line, checked to be one whole line for the point it was given. */
function oneLineFor(id: string, text: string): SweepLine {
  const lines = text.endsWith("\n") ? readSweepLines(text) : [];
  if (lines.length !== 1 || text.indexOf("\n") !== text.length - 1 || lines[0].id !== id) {
    throw new Error(`expected one result line for ${id}, found ${quote(text.slice(0, 80))}`);
  }
  return lines[0];
}

function wholeNumber(name: string, v: string): number {
  if (!/^[0-9]+$/.test(v)) throw new InputError(`${name}: expected a whole number, found ${quote(v)}`);
  return Number(v);
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InputError(`${name}: expected a positive integer, found ${quote(v)}`);
  return n;
}
