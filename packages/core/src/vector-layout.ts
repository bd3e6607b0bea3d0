/**
 * The vector table's memory layout: one SharedArrayBuffer, a 64-byte header then one 128-byte record
 * per vector (state word, trigger descriptor under a seqlock, in-flight signallers, then the u64
 * accounting counters at byte 64). Everything else about the table reads and writes through these
 * offsets; the meaning of the counters is in vector-table.ts.
 */

import type { EventFdPoolHandle } from '@virq/trigger/internal';
import { outOfRange } from '@virq/trigger/internal';
import { VFIO_PCI_NUM_IRQS } from './uapi.js';

const MAGIC = 0x76697174; // 'virqt'
const VERSION = 1;
/** Bytes before the first record. */
export const HEADER_BYTES = 64;
const H_MAGIC = 0;
const H_VERSION = 1;
/** Header word: vector count of index 0 (5 words, one per index). */
export const H_COUNT = 2;
/** Header word: first record of index 0 (5 words). */
export const H_BASE = 7;
/** Header word: total records. */
export const H_TOTAL = 12;
/** Header word: the enabled IRQ type (VFIO_PCI_NUM_IRQS = none). */
export const H_IRQ_TYPE = 13;
/** Header word: bumped on every configuration change. */
export const H_GENERATION = 14;
/** Header word: batches of raises (VectorTable.raiseMany) in flight, for the owner's synchronize. */
export const H_BATCH_INFLIGHT = 15;

/** Bytes per vector record. */
export const RECORD_BYTES = 128;
/** Record word: the ST_* state bits. */
export const R_STATE = 0;
/** Record word: the trigger descriptor's seqlock (odd while the owner rewrites it). */
export const R_TSEQ = 1;
/** Record words: the trigger descriptor (TK_* kind, then three words). */
export const R_TKIND = 2;
export const R_TA = 3;
export const R_TB = 4;
export const R_TC = 5;
/** Record word: threads inside a signal of this record right now. */
export const R_INFLIGHT = 6;
/** Record word: owners waiting in synchronize() for R_INFLIGHT to drain. */
export const R_SYNC_WAITERS = 7;
const COUNTERS_OFFSET = 64; // bytes into the record

/** Trigger descriptor kinds (R_TKIND). */
export const TK_NONE = 0;
export const TK_SHARED = 1;
export const TK_KERNEL = 2;

/** State bit: the vector exists and its index is enabled. */
export const ST_ENABLED = 1;
/** State bit: a trigger is bound. */
export const ST_TRIGGER = 2;
/** State bit: masked (INTx: ctx->masked; MSI/MSI-X: per-vector mask, an extension). */
export const ST_MASKED = 4;
/** State bit: an interrupt is held by the mask (the PBA bit), counted in pending, not yet signalled. */
export const ST_PENDING = 8;
/** State bit: (INTx) the device is asserting the line. */
export const ST_LEVEL = 16;
/** State bit: the kernel signals this vector's trigger itself (VfioDevice): raises are seen at consumption. */
export const ST_EXTERNAL = 32;

/** Counter positions in a vector record (for {@link VectorTable.counter}). */
export const Counter = {
  Raised: 0,
  Delivered: 1,
  Coalesced: 2,
  Pending: 3,
  Dropped: 4,
  Unrouted: 5,
  External: 6,
} as const;
/** One of the {@link Counter} positions. */
export type Counter = (typeof Counter)[keyof typeof Counter];

/**
 * The record's eighth counter, not a {@link Counter} of its own: raises that found their vector
 * masked with its PBA bit already set ("folded" into the held interrupt). Each is one raise and one
 * coalesce, so the table reads it into both `raised` and `coalesced`; stored apart, such a raise is
 * one atomic add instead of four (raised, pending, then pending back and coalesced), which is most
 * raises of an open-loop storm on vectors NAPI keeps masked.
 */
export const C_FOLDED = 7;

/** A vector's counters, as numbers. */
export interface VectorCounters {
  raised: number;
  delivered: number;
  coalesced: number;
  pending: number;
  dropped: number;
  unrouted: number;
  external: number;
}

/** A vector's state, decoded. */
export interface VectorState {
  enabled: boolean;
  triggered: boolean;
  masked: boolean;
  pendingBit: boolean;
  level: boolean;
  external: boolean;
}

/** What one raise did. */
export type RaiseOutcome = 'signalled' | 'held' | 'coalesced' | 'unrouted';

/** Structured-cloneable handle: the table buffer and the eventfd pools its triggers live in. */
export interface VectorTableHandle {
  buffer: SharedArrayBuffer;
  pools: EventFdPoolHandle[];
}

/** Vector counts per index, for {@link VectorTable.create}. */
export interface VectorTableLayout {
  intx: number;
  msi: number;
  msix: number;
  err: number;
  req: number;
}

/** int32 index of `word` in record `rec`. */
export function wordOf(rec: number, word: number): number {
  return ((HEADER_BYTES + rec * RECORD_BYTES) >> 2) + word;
}

/** BigUint64 index of `counter` in record `rec`. */
export function counterOf(rec: number, counter: Counter | typeof C_FOLDED): number {
  return ((HEADER_BYTES + rec * RECORD_BYTES + COUNTERS_OFFSET) >> 3) + counter;
}

/** A zeroed table buffer with its header written (magic last: an attacher never sees half a header). */
export function createTableBuffer(layout: VectorTableLayout): SharedArrayBuffer {
  const counts = [layout.intx, layout.msi, layout.msix, layout.err, layout.req];
  let total = 0;
  const bases: number[] = [];
  for (const c of counts) {
    if (!Number.isInteger(c) || c < 0 || c > 2048) throw outOfRange(`VectorTable: bad vector count ${c}`);
    bases.push(total);
    total += c;
  }
  const buffer = new SharedArrayBuffer(HEADER_BYTES + total * RECORD_BYTES);
  const i32 = new Int32Array(buffer);
  i32[H_VERSION] = VERSION;
  for (let i = 0; i < VFIO_PCI_NUM_IRQS; i++) {
    i32[H_COUNT + i] = counts[i];
    i32[H_BASE + i] = bases[i];
  }
  i32[H_TOTAL] = total;
  i32[H_IRQ_TYPE] = VFIO_PCI_NUM_IRQS;
  Atomics.store(i32, H_MAGIC, MAGIC);
  return buffer;
}

/** True if `i32` views a buffer made by {@link createTableBuffer}. */
export function isTableBuffer(i32: Int32Array): boolean {
  return Atomics.load(i32, H_MAGIC) === MAGIC && i32[H_VERSION] === VERSION;
}
