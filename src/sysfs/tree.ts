/**
 * A small virtual file system in the shape of sysfs (fs/kernfs): directories
 * whose children are computed from kernel state when looked at, attribute
 * files with a mode and show/store operations, and relative symlinks.
 *
 * Opening follows kernfs: a write open needs a write bit in the mode and a
 * store operation, a read open a read bit and a show operation, else EACCES,
 * whoever the caller is (that is why root cannot write `reserved_regions`).
 * A name that does not exist in an existing directory cannot be created
 * (EACCES); a missing directory on the way is ENOENT.
 */

import { type Errno, fail, type Outcome } from "../stdx/errno.ts";

export type SysNode = SysDir | SysFile | SysLink;

export interface SysDir {
  readonly kind: "dir";
  readonly mode: number;
  children(): Map<string, SysNode>;
}

export interface SysFile {
  readonly kind: "file";
  readonly mode: number;
  readonly show?: () => string;
  readonly store?: (buf: string) => Outcome;
}

export interface SysLink {
  readonly kind: "link";
  readonly target: string;
}

export function dir(children: () => Map<string, SysNode> | [string, SysNode][], mode = 0o755): SysDir {
  return {
    kind: "dir",
    mode,
    children: () => {
      const c = children();
      return c instanceof Map ? c : new Map(c);
    },
  };
}

export function file(mode: number, show?: () => string, store?: (buf: string) => Outcome): SysFile {
  return { kind: "file", mode, show, store };
}

export function link(target: string): SysLink {
  return { kind: "link", target };
}

export type Resolved = { node: SysNode; path: string } | { errno: Errno };

export class SysFs {
  private readonly root: SysDir;

  constructor(root: SysDir) {
    this.root = root;
  }

  /**
   * Resolves an absolute path to a node and its canonical path, following
   * symlinks on the way and, with `followLast`, the last component too.
   */
  resolve(path: string, followLast: boolean): Resolved {
    if (!path.startsWith("/")) return { errno: "ENOENT" };
    let pending = path.split("/").filter((c) => c !== "" && c !== ".");
    const trailingSlash = path.length > 1 && path.endsWith("/");
    let stack: { name: string; node: SysNode }[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === "..") {
        stack.pop();
        continue;
      }
      const parent = stack.length === 0 ? this.root : stack[stack.length - 1].node;
      if (parent.kind !== "dir") return { errno: "ENOTDIR" };
      const node = parent.children().get(name);
      if (!node) return { errno: "ENOENT" };
      const last = pending.length === 0;
      if (node.kind === "link" && (!last || followLast || trailingSlash)) {
        if (++hops > 40) return { errno: "ELOOP" };
        const target = node.target.split("/").filter((c) => c !== "" && c !== ".");
        if (node.target.startsWith("/")) stack = [];
        pending = [...target, ...pending];
        continue;
      }
      stack.push({ name, node });
    }
    const node = stack.length === 0 ? this.root : stack[stack.length - 1].node;
    if (trailingSlash && node.kind !== "dir") return { errno: "ENOTDIR" };
    return { node, path: `/${stack.map((s) => s.name).join("/")}` };
  }

  /** `open(O_RDONLY)` + read of the whole file. */
  read(path: string): { ok: true; text: string } | { ok: false; errno: Errno } {
    const r = this.resolve(path, true);
    if ("errno" in r) return { ok: false, errno: r.errno };
    if (r.node.kind === "dir") return { ok: false, errno: "EISDIR" };
    if (r.node.kind !== "file" || (r.node.mode & 0o444) === 0 || !r.node.show) return { ok: false, errno: "EACCES" };
    return { ok: true, text: r.node.show() };
  }

  /** `open(O_WRONLY|O_CREAT|O_TRUNC)`: the attribute to write to, or the errno of the open. */
  openWrite(path: string): { ok: true; file: SysFile } | { ok: false; errno: Errno } {
    const r = this.resolve(path, true);
    if ("errno" in r) {
      if (r.errno !== "ENOENT") return { ok: false, errno: r.errno };
      // O_CREAT in an existing sysfs directory: kernfs has no create (EACCES).
      const slash = path.lastIndexOf("/");
      const parent = this.resolve(path.slice(0, slash) || "/", true);
      if (!("errno" in parent) && parent.node.kind === "dir") return { ok: false, errno: "EACCES" };
      return { ok: false, errno: "ENOENT" };
    }
    if (r.node.kind === "dir") return { ok: false, errno: "EISDIR" };
    if (r.node.kind !== "file" || (r.node.mode & 0o222) === 0 || !r.node.store) return { ok: false, errno: "EACCES" };
    return { ok: true, file: r.node };
  }

  /** One `write(2)` to an opened attribute: the store's outcome. */
  write(f: SysFile, buf: string): Outcome {
    if (!f.store) return fail("EACCES");
    return f.store(buf);
  }

  /** Names in a directory, sorted; a file lists as itself. */
  list(path: string): { ok: true; names: string[]; isDir: boolean } | { ok: false; errno: Errno } {
    const r = this.resolve(path, true);
    if ("errno" in r) return { ok: false, errno: r.errno };
    if (r.node.kind !== "dir") return { ok: true, names: [path], isDir: false };
    return { ok: true, names: [...r.node.children().keys()].sort(), isDir: true };
  }

  /** `readlink(2)`. */
  readlink(path: string): { ok: true; target: string } | { ok: false; errno: Errno } {
    const r = this.resolve(path, false);
    if ("errno" in r) return { ok: false, errno: r.errno };
    if (r.node.kind !== "link") return { ok: false, errno: "EINVAL" };
    return { ok: true, target: r.node.target };
  }
}
