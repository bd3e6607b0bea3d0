import {
  batchRange,
  HEAD,
  RING_HEADER_BYTES,
  RING_MAX_CAPACITY,
  RingBase,
  type RingHandle,
  TAIL,
} from './ring-base.js';
import { CACHE_LINE, type PrimitiveSpec, zeroRegion } from './spec.js';
import { assertHandle, assertInt32Array, assertPowerOfTwo, checkSpin, checkTimeout } from './validate.js';

/** Structured-cloneable description of a {@link MpscRing}. */
export type MpscRingHandle = RingHandle;

/**
 * A bounded multi-producer single-consumer queue of int32 in a SharedArrayBuffer (Vyukov's bounded
 * queue with a per-slot sequence number, specialised to one consumer).
 *
 * Any number of threads push concurrently; one thread at a time pops. Items from one producer come out
 * in the order it pushed them; a `pushBatch` is contiguous in the queue. The ring never grows: `push`
 * returns false and `pushBatch` pushes fewer when it is full. Zeroed memory is an empty ring.
 *
 * How a slot changes hands. Each slot holds (seq, value). For position p in slot s = p & mask:
 * - seq == p      the slot is free for the producer that claims position p;
 * - seq == p + 1  the value for position p is published, the consumer may take it;
 * - seq == p + capacity  the consumer took it; free for position p + capacity (next lap).
 * A producer claims p by advancing TAIL with compare-and-swap, writes the value (plain store), then
 * publishes with `Atomics.store(seq)`; the consumer reads seq with `Atomics.load` before the value.
 * Memory stores `seq - s` rather than `seq`, so all-zero memory is the valid initial state (seq == s).
 * Positions and sequences are int32 counters compared by wrapping difference.
 *
 * A producer that claimed a position but has not published it yet holds up the consumer at that slot
 * (later slots wait behind it): the consumer is not lock-free, producers are.
 *
 * Capacity is at least 2: with one slot, "published for position p" (seq p + 1) and "free for
 * position p + 1" (seq p + 1) would be the same state.
 */
export class MpscRing extends RingBase {
  /** Bytes a ring of `capacity` slots occupies: a 128-byte header plus 8 bytes (seq, value) per slot. */
  static byteLength(capacity: number): number {
    assertPowerOfTwo(capacity, 'MpscRing', 2, RING_MAX_CAPACITY);
    return RING_HEADER_BYTES + capacity * 8;
  }

  /** Slot s is (slots[2s] = seq - s, slots[2s + 1] = value). */
  private readonly slots: Int32Array;

  /** Attaches to the ring at `offset` (zeroed memory is an empty ring). */
  constructor(buffer: SharedArrayBuffer, offset: number, capacity: number) {
    super(buffer, offset, capacity, 8, 'MpscRing', 2);
    this.slots = new Int32Array(buffer, offset + RING_HEADER_BYTES, capacity * 2);
  }

  /** Writes an empty ring at `offset` and attaches to it. Do this before sharing the buffer. */
  static init(buffer: SharedArrayBuffer, offset: number, capacity: number): MpscRing {
    const r = new MpscRing(buffer, offset, capacity); // validates before we write anything
    zeroRegion(buffer, offset, MpscRing.byteLength(capacity));
    return r;
  }

  /** Re-attaches from a handle. */
  static from(handle: MpscRingHandle): MpscRing {
    assertHandle(handle, 'MpscRing');
    return new MpscRing(handle.buffer, handle.offset, handle.capacity);
  }

  /** The spec {@link layout} uses; rings are placed on a cache line. */
  static spec(capacity: number): PrimitiveSpec<MpscRing> {
    return {
      kind: 'MpscRing',
      byteLength: MpscRing.byteLength(capacity),
      alignment: CACHE_LINE,
      init: (b, o) => MpscRing.init(b, o, capacity),
      attach: (b, o) => new MpscRing(b, o, capacity),
    };
  }

  /** True if the consumer would get nothing from pop() right now (the head slot is not published). */
  isEmpty(): boolean {
    const head = Atomics.load(this.ctl, HEAD);
    const s = head & this.mask;
    return ((Atomics.load(this.slots, 2 * s) + s - head - 1) | 0) !== 0;
  }

  /**
   * Producer (any thread): appends `value` (as int32).
   * @returns false, and nothing changes, if the ring is full.
   */
  push(value: number): boolean {
    const { ctl, slots, mask } = this;
    let pos = Atomics.load(ctl, TAIL);
    let s: number;
    for (;;) {
      s = pos & mask;
      const dif = (Atomics.load(slots, 2 * s) + s - pos) | 0;
      if (dif === 0) {
        const seen = Atomics.compareExchange(ctl, TAIL, pos, (pos + 1) | 0);
        if (seen === pos) break;
        pos = seen; // another producer claimed it; try the position it left us
      } else if (dif < 0) {
        return false; // the slot still holds last lap's item: full
      } else {
        pos = Atomics.load(ctl, TAIL); // our view of TAIL is stale
      }
    }
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
    const cap = this.capacity;
    let pos: number;
    let n: number;
    for (;;) {
      pos = Atomics.load(ctl, TAIL);
      // Room from HEAD, which the consumer stores only after freeing the slots' seq: positions below
      // HEAD are free for their next lap, so [pos, pos + n) is free if pos + n - HEAD <= capacity.
      const used = (pos - Atomics.load(ctl, HEAD)) | 0;
      if (used < 0) continue; // TAIL moved on and the consumer passed our stale pos: reload
      n = Math.min(want, cap - used);
      if (n <= 0) return 0;
      if (Atomics.compareExchange(ctl, TAIL, pos, (pos + n) | 0) === pos) break;
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
    const head = Atomics.load(ctl, HEAD);
    const s = head & this.mask;
    if (((Atomics.load(slots, 2 * s) + s - head - 1) | 0) !== 0) return undefined; // not published
    const v = slots[2 * s + 1];
    Atomics.store(slots, 2 * s, (head + this.capacity - s) | 0);
    Atomics.store(ctl, HEAD, (head + 1) | 0);
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
    const cap = this.capacity;
    const head = Atomics.load(ctl, HEAD);
    const max = dst.length;
    let n = 0;
    while (n < max) {
      const p = (head + n) | 0;
      const s = p & mask;
      if (((Atomics.load(slots, 2 * s) + s - p - 1) | 0) !== 0) break;
      dst[n] = slots[2 * s + 1];
      Atomics.store(slots, 2 * s, (p + cap - s) | 0);
      n++;
    }
    if (n === 0) return 0;
    Atomics.store(ctl, HEAD, (head + n) | 0);
    this.wakeProducers();
    return n;
  }

  /**
   * Consumer: pops, waiting (sync, with spin) up to `timeoutMs` for an item if none is ready.
   * @returns the item, or undefined if the timeout ran out.
   */
  popWait(timeoutMs?: number, spinIterations?: number): number | undefined {
    checkTimeout(timeoutMs, 'MpscRing', 'popWait');
    checkSpin(spinIterations, 0, 'MpscRing', 'popWait');
    const v = this.pop();
    if (v !== undefined) return v;
    return this.waitReadable(timeoutMs, spinIterations) ? this.pop() : undefined;
  }
}
