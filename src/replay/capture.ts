/**
 * The capture a user should make for an exact replay: the `trace-cmd
 * record` command and what each part of it buys (Linux 6.1 and 6.12). Shown
 * by `iovalab replay --help` and kept in step with README.md.
 */

export const CAPTURE_HELP = `
Capturing a trace to replay (on the machine, as root):

  trace-cmd record --no-filter -C global -b 65536 \\
    -e iommu:map -e iommu:unmap -e dma:* \\
    -e timer:timer_start -f 'function.function == fq_flush_timeout ' \\
    -e timer:timer_expire_entry -f 'function.function == fq_flush_timeout ' \\
    -e timer:timer_expire_exit \\
    -e workqueue:workqueue_execute_start -f 'function.function == iova_depot_work_func ' \\
    -e workqueue:workqueue_execute_end -f 'function.function == iova_depot_work_func ' \\
    -o trace.dat WORKLOAD
  trace-cmd report -l -i trace.dat > trace.txt      (or replay trace.dat itself)

  iommu:map/unmap   every IOVA mapped and unmapped: what is replayed and compared.
  dma:*             (6.12+) the device of each mapping: several devices' domains
                    told apart, sg lists grouped; without them the devices are one.
  timer:* of fq_flush_timeout
                    (lazy mode) where each flush-queue flush ran and on which CPU;
                    without them lazy IOVAs diverge from the first flush placed
                    unlike the kernel's.
  timer_expire_exit the end of each flush (unfiltered: it has no function field).
  workqueue:* of iova_depot_work_func
                    (6.7+) where each depot trim ran; omit on 6.1.
  --no-filter       without it trace-cmd drops events of its own pids, among them the
                    completion unmaps and flush-queue expiries of interrupts that stop
                    its reader threads (the summary then warns: the trace lost events).
  -C global         a clock both CPUs share, so the two CPUs' events interleave right.
  -b 65536          64 MiB per CPU. An overrun loses a run of one CPU's events
                    (CPU:N [LOST M EVENTS]): the replay then starts over after it, as a
                    trace begun mid-life, and the calls during the loss are in no span.
  report -l         keeps the flags column (interrupt context): which unmaps ran in an
                    interrupt. Without it the replay reads that from the IOVAs.
  trace.dat itself  names the kernel it was recorded on (its uname): the replay takes
                    that version's profile; a text trace needs --kernel unless it has dma:*.
  perf script --header --show-lost-events
                    (perf instead of trace-cmd) the header names the kernel, as a
                    trace.dat does; an overrun of perf's buffer as a line
                    (PERF_RECORD_LOST lost N), read as a loss; without the option perf
                    says so only on its stderr, and the trace cannot show it.

  6.12+: the filter text needs the space before the closing quote: trace-cmd wraps it
  in parentheses and the kernel takes the function name up to the next space, so
  'function.function == fq_flush_timeout' looks up "fq_flush_timeout)", fails, and the
  event runs unfiltered.
  6.1: the .function form is refused; filter on the address instead:
    -f "function == 0x$(grep ' fq_flush_timeout$' /proc/kallsyms | cut -d' ' -f1)"
  and drop the dma:* and workqueue events (6.1 has neither).
`;
