/**
 * `iovalab explore` in a real browser (Debian's chromium through
 * playwright-core, no browser download): the page built from a real trace's
 * cut, played to a call, must show the counts the library's own Replayer
 * has stopped at the same call; the what-if lane must show another
 * Replayer's; the seed scenario's page must replay its simulation exactly;
 * the served page must load. Screenshots go to out/explore-test/.
 *
 * Without /usr/bin/chromium the browser tests skip, but fail under CI=true.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import type { Browser, Page } from "playwright-core";
import { withInput } from "../src/cli/explore.ts";
import {
  builtinMachine,
  type DmaCall,
  type MachineDesc,
  Reconstructor,
  Replayer,
  type ReplayOptions,
  readTraceText,
  traceMachineOf,
} from "../src/index.ts";
import { queuedIn } from "../src/replay/follow.ts";
import { cpu1Moved } from "./helpers/cpu-moved.ts";
import { iovalab } from "./helpers/iovalab.ts";
import { quickSkip } from "./helpers/quick.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const ROOT = join(import.meta.dirname, "..");
const TRACES = join(import.meta.dirname, "fixtures", "traces");
const SHOTS = join(ROOT, "out", "explore-test");
const MAIN = join(ROOT, "bin", "iovalab.js");
const TIMERS = "linux-6.12-lazy-timers-head8000.txt.gz";

if (!HAVE_CHROMIUM && process.env.CI === "true") {
  test("chromium is installed for the browser tests", () => {
    assert.fail(`${CHROMIUM} is missing: .ci/run installs it with apt-get (chromium)`);
  });
}

/** The calls of a trace fixture, rebuilt in Node by the library. */
function callsOf(file: string, machine: MachineDesc, device: string): DmaCall[] {
  const text = gunzipSync(readFileSync(join(TRACES, file))).toString("utf8");
  const { events } = readTraceText(text, { file });
  const calls: DmaCall[] = [];
  const rc = new Reconstructor({ machine: traceMachineOf(machine, device), file }, (c) => calls.push(c));
  for (const e of events) rc.push(e);
  rc.end();
  return calls;
}

interface Counts {
  live: number;
  cpu: number;
  depot: number;
  fq: number;
  reserved: number;
  holes: number;
}

/**
 * The library's replay stopped after `n` calls, each IOVA of the tree
 * classified by the domain's own lookups (`cachedOn`, the flush queue's
 * entries as the replay's `queuedIn` reads them, the cookie's live
 * mappings), not by the page's code.
 */
/** What the library's Replayer holds after `n` calls; a what-if keeps the trace's order of calls, as `replay` does. */
function libraryCounts(opts: ReplayOptions, calls: DmaCall[], n: number, whatIf = false): Counts {
  const r = new Replayer(opts);
  if (whatIf) r.keepTraceOrder();
  for (let i = 0; i < n; i++) r.push(calls[i]);
  const cookie = r.kernel.dma.cookieOf(r.dev);
  assert.ok(cookie);
  const d = cookie.iovad;
  const limit = 2 ** r.dev.dmaMaskBits / d.granule;
  const out: Counts = { live: 0, cpu: 0, depot: 0, fq: 0, reserved: 0, holes: 0 };
  let next = d.startPfn;
  d.forEachIova((lo, hi) => {
    const on = d.cachedOn(lo);
    if (on >= 0 && on < d.cpus) out.cpu++;
    else if (on === d.cpus) out.depot++;
    else if (cookie.fq && queuedIn(cookie.fq, lo)) out.fq++;
    else if (cookie.mapped.get(lo) !== undefined) out.live++;
    else out.reserved++;
    if (lo > next && next < limit) out.holes++;
    next = Math.max(next, hi + 1);
  });
  if (next < limit) out.holes++;
  return out;
}

async function pageCounts(page: Page, lane: number): Promise<Counts> {
  const get = async (k: string) =>
    Number(await page.textContent(`[data-testid="lane-${lane}-count-${k}"]`, { timeout: 30_000 }));
  return {
    live: await get("live"),
    cpu: await get("cpu"),
    depot: await get("depot"),
    fq: await get("fq"),
    reserved: await get("reserved"),
    holes: await get("holes"),
  };
}

