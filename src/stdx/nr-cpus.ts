/**
 * The most CPUs a Linux kernel can be built for: x86-64's NR_CPUS goes up to
 * 8192 (NR_CPUS_RANGE_END, and MAXSMP takes it), the largest of the
 * architectures the model knows (arm64 stops at 4096). A CPU number at or
 * above it, or a count beyond it, comes from no kernel: in a trace it is a
 * corrupt line, and a machine, a script or a flag asking for more is refused
 * (per-CPU state is made for every CPU, so a count in the billions would
 * exhaust memory rather than fail).
 */
export const NR_CPUS_MAX = 8192;
