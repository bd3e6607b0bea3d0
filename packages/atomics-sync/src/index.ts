/**
 * atomics-sync: synchronization primitives that live at an offset inside a SharedArrayBuffer and that
 * any thread re-attaches to from a plain, structured-cloneable handle.
 * @packageDocumentation
 */

export {
  AtomicBitset,
  type AtomicBitsetHandle,
  BITSET_MAX_SIZE,
  popcount,
} from './bitset.js';
export { DOORBELL_DEFAULT_SPIN, DOORBELL_MAX_CAPACITY, Doorbell, type DoorbellHandle } from './doorbell.js';
export { isSyncError, type SyncError, type SyncErrorCode } from './errors.js';
export { EVENT_DEFAULT_SPIN, Event, type EventHandle, type EventOptions } from './event.js';
export { type Layout, type LayoutHandles, type LayoutParts, type LayoutSpecs, layout } from './layout.js';
export { MpscRing, type MpscRingHandle } from './mpsc-ring.js';
export { MUTEX_DEFAULT_SPIN, Mutex, type MutexHandle } from './mutex.js';
export { RING_DEFAULT_SPIN, RING_MAX_CAPACITY, RingBase, type RingHandle } from './ring-base.js';
export { SEMAPHORE_DEFAULT_SPIN, Semaphore, type SemaphoreHandle } from './semaphore.js';
export { CACHE_LINE, type PrimitiveSpec } from './spec.js';
export { AdaptiveSpin } from './spin.js';
export { SpscRing, type SpscRingHandle } from './spsc-ring.js';
export {
  assertFits,
  assertInt,
  assertOffset,
  assertPowerOfTwo,
  assertShared,
  checkSpin,
  checkTimeout,
} from './validate.js';
export { pendingAsyncWaits, type WaitResult } from './wait.js';
