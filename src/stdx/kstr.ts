/**
 * The kernel's string helpers that sysfs stores and boot parameters parse
 * with (lib/string.c, lib/kstrtox.c, lib/cmdline.c), exact on 64-bit values.
 */

const U64_MAX = (1n << 64n) - 1n;

/** Models `sysfs_streq()`: equal, except that one trailing newline on either side is ignored. */
export function sysfsStreq(buf: string, want: string): boolean {
  const strip = (s: string) => (s.endsWith("\n") ? s.slice(0, -1) : s);
  return strip(buf) === strip(want);
}

/**
 * Models `kstrtoull(s, base = 0)`: optional `+`, then `0x` hex (with at least
 * one hex digit after it), leading-`0` octal or decimal, one trailing newline
 * allowed. Returns the value, or "EINVAL" / "ERANGE" as the kernel does.
 */
export function kstrtoull(s: string): bigint | "EINVAL" | "ERANGE" {
  let i = 0;
  if (s[i] === "+") i++;
  let base = 10;
  if (s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X") && /[0-9a-fA-F]/.test(s[i + 2] ?? "")) {
    base = 16;
    i += 2;
  } else if (s[i] === "0") {
    base = 8;
  }
  let v = 0n;
  let digits = 0;
  let overflow = false;
  for (; i < s.length; i++) {
    const d = digitValue(s[i]);
    if (d < 0 || d >= base) break;
    v = v * BigInt(base) + BigInt(d);
    if (v > U64_MAX) overflow = true;
    digits++;
  }
  if (digits === 0) return "EINVAL";
  if (overflow) return "ERANGE";
  if (s[i] === "\n") i++;
  if (i !== s.length) return "EINVAL";
  return v;
}

function digitValue(c: string): number {
  const x = c.toLowerCase().charCodeAt(0);
  if (x >= 48 && x <= 57) return x - 48;
  if (x >= 97 && x <= 102) return x - 87;
  return -1;
}

/** Models `kstrtobool()`: y/Y/1/t/T/on true; n/N/0/f/F/off false; else null. */
export function kstrtobool(s: string): boolean | null {
  const c0 = s[0];
  if (c0 === "y" || c0 === "Y" || c0 === "1" || c0 === "t" || c0 === "T") return true;
  if (c0 === "n" || c0 === "N" || c0 === "0" || c0 === "f" || c0 === "F") return false;
  if (c0 === "o" || c0 === "O") {
    const c1 = s[1];
    if (c1 === "n" || c1 === "N") return true;
    if (c1 === "f" || c1 === "F") return false;
  }
  return null;
}

/**
 * Models `memparse()`: a number as `simple_strtoull(s, 0)` reads it, then an
 * optional K/M/G/T/P/E suffix (either case). Returns null when no digit
 * starts the string or something follows the suffix.
 */
export function memparse(s: string): bigint | null {
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([kKmMgGtTpPeE]?)$/.exec(s);
  if (!m) return null;
  const num = m[1];
  let v: bigint;
  if (num.startsWith("0x") || num.startsWith("0X")) v = BigInt(num);
  else if (num.length > 1 && num.startsWith("0")) v = BigInt(`0o${num.slice(1)}`);
  else v = BigInt(num);
  const shift: Record<string, bigint> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };
  const suffix = m[2].toLowerCase();
  if (suffix !== "") v <<= shift[suffix];
  return v & U64_MAX;
}
