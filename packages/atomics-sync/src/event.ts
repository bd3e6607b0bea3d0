import type { PrimitiveSpec } from './spec.js';
import { assertHandle, assertRegion, checkSpin, checkTimeout, syncArgError } from './validate.js';
import { countedSleep, deadlineOf, type SleepLoop, sleepAsync, sleepSync } from './wait.js';

/** Structured-cloneable description of an {@link Event}. */
export interface EventHandle {
  buffer: SharedArrayBuffer;
  offset: number;
  /** Auto-reset (a set wakes one waiter and is consumed by it) or manual-reset (stays set until reset). */
  autoReset: boolean;
}

/** Options for {@link Event.init} and {@link Event.spec}. */
export interface EventOptions {
  /** Auto-reset mode (default false: manual-reset). */
  autoReset?: boolean;
  /** Start in the set state (default false). */
  initiallySet?: boolean;
}

const STATE = 0;
const WAITERS = 1;

/** Spin iterations `wait()` tries before sleeping, unless told otherwise. */
export const EVENT_DEFAULT_SPIN = 0;

/**
 * A set/reset flag threads can wait on, in two 32-bit words (state, sleepers).
 *
 * - manual-reset: `set()` wakes every waiter and the event stays set until `reset()`.
 * - auto-reset: `set()` lets exactly one `wait()` through, which clears it again; sets while already set
 *   coalesce into one.
 *
 * `set()` notifies only on the unset→set transition and only if someone announced it sleeps. A manual
 * `set(); reset()` in quick succession may be missed by waiters that had not yet woken (no "pulse").
 * Zeroed memory is an unset event; the mode travels in the handle, so all threads must agree on it.
 * Timeouts: `wait(ms)` / `waitAsync(ms)` return / resolve `false` when the time runs out.
 */
export class Event {
  /** Bytes an event occupies. */
  static readonly byteLength = 8;
  /** Required byte alignment of its offset. */
  static readonly alignment = 4;

  private readonly i32: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #offset: number;
  /** True for auto-reset mode. */
  readonly autoReset: boolean;

  /** Attaches to the event at `offset` (zeroed memory is unset). */
  constructor(buffer: SharedArrayBuffer, offset: number, autoReset = false) {
    assertRegion(buffer, offset, Event.alignment, Event.byteLength, 'Event');
    if (typeof autoReset !== 'boolean') {
      throw syncArgError('Event', `autoReset must be a boolean, got ${typeof autoReset}`);
    }
    this.#buffer = buffer;
    this.#offset = offset;
    this.autoReset = autoReset;
    this.i32 = new Int32Array(buffer, offset, 2);
  }

  /** Writes an event (unset unless `initiallySet`) at `offset` and attaches to it. */
  static init(buffer: SharedArrayBuffer, offset: number, options: EventOptions = {}): Event {
    const e = new Event(buffer, offset, options.autoReset ?? false);
    Atomics.store(e.i32, WAITERS, 0);
    Atomics.store(e.i32, STATE, options.initiallySet ? 1 : 0);
    return e;
  }

  /** Re-attaches from a handle. */
  static from(handle: EventHandle): Event {
    assertHandle(handle, 'Event');
    return new Event(handle.buffer, handle.offset, handle.autoReset);
  }

  /** The spec {@link layout} uses. */
  static spec(options: EventOptions = {}): PrimitiveSpec<Event> {
    const autoReset = options.autoReset ?? false;
    return {
      kind: 'Event',
      byteLength: Event.byteLength,
      alignment: Event.alignment,
      init: (b, o) => Event.init(b, o, options),
      attach: (b, o) => new Event(b, o, autoReset),
    };
  }

  /** A plain, structured-cloneable handle. */
  get handle(): EventHandle {
    return { buffer: this.#buffer, offset: this.#offset, autoReset: this.autoReset };
  }

  /** Sets the event: wakes all waiters (manual-reset) or one (auto-reset). */
  set(): void {
    const i32 = this.i32;
    if (Atomics.exchange(i32, STATE, 1) === 0 && Atomics.load(i32, WAITERS) > 0) {
      Atomics.notify(i32, STATE, this.autoReset ? 1 : Number.POSITIVE_INFINITY);
    }
  }

  /** Clears the event. */
  reset(): void {
    Atomics.store(this.i32, STATE, 0);
  }

  /** True if the event is set right now (a snapshot). */
  isSet(): boolean {
    return Atomics.load(this.i32, STATE) === 1;
  }

  private static readonly taken = (e: Event): boolean => e.take();

  /** Passes the event if set: consumes it in auto-reset mode. */
  private take(): boolean {
    return this.autoReset
      ? Atomics.compareExchange(this.i32, STATE, 1, 0) === 1
      : Atomics.load(this.i32, STATE) === 1;
  }

  /**
   * Waits until the event is set, blocking the thread (`Atomics.wait`) for at most `timeoutMs` (default
   * forever), after spinning up to `spinIterations` (default {@link EVENT_DEFAULT_SPIN}). In auto-reset
   * mode a successful wait consumes the set.
   * @returns true if the event was (and, auto-reset, is now consumed), false if the timeout ran out.
   */
  wait(timeoutMs?: number, spinIterations?: number): boolean {
    const timeout = checkTimeout(timeoutMs, 'Event.wait');
    const spin = checkSpin(spinIterations, EVENT_DEFAULT_SPIN, 'Event.wait');
    if (this.take()) return true;
    const i32 = this.i32;
    for (let i = 0; i < spin; i++) {
      if (Atomics.load(i32, STATE) === 1 && this.take()) return true;
    }
    if (timeout === 0) return false;
    return sleepSync(this.sleep(deadlineOf(timeout)));
  }

  /**
   * Waits until the event is set without blocking the thread (`Atomics.waitAsync`); keeps the process
   * alive while pending.
   * @returns resolves true if the event was set, false if `timeoutMs` ran out.
   */
  async waitAsync(timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs, 'Event.waitAsync');
    if (this.take()) return true;
    if (timeout === 0) return false;
    return sleepAsync(this.sleep(deadlineOf(timeout)));
  }

  /** Sleeps until the event is taken or the deadline passes; set() flips the state before it reads WAITERS. */
  private sleep(deadline: number): SleepLoop<boolean> {
    return countedSleep(this.i32, STATE, WAITERS, 0, Event.taken, this, deadline);
  }
}
