/**
 * `iovalab explore [TRACE | SCENARIO.yaml]`: the explorer page on a trace or
 * a scenario, served on 127.0.0.1 (`--port`, default a free one), or with
 * `--out DIR` written as one HTML file that also works from file://. The
 * page runs the model itself; this command checks the input, builds the page
 * (see explore-build.ts) and puts the input into it.
 */

import { createServer } from "node:http";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Command } from "commander";
import { type ExploreInput, inputScript, type MachineRef } from "../explore/input.ts";
import { InputError } from "../face/allocator.ts";
import { builtinMachine, defaultReplayDevice, traceMachineOf } from "../face/kernel.ts";
import { parseMachine } from "../face/machine-file.ts";
import { parseScenarioYaml } from "../face/simulation.ts";
import { readInputBytes } from "../node.ts";
import { explorePageHtml } from "./explore-build.ts";
import { checkOutput, ensureDir, inputName, readText, runCommand, writeOutput } from "./io.ts";
import { parseKernelOption } from "./ops.ts";

interface ExploreCliOptions {
  machine?: string;
  kernel?: string;
  captured?: string;
  device?: string;
  port?: string;
  out?: string;
}

/** The machine for the page, checked here: a bad description or device stops the command, not the page. */
function machineRef(name: string, device: string | undefined): MachineRef {
  const builtin = builtinMachine(name);
  const text = builtin ? "" : readText(name);
  const desc = builtin ?? parseMachine(text, name);
  traceMachineOf(desc, device ?? defaultReplayDevice(desc));
  return builtin ? { builtin: name } : { file: name, text };
}

/** The largest trace (decompressed) a page is made of: the page holds it, its lines and its calls. */
const MAX_TRACE_BYTES = 1 << 30;

export function exploreInput(input: string | undefined, opts: ExploreCliOptions): ExploreInput {
  const kernel = parseKernelOption(opts.kernel);
  if (input === undefined || /\.ya?ml$/i.test(input)) {
    const yaml = input === undefined ? "" : readText(input);
    if (input !== undefined) parseScenarioYaml(yaml, input);
    if (opts.machine !== undefined && !builtinMachine(opts.machine)) {
      throw new InputError(`--machine: a scenario runs on a built-in machine, found ${JSON.stringify(opts.machine)}`);
    }
    return { kind: "scenario", name: input ?? "the seed scenario", yaml, kernel, machine: opts.machine };
  }
  if (opts.captured !== undefined && opts.captured !== "strict" && opts.captured !== "lazy") {
    throw new InputError(`--captured: expected strict or lazy, found ${JSON.stringify(opts.captured)}`);
  }
  // Read the one way every input is (stdin, gzip by its first bytes, no directories), then gzip'd for the page.
  const text = readInputBytes(input, MAX_TRACE_BYTES);
  const bytes = Buffer.from(gzipSync(text, { level: 6 }));
  const name = inputName(input);
  return {
    kind: "trace",
    name: name.split("/").at(-1) ?? name,
    machine: opts.machine === undefined ? undefined : machineRef(opts.machine, opts.device),
    kernel,
    captured: opts.captured as "strict" | "lazy" | undefined,
    device: opts.device,
    data: bytes.toString("base64"),
  };
}

/** The page with its input in it. */
export function withInput(page: string, input: ExploreInput): string {
  const at = page.indexOf('<div id="app"></div>');
  if (at < 0) throw new Error("the built page has no app element");
  const end = at + '<div id="app"></div>'.length;
  return page.slice(0, end) + inputScript(input) + page.slice(end);
}

function port(v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^[0-9]+$/.test(v) || Number(v) > 65535) {
    throw new InputError(`--port: expected a port number 0-65535, found ${JSON.stringify(v)}`);
  }
  return Number(v);
}

export function registerExplore(program: Command): void {
  program
    .command("explore")
    .description("watch the allocator in a browser: the address space, the caches over time, a replay call by call")
    .argument("[input]", "a kernel trace or a scenario .yaml; default: the seed scenario")
    .option(
      "--machine <machine>",
      "a trace's machine: a built-in name or a description file (default: built from the trace)",
    )
    .option(
      "--kernel <profile>",
      "kernel profile (default: what the trace shows, else the machine's or the scenario's)",
    )
    .option(
      "--captured <mode>",
      "strict or lazy: how the trace was captured (default: what the trace shows, else the machine's command line)",
    )
    .option("--device <bdf>", "the device whose domain to replay (default: the first with a DMA driver)")
    .option("--port <n>", "port on 127.0.0.1 (default: a free one)")
    .option("--out <dir>", "write the page to DIR/index.html (works from file://) instead of serving it")
    .action((input: string | undefined, opts: ExploreCliOptions) =>
      runCommand(async () => {
        const data = exploreInput(input, opts);
        const listen = port(opts.port);
        // A bad output path fails now, not after the build.
        if (opts.out !== undefined) checkOutput(join(opts.out, "index.html"));
        // The build notice is for a person waiting at a terminal; piped output stays the same every run.
        const log = (line: string) => {
          if (process.stderr.isTTY) process.stderr.write(`${line}\n`);
        };
        const html = withInput(await explorePageHtml(log), data);
        if (opts.out !== undefined) {
          const file = join(opts.out, "index.html");
          ensureDir(opts.out);
          await writeOutput(file, html);
          process.stdout.write(`wrote ${file}\n`);
          return;
        }
        const body = Buffer.from(html);
        const server = createServer((req, res) => {
          if (req.method !== "GET" || (req.url !== "/" && req.url !== "/index.html")) {
            res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
            return;
          }
          res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": body.length }).end(body);
        });
        await new Promise<void>((resolve, reject) => {
          server.once("error", (e: NodeJS.ErrnoException) =>
            reject(new InputError(`--port: cannot listen on 127.0.0.1:${listen}: ${e.code ?? e.message}`)),
          );
          server.listen(listen, "127.0.0.1", () => resolve());
        });
        const addr = server.address();
        const p = typeof addr === "object" && addr !== null ? addr.port : listen;
        process.stdout.write(`iovalab explore: http://127.0.0.1:${p}/ (Ctrl-C stops)\n`);
      }),
    );
}
