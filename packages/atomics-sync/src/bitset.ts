import { syncError } from './errors.js';
import { type PrimitiveSpec, sizedSpec } from './spec.js';
import { assertHandle, assertInt, assertInt32Array, assertRegion, syncArgError } from './validate.js';

/** Structured-cloneable description of an {@link AtomicBitset}. */
export interface AtomicBitsetHandle {
  buffer: SharedArrayBuffer;
  offset: number;
  /** Number of bits (valid indices are 0 .. size-1). */
  size: number;
}

/** Largest bitset size accepted. */
export const BITSET_MAX_SIZE = 2 ** 30;

/**
 * A fixed-size set of small integers, one bit each in 32-bit words, every operation lock-free and safe
 * from any number of threads at once. Zeroed memory is the empty set.
 *
 * `drain` takes the bits it reports out of the set atomically per word, so a bit set concurrently is
 * either reported by this drain or left for the next one, never lost and never reported twice.
 */
export class AtomicBitset {
  /** Required byte alignment of its offset. */
  static readonly alignment = 4;

  /** Bytes a bitset of `size` bits occupies: one 32-bit word per 32 bits, rounded up. */
  static byteLength(size: number): number {
    assertInt(size, 1, BITSET_MAX_SIZE, 'AtomicBitset: size');
    return Math.ceil(size / 32) * 4;
  }

  private readonly words: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #offset: number;
  readonly #size: number;

  /** Attaches to the bitset at `offset` (zeroed memory is empty). */
  constructor(buffer: SharedArrayBuffer, offset: number, size: number) {
    const bytes = AtomicBitset.byteLength(size);
    assertRegion(buffer, offset, AtomicBitset.alignment, bytes, 'AtomicBitset');
    this.#buffer = buffer;
    this.#offset = offset;
    this.#size = size;
    this.words = new Int32Array(buffer, offset, bytes / 4);
  }

  /** Writes an empty bitset at `offset` and attaches to it. */
  static init(buffer: SharedArrayBuffer, offset: number, size: number): AtomicBitset {
    const b = new AtomicBitset(buffer, offset, size);
    for (let w = 0; w < b.words.length; w++) Atomics.store(b.words, w, 0);
    return b;
  }

  /** Re-attaches from a handle. */
  static from(handle: AtomicBitsetHandle): AtomicBitset {
    assertHandle(handle, 'AtomicBitset');
    return new AtomicBitset(handle.buffer, handle.offset, handle.size);
  }

  /** The spec {@link layout} uses. */
  static spec(size: number): PrimitiveSpec<AtomicBitset> {
    return sizedSpec('AtomicBitset', AtomicBitset, size, AtomicBitset.alignment);
  }

