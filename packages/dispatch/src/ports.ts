/**
 * The seam a service worker's loop waits through, so one loop serves in-memory triggers (doorbell)
 * and kernel eventfds (epoll). (The other side, core's vector table, it reaches through table-ops.ts
 * directly: one implementation needs no interface.)
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