async function waitReady(page: Page): Promise<void> {
  await page.waitForFunction(
    () => {
      const s = (window as unknown as { __iovalab?: { ready: boolean; error: string | null } }).__iovalab;
      return s !== undefined && (s.ready || s.error !== null);
    },
    null,
    { timeout: 60_000 },
  );
  const error = await page.evaluate(
    () => (window as unknown as { __iovalab: { error: string | null } }).__iovalab.error,
  );
  assert.equal(error, null);
}

/** Types call `n` into the step box and waits until every lane shows the state after it. */
async function goTo(page: Page, n: number, lanes: number): Promise<void> {
  await page.fill('[data-testid="goto"]', String(n));
  await page.dispatchEvent('[data-testid="goto"]', "change");
  for (let i = 0; i < lanes; i++) {
    await page.waitForSelector(`[data-testid="lane-${i}"][data-pos="${n}"]`, { timeout: 30_000 });
  }
}

function buildPage(args: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "iovalab-explore-"));
  const r = iovalab(["explore", ...args, "--out", dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^wrote .*index\.html\n$/);
  return join(dir, "index.html");
}

describe("iovalab explore in chromium", {
  skip: quickSkip("a browser session") || (HAVE_CHROMIUM ? false : `${CHROMIUM} is missing`),
}, () => {
  let browser: Browser;
  const pages: string[] = [];

  before(async () => {
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    for (const p of pages) rmSync(join(p, ".."), { recursive: true, force: true });
  });

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1400 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(url);
    await waitReady(page);
    assert.deepEqual(errors, []);
    return page;
  }

  for (const [file, captured, at] of [
    ["linux-6.1-strict-4k-head600.txt.gz", "strict", 300],
    ["linux-6.1-lazy-mixed-head1100.txt.gz", "lazy", 700],
  ] as const) {
    test(`${file} from file://: the map's counts at call ${at} are the library replay's, and a what-if lane`, async () => {
      const html = buildPage([
        join(TRACES, file),
        "--machine",
        "qemu-q35-nvme",
        "--kernel",
        "6.1",
        "--captured",
        captured,
      ]);
      pages.push(html);
      const page = await open(pathToFileURL(html).href);
      const machine = builtinMachine("qemu-q35-nvme");
      assert.ok(machine);
      const device = "0000:00:01.0";
      const calls = callsOf(file, machine, device);
      assert.equal(await page.getAttribute('[data-testid="scrubber"]', "max"), String(calls.length));
      const base: ReplayOptions = { machine, kernel: "6.1", device, strict: captured === "strict" };

      // Play at 4 calls a frame past call `at`/2, pause, and compare where it stopped.
      await page.selectOption('[data-testid="speed"]', "4");
      await page.click('[data-testid="play"]');
      await page.waitForFunction(
        (n) => (window as unknown as { __iovalab: { pos: number } }).__iovalab.pos >= n,
        at / 2,
      );
      await page.click('[data-testid="play"]');
      await page.waitForFunction(() => {
        const s = (window as unknown as { __iovalab: { pos: number; idle: boolean } }).__iovalab;
        return s.idle;
      });
      const played = await page.evaluate(() => (window as unknown as { __iovalab: { pos: number } }).__iovalab.pos);
      await page.waitForSelector(`[data-testid="lane-0"][data-pos="${played}"]`);
      assert.ok(played >= at / 2 && played < at, `stopped at ${played}`);
      assert.deepEqual(await pageCounts(page, 0), libraryCounts(base, calls, played));
      await goTo(page, at, 1);
      assert.deepEqual(await pageCounts(page, 0), libraryCounts(base, calls, at));
      // Back: the page replays from the start.
      await goTo(page, 50, 1);
      assert.deepEqual(await pageCounts(page, 0), libraryCounts(base, calls, 50));
      await goTo(page, at, 1);
      // The page's first mismatch is the library's, at the same call.
      const full = new Replayer(base);
      for (const c of calls) full.push(c);
      const fm = full.end().firstMismatch;
      if (fm !== null) {
        const call = calls.findIndex((c) => c.kind === "map" && c.allocation === fm.allocation) + 1;
        assert.equal(await page.textContent('[data-testid="first-mismatch"]'), `first mismatch (call ${call})`);
      }
      // One call on, by the step button.
      await page.click('[data-testid="step"]');
      await page.waitForSelector(`[data-testid="lane-0"][data-pos="${at + 1}"]`);
      assert.deepEqual(await pageCounts(page, 0), libraryCounts(base, calls, at + 1));

      // What if: 256 KiB range, the other mode; the second lane is a replay of the same calls with them.
      const strict = captured !== "strict";
      await page.selectOption('[data-testid="whatif-range"]', "262144");
      await page.selectOption('[data-testid="whatif-mode"]', strict ? "strict" : "lazy");
      await page.click('[data-testid="whatif-run"]');
      await page.waitForSelector(`[data-testid="lane-1"][data-pos="${at + 1}"]`, { timeout: 60_000 });
      assert.deepEqual(
        await pageCounts(page, 1),
        libraryCounts({ ...base, strict, rangeBytes: 262144 }, calls, at + 1, true),
      );
      assert.match((await page.textContent('[data-testid="lane-1"] h2')) ?? "", /what-if: 6\.1, \w+, range 256 KiB/);
      await page.click('[data-testid="zoom-used"]');
      await page.screenshot({ path: join(SHOTS, `${file.replace(/\.txt\.gz$/, "")}.png`), fullPage: true });
      await page.close();
    });
  }

  test("the seed scenario (short): its simulated calls replay exactly, and the page plays", async () => {
    const html = buildPage([join(ROOT, "scenarios", "seed-short.yaml")]);
    pages.push(html);
    const page = await open(pathToFileURL(html).href);
    const summary = (await page.textContent('[data-testid="lane-0"] .summary')) ?? "";
    const m = /IOVAs as recorded: (\d+)\/(\d+) allocations/.exec(summary);
    assert.ok(m, summary);
    assert.ok(Number(m[2]) > 1000, summary);
    assert.equal(m[1], m[2], "the replay of the simulation's calls places every IOVA where the simulation did");
    await page.click('[data-testid="play"]');
    await page.waitForFunction(() => (window as unknown as { __iovalab: { pos: number } }).__iovalab.pos > 200);
    await page.click('[data-testid="play"]');
    await page.screenshot({ path: join(SHOTS, "seed-short.png"), fullPage: true });
    await page.close();
  });

  test("served on 127.0.0.1 at the printed address; a lazy trace with no flags replays as `replay` does", async () => {
    const child = spawn(process.execPath, [MAIN, "explore", join(TRACES, TIMERS)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
          if (m) resolve(m[0]);
        });
        child.on("exit", (code) => reject(new Error(`explore exited with ${code} before printing its address`)));
      });
      const page = await open(url);
      assert.match((await page.textContent("h1")) ?? "", /linux-6\.12-lazy-timers-head8000\.txt\.gz/);
      // Kernel, mode and machine from the trace, and its timer events among the calls.
      const summary = (await page.textContent('[data-testid="lane-0"] .summary')) ?? "";
      const cli = iovalab(["replay", join(TRACES, TIMERS), "--json"]);
      const total = JSON.parse(cli.stdout).total as { allocations: number; exact: number };
      assert.match(summary, new RegExp(`IOVAs as recorded: ${total.exact}/${total.allocations} allocations`));
      assert.match(summary, /mainline, lazy/);
      await page.screenshot({ path: join(SHOTS, "lazy-timers-served.png"), fullPage: true });
      await page.close();
    } finally {
      child.kill();
    }
  });

  test("a trace that lost events: the page's warning on a line of its own, under the notes", async () => {
    // The 6.12 lazy-timers fixture with the kernel's marker for 100 events CPU 1 lost put before its line 5,000.
    const lines = gunzipSync(readFileSync(join(TRACES, TIMERS)))
      .toString("utf8")
      .split("\n");
    const dir = mkdtempSync(join(tmpdir(), "iovalab-explore-lossy-"));
    const lossy = join(dir, "lossy.txt");
    writeFileSync(lossy, [...lines.slice(0, 4999), "CPU:1 [LOST 100 EVENTS]", ...lines.slice(4999)].join("\n"));
    const html = buildPage([lossy]);
    pages.push(html);
    const page = await open(pathToFileURL(html).href);
    const warnings = await page.$$eval('[data-testid="warning"]', (xs) => xs.map((x) => x.textContent ?? ""));
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /^warning: the ring buffer lost 100 events in one place \(an overrun\)/);
    assert.doesNotMatch((await page.textContent(".notes")) ?? "", /ring buffer/);
    await page.screenshot({ path: join(SHOTS, "lossy.png"), clip: { x: 0, y: 0, width: 1500, height: 300 } });
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a server's trace, 2 of 1,024 CPUs doing DMA: the cache views show those two, and say so", async () => {
    // The first 3,000 lines of the 6.1 lazy-timers trace with CPU 1's events on CPU 1,023 of 1,024. A row per CPU
    // left the two a pixel high among 1,022 rows that never change.
    const head = gunzipSync(readFileSync(join(TRACES, "linux-6.1-lazy-timers-head8000.txt.gz")))
      .toString("utf8")
      .split("\n")
      .slice(0, 3000)
      .join("\n");
    const text = cpu1Moved(head, 1023, 1024);
    const dir = mkdtempSync(join(tmpdir(), "iovalab-explore-server-"));
    const file = join(dir, "server.txt");
    writeFileSync(file, text);
    const html = buildPage([file]);
    pages.push(html);
    const page = await open(pathToFileURL(html).href);
    const rows = (await page.textContent('[data-testid="heat-rows"]')) ?? "";
    assert.match(rows, /^rows: CPUs 0, 1023 \(the 2 of 1024 whose magazines held pfns\)/);
    const heat = await page.$eval(".heat canvas", (c) => (c as HTMLCanvasElement).height);
    assert.ok(heat <= 60, `a heat map of 3 rows, not 1,025: ${heat} px high`);
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

test("explore: bad input is refused with exit status 2 before any page is built", () => {
  const badCapture = iovalab(["explore", join(TRACES, "linux-6.1-strict-4k-head600.txt.gz"), "--captured", "fast"]);
  assert.equal(badCapture.status, 2);
  assert.match(badCapture.stderr, /--captured: expected strict or lazy, found "fast"/);
  const badDevice = iovalab([
    "explore",
    join(TRACES, "linux-6.1-strict-4k-head600.txt.gz"),
    "--machine",
    "qemu-q35-nvme",
    "--device",
    "0000:00:09.0",
  ]);
  assert.equal(badDevice.status, 2);
  assert.match(badDevice.stderr, /--device: expected a device of qemu-q35-nvme, found "0000:00:09.0"/);
  const badPort = iovalab(["explore", "--port", "http"]);
  assert.equal(badPort.status, 2);
  assert.match(badPort.stderr, /--port: expected a port number/);
  const dir = mkdtempSync(join(tmpdir(), "iovalab-explore-"));
  try {
    const yaml = join(dir, "bad.yaml");
    // A scenario key with the wrong type: its line in the message.
    writeFileSync(yaml, "name: x\ndisks:\n  count: many\n");
    const bad = iovalab(["explore", yaml, "--out", join(dir, "page")]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /bad\.yaml:3: /);
    assert.equal(existsSync(join(dir, "page")), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("explore: the input goes into the page as JSON no file name can break out of", () => {
  const name = "</script><script>alert(1)</script>.txt";
  const html = withInput('<body><div id="app"></div><script type="module">x</script></body>', {
    kind: "scenario",
    name,
    yaml: "",
  });
  const json = /<script id="iovalab-input" type="application\/json">(.*?)<\/script>/.exec(html);
  assert.ok(json);
  assert.equal(JSON.parse(json[1]).name, name);
  assert.equal(html.match(/<script/g)?.length, 2);
});
