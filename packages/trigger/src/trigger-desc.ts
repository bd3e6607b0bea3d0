/**
 * What a trigger is, as types only: a DATA_EVENTFD element ({@link EventfdLike}), where a bound
 * trigger lives ({@link TriggerDesc}, recorded in the vector table) and the referenced eventfd the
 * IRQ code signals ({@link EventfdCtx}, the kernel's `struct eventfd_ctx *`). A leaf: every module on
 * the trigger path imports it, it imports none of them.
 */
import type { EventFdPool, WaitQueueFn } from './eventfd-pool.js';
import type { SharedEventFd, SharedEventFdHandle } from './shared-eventfd.js';

/**
 * One element of DATA_EVENTFD data: a kernel fd number (-1 tears the vector down), a SharedEventFd
 * (or its handle), or an object with a numeric `fd` (a native EventFd).
 */
export type EventfdLike = number | SharedEventFd | SharedEventFdHandle | { readonly fd: number };

/** Where a vector's trigger is, as recorded in the vector table. */
export type TriggerDesc =
  | { kind: 'shared'; poolId: number; slot: number; gen: number }
  | { kind: 'kernel'; fd: number };

/** A referenced eventfd (the kernel's `struct eventfd_ctx *`). */
export interface EventfdCtx {
  /** Shared-memory description. */
  readonly desc: TriggerDesc;
  /** eventfd_signal(ctx): +1, saturating, never blocks. */
  signal(): void;
  /** eventfd_ctx_put(ctx). */
  put(): void;
  /** eventfd_ctx_do_read(): consumes the count (1 in semaphore mode); 0n if none. */
  take(): bigint;
  /** True if the count is non-zero (poll's EPOLLIN). */
  readable(): boolean;
  /**
   * True once the file was released (EPOLLHUP): a SharedEventFd closed; a kernel eventfd with no fd
   * left in this process but virq's own (checked lazily, see file-release.ts: not for hot paths).
   */
  hungUp(): boolean;
  /** Same-thread wait-queue callback (runs inside write/signal/close of this thread). */
  listen(fn: WaitQueueFn): () => void;
  /** Shared-memory wait word for cross-thread wakeups: [Int32Array, index], or null (kernel fd). */
  waitWord(): [Int32Array, number] | null;
  /** The pool, for shared triggers (so the vector table can publish it to workers). */
  readonly pool: EventFdPool | null;
}
