/**
 * The script `iovalab collect` writes: POSIX sh with coreutils, sed, awk
 * and readlink, run on a real Linux machine. It reads /sys and /proc and
 * prints one JSON snapshot (format "iovalab-collect 1") that `iovalab
 * machine import` turns into a machine description:
 *   - IOMMU groups (/sys/kernel/iommu_groups/N): devices, type, reserved_regions
 *   - PCI devices: vendor, device, class, driver, numa_node, DMA mask bits,
 *     group and the host bridge they sit under
 *   - block devices' queue limits and the PCI device under each, NIC queue counts
 *   - IOMMU units (/sys/class/iommu): kind from the name (dmar*: intel-vtd,
 *     ivhd*: amd-vi, smmu3.*: arm-smmu-v3) and their attribute files
 *   - /proc/cmdline, the kernel release, the architecture, possible CPUs
 *     (the list and its count),
 *     NUMA nodes, the page size, the top-level "PCI Bus" lines of /proc/iomem
 *   - whether each bound driver is a module (/sys/module/NAME/initstate), and
 *     CONFIG_HZ and the IOMMU default options from /boot/config-RELEASE
 * `IOVALAB_ROOT` (default /) is the root the paths are read under, so the
 * script runs on a copy of a tree.
 *
 * The shell walks the tree with builtins and writes a plan, one line per
 * piece of output (`L` literal JSON, `F` a file's content as a string, `S`
 * a string, `N` the CPU count of a cpulist file, `P` the page size from
 * smaps, `B` the last PCI address of a path, `H` the host bridge of a
 * path); one awk process turns the plan into the JSON, so the script starts
 * a handful of processes per device rather than one per value. Strings are
 * escaped for JSON byte by byte (awk in the C locale): quotes, backslashes
 * and control characters escaped, valid UTF-8 kept, any other byte written
 * as the code point of the same number (\u0080-\u00ff). A file's one
 * trailing newline is dropped; a name with a newline in it is carried on
 * `C` continuation lines.
 *
 * Written with String.raw so the shell and awk text reads as it runs; `%{`
 * stands for the shell's `${`, which a template literal cannot hold.
 */

