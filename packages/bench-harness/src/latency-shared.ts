/**
 * What the latency phase's threads share: a few Int32 control words, the raise stamp, and the
 * latency buckets (one region: one handler records at a time).
 */
import type { VectorTableHandle } from '@virq/core';

/** Control word indexes. */
export const LC = {
  /** Set by the main thread: every peer leaves its loop. */
  STOP: 0,
  /** Set by the main thread while samples count. */
  MEASURING: 1,
  /** Bumped (and notified) by whoever received a kick: the handler, or the raw waiter. */
  ACK: 2,
  /** The raw baseline's futex word: the notifier bumps and notifies it. */
  BELL: 3,
  /** Kernel tids of the kicking thread and of the receiving one, for pinning. */
  TID_KICKER: 4,
  TID_RECEIVER: 5,
  /** Kicks made (the raiser's count: the accounting must show exactly these raises). */
  KICKS: 6,
} as const;

/** Control words in the buffer. */
export const LC_WORDS = 8;

/** workerData of a latency peer thread, and `data` of the latency handler. */
export interface LatencyData {
  /** 'raiser' raises vector 0 of the table; 'notifier' bumps BELL; 'waiter' is the raw receiver. */
  role: 'raiser' | 'notifier' | 'waiter';
  /** Both sides spin (busy) or both sleep between events (sleeping). */
  regime: 'busy' | 'sleeping';
  /** Sleeping regime: the kicker's pause before each kick, ms, so the receiver is asleep for it. */
  gapMs: number;
  control: SharedArrayBuffer;
  /** Float64 [0]: the kick's time, clock units (0.1 µs since epochMs). */
  stamp: SharedArrayBuffer;
  latency: SharedArrayBuffer;
  epochMs: number;
  table?: VectorTableHandle;
  index?: number;
}
