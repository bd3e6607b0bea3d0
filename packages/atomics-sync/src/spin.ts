/**
 * Adaptive spin-before-sleep, for a waiter that keeps one instance (a doorbell's or a ring's consumer).
 *
 * Why adapt: spinning pays only when the event comes from another core while we spin. On these 2-vCPU
 * machines the scheduler often puts a waker and the thread it wakes on the same CPU (wake-affine), and
 * then a spinning waiter holds the very CPU its producer needs: every hand-off costs the whole spin
 * window, e.g. ~45 µs at 2000 polls against ~13 µs for sleeping at once (measured, bench/). So: a spin
 * that catches the event doubles the budget (up to `max`), a spin that runs out halves it (down to
 * `min`), and every `PROBE_EVERY`-th wait spins the full `max` to find out whether spinning pays again.
 * Sparse traffic thus stops burning CPU too, while a busy cross-core pipeline keeps spinning.
 *
 * `min` (64 polls, ~1 µs) is not zero on purpose: it is long enough to catch the reply of a peer that
 * is itself spinning (~0.3-0.5 µs), which is how two waiters that both shrank find their way back to
 * spinning once one of them probes successfully.
 */
export class AdaptiveSpin {
  /** Every this many waits, spin the full budget once to re-test whether spinning pays. */
  static readonly PROBE_EVERY = 64;
  private limit: number;
  private waits = 0;

  /**
   * @param max largest budget (polls), also the starting one
   * @param min smallest budget (polls); clamped to `max`
   */
  constructor(
    private readonly max: number,
    private min = 64,
  ) {
    this.min = Math.min(min, max);
    this.limit = max;
  }

  /** The budget for this wait. */
  next(): number {
    this.waits = (this.waits + 1) % AdaptiveSpin.PROBE_EVERY;
    return this.waits === 0 ? this.max : this.limit;
  }

  /** The spin caught the event: spinning pays, allow more. */
  caught(): void {
    this.limit = Math.min(this.max, this.limit * 2);
  }

  /** The spin ran out: spinning did not pay this time, allow less. */
  missed(): void {
    this.limit = Math.max(this.min, this.limit >> 1);
  }

  /** The current budget (for tests and diagnostics). */
  get budget(): number {
    return this.limit;
  }
}

/**
 * Polls `ready(target)` up to the spin budget: `fixed` polls, or, when `fixed` is negative, the budget
 * `adaptive` gives this wait (and tells it whether the spin caught the event).
 * @returns true as soon as `ready` answers true, false if the budget ran out.
 */
export function spinUntil<T>(
  fixed: number,
  adaptive: AdaptiveSpin,
  ready: (target: T) => boolean,
  target: T,
): boolean {
  if (fixed >= 0) {
    for (let i = 0; i < fixed; i++) if (ready(target)) return true;
    return false;
  }
  const spin = adaptive.next();
  for (let i = 0; i < spin; i++) {
    if (ready(target)) {
      adaptive.caught();
      return true;
    }
  }
  adaptive.missed();
  return false;
}
