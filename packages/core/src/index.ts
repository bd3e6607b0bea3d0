/**
 * @virq/core: Linux vfio-pci interrupt semantics (drivers/vfio/pci/vfio_pci_intrs.c and virqfd) in
 * user space, with per-vector state in a SharedArrayBuffer that worker threads attach to.
 * @packageDocumentation
 */

// The triggers live in @virq/trigger; they are part of this package's API as before.
export * from '@virq/trigger';
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
} from '@virq/trigger/internal';
export type { IrqDevice, IrqInfo, IrqSet } from './device.js';
export {
  KERNEL_DIFFERENCES,
  KERNEL_PROFILES,
  type KernelDifference,
  type KernelDifferenceId,
  type KernelProfile,
  type KernelProfileName,
} from './kernel-profile.js';
export {
  SoftDevice,
  type SoftDeviceOptions,
  type SoftIntxOptions,
  type SoftMsiOptions,
  type SoftMsixOptions,
} from './soft-device.js';
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
  type VectorTableHandle,
  type VectorTableLayout,
} from './vector-layout.js';
export { VectorTable } from './vector-table.js';
