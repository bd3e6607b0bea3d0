/**
 * The two seams a service worker's loop runs through, so one loop serves in-memory triggers
 * (doorbell) and kernel eventfds (epoll), and talks to core's vector table through one narrow
 * interface.
 */

/**
 * The vectors a worker waits on at once. Positions are indexes into the dispatcher's vector list.
 * Everything here is called from the owning worker only.
 */
export interface TriggerSet {
  /** 'doorbell' (in-memory triggers) or 'epoll' (kernel eventfds). */
  readonly kind: 'doorbell' | 'epoll';
  /** Ready positions of the last {@link collect}. */
  readonly ids: Int32Array;
  /** Trigger counts consumed for each of {@link ids} (0: rung, but nothing to read). */
  readonly counts: Float64Array;
  /** Starts waiting on `pos`'s trigger; a count already there is reported by the next collect. */
  add(pos: number): void;
  /** Stops waiting on `pos`'s trigger (its count stays in the trigger). */
  remove(pos: number): void;
  /**
   * Waits up to `timeoutMs` (0: do not block; -1: until something happens) and consumes every ready
   * trigger: fills {@link ids}/{@link counts} and returns how many. A kick (control, recheck, stop)
   * also ends the wait; its positions come back with count 0.
   */
  collect(timeoutMs: number): number;
  /** Releases what the set opened (never the triggers themselves). */
  close(): void;
}

/** The per-vector accounting and masking of core's vector table, by position. */
export interface VectorOps {
  /** Records that `n` trigger counts of `pos` were consumed by one handler call. */
  consumed(pos: number, n: number): void;
  /** Masks `pos` in the device model (raises are held pending, the trigger is not signalled). */
  mask(pos: number): void;
  /** Unmasks `pos`; a held pending interrupt is signalled to the trigger. */
  unmask(pos: number): void;
  /** Whether the device model holds `pos` masked. */
  masked(pos: number): boolean;
  /**
   * NAPI poll of a vector the poll loop holds masked: claims the interrupt its mask holds (the PBA
   * bit) and returns 1, or 0 if none is held. The vector stays masked. What reached the trigger
   * before the mask comes through the trigger set as usual.
   */
  poll(pos: number): number;
  /** Raises of `pos` so far (core's raised counter; kernel-signalled ones appear as consumed). */
  raised(pos: number): number;
  /** The vector table counters of `pos`. */
  counters(pos: number): {
    raised: number;
    delivered: number;
    coalesced: number;
    pending: number;
    dropped: number;
  };
}
