import { syncError } from './errors.js';
import { CACHE_LINE, type SizedClass, zeroRegion } from './spec.js';
import { AdaptiveSpin, spinUntil } from './spin.js';
import { assertInt32Array, assertPowerOfTwo, assertRegion, checkSpin, checkTimeout } from './validate.js';
import { countedSleep, deadlineOf, remainingUntil, type SleepLoop, sleepAsync, sleepSync } from './wait.js';

/** Structured-cloneable description of a ring ({@link SpscRing} or {@link MpscRing}). */
export interface RingHandle {
  buffer: SharedArrayBuffer;
  offset: number;
  /** Number of slots, a power of two. */
  capacity: number;
}

/** Largest ring capacity accepted. */
export const RING_MAX_CAPACITY = 2 ** 28;

/**
 * Largest spin budget of a ring's blocking waits when no `spinIterations` is given: polls of two atomic
 * loads each (~30 ns in Node 20), so ~30 µs, about one cross-core wake-up. The budget adapts between
 * 64 and this, per side (see AdaptiveSpin).
 */
export const RING_DEFAULT_SPIN = 1000;

// Header: two cache lines, so the producers' word and the consumer's word never share one.
//   line 0: TAIL (producers advance it), CONS_SLEEP (consumer announces sleep; producers read it
//           after every publish, which is cheap because the line is theirs) and HEAD_EPOCH
//           (the consumer bumps it once per 2^30 positions of HEAD; producers read it per push).
//   line 1: HEAD (consumer advances it; waiting producers sleep on it), PROD_WAITERS (producers
//           announce sleep; the consumer reads it after every pop, cheap for the same reason) and
//           TAIL_EPOCH (an SpscRing producer bumps it once per 2^30 positions of TAIL).
/** Byte size of the ring header; slots start right after it. */
export const RING_HEADER_BYTES = 2 * CACHE_LINE;
/** Int32 index of the producer position (positions are int32 counters that wrap). */
export const TAIL = 0;
/** Int32 index of the consumer's "asleep or about to sleep" flag (the futex word for readers). */
export const CONS_SLEEP = 1;
/** Int32 index of the consumer position; also the futex word writers sleep on. */
export const HEAD = CACHE_LINE / 4;
/** Int32 index of the count of producers asleep or about to sleep waiting for space. */
export const PROD_WAITERS = HEAD + 1;
/**
 * Int32 index of HEAD's epoch: how many times HEAD has crossed a multiple of {@link EPOCH_POSITIONS}
 * (mod 2^32). A producer's HEAD cache is trusted only while this still reads what it read when it took
 * the cache (see {@link RingBase.room}).
 */
export const HEAD_EPOCH = 2;
/** Int32 index of TAIL's epoch, the same for an SpscRing consumer's TAIL cache. */
export const TAIL_EPOCH = HEAD + 2;
/**
 * Positions per epoch: 2^30. Above RING_MAX_CAPACITY, so one store of a position (which moves it by at
 * most the capacity) crosses at most one multiple; and two epochs are 2^31, the most an int32
 * difference of positions can tell apart.
 */
export const EPOCH_POSITIONS = 2 ** 30;

/** True if a position stored as `to` after `from` crossed a multiple of EPOCH_POSITIONS (bits 30–31 changed). */
export function crossesEpoch(from: number, to: number): boolean {
  return (from ^ to) >>> 30 !== 0;
}

/**
 * What SPSC and MPSC rings share: the header, size accounting over wrapping int32 positions, and the
 * sleep/wake protocol of both sides. Subclasses define the slots and how push/pop publish them.
 */
export abstract class RingBase {
  /** Required byte alignment of a ring's offset ({@link layout} places rings on a 64-byte line). */
  static readonly alignment = 4;