export const COLLECT_SCRIPT: string = String.raw`#!/bin/sh
# iovalab collect: a snapshot of this machine's IOMMU groups, PCI devices,
# queue limits and kernel command line, as JSON, for 'iovalab machine import'.
# Reads /sys and /proc only; changes nothing. Run as root so /proc/iomem
# shows addresses:  sh collect.sh > machine.json   (or: sh collect.sh -o FILE)
# IOVALAB_ROOT=DIR reads DIR/sys and DIR/proc instead (a copied tree).
set -u
export LC_ALL=C
R=%{IOVALAB_ROOT:-/}
R=%{R%/}
NL='
'

OUT=
if [ "%{1:-}" = "-o" ]; then
  [ $# -ge 2 ] || { echo "collect: -o needs a file name" >&2; exit 2; }
  OUT=$2
fi

# The plan: L literal, F file, S string (C: its next line), B bus address of a path, H host bridge of a path.
lit() { printf 'L %s\n' "$1"; }
file() { printf 'F %s\n' "$1"; }
str() {
  case "$1" in
    *"$NL"*) printf '%s\n' "$1" | sed '1s/^/S /; 2,$s/^/C /' ;;
    *) printf 'S %s\n' "$1" ;;
  esac
}
# link PATH: the last component of a symbolic link's target, or null.
link() { if [ -L "$1" ]; then _t=$(readlink "$1"); str "%{_t##*/}"; else lit null; fi; }
# count PATH...: how many of the paths exist (a glob that matched nothing is its own pattern).
count() { _c=0; for _x in "$@"; do [ -e "$_x" ] && _c=$((_c + 1)); done; lit "$_c"; }

plan() {
  lit '{\n'
  lit '  "format": "iovalab-collect 1",\n'
  lit '  "root": '; str "%{IOVALAB_ROOT:-/}"; lit ',\n'
  lit '  "release": '
  if [ -f "$R/proc/sys/kernel/osrelease" ]; then file "$R/proc/sys/kernel/osrelease"; else str "$(uname -r)"; fi
  lit ',\n'
  lit '  "arch": '
  if [ -f "$R/proc/sys/kernel/arch" ]; then file "$R/proc/sys/kernel/arch"; else str "$(uname -m)"; fi
  lit ',\n'
  lit '  "cmdline": '; file "$R/proc/cmdline"; lit ',\n'
  lit '  "cpusPossible": '; file "$R/sys/devices/system/cpu/possible"; lit ',\n'
  lit '  "cpus": '; printf 'N %s\n' "$R/sys/devices/system/cpu/possible"; lit ',\n'
  lit '  "pageSize": '; printf 'P %s\n' "$R/proc/self/smaps"; lit ',\n'

  lit '  "numaNodes": ['
  sep=
  for n in "$R"/sys/devices/system/node/node[0-9]*; do
    [ -d "$n" ] || continue
    lit "$sep"'\n    {"name": '; str "%{n##*/}"; lit ', "cpulist": '; file "$n/cpulist"; lit '}'
    sep=,
  done
  lit '\n  ],\n'

  lit '  "iommus": ['
  sep=
  for u in "$R"/sys/class/iommu/*; do
    [ -e "$u" ] || continue
    name=%{u##*/}
    case "$name" in
      dmar*) kind=intel-vtd ;;
      ivhd*) kind=amd-vi ;;
      smmu3.*) kind=arm-smmu-v3 ;;
      *) kind=unknown ;;
    esac
    lit "$sep"'\n    {"name": '; str "$name"; lit ', "kind": "'"$kind"'", "attrs": {'
    asep=
    for f in "$u"/intel-iommu/* "$u"/amd-iommu/*; do
      [ -f "$f" ] || continue
      d=%{f%/*}
      lit "$asep"; str "%{d##*/}/%{f##*/}"; lit ': '; file "$f"
      asep=', '
    done
    lit '}, "devices": ['
    dsep=
    for d in "$u"/devices/*; do
      [ -e "$d" ] || [ -L "$d" ] || continue
      lit "$dsep"; str "%{d##*/}"
      dsep=', '
    done
    lit ']}'
    sep=,
  done
  lit '\n  ],\n'

  lit '  "groups": ['
  sep=
  for g in "$R"/sys/kernel/iommu_groups/*; do
    [ -d "$g" ] || continue
    lit "$sep"'\n    {"id": '; str "%{g##*/}"
    lit ', "type": '; file "$g/type"
    lit ', "reservedRegions": '; file "$g/reserved_regions"
    lit ', "devices": ['
    dsep=
    for d in "$g"/devices/*; do
      [ -e "$d" ] || [ -L "$d" ] || continue
      lit "$dsep"; str "%{d##*/}"
      dsep=', '
    done
    lit ']}'
    sep=,
  done
  lit '\n  ],\n'

  lit '  "pci": ['
  sep=
  for p in "$R"/sys/bus/pci/devices/*; do
    [ -e "$p" ] || continue
    lit "$sep"'\n    {"bdf": '; str "%{p##*/}"
    for f in vendor device class; do lit ', "'"$f"'": '; file "$p/$f"; done
    lit ', "driver": '; link "$p/driver"
    lit ', "numaNode": '; file "$p/numa_node"
    lit ', "dmaMaskBits": '; file "$p/dma_mask_bits"
    lit ', "group": '; link "$p/iommu_group"
    lit ', "hostBridge": '; printf 'H %s\n' "$(readlink -f "$p")"
    lit '}'
    sep=,
  done
  lit '\n  ],\n'

  lit '  "block": ['
  sep=
  for b in "$R"/sys/block/*; do
    [ -d "$b/queue" ] || continue
    lit "$sep"'\n    {"name": '; str "%{b##*/}"
    lit ', "device": '; printf 'B %s\n' "$(readlink -f "$b")"
    lit ', "hwQueues": '; count "$b"/mq/*
    lit ', "queue": {'
    qsep=
    for f in max_hw_sectors_kb max_sectors_kb max_segments max_segment_size nr_requests logical_block_size; do
      lit "$qsep"'"'"$f"'": '; file "$b/queue/$f"
      qsep=', '
    done
    lit '}}'
    sep=,
  done
  lit '\n  ],\n'

  lit '  "net": ['
  sep=
  for n in "$R"/sys/class/net/*; do
    [ -e "$n" ] || [ -L "$n" ] || continue
    lit "$sep"'\n    {"name": '; str "%{n##*/}"
    lit ', "device": '
    if [ -e "$n/device" ]; then printf 'B %s\n' "$(readlink -f "$n/device")"; else lit null; fi
    lit ', "rxQueues": '; count "$n"/queues/rx-*
    lit ', "txQueues": '; count "$n"/queues/tx-*
    lit ', "speed": '; file "$n/speed"
    lit '}'
    sep=,
  done
  lit '\n  ],\n'

  lit '  "iomemPciBus": ['
  sep=
  if [ -r "$R/proc/iomem" ]; then
    # Top-level lines only: the root buses' windows.
    grep '^[0-9a-f]*-[0-9a-f]* : PCI Bus ' "$R/proc/iomem" | while IFS= read -r line; do
      lit "$sep"'\n    '; str "$line"
      sep=,
    done
  fi
  lit '\n  ],\n'

  # Built in or a module, for each driver bound to a PCI device: a loadable module has
  # /sys/module/NAME/initstate, a built-in one has no initstate (or no directory).
  lit '  "drivers": ['
  sep=
  seen=' '
  for p in "$R"/sys/bus/pci/devices/*; do
    [ -L "$p/driver" ] || continue
    _t=$(readlink "$p/driver"); drv=%{_t##*/}
    case "$seen" in *" $drv "*) continue ;; esac
    seen="$seen$drv "
    m="$R/sys/module/$drv"
    if [ -f "$m/initstate" ]; then mod=true; elif [ -d "$R/sys/module" ]; then mod=false; else mod=null; fi
    lit "$sep"'\n    {"name": '; str "$drv"; lit ', "module": '"$mod"'}'
    sep=,
  done
  lit '\n  ],\n'

  # The kernel's configuration where the distribution installs it: HZ and the IOMMU defaults.
  lit '  "config": ['
  sep=
  rel=$(cat "$R/proc/sys/kernel/osrelease" 2>/dev/null || uname -r)
  if [ -r "$R/boot/config-$rel" ]; then
    grep -E '^CONFIG_(HZ|IOMMU_DEFAULT_PASSTHROUGH|IOMMU_DEFAULT_DMA_STRICT|IOMMU_DEFAULT_DMA_LAZY)=' "$R/boot/config-$rel" |
      while IFS= read -r line; do
        lit "$sep"'\n    '; str "$line"
        sep=,
      done
  fi
  lit '\n  ]\n'
  lit '}'
}

# render: the plan to JSON. L lines end in a newline unless the next piece continues them.
render() {
  awk '
BEGIN {
  for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
  for (i = 0; i < 32; i++) ctl[i] = sprintf("\\u%04x", i)
  ctl[8] = "\\b"; ctl[9] = "\\t"; ctl[10] = "\\n"; ctl[12] = "\\f"; ctl[13] = "\\r"
  pending = ""
}
function cont(s, i, lo, hi,   b) { b = ord[substr(s, i, 1)]; return b >= lo && b <= hi }
function esc(s,   out, i, n, c, b, k) {
  out = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1); b = ord[c]
    if (c == "\"") out = out "\\\""
    else if (c == "\\") out = out "\\\\"
    else if (b < 32) out = out ctl[b]
    else if (b < 128) out = out c
    else {
      k = 0
      if (b >= 194 && b <= 223 && cont(s, i + 1, 128, 191)) k = 1
      else if (b == 224 && cont(s, i + 1, 160, 191) && cont(s, i + 2, 128, 191)) k = 2
      else if (b >= 225 && b <= 239 && b != 237 && cont(s, i + 1, 128, 191) && cont(s, i + 2, 128, 191)) k = 2
      else if (b == 237 && cont(s, i + 1, 128, 159) && cont(s, i + 2, 128, 191)) k = 2
      else if (b == 240 && cont(s, i + 1, 144, 191) && cont(s, i + 2, 128, 191) && cont(s, i + 3, 128, 191)) k = 3
      else if (b >= 241 && b <= 243 && cont(s, i + 1, 128, 191) && cont(s, i + 2, 128, 191) && cont(s, i + 3, 128, 191)) k = 3
      else if (b == 244 && cont(s, i + 1, 128, 143) && cont(s, i + 2, 128, 191) && cont(s, i + 3, 128, 191)) k = 3
      if (k > 0) { out = out substr(s, i, k + 1); i += k }
      else out = out sprintf("\\u%04x", b)
    }
  }
  return "\"" out "\""
}
function readall(path,   line, s, n, r) {
  s = ""; n = 0
  while ((r = (getline line < path)) > 0) { s = s (n > 0 ? "\n" : "") line; n++ }
  if (r < 0) return "null"
  close(path)
  return esc(s)
}
function flush() { if (str != "") { printf "%s", esc(strval); str = "" } }
{
  tag = substr($0, 1, 1); arg = substr($0, 3)
  if (tag == "C") { strval = strval "\n" arg; next }
  flush()
  if (tag == "L") {
    gsub(/\\n/, "\n", arg)
    printf "%s", arg
  } else if (tag == "F") {
    printf "%s", readall(arg)
  } else if (tag == "S") {
    str = "y"; strval = arg
  } else if (tag == "P") {
    v = "null"
    while ((getline line < arg) > 0) if (line ~ /^KernelPageSize:/) { split(line, f, " "); v = f[2] * 1024; break }
    close(arg)
    printf "%s", v
  } else if (tag == "N") {
    # The number of CPUs in a cpulist such as 0-127 or 0-3,8-11.
    v = "null"
    if ((getline line < arg) > 0 && line ~ /^[0-9,-]+$/) {
      v = 0; n = split(line, parts, ",")
      for (i = 1; i <= n; i++) { if (split(parts[i], ab, "-") == 2) v += ab[2] - ab[1] + 1; else v++ }
    }
    close(arg)
    printf "%s", v
  } else if (tag == "B") {
    v = "null"
    if (match(arg, /.*\/[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]\.[0-7]/)) {
      s = substr(arg, 1, RLENGTH); v = esc(substr(s, length(s) - 11))
    }
    printf "%s", v
  } else if (tag == "H") {
    v = "null"
    if (match(arg, /\/devices\/pci[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]\//)) v = esc(substr(arg, RSTART + 9, 10))
    printf "%s", v
  }
}
END { flush(); printf "\n" }
'
}

if [ -n "$OUT" ]; then
  plan | render > "$OUT.tmp.$$" && mv "$OUT.tmp.$$" "$OUT" || { rm -f "$OUT.tmp.$$"; exit 1; }
else
  plan | render
fi
`.replaceAll("%{", "${");
