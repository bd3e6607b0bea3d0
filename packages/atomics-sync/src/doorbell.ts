import { AtomicBitset } from './bitset.js';
import { syncError } from './errors.js';
import type { PrimitiveSpec } from './spec.js';
import {
  assertHandle,
  assertInt,
  assertInt32Array,
  assertRegion,
  checkSpin,
  checkTimeout,
} from './validate.js';
import { deadlineOf, remainingUntil, waitAsyncRef } from './wait.js';

/** Structured-cloneable description of a {@link Doorbell}. */
export interface DoorbellHandle {
  buffer: SharedArrayBuffer;
  offset: number;
  /** Number of ids (valid ids are 0 .. capacity-1). */
  capacity: number;
}

/** Largest doorbell capacity accepted. */
export const DOORBELL_MAX_CAPACITY = 2 ** 24;

/** Spin iterations `wait()` polls before sleeping, unless told otherwise. */
export const DOORBELL_DEFAULT_SPIN = 1000;

// Header words (int32 indices from `offset`); the ready bitset follows at offset + 8.
/** 1 while the consumer is asleep or about to sleep in Atomics.wait on this word; 0 otherwise. */
const SLEEP = 0;
/** Set by wake(): makes the current or next wait return even with nothing ready. */
const KICK = 1;
const HEADER_BYTES = 8;

/**
 * Many producers ring, one consumer waits: the wake-up path of an interrupt dispatcher.
 *
 * Memory: a futex word (SLEEP), a kick word, then a ready set with one bit per id. Ringing id `i` sets
 * bit `i`; ringing an id that is already pending coalesces (the consumer sees it once). The consumer
 * waits until something is ready, then `drain()`s every ready id in one pass.
 *
 * A producer pays for `Atomics.notify` only when the consumer is actually asleep: ringing is one atomic
 * OR plus one atomic load while the consumer is busy. Zeroed memory is a valid empty doorbell.
 *
 * Roles: any number of threads may `ring()`; exactly one thread at a time may be the consumer (`wait`,
 * `waitAsync`, `drain`). `pending()` and `wake()` are safe from anywhere.
 */
export class Doorbell {
  /** Required byte alignment of its offset. */
  static readonly alignment = 4;

  /** Bytes a doorbell of `capacity` ids occupies: 8 header bytes + one bit per id in 32-bit words. */
  static byteLength(capacity: number): number {
    assertInt(capacity, 1, DOORBELL_MAX_CAPACITY, 'Doorbell: capacity');
    return HEADER_BYTES + Math.ceil(capacity / 32) * 4;
  }

  private readonly ctl: Int32Array;
  private readonly ready: AtomicBitset;
  private readonly words: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #offset: number;
  readonly #capacity: number;

