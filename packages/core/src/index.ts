/**
 * @virq/core: Linux vfio-pci interrupt semantics (drivers/vfio/pci/vfio_pci_intrs.c and virqfd) in
 * user space, with per-vector state in a SharedArrayBuffer that worker threads attach to.
 * @packageDocumentation
 */

export type { IrqDevice, IrqInfo, IrqSet } from './device.js';
export {
  DmaBuffer,
  type DmaBufferHandle,
  DmaPool,
  type DmaPoolOptions,
  IovaAllocator,
} from './dma.js';
export type { DoorbellHandle, DoorbellLike } from './doorbell.js';
export { ERRNO, type ErrnoCode, errnoName, VfioError, type VfioSyscall } from './errors.js';
export { EventFdPool, type EventFdPoolHandle, type EventFdPoolOptions, MAX_WATCHES } from './eventfd-pool.js';
export { closeKernelProbe } from './kernel-poll.js';
export { MmioRegion, type MmioRegionHandle } from './mmio.js';
export { hasNative, nativeLoadError } from './native.js';
export { VfioPciDevice, type VfioPciHandle, type VfioPciOpenOptions } from './pci-device.js';
export { SET_IRQS_DISPATCH, vfioSetIrqsValidateAndPrepare } from './set-irqs.js';
export {
  SHARED_EVENTFD_MAX,
  SharedEventFd,
  type SharedEventFdHandle,
  type SharedEventFdOptions,
} from './shared-eventfd.js';
export {
  SoftDevice,
  type SoftDeviceOptions,
  type SoftIntxOptions,
  type SoftMsiOptions,
  type SoftMsixOptions,
} from './soft-device.js';
export { type EventfdLike, signalDesc, type TriggerDesc, takeDesc } from './trigger.js';
export * from './uapi.js';
export {
  Counter,
  type RaiseOutcome,
  ST_ENABLED,
  ST_EXTERNAL,
  ST_LEVEL,
  ST_MASKED,
  ST_PENDING,
  ST_TRIGGER,
  type VectorCounters,
  type VectorState,
  VectorTable,
  type VectorTableHandle,
  type VectorTableLayout,
} from './vector-table.js';
export { VfioDevice, type VfioDeviceBackend } from './vfio-device.js';
export {
  Virqfd,
  type VirqfdHandler,
  type VirqfdSlot,
  type VirqfdThread,
  virqfdDisable,
  virqfdEnable,
  virqfdFlushThread,
  virqfdPollHup,
  virqfdSlot,
} from './virqfd.js';
