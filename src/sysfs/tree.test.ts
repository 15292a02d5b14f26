/**
 * The sysfs tree's path walk and open/read/write errors, on a small tree
 * built here: what open(2), read(2) and write(2) return on sysfs (kernfs).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { fail, OK } from "../stdx/errno.ts";
import { dir, file, link, SysFs, type SysNode } from "./tree.ts";

function tree(): { fs: SysFs; stored: string[] } {
  const stored: string[] = [];
  const fs = new SysFs(
    dir((): [string, SysNode][] => [
      [
        "group",
        dir((): [string, SysNode][] => [
          ["name", file(0o444, () => "g0\n")],
          [
            "type",
            file(
              0o644,
              () => "DMA\n",
              (buf) => {
                if (buf === "bad\n") return fail("EINVAL");
                stored.push(buf);
                return OK;
              },
            ),
          ],
          ["secret", file(0o200, undefined, () => OK)],
        ]),
      ],
      ["alias", link("/group")],
      ["loop", link("/loop")],
    ]),
  );
  return { fs, stored };
}

test("read: a file's text, directories EISDIR, write-only files EACCES, missing ENOENT", () => {
  const { fs } = tree();
  assert.deepEqual(fs.read("/group/name"), { ok: true, text: "g0\n" });
  assert.deepEqual(fs.read("/alias/name"), { ok: true, text: "g0\n" });
  assert.deepEqual(fs.read("/group"), { ok: false, errno: "EISDIR" });
  assert.deepEqual(fs.read("/group/secret"), { ok: false, errno: "EACCES" });
  assert.deepEqual(fs.read("/group/nope"), { ok: false, errno: "ENOENT" });
  assert.deepEqual(fs.read("/group/name/x"), { ok: false, errno: "ENOTDIR" });
  assert.deepEqual(fs.read("/loop/x"), { ok: false, errno: "ELOOP" });
  assert.deepEqual(fs.read("group/name"), { ok: false, errno: "ENOENT" });
});

test("open for write: read-only EACCES, a new name in a directory EACCES (no create), outside one ENOENT", () => {
  const { fs } = tree();
  assert.equal(fs.openWrite("/group/type").ok, true);
  assert.deepEqual(fs.openWrite("/group/name"), { ok: false, errno: "EACCES" });
  assert.deepEqual(fs.openWrite("/group/new"), { ok: false, errno: "EACCES" });
  assert.deepEqual(fs.openWrite("/nodir/new"), { ok: false, errno: "ENOENT" });
  assert.deepEqual(fs.openWrite("/group"), { ok: false, errno: "EISDIR" });
});

test("write: the store's outcome is the write's, and only accepted writes are stored", () => {
  const { fs, stored } = tree();
  const f = fs.openWrite("/alias/type");
  assert.ok(f.ok);
  assert.deepEqual(fs.write(f.file, "identity\n"), OK);
  assert.deepEqual(fs.write(f.file, "bad\n"), { ok: false, errno: "EINVAL" });
  assert.deepEqual(stored, ["identity\n"]);
});
