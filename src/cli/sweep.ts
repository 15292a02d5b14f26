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
import { renderSvg } from "../report/html.ts";
import { svgToPng } from "../report/png.ts";
import { formatTable } from "../report/table.ts";
import type { RunResult } from "../scenario/run.ts";
import { parseScenarioYaml } from "../scenario/scenario.ts";
import { parseOver, planSweep, readSweepLines, type SweepLine, sweepFigure, sweepLine } from "../scenario/sweep.ts";
import { InputError, quote } from "../stdx/errors.ts";
import { readInputText } from "../stdx/node-input.ts";
import { checkOutput, onInterrupt, prepareOutputSet, readText, runCommand, writeOutput, writeStdout } from "./io.ts";

interface SweepOpts {
  over: string[];
  out: string;
  results?: string;
  workers?: string;
  progress: boolean;
}

export function registerSweep(program: Command): void {
  program
    .command("sweep")
    .description("run a scenario over a grid of settings on a worker pool; results appended as they finish")
    .argument("<scenario>", "scenario YAML file")
    .requiredOption("--over <key=v1,v2,...>", "a key of the scenario and its values (repeatable: a grid)", collect)
    .option("--out <dir>", "directory for sweep.html and sweep.png", "out")
    .option("--results <file>", "results file, JSON lines (default: <out>/sweep.jsonl); a rerun resumes it")
    .option("--workers <n>", "worker threads (default: the CPUs available)")
    .option("--no-progress", "no progress lines on stderr")
    .action((file: string, opts: SweepOpts) =>
      runCommand(async () => {
        const base = parseScenarioYaml(readText(file), file);
        const axes = opts.over.map(parseOver);
        const tasks = planSweep(base, axes, file);
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
        const workers = opts.workers === undefined ? availableParallelism() : positive("--workers", opts.workers);
        if (opts.progress) {
          process.stderr.write(
            `sweep: ${tasks.length} tasks, ${tasks.length - todo.length} already in ${resultsFile}, ${todo.length} to run on ${workers} workers\n`,
          );
        }
        if (todo.length > 0) {
          const pool = new Piscina({
            filename: new URL("../scenario/sweep-worker.ts", import.meta.url).href,
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

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new InputError(`${name}: expected a positive integer, found ${quote(v)}`);
  return n;
}