  /** A plain, structured-cloneable handle. */
  get handle(): AtomicBitsetHandle {
    return { buffer: this.#buffer, offset: this.#offset, size: this.#size };
  }

  /** Number of bits (valid indices are 0 .. size-1). */
  get size(): number {
    return this.#size;
  }

  private check(i: number, what: string): void {
    // `i >>> 0 === i` accepts exactly the integers in [0, 2^32); the size bound does the rest.
    if (i >>> 0 !== i || i >= this.#size) {
      throw syncError(
        RangeError,
        'ERR_OUT_OF_RANGE',
        `AtomicBitset.${what}: index must be an integer between 0 and ${this.#size - 1}, got ${String(i)}`,
      );
    }
  }

  /** Adds `i`. @returns true if it was already in the set. */
  set(i: number): boolean {
    this.check(i, 'set');
    const bit = 1 << (i & 31);
    return (Atomics.or(this.words, i >>> 5, bit) & bit) !== 0;
  }

  /** Removes `i`. @returns true if it was in the set. */
  clear(i: number): boolean {
    this.check(i, 'clear');
    const bit = 1 << (i & 31);
    return (Atomics.and(this.words, i >>> 5, ~bit) & bit) !== 0;
  }

  /** Removes `i` (same as {@link AtomicBitset.clear}). @returns true if it was in the set. */
  testAndClear(i: number): boolean {
    this.check(i, 'testAndClear');
    const bit = 1 << (i & 31);
    // Skip the read-modify-write (and its cache-line ownership) when the bit is clear.
    if ((Atomics.load(this.words, i >>> 5) & bit) === 0) return false;
    return (Atomics.and(this.words, i >>> 5, ~bit) & bit) !== 0;
  }

  /** True if `i` is in the set (a snapshot). */
  test(i: number): boolean {
    this.check(i, 'test');
    return (Atomics.load(this.words, i >>> 5) & (1 << (i & 31))) !== 0;
  }

  /** True if any bit is set (a snapshot). */
  any(): boolean {
    const words = this.words;
    for (let w = 0; w < words.length; w++) if (Atomics.load(words, w) !== 0) return true;
    return false;
  }

  /** Number of bits set (a snapshot, word by word). */
  count(): number {
    const words = this.words;
    let n = 0;
    for (let w = 0; w < words.length; w++) n += popcount(Atomics.load(words, w));
    return n;
  }

  /** Empties the set. */
  clearAll(): void {
    const words = this.words;
    for (let w = 0; w < words.length; w++) if (Atomics.load(words, w) !== 0) Atomics.store(words, w, 0);
  }

  /**
   * Removes set bits in ascending order and reports them, either into `out` (at most `out.length` of
   * them; the rest stay set) or to a callback (all of them).
   * @returns the number of indices reported.
   */
  drain(out: Int32Array): number;
  drain(cb: (index: number) => void): number;
  drain(target: Int32Array | ((index: number) => void)): number {
    if (typeof target === 'function') return this.drainTo(target);
    assertInt32Array(target, 'AtomicBitset.drain');
    return this.drainInto(target);
  }

  /** {@link AtomicBitset.drain} into an array, without the overload dispatch. */
  drainInto(out: Int32Array): number {
    const words = this.words;
    const room = out.length;
    let n = 0;
    for (let w = 0; w < words.length && n < room; w++) {
      let x = Atomics.load(words, w);
      if (x === 0) continue;
      if (popcount(x) > room - n) x = lowestBits(x, room - n);
      // Clear exactly the bits we report; a bit set between the load and here stays for next time.
      Atomics.and(words, w, ~x);
      n = writeBits(x, w << 5, out, n);
    }
    return n;
  }

  /** {@link AtomicBitset.drain} to a callback. If `cb` throws, the bits not yet reported are put back. */
  drainTo(cb: (index: number) => void): number {
    if (typeof cb !== 'function')
      throw syncArgError('AtomicBitset.drain', 'expected an Int32Array or a function');
    const words = this.words;
    let n = 0;
    for (let w = 0; w < words.length; w++) {
      if (Atomics.load(words, w) === 0) continue;
      let x = Atomics.exchange(words, w, 0);
      const base = w << 5;
      while (x !== 0) {
        const low = x & -x;
        x ^= low;
        try {
          cb(base + 31 - Math.clz32(low));
        } catch (e) {
          if (x !== 0) Atomics.or(words, w, x);
          throw e;
        }
        n++;
      }
    }
    return n;
  }
}

/** Number of set bits in a 32-bit word. */
export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** The lowest `k` set bits of `x` (k < popcount(x)). */
export function lowestBits(x: number, k: number): number {
  let r = 0;
  for (let i = 0; i < k; i++) {
    const low = x & -x;
    r |= low;
    x ^= low;
  }
  return r;
}

/**
 * Writes the indices of the bits of `x` (word bit i is index `base + i`) into `out` from `n` on, in
 * ascending order. @returns the new `n`. The caller ensures the room.
 */
export function writeBits(x: number, base: number, out: Int32Array, n: number): number {
  while (x !== 0) {
    const low = x & -x;
    out[n++] = base + 31 - Math.clz32(low);
    x ^= low;
  }
  return n;
}
