import { syncError } from './errors.js';
import type { PrimitiveSpec } from './spec.js';
import { assertHandle, assertInt, assertRegion, checkSpin, checkTimeout } from './validate.js';
import { countedSleep, deadlineOf, type SleepLoop, sleepAsync, sleepSync } from './wait.js';

/** Structured-cloneable description of a {@link Semaphore}. The count lives in the buffer, not here. */
export interface SemaphoreHandle {
  buffer: SharedArrayBuffer;
  offset: number;
}

const COUNT = 0;
/** Number of threads that announced they are about to sleep or are asleep; release notifies only then. */
const WAITERS = 1;
const MAX_COUNT = 0x7fffffff;

/** Spin iterations `acquire()` tries before sleeping, unless told otherwise. */
export const SEMAPHORE_DEFAULT_SPIN = 100;

/**
 * A counting semaphore in two 32-bit words (count, sleepers). `release()` calls `Atomics.notify` only if
 * someone announced it is going to sleep. Zeroed memory is a semaphore with count 0; for another
 * initial count use {@link Semaphore.init} (or a {@link layout} with `Semaphore.spec(n)`).
 *
 * Timeouts: `acquire(ms)` / `acquireAsync(ms)` return / resolve `false` when the time runs out.
 */
export class Semaphore {
  /** Bytes a semaphore occupies. */
  static readonly byteLength = 8;
  /** Required byte alignment of its offset. */
  static readonly alignment = 4;

  private readonly i32: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #offset: number;

  /** Attaches to the semaphore at `offset` without changing its count. */
  constructor(buffer: SharedArrayBuffer, offset: number) {
    assertRegion(buffer, offset, Semaphore.alignment, Semaphore.byteLength, 'Semaphore');
    this.#buffer = buffer;
    this.#offset = offset;
    this.i32 = new Int32Array(buffer, offset, 2);
  }

  /**
   * Writes a semaphore with count `initial` at `offset` and attaches to it. Do this once, before other
   * threads attach.
   */
  static init(buffer: SharedArrayBuffer, offset: number, initial = 0): Semaphore {
    assertInt(initial, 0, MAX_COUNT, 'Semaphore.init: initial count');
    const s = new Semaphore(buffer, offset);
    Atomics.store(s.i32, WAITERS, 0);
    Atomics.store(s.i32, COUNT, initial);
    return s;
  }

  /** Re-attaches from a handle. */
  static from(handle: SemaphoreHandle): Semaphore {
    assertHandle(handle, 'Semaphore');
    return new Semaphore(handle.buffer, handle.offset);
  }

  /** The spec {@link layout} uses; `init` writes `initial` as the count. */
  static spec(initial = 0): PrimitiveSpec<Semaphore> {
    assertInt(initial, 0, MAX_COUNT, 'Semaphore.spec: initial count');
    return {
      kind: 'Semaphore',
      byteLength: Semaphore.byteLength,
      alignment: Semaphore.alignment,
      init: (b, o) => Semaphore.init(b, o, initial),
      attach: (b, o) => new Semaphore(b, o),
    };
  }

  /** A plain, structured-cloneable handle. */
  get handle(): SemaphoreHandle {
    return { buffer: this.#buffer, offset: this.#offset };
  }

  /** The count right now (a snapshot). */
  get value(): number {
    return Atomics.load(this.i32, COUNT);
  }

  /** Takes one unit if the count is positive, without waiting. */
  tryAcquire(): boolean {
    const i32 = this.i32;
    let c = Atomics.load(i32, COUNT);
    while (c > 0) {
      const seen = Atomics.compareExchange(i32, COUNT, c, c - 1);
      if (seen === c) return true;
      c = seen;
    }
    return false;
  }

  /**
   * Takes one unit, blocking the thread (`Atomics.wait`) for at most `timeoutMs` (default forever),
   * after spinning up to `spinIterations` (default {@link SEMAPHORE_DEFAULT_SPIN}).
   * @returns true if a unit was taken, false if the timeout ran out.
   */
  acquire(timeoutMs?: number, spinIterations?: number): boolean {
    const timeout = checkTimeout(timeoutMs, 'Semaphore.acquire');
    const spin = checkSpin(spinIterations, SEMAPHORE_DEFAULT_SPIN, 'Semaphore.acquire');
    if (this.tryAcquire()) return true;
    const i32 = this.i32;
    for (let i = 0; i < spin; i++) {
      if (Atomics.load(i32, COUNT) > 0 && this.tryAcquire()) return true;
    }
    if (timeout === 0) return false;
    return sleepSync(this.sleep(deadlineOf(timeout)));
  }

  /**
   * Takes one unit without blocking the thread (`Atomics.waitAsync`); keeps the process alive while
   * pending.
   * @returns resolves true if a unit was taken, false if `timeoutMs` ran out.
   */
  async acquireAsync(timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs, 'Semaphore.acquireAsync');
    if (this.tryAcquire()) return true;
    if (timeout === 0) return false;
    return sleepAsync(this.sleep(deadlineOf(timeout)));
  }

  /**
   * Sleeps until a unit is taken or the deadline passes. Announced in WAITERS, then re-checked:
   * release() adds to the count and only then reads WAITERS, so either it sees the announcement (and
   * notifies), or its add happened before the re-check (see countedSleep). No wake-up can be lost.
   */
  private sleep(deadline: number): SleepLoop<boolean> {
    return countedSleep(this.i32, COUNT, WAITERS, 0, tryAcquire, this, deadline);
  }

  /**
   * Returns `n` units (default 1) and wakes up to `n` sleepers, if any announced themselves.
   * @throws RangeError `ERR_OUT_OF_RANGE` if `n` is not an integer in [1, 2^31-1] or the count would
   * overflow 2^31-1 (the count is left unchanged then).
   */
  release(n = 1): void {
    assertInt(n, 1, MAX_COUNT, 'Semaphore.release: n');
    const i32 = this.i32;
    const prev = Atomics.add(i32, COUNT, n);
    if (prev + n > MAX_COUNT) {
      Atomics.sub(i32, COUNT, n);
      throw syncError(
        RangeError,
        'ERR_OUT_OF_RANGE',
        `Semaphore.release: count ${prev} + ${n} would exceed ${MAX_COUNT}`,
      );
    }
    if (Atomics.load(i32, WAITERS) > 0) Atomics.notify(i32, COUNT, n);
  }
}

const tryAcquire = (s: Semaphore): boolean => s.tryAcquire();
