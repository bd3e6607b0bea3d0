import { syncError } from './errors.js';
import type { PrimitiveSpec } from './spec.js';
import { assertHandle, assertRegion, checkSpin, checkTimeout } from './validate.js';
import { deadlineOf, remainingUntil, type SleepLoop, sleepAsync, sleepSync } from './wait.js';

/** Structured-cloneable description of a {@link Mutex}: post it to a worker, `Mutex.from()` it there. */
export interface MutexHandle {
  buffer: SharedArrayBuffer;
  offset: number;
}

const FREE = 0;
const LOCKED = 1;
/** Locked, and someone is (or may be) asleep waiting: unlock must notify. */
const CONTENDED = 2;

/** Spin iterations `lock()` tries before sleeping, unless told otherwise. */
export const MUTEX_DEFAULT_SPIN = 100;

/**
 * A mutual-exclusion lock in one 32-bit word of a SharedArrayBuffer: the classic three-state futex
 * mutex (0 free, 1 locked, 2 locked with possible sleepers). Uncontended lock and unlock are a single
 * compare-and-swap each; `unlock` calls `Atomics.notify` only from state 2, i.e. when someone may be
 * asleep.
 *
 * The lock has no owner: any thread may unlock it (it behaves like a binary semaphore), and it is not
 * re-entrant (locking it twice from one thread deadlocks until the timeout). Zeroed memory is an
 * unlocked mutex.
 *
 * Timeouts: `lock(ms)` and `lockAsync(ms)` return / resolve `false` when the time runs out; they never
 * throw or reject for a timeout.
 */
export class Mutex {
  /** Bytes a mutex occupies. */
  static readonly byteLength = 4;
  /** Required byte alignment of its offset. */
  static readonly alignment = 4;

  private readonly i32: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #offset: number;

  /** Attaches to the mutex at `offset` (zeroed memory is an unlocked mutex). */
  constructor(buffer: SharedArrayBuffer, offset: number) {
    assertRegion(buffer, offset, Mutex.alignment, Mutex.byteLength, 'Mutex');
    this.#buffer = buffer;
    this.#offset = offset;
    this.i32 = new Int32Array(buffer, offset, 1);
  }

  /** Writes an unlocked mutex at `offset` and attaches to it. Do this before sharing the buffer. */
  static init(buffer: SharedArrayBuffer, offset: number): Mutex {
    const m = new Mutex(buffer, offset);
    Atomics.store(m.i32, 0, FREE);
    return m;
  }

  /** Re-attaches from a handle (typically one posted from another thread). */
  static from(handle: MutexHandle): Mutex {
    assertHandle(handle, 'Mutex');
    return new Mutex(handle.buffer, handle.offset);
  }

  /** The spec {@link layout} uses to place a mutex. */
  static spec(): PrimitiveSpec<Mutex> {
    return {
      kind: 'Mutex',
      byteLength: Mutex.byteLength,
      alignment: Mutex.alignment,
      init: (b, o) => Mutex.init(b, o),
      attach: (b, o) => new Mutex(b, o),
    };
  }

  /** A plain, structured-cloneable handle for this mutex. */
  get handle(): MutexHandle {
    return { buffer: this.#buffer, offset: this.#offset };
  }

  /** True if the mutex is held by someone right now (a snapshot; it may change at once). */
  get locked(): boolean {
    return Atomics.load(this.i32, 0) !== FREE;
  }

  /** Takes the lock if it is free, without waiting. */
  tryLock(): boolean {
    return Atomics.compareExchange(this.i32, 0, FREE, LOCKED) === FREE;
  }

  /**
   * Takes the lock, blocking the thread (`Atomics.wait`) for at most `timeoutMs` (default: forever).
   * Spins up to `spinIterations` (default {@link MUTEX_DEFAULT_SPIN}) first, which pays off when the
   * holder keeps it for less than a wake-up costs (~30 µs cross-core on the 2-vCPU machines).
   * @returns true if the lock is now held by the caller, false if the timeout ran out.
   */
  lock(timeoutMs?: number, spinIterations?: number): boolean {
    const i32 = this.i32;
    const index = 0;
    const timeout = checkTimeout(timeoutMs, 'Mutex.lock');
    const spin = checkSpin(spinIterations, MUTEX_DEFAULT_SPIN, 'Mutex.lock');
    if (Atomics.compareExchange(i32, index, FREE, LOCKED) === FREE) return true;
    // Spin only while merely LOCKED: if others already sleep, queue behind them rather than barge.
    for (let i = 0; i < spin; i++) {
      const c = Atomics.load(i32, index);
      if (c === FREE && Atomics.compareExchange(i32, index, FREE, LOCKED) === FREE) return true;
      if (c === CONTENDED) break;
    }
    if (timeout === 0) return this.tryLock();
    return sleepSync(this.contend(deadlineOf(timeout)));
  }

  /**
   * Takes the lock without blocking the thread (`Atomics.waitAsync`), for the main thread. While it is
   * pending, the process is kept alive (see the package README).
   * @returns resolves true once the lock is held, false if `timeoutMs` ran out first.
   */
  async lockAsync(timeoutMs?: number): Promise<boolean> {
    const i32 = this.i32;
    const index = 0;
    const timeout = checkTimeout(timeoutMs, 'Mutex.lockAsync');
    if (Atomics.compareExchange(i32, index, FREE, LOCKED) === FREE) return true;
    if (timeout === 0) return this.tryLock();
    return sleepAsync(this.contend(deadlineOf(timeout)));
  }

  /**
   * Takes the lock by sleeping until the deadline. Marks CONTENDED before sleeping: from here on the
   * holder's unlock will notify. If the exchange returns FREE we took the lock (in state 2, so our own
   * unlock may notify needlessly: harmless).
   */
  private *contend(deadline: number): SleepLoop<boolean> {
    const i32 = this.i32;
    let c = Atomics.exchange(i32, 0, CONTENDED);
    while (c !== FREE) {
      const left = remainingUntil(deadline);
      if (left === 0) return false;
      yield { i32, index: 0, value: CONTENDED, ms: left };
      c = Atomics.exchange(i32, 0, CONTENDED);
    }
    return true;
  }

  /**
   * Releases the lock, waking one sleeper if any may be waiting.
   * @throws Error with code `ERR_NOT_LOCKED` if the mutex is not locked.
   */
  unlock(): void {
    const i32 = this.i32;
    const index = 0;
    const prev = Atomics.compareExchange(i32, index, LOCKED, FREE);
    if (prev === LOCKED) return;
    if (prev === FREE) throw syncError(Error, 'ERR_NOT_LOCKED', 'Mutex.unlock: the mutex is not locked');
    // CONTENDED: hand the word back to FREE, then wake one sleeper, which re-marks it CONTENDED (it cannot
    // know whether others still sleep) and so keeps later unlocks notifying until the queue is empty.
    Atomics.store(i32, index, FREE);
    Atomics.notify(i32, index, 1);
  }

  /**
   * Runs `fn` holding the lock (blocking acquisition), releasing it even if `fn` throws.
   * @throws Error with code `ERR_TIMEOUT` (and `fn` not run) if `timeoutMs` runs out first.
   */
  withLock<T>(fn: () => T, timeoutMs?: number): T {
    if (!this.lock(timeoutMs)) {
      throw syncError(Error, 'ERR_TIMEOUT', `Mutex.withLock: lock not acquired within ${timeoutMs} ms`);
    }
    try {
      return fn();
    } finally {
      this.unlock();
    }
  }
}
