/**
 * Fake /sys and /proc trees for the collect script: a tree is files (path →
 * content) and symbolic links (path → target), written under a directory
 * the script reads through IOVALAB_ROOT. `treeFromDump` builds one from a
 * sysfs-tree.txt capture of ../shared (its section A: the groups, every
 * group file, the device links with vendor/device/class/driver, the IOMMU's
 * attributes, the NVMe disk's queue limits, /proc/iomem when captured).
 */

import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface FakeTree {
  files: Record<string, string>;
  links: Record<string, string>;
}

export function writeTree(root: string, tree: FakeTree): void {
  for (const [p, text] of Object.entries(tree.files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text, "latin1");
  }
  for (const [p, target] of Object.entries(tree.links)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    symlinkSync(target, join(root, p));
  }
}

/** The tree a sysfs-tree.txt section A shows; what it does not show is not invented here. */
export function treeFromDump(text: string): FakeTree {
  const files: Record<string, string> = {};
  const links: Record<string, string> = {};
  const lines = text.split("\n");
  const begin = lines.indexOf("=== SYSFS TREE BEGIN ===");
  const end = lines.indexOf("=== SYSFS TREE END ===");
  if (begin < 0 || end < begin) throw new Error("no SYSFS TREE section");
  const a = lines.slice(begin + 1, end);
  // "Linux (none) RELEASE #1 ... ARCH GNU/Linux", then the command line.
  const uname = a[0].split(" ");
  files["proc/sys/kernel/osrelease"] = `${uname[2]}\n`;
  files["proc/sys/kernel/arch"] = `${uname[uname.length - 2]}\n`;
  files["proc/cmdline"] = `${a[1]}\n`;
  let nvmeBdf: string | null = null;
  let nvmeDir: string | null = null;
  for (let i = 2; i < a.length; i++) {
    const l = a[i];
    let m = /^--- file \/(\S+) \(mode \S+\)$/.exec(l);
    if (m) {
      const path = m[1];
      let body = "";
      for (i++; a[i] !== `--- end /${path}`; i++) body += `${a[i]}\n`;
      files[path] = body;
      continue;
    }
    m = /^device link: \/(\S+) -> (\S+)$/.exec(l);
    if (m) {
      const [, path, target] = m;
      links[path] = target;
      const bdf = path.slice(path.lastIndexOf("/") + 1);
      const devPath = `sys/devices/${target.slice(target.indexOf("devices/") + 8)}`;
      const attrs = /^ {3}vendor=(\S+) device=(\S+) class=(\S+) driver=(\S+) iommu_group=(\S+)$/.exec(a[i + 1] ?? "");
      if (attrs) {
        i++;
        files[`${devPath}/vendor`] = `${attrs[1]}\n`;
        files[`${devPath}/device`] = `${attrs[2]}\n`;
        files[`${devPath}/class`] = `${attrs[3]}\n`;
        if (attrs[4] !== "none") {
          links[`${devPath}/driver`] = `../../../bus/pci/drivers/${attrs[4]}`;
          if (attrs[4] === "nvme") nvmeBdf = bdf;
        }
        links[`${devPath}/iommu_group`] = attrs[5];
        links[`sys/bus/pci/devices/${bdf}`] = `../../../${devPath.slice(4)}`;
        if (bdf === nvmeBdf) nvmeDir = devPath;
      }
      continue;
    }
    if (l === "--- /sys/class/iommu") {
      const unit = a[++i].trim().replace(/^\/sys\/class\/iommu\//, "");
      const dir = `sys/devices/virtual/iommu/${unit}`;
      links[`sys/class/iommu/${unit}`] = `../../devices/virtual/iommu/${unit}`;
      for (i++; /^ {2}\S+=/.test(a[i]); i++) {
        const [k, v] = a[i].trim().split("=");
        files[`${dir}/intel-iommu/${k}`] = `${v}\n`;
      }
      for (; /^0000:/.test(a[i]); i++) {
        for (const bdf of a[i].trim().split(/\s+/)) links[`${dir}/devices/${bdf}`] = `../../../../pci0000:00/${bdf}`;
      }
      i--;
      continue;
    }
    if (l === "--- nvme0n1 queue limits" && nvmeDir !== null) {
      const disk = `${nvmeDir}/nvme/nvme0/nvme0n1`;
      links["sys/block/nvme0n1"] = `../${disk.slice(4)}`;
      for (i++; /^[a-z_]+=/.test(a[i]); i++) {
        const eq = a[i].indexOf("=");
        files[`${disk}/queue/${a[i].slice(0, eq)}`] = `${a[i].slice(eq + 1)}\n`;
      }
      i--;
      continue;
    }
    if (l === "--- dma mask of nvme" && nvmeDir !== null) {
      // An ls of the device directory, then the cat of dma_mask_bits.
      for (i++; !/^\d+$/.test(a[i]); i++);
      files[`${nvmeDir}/dma_mask_bits`] = `${a[i]}\n`;
      continue;
    }
    if (l === "--- /proc/iomem") {
      let body = "";
      for (i++; !a[i].startsWith("--- "); i++) body += `${a[i]}\n`;
      files["proc/iomem"] = body;
      i--;
    }
  }
  return { files, links };
}

/**
 * What the captures do not hold, MADE UP for the tests (plausible for the
 * QEMU VM of the captures, not observed): every PCI device's numa_node (-1,
 * no NUMA) and one NUMA node holding both CPUs, the e1000e port as eth0 with one RX and one TX queue, the
 * possible CPUs of -smp 2 (README: "-smp 2") and the 4 KiB page size.
 */
export function madeUpQemuFields(tree: FakeTree): FakeTree {
  const files = { ...tree.files };
  const links = { ...tree.links };
  for (const [p, target] of Object.entries(tree.links)) {
    if (!p.startsWith("sys/bus/pci/devices/")) continue;
    files[`sys/${target.replace(/^(\.\.\/)+/, "")}/numa_node`] = "-1\n";
  }
  const e1000e = Object.entries(tree.links).find(([p, t]) => p.endsWith("/driver") && t.endsWith("/e1000e"));
  if (e1000e) {
    const dev = e1000e[0].slice(0, -"/driver".length);
    links["sys/class/net/eth0"] = `../../${dev.slice(4)}/net/eth0`;
    links[`${dev}/net/eth0/device`] = `../../../${dev.slice(dev.lastIndexOf("/") + 1)}`;
    files[`${dev}/net/eth0/queues/rx-0/rps_cpus`] = "0\n";
    files[`${dev}/net/eth0/queues/tx-0/xps_cpus`] = "0\n";
    files[`${dev}/net/eth0/speed`] = "1000\n";
  }
  links["sys/class/net/lo"] = "../../devices/virtual/net/lo";
  files["sys/devices/virtual/net/lo/queues/rx-0/rps_cpus"] = "0\n";
  files["sys/devices/system/cpu/possible"] = "0-1\n";
  files["sys/devices/system/node/node0/cpulist"] = "0-1\n";
  files["proc/self/smaps"] = "55d0c0000000-55d0c0001000 r--p 00000000 00:00 0\nKernelPageSize:        4 kB\n";
  return { files, links };
}