  /** The two header lines as int32 words. */
  protected readonly ctl: Int32Array;
  /** Slots - 1, for `position & mask`. */
  protected readonly mask: number;
  readonly #buffer: SharedArrayBuffer;
  readonly #offset: number;
  readonly #capacity: number;
  /** Class name, for messages. */
  protected readonly kind: string;
  /**
   * The producer's last look at HEAD (see {@link RingBase.room}): never ahead of the real one, so it
   * can only under-estimate room. Thread-local, like the producer role it serves.
   */
  protected headCache: number;
  /** HEAD_EPOCH as loaded just before {@link headCache} was (see {@link RingBase.room}). */
  protected headEpoch: number;
  /** Adaptive spin budgets of this instance's consumer and producer roles (thread-local state). */
  private readonly readSpin = new AdaptiveSpin(RING_DEFAULT_SPIN);
  private readonly writeSpin = new AdaptiveSpin(RING_DEFAULT_SPIN);

  protected constructor(
    buffer: SharedArrayBuffer,
    offset: number,
    capacity: number,
    bytesPerSlot: number,
    what: string,
    minCapacity: number,
  ) {
    assertPowerOfTwo(capacity, what, minCapacity, RING_MAX_CAPACITY);
    assertRegion(buffer, offset, RingBase.alignment, RING_HEADER_BYTES + capacity * bytesPerSlot, what);
    this.#buffer = buffer;
    this.#offset = offset;
    this.#capacity = capacity;
    this.kind = what;
    this.mask = capacity - 1;
    this.ctl = new Int32Array(buffer, offset, RING_HEADER_BYTES / 4);
    this.headEpoch = Atomics.load(this.ctl, HEAD_EPOCH);
    this.headCache = Atomics.load(this.ctl, HEAD);
  }

  /**
   * Room the producer has at position `pos`: from the HEAD cache if that already shows `want` slots,
   * else from a fresh load of HEAD (the cache saves a read of the consumer's cache line per push).
   *
   * Why the epoch. Positions are int32 counters that wrap, so `pos - cache` is known only mod 2^32: a
   * cache 2^32 - k positions old reads as k slots used, room on a full ring. Caches get that old: an
   * MPSC producer that pushes rarely while the others move 2^32 items (7 minutes at 10M/s), or a role
   * handed to another instance and back; the push then overwrote an unread slot. The consumer bumps
   * HEAD_EPOCH after each store of HEAD that crosses a multiple of 2^30, and the cache is trusted only
   * while HEAD_EPOCH reads what it read just before the cache was loaded. Proof it is then < 2^31 old
   * (Atomics are sequentially consistent): the cache was loaded after the epoch load that saw bump j,
   * so it is at or past the store that crossed into region m (the one bump j follows). Bump j+1 is not
   * yet visible, so the store crossing into region m+2, which follows it, has not happened either:
   * HEAD is still below (m+2)·2^30. An age under 2^31 only over-states `used` (a refresh follows, or
   * the int32 goes negative and fails `used >= 0`), never under-states it. HEAD_EPOCH is on the
   * producers' line and written once per 2^30 pops: the check is a load that hits their cache.
   */
  protected room(pos: number, want: number): number {
    const cap = this.#capacity;
    const used = (pos - this.headCache) | 0;
    if (used >= 0 && cap - used >= want && Atomics.load(this.ctl, HEAD_EPOCH) === this.headEpoch)
      return cap - used;
    this.headEpoch = Atomics.load(this.ctl, HEAD_EPOCH); // before HEAD: see the proof above
    this.headCache = Atomics.load(this.ctl, HEAD);
    return cap - ((pos - this.headCache) | 0);
  }

  /** Consumer: publishes HEAD = `next` (after `head`), then bumps HEAD_EPOCH if it crossed one (see room). */
  protected storeHead(head: number, next: number): void {
    Atomics.store(this.ctl, HEAD, next);
    if (crossesEpoch(head, next)) Atomics.add(this.ctl, HEAD_EPOCH, 1);
  }

  /** Consumer: removes and returns the oldest item, or undefined if none is ready. */
  abstract pop(): number | undefined;

