/**
 * The one way iovalab loads a YAML file (scenarios, machine descriptions;
 * JSON is YAML too) and words what is wrong in it. The text comes in, plain
 * data and a way to find the line of any path inside it come out; every
 * error is an `InputError` `FILE:LINE: ...`.
 *
 * Aliases: the yaml package refuses more than 100 alias expansions as a
 * resource-exhaustion guard, which a real machine file with shared blocks
 * can pass. Aliases resolve to shared objects here (no copies), so iovalab
 * allows many more, and still refuses an alias bomb with a line number.
 */

import { isAlias, LineCounter, type Node, parseDocument, visit } from "yaml";
import type { z } from "zod";
import { InputError, quote } from "./errors.ts";

/** The most alias expansions a file may make (the yaml package's measure). */
export const MAX_YAML_ALIASES = 10_000;

export interface YamlDoc {
  /** The plain data; null for an empty document. */
  readonly data: unknown;
  /** The line of the deepest node that exists on `path` (1-based), or null. */
  lineOf(path: readonly PropertyKey[]): number | null;
}

export function loadYaml(text: string, file: string): YamlDoc {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = lineCounter.linePos(e.pos[0]).line;
    throw new InputError(`${file}:${line}: expected YAML, found an error: ${e.message.split("\n")[0]}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    if (!(e instanceof ReferenceError)) throw e;
    let line = 1;
    visit(doc, {
      Alias(_key, node) {
        if (isAlias(node) && node.range) line = lineCounter.linePos(node.range[0]).line;
        return visit.BREAK;
      },
    });
    throw new InputError(
      `${file}:${line}: expected at most ${MAX_YAML_ALIASES} alias expansions, found more (${e.message.split("\n")[0]})`,
    );
  }
  const lineOf = (path: readonly PropertyKey[]): number | null => {
    for (let n = path.length; n >= 0; n--) {
      const node = doc.getIn(path.slice(0, n) as (string | number)[], true) as Node | undefined;
      if (node && typeof node === "object" && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return null;
  };
  return { data: data ?? null, lineOf };
}

/** The path whose line an issue is reported at: an unknown key's own line. */
export function issueLinePath(issue: z.core.$ZodIssue): readonly PropertyKey[] {
  return issue.code === "unrecognized_keys" && issue.keys.length > 0 ? [...issue.path, issue.keys[0]] : issue.path;
}

/** The value at `path` inside plain data, or undefined. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * A value as error messages quote what was found. Bounded: the JSON of a
 * structure made of many aliases would be exponential in the file's size.
 */
export function foundText(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return quote(v);
  if (v === null || typeof v !== "object") return quote(String(v));
  if (Array.isArray(v)) return `a list of ${v.length}`;
  return `a mapping of ${Object.keys(v).length} keys`;
}

/** A zod issue as `expected ..., found ...`; `keysHint` lists the known keys at a path. */
export function describeIssue(
  issue: z.core.$ZodIssue,
  data: unknown,
  keysHint?: (path: readonly PropertyKey[]) => string,
): string {
  const found = foundText(valueAt(data, issue.path));
  switch (issue.code) {
    case "unrecognized_keys": {
      const hint = keysHint?.(issue.path) ?? "";
      const keys = issue.keys.slice(0, 3).map((k) => quote(k));
      if (issue.keys.length > 3) keys.push(`${issue.keys.length - 3} more`);
      return `expected one of the known keys${hint}, found ${keys.join(", ")}`;
    }
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => String(v)).join(", ")}, found ${found}`;
    case "invalid_type":
      return `expected ${issue.expected}, found ${found}`;
    case "too_small":
      return `expected ${issue.origin === "array" ? "at least" : issue.inclusive ? "a number >=" : "a number >"} ${issue.minimum}${issue.origin === "array" ? " items" : ""}, found ${found}`;
    case "too_big":
      return `expected ${issue.origin === "array" ? "at most" : issue.inclusive ? "a number <=" : "a number <"} ${issue.maximum}${issue.origin === "array" ? " items" : ""}, found ${found}`;
    case "invalid_union": {
      // The branch that got furthest: one whose failure is not just the wrong type.
      const all = issue.errors.flat();
      const specific = all.find((i) => i.code !== "invalid_type");
      if (specific) return describeIssue({ ...specific, path: [...issue.path, ...specific.path] }, data, keysHint);
      const expected = [...new Set(all.map((i) => (i.code === "invalid_type" ? i.expected : "")))].join(" or ");
      return `expected ${expected}, found ${found}`;
    }
    default: {
      const m = issue.message.replace(/^Invalid input: /, "");
      return `${m.startsWith("expected") ? m : `expected ${m}`}, found ${found}`;
    }
  }
}
