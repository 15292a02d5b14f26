import assert from "node:assert/strict";
import { test } from "node:test";
import { assertInputError } from "../../test/helpers/input-error.ts";
import { comparisonTable, makeReport, reportJson } from "../report/results.ts";
import { machineOf, networkPort, runOne } from "./run.ts";
import {
  NETWORK_WORKLOAD_DEFAULTS,
  NIC_FALLBACK,
  parseScenarioYaml,
  type Scenario,
  scenarioToData,
  validateScenarioData,
} from "./scenario.ts";
import { reportSetup } from "./storage.ts";

function fails(yaml: string, message: RegExp): void {
  assertInputError(() => parseScenarioYaml(yaml, "s.yaml"), message);
}

test("workload kind: absent is fio (existing files stay valid); network fills its defaults and strict/lazy runs", () => {
  assert.deepEqual(parseScenarioYaml("seed: 3\n", "s.yaml").workload, { kind: "fio" });
  assert.deepEqual(parseScenarioYaml("workload: { kind: fio }\n", "s.yaml").workload, { kind: "fio" });
  const s = parseScenarioYaml("workload:\n  kind: network\n  mix: bulk-1500\n  queues: 4\n", "s.yaml");
  assert.deepEqual(s.workload, { ...NETWORK_WORKLOAD_DEFAULTS, mix: "bulk-1500", queues: 4 });
  assert.deepEqual(
    s.runs.map((r) => `${r.name}:${r.mode}:${r.range}`),
    ["default-strict:strict:default", "default-lazy:lazy:default"],
  );
  // Sweeps ship scenarios as plain data and validate them again.
  assert.deepEqual(validateScenarioData(scenarioToData(s), "point"), s);
});

test("bad network workloads name the file, the key path and what was expected", () => {
  fails("workload:\n  kind: disk\n", /^s\.yaml:2: workload\.kind: expected one of fio, network, trace, found "disk"$/);
  fails(
    "workload:\n  kind: network\n  mix: jumbo\n",
    /^s\.yaml:3: workload\.mix: expected one of imix, bulk-1500, tso-64k, found "jumbo"$/,
  );
  fails(
    "workload:\n  kind: fio\n  queues: 4\n",
    /^s\.yaml:3: workload\.queues: expected no queues with kind fio, found "queues"$/,
  );
  fails(
    "workload: { kind: network, rxRingSize: 16, rxRefillBatch: 32 }\n",
    /^s\.yaml:1: workload: expected an RX refill batch between 1 and the ring size, found 32$/,
  );
  // A ring of millions ran out of memory; gigabyte buffers ran the domain out of IOVA space (an
  // internal error).
  fails(
    "workload: { kind: network, rxRingSize: 100000000 }\n",
    /^s\.yaml:1: workload: expected an RX ring of 2 to 32768 descriptors, found 100000000$/,
  );
  fails(
    "workload: { kind: network, rxBufferBytes: 100000000000 }\n",
    /^s\.yaml:1: workload: expected RX buffers of 256 to 65536 bytes, found 100000000000$/,
  );
  fails(
    "workload: { kind: network, txRingSize: 40000 }\n",
    /^s\.yaml:1: workload: expected a TX ring of 1 to 32768 descriptors, found 40000$/,
  );
  fails(
    "workload: { kind: network, txHeadBytes: 70000 }\n",
    /^s\.yaml:1: workload: expected a TX head of 1 to 65536 bytes, found 70000$/,
  );
  fails(
    "workload: { kind: network }\nruns:\n  - { name: s, mode: strict, range: driver }\n",
    /^s\.yaml:3: runs\.0\.range: expected default, cmdline or sysfs with a network workload .*, found driver$/,
  );
});

function net(seedOverride: number, mix: string): Scenario {
  const s = parseScenarioYaml(
    `seed: ${seedOverride}\ndurationMs: 2\nwarmupMs: 1\nworkload: { kind: network, mix: ${mix}, queues: 4, packetsPerSecPerQueue: 100000 }\n`,
    "net.yaml",
  );
  return s;
}