  /**
   * Consumer: pops, waiting (sync, with spin) up to `timeoutMs` for an item if none is ready.
   * @returns the item, or undefined if the timeout ran out.
   */
  popWait(timeoutMs?: number, spinIterations?: number): number | undefined {
    checkTimeout(timeoutMs, this.kind, 'popWait');
    checkSpin(spinIterations, 0, this.kind, 'popWait');
    const v = this.pop();
    if (v !== undefined) return v;
    return this.waitReadable(timeoutMs, spinIterations) ? this.pop() : undefined;
  }

  /** A plain, structured-cloneable handle. */
  get handle(): RingHandle {
    return { buffer: this.#buffer, offset: this.#offset, capacity: this.#capacity };
  }

  /** Number of slots. */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Items in the ring right now (a snapshot; for MPSC it counts slots already claimed by producers
   * that are still writing them).
   */
  size(): number {
    return (Atomics.load(this.ctl, TAIL) - Atomics.load(this.ctl, HEAD)) | 0;
  }

  /** True if the consumer would get nothing from pop() right now. */
  abstract isEmpty(): boolean;

  /** True if a producer could push at least one item right now (a snapshot). */
  hasSpace(): boolean {
    return this.size() < this.#capacity;
  }

  /** Producer side, after publishing: wake the consumer if (and only if) it announced sleep. */
  protected wakeConsumer(): void {
    // The lost-wakeup race. All Atomics operations are sequentially consistent (one total order):
    //   producer: P1 = publish (store TAIL, or the slot's seq)   P2 = load(CONS_SLEEP)
    //   consumer: C1 = store(CONS_SLEEP, 1)   C2 = re-check isEmpty()   C3 = Atomics.wait(CONS_SLEEP, 1)
    // If P2 precedes C1, then P1 < P2 < C1 < C2 and the re-check sees the item: no sleep. Otherwise P2
    // reads 1, and the producer that wins the 1 -> 0 CAS notifies; a consumer not yet in C3 finds the
    // word already 0 and Atomics.wait returns at once. Producers reading 0 skip Atomics.notify.
    const ctl = this.ctl;
    if (Atomics.load(ctl, CONS_SLEEP) === 1 && Atomics.compareExchange(ctl, CONS_SLEEP, 1, 0) === 1) {
      Atomics.notify(ctl, CONS_SLEEP, 1);
    }
  }

  /** Consumer side, after storing HEAD: wake producers waiting for space, if any announced it. */
  protected wakeProducers(): void {
    // Producers add to PROD_WAITERS before re-reading HEAD and sleep only if HEAD still holds what they
    // read; we store HEAD before reading PROD_WAITERS. So either we see them and notify, or they see
    // the new HEAD. Wake all: a batch push may need more space than one pop freed for another.
    if (Atomics.load(this.ctl, PROD_WAITERS) > 0) Atomics.notify(this.ctl, HEAD, Number.POSITIVE_INFINITY);
  }

  /**
   * Consumer: waits until the ring is not empty, polling up to `spinIterations` times, then sleeping
   * in `Atomics.wait` for at most `timeoutMs` (default forever). Without `spinIterations` the budget
   * adapts, up to {@link RING_DEFAULT_SPIN} (see DOORBELL_DEFAULT_SPIN for why).
   * @returns true if an item is ready, false if the timeout ran out.
   */
  waitReadable(timeoutMs?: number, spinIterations?: number): boolean {
    const timeout = checkTimeout(timeoutMs, this.kind, 'waitReadable');
    const fixed = checkSpin(spinIterations, -1, this.kind, 'waitReadable');
    if (!this.isEmpty()) return true;
    if (spinUntil(fixed, this.readSpin, readable, this)) return true;
    if (timeout === 0) return false;
    return sleepSync(this.sleepReadable(deadlineOf(timeout)));
  }

  /**
   * Consumer on the main thread: like {@link RingBase.waitReadable} without blocking the thread
   * (`Atomics.waitAsync`) and without spinning. Keeps the process alive while pending.
   */
  async waitReadableAsync(timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs, this.kind, 'waitReadableAsync');
    if (!this.isEmpty()) return true;
    if (timeout === 0) return false;
    return sleepAsync(this.sleepReadable(deadlineOf(timeout)));
  }

