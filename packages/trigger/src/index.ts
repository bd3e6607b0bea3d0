/**
 * @virq/trigger: the triggers an interrupt is signalled to. Eventfds in shared memory
 * (`EventFdPool`, `SharedEventFd`: the count, the wait word, a doorbell to ring, usable from any
 * thread), kernel eventfds through @virq/native, and the errors their syscalls fail with. The IRQ
 * model (@virq/core) binds them to vectors; the dispatcher (@virq/dispatch) waits on them.
 * @packageDocumentation
 */

export type { DoorbellHandle, DoorbellLike } from './doorbell.js';
export {
  type ArgErrorCode,
  ERRNO,
  type ErrnoCode,
  errnoName,
  VfioError,
  type VfioSyscall,
  VirqError,
  type VirqErrorCode,
  VirqRangeError,
  VirqTypeError,
} from './errors.js';
export { EventFdPool, type EventFdPoolHandle, type EventFdPoolOptions, MAX_WATCHES } from './eventfd-pool.js';
export { closeKernelProbe } from './kernel-poll.js';
export { hasNative, nativeLoadError } from './native.js';
export {
  SHARED_EVENTFD_MAX,
  SharedEventFd,
  type SharedEventFdHandle,
  type SharedEventFdOptions,
} from './shared-eventfd.js';
export { signalDesc, takeDesc } from './trigger.js';
export type { EventfdLike, TriggerDesc } from './trigger-desc.js';
