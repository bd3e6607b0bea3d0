import {
  batchRange,
  HEAD,
  initRing,
  RING_HEADER_BYTES,
  RING_MAX_CAPACITY,
  RingBase,
  type RingHandle,
  TAIL,
} from './ring-base.js';
import { CACHE_LINE, type PrimitiveSpec, sizedSpec } from './spec.js';
import { assertHandle, assertInt32Array, assertPowerOfTwo } from './validate.js';

/** Structured-cloneable description of a {@link MpscRing}. */
export type MpscRingHandle = RingHandle;

/**
 * A bounded multi-producer single-consumer queue of int32 in a SharedArrayBuffer, with a per-slot
 * sequence number that publishes each slot (after Vyukov's bounded queue, specialised to one consumer).
 *
 * Any number of threads push concurrently; one thread at a time pops. Items from one producer come out
 * in the order it pushed them; a `pushBatch` is contiguous in the queue. The ring never grows: `push`
 * returns false and `pushBatch` pushes fewer when it is full. Zeroed memory is an empty ring.
 *
 * How a slot changes hands. A producer claims position p by advancing TAIL with compare-and-swap, but
 * only if p - HEAD < capacity, i.e. the consumer has finished with the slot's previous lap (the consumer
 * stores HEAD only after reading the slots below it). It writes the value with a plain store, then
 * publishes with `Atomics.store(seq[s], p + 1)`. The consumer at position h takes slot s = h & mask
 * only once `Atomics.load(seq[s]) == h + 1`; that atomic pair orders the value's plain store before
 * its read. Unlike Vyukov's original the consumer never writes seq (room comes from HEAD instead), so
 * a batch costs one atomic per item on each side, and producers read HEAD only when their cached copy
 * says the ring is full.
 *
 * Memory holds `seq - s` rather than `seq`, so all-zero memory means "nothing published" for every
 * position that maps to the slot (0 would stand for position s - 1, which never maps to s when
 * capacity >= 2). Positions are int32 counters compared by wrapping difference.
 *
 * A producer that claimed a position but has not published it yet holds up the consumer at that slot
 * (later slots wait behind it): producers are lock-free, the consumer is not.
 *
 * Capacity is at least 2 (with one slot, a stale "published" mark would look like the next one).
 */
export class MpscRing extends RingBase {
  /** Bytes a ring of `capacity` slots occupies: a 128-byte header plus 8 bytes (seq, value) per slot. */
  static byteLength(capacity: number): number {
    assertPowerOfTwo(capacity, 'MpscRing', 2, RING_MAX_CAPACITY);
    return RING_HEADER_BYTES + capacity * 8;
  }

  /** Slot s is (slots[2s] = last published position + 1 - s, slots[2s + 1] = value). */
  private readonly slots: Int32Array;

  /** Attaches to the ring at `offset` (zeroed memory is an empty ring). */
  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number) {
    super(buffer, offset, capacity, 8, 'MpscRing', 2);
    this.slots = new Int32Array(buffer, offset + RING_HEADER_BYTES, capacity * 2);
  }

  /** Writes an empty ring at `offset` and attaches to it. Do this before sharing the buffer. */
  static init(buffer: SharedArrayBuffer, offset: number, capacity: number): MpscRing {
    return initRing(MpscRing, buffer, offset, capacity);
  }

  /** Re-attaches from a handle. */
  static from(handle: MpscRingHandle): MpscRing {
    assertHandle(handle, 'MpscRing');
    return new MpscRing(handle.buffer, handle.offset, handle.capacity);
  }

  /** The spec {@link layout} uses; rings are placed on a cache line. */
  static spec(capacity: number): PrimitiveSpec<MpscRing> {
    return sizedSpec('MpscRing', MpscRing, capacity, CACHE_LINE);
  }

  /** True if the consumer would get nothing from pop() right now (the head slot is not published). */
  isEmpty(): boolean {
    const head = Atomics.load(this.ctl, HEAD);
    const s = head & this.mask;
    return Atomics.load(this.slots, 2 * s) !== ((head + 1 - s) | 0);
  }

  /**
   * Producer (any thread): appends `value` (as int32).
   * @returns false, and nothing changes, if the ring is full.
   */
  push(value: number): boolean {
    const { ctl, slots } = this;
    let pos = Atomics.load(ctl, TAIL);
    for (;;) {
      const room = this.room(pos, 1);
      if (room > this.capacity) {
        pos = Atomics.load(ctl, TAIL); // HEAD passed our stale pos: TAIL has moved on
        continue;
      }
      if (room <= 0) return false;
      const seen = Atomics.compareExchange(ctl, TAIL, pos, (pos + 1) | 0);
      if (seen === pos) break;
      pos = seen; // another producer claimed it; try the position it left us
    }
    const s = pos & this.mask;
    slots[2 * s + 1] = value;
    Atomics.store(slots, 2 * s, (pos + 1 - s) | 0);
    this.wakeConsumer();
    return true;
  }

  /**
   * Producer (any thread): appends `src[start..end)` (default all of `src`), as much as fits, as one
   * contiguous run: the positions are claimed with a single compare-and-swap.
   * @returns the number of items pushed (0 if full).
   */
  pushBatch(src: Int32Array, start?: number, end?: number): number {
    const [b, e] = batchRange(src, start, end, 'MpscRing.pushBatch');
    const want = e - b;
    if (want === 0) return 0;
    const { ctl, slots, mask } = this;
    let pos = Atomics.load(ctl, TAIL);
    let n: number;
    for (;;) {
      const room = this.room(pos, want);
      if (room > this.capacity) {
        pos = Atomics.load(ctl, TAIL);
        continue;
      }
      n = Math.min(want, room);
      if (n <= 0) return 0;
      const seen = Atomics.compareExchange(ctl, TAIL, pos, (pos + n) | 0);
      if (seen === pos) break;
      pos = seen;
    }
    for (let i = 0; i < n; i++) {
      const p = (pos + i) | 0;
      const s = p & mask;
      slots[2 * s + 1] = src[b + i];
      Atomics.store(slots, 2 * s, (p + 1 - s) | 0);
    }
    this.wakeConsumer();
    return n;
  }

  /**
   * Consumer: removes and returns the oldest published item.
   * @returns the item, or undefined if none is published at the head yet.
   */
  pop(): number | undefined {
    const { ctl, slots } = this;
    const head = ctl[HEAD]; // the consumer's own position: plain read (it is the only writer)
    const s = head & this.mask;
    if (Atomics.load(slots, 2 * s) !== ((head + 1 - s) | 0)) return undefined; // not published yet
    const v = slots[2 * s + 1];
    this.storeHead(head, (head + 1) | 0);
    this.wakeProducers();
    return v;
  }

  /**
   * Consumer: moves up to `dst.length` of the oldest published items into `dst`, in order.
   * @returns the number of items popped.
   */
  popBatch(dst: Int32Array): number {
    assertInt32Array(dst, 'MpscRing.popBatch');
    const { ctl, slots, mask } = this;
    const head = ctl[HEAD];
    const max = dst.length;
    let n = 0;
    while (n < max) {
      const p = (head + n) | 0;
      const s = p & mask;
      if (Atomics.load(slots, 2 * s) !== ((p + 1 - s) | 0)) break;
      dst[n] = slots[2 * s + 1];
      n++;
    }
    if (n === 0) return 0;
    this.storeHead(head, (head + n) | 0);
    this.wakeProducers();
    return n;
  }
}