test("network runs: same seed, byte-identical JSON; another seed draws other packets", () => {
  const json = (s: Scenario) =>
    reportJson(
      makeReport(
        { ...s, ...reportSetup(s, machineOf(s)) },
        s.runs.map((r) => runOne(s, r, { checkEveryEvents: 500 })),
      ),
    );
  const a = json(net(5, "imix"));
  assert.equal(json(net(5, "imix")), a);
  const figures = (j: string) => JSON.stringify(JSON.parse(j).runs);
  assert.notEqual(figures(json(net(6, "imix"))), figures(a));
});

test("network run by hand: full frames at 4 x 100K packets/s", () => {
  const s = net(1, "bulk-1500");
  const r = runOne(s, s.runs[1]);
  // Every packet is 1518 bytes: the mean "request" is a packet.
  assert.equal(r.requestBytesMean, 1518);
  // 400K packets/s offered, far below what the CPUs and a 25 Gb/s wire carry (1518 B frames at
  // 25 Gb/s: 2.06M/s); packets in flight at the window's edges shift the count by a few of 800.
  assert.ok(Math.abs(r.iops - 400_000) <= 4000, `packets/s ${r.iops}`);
  // Maps per packet: RX ~1 (one 2048-byte buffer each, refilled in batches), TX 2 (256-byte head
  // and the 1262-byte rest): 1.5 on average with half received.
  assert.ok(Math.abs(r.mapsPerSec / r.iops - 1.5) < 0.1, `maps per packet ${r.mapsPerSec / r.iops}`);
  // Single pages only: every allocation is of class 0.
  assert.equal(r.cacheHitRateByClass.slice(1).filter((x) => x !== null).length, 0);
});

test("a network run's JSON and table carry its packets and drops; a stage that never ran has no latency, not 0", () => {
  // Every packet received: the sender never maps, so there is no TX map or TX latency to give.
  const s = parseScenarioYaml(
    "seed: 1\ndurationMs: 2\nwarmupMs: 1\nworkload: { kind: network, mix: imix, rxPerMille: 1000, queues: 2, packetsPerSecPerQueue: 100000 }\nruns:\n  - { name: lazy, mode: lazy, range: default }\n",
    "rx.yaml",
  );
  const r = runOne(s, s.runs[0]);
  assert.equal(r.mapLatencyNs, null);
  assert.equal(r.ioLatencyNs, null);
  assert.ok(r.network !== undefined);
  // 2 queues x 100K packets/s, all received and none dropped, give or take the window's edges.
  assert.ok(Math.abs(r.network.rxPacketsPerSec - 200_000) <= 2000, JSON.stringify(r.network));
  assert.deepEqual([r.network.txPacketsPerSec, r.network.rxDroppedPerSec, r.network.txDroppedPerSec], [0, 0, 0]);
  const report = makeReport({ ...s, ...reportSetup(s, machineOf(s)) }, [r]);
  const json = JSON.parse(reportJson(report)).runs[0];
  assert.equal(json.mapLatencyNs, null);
  assert.deepEqual(Object.keys(json.network), [
    "rxPacketsPerSec",
    "txPacketsPerSec",
    "rxDroppedPerSec",
    "txDroppedPerSec",
  ]);
  const table = comparisonTable(report);
  assert.match(table, /^lazy .* none {3,}none /m);
  assert.match(table, /^network packets, carried and dropped/m);
});

test("a network run drives the port's own queues and speed unless the scenario sets them", () => {
  const unset = { queues: null, lineRateBitsPerSec: null };
  // xeon-100g's port: 80 combined channels and 100 Gb/s, on a machine of 96 CPUs, then of 64.
  const nic = { rxQueues: 80, txQueues: 80, speedMbps: 100_000 };
  assert.deepEqual(networkPort(unset, nic, 96), { queues: 80, lineRateBitsPerSec: 100e9 });
  assert.deepEqual(networkPort(unset, nic, 64), { queues: 64, lineRateBitsPerSec: 100e9 });
  assert.deepEqual(networkPort(unset, { rxQueues: 8, txQueues: 4 }, 64), { queues: 4, lineRateBitsPerSec: 25e9 });
  // A description that says nothing of the port: the fallback (the seed's hns3 port as its scenario runs it).
  assert.deepEqual(networkPort(unset, undefined, 128), NIC_FALLBACK);
  assert.deepEqual(networkPort({ queues: 2, lineRateBitsPerSec: 10e9 }, nic, 96), {
    queues: 2,
    lineRateBitsPerSec: 10e9,
  });
});
