import assert from "node:assert/strict";
import { test } from "node:test";
import { InputError } from "../stdx/errors.ts";
import { functionAddress, kallsymsNames } from "./kallsyms.ts";

const WANTED = ["fq_flush_timeout", "iova_depot_work_func"];

test("an address as a trace prints an unnamed function: 0x, lower case, no leading zeros", () => {
  assert.equal(functionAddress("ffffffff81A2B3C0"), "0xffffffff81a2b3c0");
  assert.equal(functionAddress("0XFFFFFFFF81a2b3c0"), "0xffffffff81a2b3c0");
  assert.equal(functionAddress("00000000c0001000"), "0xc0001000");
  assert.equal(functionAddress("0000"), "0x0");
});

test("/proc/kallsyms lines: the wanted names by address, module lines and CRLF read, other names left out", () => {
  const text = [
    "ffffffff81000000 T _text",
    "ffffffff81a2b3c0 t fq_flush_timeout",
    "ffffffff81a2c120 t iova_depot_work_func\r",
    "ffffffffc0a01000 t nvme_irq\t[nvme]",
    "",
  ].join("\n");
  const names = kallsymsNames(text, "k.txt", WANTED);
  assert.deepEqual(
    [...names],
    [
      ["0xffffffff81a2b3c0", "fq_flush_timeout"],
      ["0xffffffff81a2c120", "iova_depot_work_func"],
    ],
  );
  // A 6.1 kernel has no depot work: the timer alone is enough.
  assert.deepEqual(
    [...kallsymsNames("ffffffff8170e2a0 t fq_flush_timeout\n", "k", WANTED)],
    [["0xffffffff8170e2a0", "fq_flush_timeout"]],
  );
});

test("a table read without root (every address zero), one without the names, and a line that is no symbol are input errors", () => {
  const hidden = "0000000000000000 T _text\n0000000000000000 t fq_flush_timeout\n";
  assert.throws(
    () => kallsymsNames(hidden, "k.txt", WANTED),
    (e: unknown) =>
      e instanceof InputError &&
      /^k\.txt:2: expected the address of fq_flush_timeout or iova_depot_work_func, found 0000000000000000: .*kptr_restrict/.test(
        e.message,
      ),
  );
  assert.throws(
    () => kallsymsNames("ffffffff81000000 T _text\nffffffff81000100 T other\n", "k.txt", WANTED),
    /k\.txt: expected a symbol line for fq_flush_timeout or iova_depot_work_func, found none in 2 symbols/,
  );
  assert.throws(
    () => kallsymsNames("ffffffff81000000 T _text\n# tracer: nop\n", "trace.txt", WANTED),
    /trace\.txt:2: expected a symbol line "ADDRESS TYPE NAME" \(as \/proc\/kallsyms or System\.map\), found "# tracer: nop"/,
  );
});
