/**
 * The kernel's timer wheel, as far as the model's timers need it: a timer
 * armed for `jiffies + delay` is due at that jiffy (`expires`), and the wheel,
 * which never fires a timer early, keeps one due within 64 jiffies in the
 * bucket of `expires + 1` (`calc_index()` rounds up by the level's
 * granularity, one jiffy at level 0): it runs at that tick at the soonest.
 * The flush queue's timer and the depot trim's delayed work are both such
 * timers. Times are integer ns on a clock whose jiffies tick at multiples of
 * `jiffyNs`.
 */

/** `expires` of a timer armed now for `delayJiffies`: the start of that jiffy. */
export function expiresNs(nowNs: number, delayJiffies: number, jiffyNs: number): number {
  return (Math.floor(nowNs / jiffyNs) + delayJiffies) * jiffyNs;
}

/** When the wheel runs a timer due at `expiresNs` (a delay under 64 jiffies): the tick after it. */
export function runsAtNs(expiresAtNs: number, jiffyNs: number): number {
  return expiresAtNs + jiffyNs;
}
