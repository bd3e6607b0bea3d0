import { AtomicBitset, lowestBits, popcount, writeBits } from './bitset.js';
import { syncError } from './errors.js';
import { type PrimitiveSpec, sizedSpec } from './spec.js';
import { AdaptiveSpin } from './spin.js';
import {
  assertHandle,
  assertInt,
  assertInt32Array,
  assertRegion,
  checkSpin,
  checkTimeout,
} from './validate.js';
import { deadlineOf, remainingUntil, type SleepLoop, sleepAsync, sleepSync } from './wait.js';

/** Structured-cloneable description of a {@link Doorbell}. */
export interface DoorbellHandle {
  buffer: SharedArrayBuffer;
  offset: number;
  /** Number of ids (valid ids are 0 .. capacity-1). */
  capacity: number;
}

/** Largest doorbell capacity accepted. */
export const DOORBELL_MAX_CAPACITY = 2 ** 24;

/**
 * Largest spin budget of `wait()` when no `spinIterations` is given: polls of one atomic load each,
 * ~15 ns in Node 20, so ~30 µs, about one cross-core wake-up. The budget adapts between 64 and this
 * (see AdaptiveSpin): spinning pays only when the producer runs on another core.
 */
export const DOORBELL_DEFAULT_SPIN = 2000;

// Header words (int32 indices from `offset`); the ready bitset follows at offset + 8, then (for more
// than 32 ids) the summary: bit w set while ready word w may hold a bit, so drain() reads the words
// that have something instead of all of them — a drain costs the same at 2048 ids as at 16.
/**
 * The futex word: (number of fresh rings not yet drained) << 1 | SLEEPING. Producers add 2 per id they
 * newly mark ready; drain subtracts 2 per id it takes; the consumer sets bit 0 to announce it sleeps.
 * One word for both is what makes the protocol cheap: the producer's add both publishes "something is
 * ready" and returns whether the consumer was asleep, and the consumer's announcement is a single
 * compare-and-swap that only succeeds if nothing is ready.
 */
const WORD = 0;
/** Set by wake(): makes the current or next wait return even with nothing ready. */
const KICK = 1;
const SLEEPING = 1;
const ONE = 2;
const HEADER_BYTES = 8;

/**
 * Many producers ring, one consumer waits: the wake-up path of an interrupt dispatcher.
 *
 * Memory: a futex word, a kick word, then a ready set with one bit per id. Ringing id `i` sets bit `i`;
 * ringing an id that is already pending coalesces (the consumer sees it once). The consumer waits until
 * something is ready, then `drain()`s every ready id in one pass.
 *
 * A producer pays for `Atomics.notify` only when the consumer is actually asleep: ringing is one atomic
 * OR plus one atomic add while the consumer is busy. `pending()` is one atomic load whatever the
 * capacity, so a spinning consumer polls one word. Zeroed memory is a valid empty doorbell.
 *
 * Roles: any number of threads may `ring()`; exactly one thread at a time may be the consumer (`wait`,
 * `waitAsync`, `drain`). `pending()` and `wake()` are safe from anywhere.
 */
export class Doorbell {
  /** Required byte alignment of its offset. */
  static readonly alignment = 4;

  /**
   * Bytes a doorbell of `capacity` ids occupies: 8 header bytes + one bit per id in 32-bit words,
   * then, above 32 ids, one summary bit per ready word (in 32-bit words).
   */
  static byteLength(capacity: number): number {
    assertInt(capacity, 1, DOORBELL_MAX_CAPACITY, 'Doorbell: capacity');
    const words = Math.ceil(capacity / 32);
    return HEADER_BYTES + words * 4 + summaryWords(words) * 4;
  }

