/**
 * A trace's CPU 1 moved to another CPU number: the same kernel run on a
 * machine of more CPUs (each CPU's caches are its own; 6.1's depot knows no
 * CPU count, 6.12's trim does). For the tests and the bench of traces of
 * servers, a few of whose CPUs do DMA.
 */

/**
 * `text` with CPU 1's events on CPU `to`: the kernel's CPU column (`[001]`),
 * trace-cmd report -l's (the CPU number run into five flag characters) and
 * the flush-queue timer's `cpu=1`; with `cpus`, the header's `#P:` count too.
 */
export function cpu1Moved(text: string, to: number, cpus?: number): string {
  const moved = text
    .replaceAll("[001]", `[${String(to).padStart(3, "0")}]`)
    .replace(/^(\s*\S+ +)1(\S{5} +\d+\.\d+: )/gm, `$1${to}$2`)
    .replaceAll(" cpu=1 ", ` cpu=${to} `);
  return cpus === undefined ? moved : moved.replace(/#P:\d+/, `#P:${cpus}`);
}