  /** Attaches to the doorbell at `offset`; zeroed memory is the valid empty state. */
  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number) {
    const bytes = Doorbell.byteLength(capacity);
    assertRegion(buffer, offset, Doorbell.alignment, bytes, 'Doorbell');
    this.#buffer = buffer;
    this.#offset = offset;
    this.#capacity = capacity;
    this.ctl = new Int32Array(buffer, offset, 2);
    this.ready = new AtomicBitset(buffer, offset + HEADER_BYTES, capacity);
    this.words = new Int32Array(buffer, offset + HEADER_BYTES, (bytes - HEADER_BYTES) / 4);
  }

  /** Writes an empty doorbell at `offset` and attaches to it. */
  static init(buffer: SharedArrayBuffer, offset: number, capacity: number): Doorbell {
    const d = new Doorbell(buffer, offset, capacity);
    Atomics.store(d.ctl, SLEEP, 0);
    Atomics.store(d.ctl, KICK, 0);
    d.ready.clearAll();
    return d;
  }

  /** Re-attaches from a handle. */
  static from(handle: DoorbellHandle): Doorbell {
    assertHandle(handle, 'Doorbell');
    return new Doorbell(handle.buffer, handle.offset, handle.capacity);
  }

  /** The spec {@link layout} uses. */
  static spec(capacity: number): PrimitiveSpec<Doorbell> {
    return {
      kind: 'Doorbell',
      byteLength: Doorbell.byteLength(capacity),
      alignment: Doorbell.alignment,
      init: (b, o) => Doorbell.init(b, o, capacity),
      attach: (b, o) => new Doorbell(b, o, capacity),
    };
  }

  /** A plain, structured-cloneable handle. */
  get handle(): DoorbellHandle {
    return { buffer: this.#buffer, offset: this.#offset, capacity: this.#capacity };
  }

  /** Number of ids (valid ids are 0 .. capacity-1). */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Marks `id` ready and wakes the consumer if it sleeps. Lock-free; callable from any thread.
   * @throws RangeError `ERR_OUT_OF_RANGE` if `id` is not an integer in [0, capacity).
   */
  ring(id: number): void {
    if (id >>> 0 !== id || id >= this.#capacity) {
      throw syncError(
        RangeError,
        'ERR_OUT_OF_RANGE',
        `Doorbell.ring: id must be an integer between 0 and ${this.#capacity - 1}, got ${String(id)}`,
      );
    }
    const bit = 1 << (id & 31);
    // Already pending: the producer that set this bit (still before the drain that will clear it) does
    // the sleep check below, so the consumer is guaranteed to see the bit without our help.
    if ((Atomics.or(this.words, id >>> 5, bit) & bit) !== 0) return;
    // The lost-wakeup race, and why this order closes it. Atomics operations are sequentially
    // consistent, so all of them fall into one total order.
    //   producer: P1 = OR(bit)            P2 = load(SLEEP) [then CAS 1->0 and notify]
    //   consumer: C1 = store(SLEEP, 1)    C2 = scan bits    C3 = Atomics.wait(SLEEP, 1)
    // - If P2 comes before C1, then P1 < P2 < C1 < C2: the consumer's re-scan sees the bit and does
    //   not sleep.
    // - If P2 comes after C1, the producer reads 1, wins the CAS (only one producer can) and notifies.
    //   If the consumer is already in Atomics.wait it is woken; if it has not got there yet, the CAS
    //   already changed SLEEP to 0, and Atomics.wait (which checks the value and enqueues atomically)
    //   returns 'not-equal' at once. Either way it does not sleep on our bit.
    // Producers that read SLEEP == 0 skip Atomics.notify (and its process-wide lock) entirely.
    if (Atomics.load(this.ctl, SLEEP) === 1 && Atomics.compareExchange(this.ctl, SLEEP, 1, 0) === 1) {
      Atomics.notify(this.ctl, SLEEP, 1);
    }
  }

  /** True if any id is ready right now. */
  pending(): boolean {
    const words = this.words;
    for (let w = 0; w < words.length; w++) if (Atomics.load(words, w) !== 0) return true;
    return false;
  }

  /**
   * Makes the consumer's current wait return (with false if nothing is ready), or, if it is not
   * waiting, its next one. For shutdown: a consumer blocked with no timeout can always be released.
   */
  wake(): void {
    Atomics.store(this.ctl, KICK, 1);
    // Same order as ring(): publish, then check SLEEP. A consumer that stored SLEEP after our check
    // re-reads KICK before it sleeps.
    if (Atomics.compareExchange(this.ctl, SLEEP, 1, 0) === 1) Atomics.notify(this.ctl, SLEEP, 1);
  }

  private takeKick(): boolean {
    return Atomics.load(this.ctl, KICK) !== 0 && Atomics.exchange(this.ctl, KICK, 0) !== 0;
  }

  /**
   * Consumer, sync (workers): returns as soon as something is ready. Polls up to `spinIterations`
   * times (default {@link DOORBELL_DEFAULT_SPIN}) before sleeping in `Atomics.wait`, for at most
   * `timeoutMs` (default forever).
   * @returns true if something is ready; false if the timeout ran out or {@link Doorbell.wake} was
   * called with nothing ready.
   */
  wait(timeoutMs?: number, spinIterations?: number): boolean {
    const timeout = checkTimeout(timeoutMs, 'Doorbell.wait');
    const spin = checkSpin(spinIterations, DOORBELL_DEFAULT_SPIN, 'Doorbell.wait');
    if (this.pending()) return true;
    for (let i = 0; i < spin; i++) if (this.pending()) return true;
    if (this.takeKick()) return false;
    if (timeout === 0) return false;
    const ctl = this.ctl;
    const deadline = deadlineOf(timeout);
    for (;;) {
      Atomics.store(ctl, SLEEP, 1); // C1: announce
      if (this.pending()) {
        Atomics.store(ctl, SLEEP, 0); // C2 found work: no sleep
        return true;
      }
      if (this.takeKick()) {
        Atomics.store(ctl, SLEEP, 0);
        return false;
      }
      const left = remainingUntil(deadline);
      if (left > 0) Atomics.wait(ctl, SLEEP, 1, left); // C3
      Atomics.store(ctl, SLEEP, 0);
      if (this.pending()) return true;
      if (this.takeKick() || left === 0 || remainingUntil(deadline) === 0) return false;
      // Woken with nothing ready and no kick: a stale notify from a producer whose CAS hit an earlier
      // sleep. Sleep again for the time left.
    }
  }

  /**
   * Consumer, async (main thread): like {@link Doorbell.wait} but sleeps in `Atomics.waitAsync`, without
   * spinning. Keeps the process alive while pending.
   * @returns resolves true if something is ready, false on timeout or {@link Doorbell.wake}.
   */
  async waitAsync(timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs, 'Doorbell.waitAsync');
    if (this.pending()) return true;
    if (this.takeKick()) return false;
    if (timeout === 0) return false;
    const ctl = this.ctl;
    const deadline = deadlineOf(timeout);
    for (;;) {
      Atomics.store(ctl, SLEEP, 1); // same protocol as wait()
      if (this.pending()) {
        Atomics.store(ctl, SLEEP, 0);
        return true;
      }
      if (this.takeKick()) {
        Atomics.store(ctl, SLEEP, 0);
        return false;
      }
      const left = remainingUntil(deadline);
      if (left > 0) await waitAsyncRef(ctl, SLEEP, 1, left);
      Atomics.store(ctl, SLEEP, 0);
      if (this.pending()) return true;
      if (this.takeKick() || left === 0 || remainingUntil(deadline) === 0) return false;
    }
  }

  /**
   * Consumer: moves ready ids into `out` in ascending order and clears them. If more are ready than
   * `out` holds, the lowest ones are taken and the rest stay ready.
   * @returns the number of ids written to `out`.
   */
  drain(out: Int32Array): number {
    assertInt32Array(out, 'Doorbell.drain');
    return this.ready.drainInto(out);
  }
}