  private readonly ctl: Int32Array;
  private readonly ready: AtomicBitset;
  private readonly words: Int32Array;
  /** One bit per ready word that may be non-zero; null for a single ready word. */
  private readonly summary: Int32Array | null;
  /** The consumer's adaptive spin budget (consumer-local, not shared). */
  private readonly spinner = new AdaptiveSpin(DOORBELL_DEFAULT_SPIN);
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
    const words = Math.ceil(capacity / 32);
    this.words = new Int32Array(buffer, offset + HEADER_BYTES, words);
    const sw = summaryWords(words);
    this.summary = sw > 0 ? new Int32Array(buffer, offset + HEADER_BYTES + words * 4, sw) : null;
  }

  /** Writes an empty doorbell at `offset` and attaches to it. */
  static init(buffer: SharedArrayBuffer, offset: number, capacity: number): Doorbell {
    const d = new Doorbell(buffer, offset, capacity);
    Atomics.store(d.ctl, WORD, 0);
    Atomics.store(d.ctl, KICK, 0);
    d.ready.clearAll();
    if (d.summary) for (let w = 0; w < d.summary.length; w++) Atomics.store(d.summary, w, 0);
    return d;
  }

  /** Re-attaches from a handle. */
  static from(handle: DoorbellHandle): Doorbell {
    assertHandle(handle, 'Doorbell');
    return new Doorbell(handle.buffer, handle.offset, handle.capacity);
  }

  /** The spec {@link layout} uses. */
  static spec(capacity: number): PrimitiveSpec<Doorbell> {
    return sizedSpec('Doorbell', Doorbell, capacity, Doorbell.alignment);
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
    // Already pending: the producer that set this bit (before the drain that will clear it) also does
    // the add below, so the consumer is guaranteed to hear of it without our help.
    const w = id >>> 5;
    const was = Atomics.or(this.words, w, bit);
    if ((was & bit) !== 0) return;
    // The first bit of an empty word lists the word in the summary, before the add below wakes the
    // consumer. A word that already held bits is listed, or is inside a drain that lists it again
    // if anything is left in it after its clear (see drain).
    if (was === 0 && this.summary !== null) Atomics.or(this.summary, w >>> 5, 1 << (w & 31));
    // The lost-wakeup race, and why this order closes it. Atomics operations are sequentially
    // consistent, so all of them fall into one total order.
    //   producer: P1 = OR(bit), then P2 = ADD(WORD, 2), which returns the old word
    //   consumer: reads v; if count(v) <= 0, C1 = CAS(WORD, v, v | SLEEPING), then C2 = wait(WORD, v | 1)
    // - P2 before C1: the consumer either read v after P2 (count >= 1: it does not try to sleep) or
    //   before it (the word has changed, so its CAS fails and it reads again).
    // - C1 before P2: P2's old word has SLEEPING set, so this producer knows the consumer is asleep or
    //   about to be. It clears the flag (only the producer whose AND still sees it set notifies, so a
    //   burst of rings costs one notify) and notifies. If the consumer is not yet inside Atomics.wait,
    //   the word already differs from v | 1 and the wait returns at once ('not-equal'); if it is, the
    //   notify wakes it. Either way it does not sleep on our bit.
    // A producer whose add returns an even word skips Atomics.notify (and its process-wide lock).
    // The count can dip below zero when drain takes a bit whose producer is between P1 and P2; a ring
    // made meanwhile can then wait for that producer's P2 (a few instructions), but is never lost.
    const ctl = this.ctl;
    if (
      (Atomics.add(ctl, WORD, ONE) & SLEEPING) !== 0 &&
      (Atomics.and(ctl, WORD, ~SLEEPING) & SLEEPING) !== 0
    ) {
      Atomics.notify(ctl, WORD, 1);
    }
  }

  /** True if any id is ready right now (one atomic load, whatever the capacity). */
  pending(): boolean {
    return Atomics.load(this.ctl, WORD) >= ONE;
  }

  /**
   * Makes the consumer's current wait return (with false if nothing is ready), or, if it is not
   * waiting, its next one. For shutdown: a consumer blocked with no timeout can always be released.
   */
  wake(): void {
    Atomics.store(this.ctl, KICK, 1);
    // Publish, then check the flag, as ring() does; a consumer that announces after our AND re-reads
    // KICK between its announcement and its sleep (see announce).
    if ((Atomics.and(this.ctl, WORD, ~SLEEPING) & SLEEPING) !== 0) Atomics.notify(this.ctl, WORD, 1);
  }

  private takeKick(): boolean {
    return Atomics.load(this.ctl, KICK) !== 0 && Atomics.exchange(this.ctl, KICK, 0) !== 0;
  }

  /**
   * Announces sleep if nothing is ready: C1 of the protocol in ring(). Returns the word value to sleep
   * on, or 0 if something is ready (or a kick is due) and the caller must not sleep.
   */
  private announce(): number {
    const ctl = this.ctl;
    for (;;) {
      const v = Atomics.load(ctl, WORD);
      if (v >= ONE) return 0;
      // count(v) <= 0: nothing ready. (It is briefly negative when drain took an id whose producer has
      // not done its add yet; that add is on its way and will see our flag.)
      const asleep = v | SLEEPING;
      if (v === asleep || Atomics.compareExchange(ctl, WORD, v, asleep) === v) {
        // Re-read KICK after announcing: wake() stores KICK before it checks the flag.
        if (Atomics.load(ctl, KICK) !== 0) {
          Atomics.and(ctl, WORD, ~SLEEPING);
          return 0;
        }
        return asleep;
      }
    }
  }

  /**
   * Consumer, sync (workers): returns as soon as something is ready. Polls up to `spinIterations`
   * times (one atomic load each) before sleeping in `Atomics.wait`, for at most `timeoutMs` (default
   * forever). Without `spinIterations` the budget adapts, up to {@link DOORBELL_DEFAULT_SPIN}: it
   * shrinks while spins run out (e.g. when the producer shares this CPU) and grows while they pay.
   * @returns true if something is ready; false if the timeout ran out or {@link Doorbell.wake} was
   * called with nothing ready.
   */
  wait(timeoutMs?: number, spinIterations?: number): boolean {
    const timeout = checkTimeout(timeoutMs, 'Doorbell.wait');
    const fixed = checkSpin(spinIterations, -1, 'Doorbell.wait');
    const ctl = this.ctl;
    if (Atomics.load(ctl, WORD) >= ONE) return true;
    const adaptive = fixed < 0 ? this.spinner : undefined;
    const spin = adaptive ? adaptive.next() : fixed;
    for (let i = 0; i < spin; i++) {
      if (Atomics.load(ctl, WORD) >= ONE) {
        adaptive?.caught();
        return true;
      }
    }
    adaptive?.missed();
    if (this.takeKick()) return false;
    if (timeout === 0) return false;
    return sleepSync(this.sleep(deadlineOf(timeout)));
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
    return sleepAsync(this.sleep(deadlineOf(timeout)));
  }

  /** The consumer's sleep, until something is ready, a kick, or the deadline (C1 and C2 in ring()). */
  private *sleep(deadline: number): SleepLoop<boolean> {
    const ctl = this.ctl;
    for (;;) {
      const asleep = this.announce();
      if (asleep !== 0) {
        const left = remainingUntil(deadline);
        try {
          if (left > 0) yield { i32: ctl, index: WORD, value: asleep, ms: left };
        } finally {
          Atomics.and(ctl, WORD, ~SLEEPING); // usually already cleared by the producer that woke us
        }
      }
      if (this.pending()) return true;
      if (this.takeKick() || remainingUntil(deadline) === 0) return false;
      // Woken with nothing ready and no kick: a stale notify from a producer that saw an earlier
      // announcement, or count briefly <= 0 (see announce). Sleep again for the time left.
    }
  }

  /**
   * Consumer: moves ready ids into `out` in ascending order and clears them. If more are ready than
   * `out` holds, the lowest ones are taken and the rest stay ready.
   * @returns the number of ids written to `out`.
   */
  drain(out: Int32Array): number {
    assertInt32Array(out, 'Doorbell.drain');
    const n = this.summary === null ? this.ready.drainInto(out) : this.drainListed(out);
    // After taking the bits: a producer that sets a bit again from here on adds again.
    if (n > 0) Atomics.sub(this.ctl, WORD, n * ONE);
    return n;
  }

  /**
   * drain() through the summary: takes the listed words' bits off the summary, then each word's bits.
   * A word that still has bits after its clear (set meanwhile, or no room in `out`) is listed again,
   * so every ready bit stays reachable: a ring either finds its word empty and lists it itself, or
   * finds it non-empty — listed, or in this drain, whose clear then returns the ring's bit as left.
   */
  private drainListed(out: Int32Array): number {
    const summary = this.summary as Int32Array;
    const words = this.words;
    const room = out.length;
    let n = 0;
    for (let s = 0; s < summary.length && n < room; s++) {
      if (Atomics.load(summary, s) === 0) continue;
      let listed = Atomics.exchange(summary, s, 0);
      while (listed !== 0) {
        const low = listed & -listed;
        listed ^= low;
        if (n >= room) {
          Atomics.or(summary, s, low);
          continue;
        }
        const w = (s << 5) + 31 - Math.clz32(low);
        let x = Atomics.load(words, w);
        if (x === 0) continue; // listed by a ring whose bit an earlier drain already took
        if (popcount(x) > room - n) x = lowestBits(x, room - n);
        if ((Atomics.and(words, w, ~x) & ~x) !== 0) Atomics.or(summary, s, low);
        n = writeBits(x, w << 5, out, n);
      }
    }
    return n;
  }
}

/** Summary words for `words` ready words: none for one (nothing to skip), else one bit per word. */
function summaryWords(words: number): number {
  return words > 1 ? Math.ceil(words / 32) : 0;
}