  /** The consumer's sleep: announced in CONS_SLEEP, then re-checked (see wakeConsumer). */
  private *sleepReadable(deadline: number): SleepLoop<boolean> {
    const ctl = this.ctl;
    for (;;) {
      Atomics.store(ctl, CONS_SLEEP, 1);
      if (!this.isEmpty()) {
        Atomics.store(ctl, CONS_SLEEP, 0);
        return true;
      }
      const left = remainingUntil(deadline);
      try {
        if (left > 0) yield { i32: ctl, index: CONS_SLEEP, value: 1, ms: left };
      } finally {
        Atomics.store(ctl, CONS_SLEEP, 0);
      }
      if (!this.isEmpty()) return true;
      // Nothing yet: a stale notify, or (MPSC) a later slot was published before the head one.
      if (left === 0 || remainingUntil(deadline) === 0) return false;
    }
  }

  /**
   * Producer: waits until there is room for at least one item, polling up to `spinIterations` times
   * (default: adaptive, up to {@link RING_DEFAULT_SPIN}), then sleeping for at most `timeoutMs`. With
   * several producers, another may take the room first: retry the push.
   * @returns true if there was room, false if the timeout ran out.
   */
  waitWritable(timeoutMs?: number, spinIterations?: number): boolean {
    const timeout = checkTimeout(timeoutMs, this.kind, 'waitWritable');
    const fixed = checkSpin(spinIterations, -1, this.kind, 'waitWritable');
    if (this.hasSpace()) return true;
    if (spinUntil(fixed, this.writeSpin, writable, this)) return true;
    if (timeout === 0) return false;
    return sleepSync(this.sleepWritable(deadlineOf(timeout)));
  }

  /** Producer on the main thread: {@link RingBase.waitWritable} with `Atomics.waitAsync`, no spin. */
  async waitWritableAsync(timeoutMs?: number): Promise<boolean> {
    const timeout = checkTimeout(timeoutMs, this.kind, 'waitWritableAsync');
    if (this.hasSpace()) return true;
    if (timeout === 0) return false;
    return sleepAsync(this.sleepWritable(deadlineOf(timeout)));
  }

  /**
   * A producer's sleep: counted in PROD_WAITERS, then HEAD re-read and slept on while it holds what
   * was read (see wakeProducers).
   */
  private sleepWritable(deadline: number): SleepLoop<boolean> {
    return countedSleep(this.ctl, HEAD, PROD_WAITERS, null, writable, this, deadline);
  }
}

const readable = (r: RingBase): boolean => !r.isEmpty();
const writable = (r: RingBase): boolean => r.hasSpace();

/** Validates `(src, start, end)` of a pushBatch and returns `[start, end]` with defaults applied. */
export function batchRange(src: Int32Array, start: unknown, end: unknown, what: string): [number, number] {
  assertInt32Array(src, what);
  const s = start === undefined ? 0 : start;
  const e = end === undefined ? src.length : end;
  if (typeof s !== 'number' || !Number.isInteger(s) || typeof e !== 'number' || !Number.isInteger(e)) {
    throw syncError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `${what}: start and end must be integers, got ${String(start)} and ${String(end)}`,
    );
  }
  if (s < 0 || s > e || e > src.length) {
    throw syncError(
      RangeError,
      'ERR_OUT_OF_RANGE',
      `${what}: expected 0 <= start <= end <= ${src.length}, got start ${s}, end ${e}`,
    );
  }
  return [s, e];
}

/** A ring's `init`: validates by attaching, zeroes its bytes (the empty ring), attaches again. */
export function initRing<T>(
  cls: SizedClass<T>,
  buffer: SharedArrayBuffer,
  offset: number,
  capacity: number,
): T {
  new cls(buffer, offset, capacity); // validates before we write anything
  zeroRegion(buffer, offset, cls.byteLength(capacity));
  return new cls(buffer, offset, capacity);
}
