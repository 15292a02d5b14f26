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
 *   - /proc/cmdline, the kernel release, the architecture, possible CPUs,
 *     NUMA nodes, the page size, the top-level "PCI Bus" lines of /proc/iomem
 * `IOVALAB_ROOT` (default /) is the root the paths are read under, so the
 * script runs on a copy of a tree. Strings are escaped for JSON byte by
 * byte (awk in the C locale): quotes, backslashes and control characters
 * escaped, valid UTF-8 kept, any other byte written as the code point of
 * the same number (\u0080-\u00ff). A file's one trailing newline is dropped.
 */

export const COLLECT_SCRIPT = `#!/bin/sh
# iovalab collect: a snapshot of this machine's IOMMU groups, PCI devices,
# queue limits and kernel command line, as JSON, for 'iovalab machine import'.
# Reads /sys and /proc only; changes nothing. Run as root so /proc/iomem
# shows addresses:  sh collect.sh > machine.json   (or: sh collect.sh -o FILE)
# IOVALAB_ROOT=DIR reads DIR/sys and DIR/proc instead (a copied tree).
set -u
export LC_ALL=C
R=\${IOVALAB_ROOT:-/}
R=\${R%/}

OUT=
if [ "\${1:-}" = "-o" ]; then
  [ $# -ge 2 ] || { echo "collect: -o needs a file name" >&2; exit 2; }
  OUT=$2
fi

# esc: awk functions that write a JSON string literal of their input.
ESC='
BEGIN {
  for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
  for (i = 0; i < 32; i++) ctl[i] = sprintf("\\\\u%04x", i)
  ctl[8] = "\\\\b"; ctl[9] = "\\\\t"; ctl[10] = "\\\\n"; ctl[12] = "\\\\f"; ctl[13] = "\\\\r"
}
function cont(s, i, lo, hi,   b) { b = ord[substr(s, i, 1)]; return b >= lo && b <= hi }
function esc(s,   out, i, n, c, b, k) {
  out = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1); b = ord[c]
    if (c == "\\"") out = out "\\\\\\""
    else if (c == "\\\\") out = out "\\\\\\\\"
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
      else out = out sprintf("\\\\u%04x", b)
    }
  }
  return "\\"" out "\\""
}
'
JOIN='{ s = s (NR > 1 ? "\\n" : "") $0 } END { printf "%s", esc(s) }'

# jfile FILE: the file as a JSON string (null when it cannot be read).
jfile() { if [ -f "$1" ] && [ -r "$1" ]; then awk "$ESC$JOIN" "$1" 2>/dev/null || printf null; else printf null; fi; }
# jstr TEXT: TEXT as a JSON string.
jstr() { printf '%s\\n' "$1" | awk "$ESC$JOIN"; }
# jlink PATH: the last component of a symbolic link's target, or null.
jlink() { if [ -L "$1" ]; then jstr "$(basename "$(readlink "$1")")"; else printf null; fi; }
# bdf_of PATH: the last PCI address in a resolved path (empty when none).
bdf_of() { readlink -f "$1" 2>/dev/null | sed -n 's|.*/\\([0-9a-f]\\{4\\}:[0-9a-f]\\{2\\}:[0-9a-f]\\{2\\}\\.[0-7]\\)\\(/.*\\)\\{0,1\\}$|\\1|p' | sed -n '1p'; }
jbdf() { b=$(bdf_of "$1"); if [ -n "$b" ]; then jstr "$b"; else printf null; fi; }
# count GLOB...: how many of the paths exist.
count() { n=0; for x in "$@"; do [ -e "$x" ] && n=$((n + 1)); done; printf '%s' "$n"; }

snapshot() {
  printf '{\\n  "format": "iovalab-collect 1",\\n'
  printf '  "root": %s,\\n' "$(jstr "\${IOVALAB_ROOT:-/}")"
  if [ -f "$R/proc/sys/kernel/osrelease" ]; then rel=$(jfile "$R/proc/sys/kernel/osrelease"); else rel=$(jstr "$(uname -r)"); fi
  printf '  "release": %s,\\n' "$rel"
  if [ -f "$R/proc/sys/kernel/arch" ]; then arch=$(jfile "$R/proc/sys/kernel/arch"); else arch=$(jstr "$(uname -m)"); fi
  printf '  "arch": %s,\\n' "$arch"
  printf '  "cmdline": %s,\\n' "$(jfile "$R/proc/cmdline")"
  printf '  "cpusPossible": %s,\\n' "$(jfile "$R/sys/devices/system/cpu/possible")"
  ps=$(awk '/^KernelPageSize:/ { print $2 * 1024; exit }' "$R/proc/self/smaps" 2>/dev/null)
  printf '  "pageSize": %s,\\n' "\${ps:-null}"

  printf '  "numaNodes": ['
  sep=
  for n in "$R"/sys/devices/system/node/node[0-9]*; do
    [ -d "$n" ] || continue
    printf '%s\\n    {"name": %s, "cpulist": %s}' "$sep" "$(jstr "$(basename "$n")")" "$(jfile "$n/cpulist")"
    sep=,
  done
  printf '\\n  ],\\n'

  printf '  "iommus": ['
  sep=
  for u in "$R"/sys/class/iommu/*; do
    [ -e "$u" ] || continue
    name=$(basename "$u")
    case "$name" in
      dmar*) kind=intel-vtd ;;
      ivhd*) kind=amd-vi ;;
      smmu3.*) kind=arm-smmu-v3 ;;
      *) kind=unknown ;;
    esac
    printf '%s\\n    {"name": %s, "kind": "%s", "attrs": {' "$sep" "$(jstr "$name")" "$kind"
    asep=
    for f in "$u"/intel-iommu/* "$u"/amd-iommu/*; do
      [ -f "$f" ] || continue
      printf '%s%s: %s' "$asep" "$(jstr "$(basename "$(dirname "$f")")/$(basename "$f")")" "$(jfile "$f")"
      asep=", "
    done
    printf '}, "devices": ['
    dsep=
    for d in "$u"/devices/*; do
      [ -e "$d" ] || [ -L "$d" ] || continue
      printf '%s%s' "$dsep" "$(jstr "$(basename "$d")")"
      dsep=", "
    done
    printf ']}'
    sep=,
  done
  printf '\\n  ],\\n'

  printf '  "groups": ['
  sep=
  for g in "$R"/sys/kernel/iommu_groups/*; do
    [ -d "$g" ] || continue
    printf '%s\\n    {"id": %s, "type": %s, "reservedRegions": %s, "devices": [' "$sep" \\
      "$(jstr "$(basename "$g")")" "$(jfile "$g/type")" "$(jfile "$g/reserved_regions")"
    dsep=
    for d in "$g"/devices/*; do
      [ -e "$d" ] || [ -L "$d" ] || continue
      printf '%s%s' "$dsep" "$(jstr "$(basename "$d")")"
      dsep=", "
    done
    printf ']}'
    sep=,
  done
  printf '\\n  ],\\n'

  printf '  "pci": ['
  sep=
  for p in "$R"/sys/bus/pci/devices/*; do
    [ -e "$p" ] || continue
    real=$(readlink -f "$p" 2>/dev/null)
    bridge=$(printf '%s\\n' "$real" | sed -n 's|.*/devices/\\(pci[0-9a-f]\\{4\\}:[0-9a-f]\\{2\\}\\)/.*|\\1|p')
    if [ -n "$bridge" ]; then bridge=$(jstr "$bridge"); else bridge=null; fi
    printf '%s\\n    {"bdf": %s, "vendor": %s, "device": %s, "class": %s, "driver": %s, "numaNode": %s, "dmaMaskBits": %s, "group": %s, "hostBridge": %s}' \\
      "$sep" "$(jstr "$(basename "$p")")" "$(jfile "$p/vendor")" "$(jfile "$p/device")" "$(jfile "$p/class")" \\
      "$(jlink "$p/driver")" "$(jfile "$p/numa_node")" "$(jfile "$p/dma_mask_bits")" "$(jlink "$p/iommu_group")" "$bridge"
    sep=,
  done
  printf '\\n  ],\\n'

  printf '  "block": ['
  sep=
  for b in "$R"/sys/block/*; do
    [ -d "$b/queue" ] || continue
    q=$b/queue
    printf '%s\\n    {"name": %s, "device": %s, "hwQueues": %s, "queue": {' "$sep" "$(jstr "$(basename "$b")")" "$(jbdf "$b")" \\
      "$(count "$b"/mq/*)"
    qsep=
    for f in max_hw_sectors_kb max_sectors_kb max_segments max_segment_size nr_requests logical_block_size; do
      printf '%s"%s": %s' "$qsep" "$f" "$(jfile "$q/$f")"
      qsep=", "
    done
    printf '}}'
    sep=,
  done
  printf '\\n  ],\\n'

  printf '  "net": ['
  sep=
  for n in "$R"/sys/class/net/*; do
    [ -e "$n" ] || continue
    printf '%s\\n    {"name": %s, "device": %s, "rxQueues": %s, "txQueues": %s, "speed": %s}' "$sep" \\
      "$(jstr "$(basename "$n")")" "$(jbdf "$n/device")" "$(count "$n"/queues/rx-*)" "$(count "$n"/queues/tx-*)" \\
      "$(jfile "$n/speed")"
    sep=,
  done
  printf '\\n  ],\\n'

  printf '  "iomemPciBus": ['
  sep=
  if [ -r "$R/proc/iomem" ]; then
    # Top-level lines only: the root buses' windows.
    grep '^[0-9a-f]*-[0-9a-f]* : PCI Bus ' "$R/proc/iomem" | while IFS= read -r line; do
      printf '%s\\n    %s' "$sep" "$(jstr "$line")"
      sep=,
    done
  fi
  printf '\\n  ]\\n}\\n'
}

if [ -n "$OUT" ]; then
  snapshot > "$OUT.tmp.$$" && mv "$OUT.tmp.$$" "$OUT" || { rm -f "$OUT.tmp.$$"; exit 1; }
else
  snapshot
fi
`;
