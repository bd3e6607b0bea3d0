/**
 * The IrqDevice interface: VFIO_DEVICE_GET_IRQ_INFO and VFIO_DEVICE_SET_IRQS, argument for argument.
 * SoftDevice implements it in software; VfioDevice passes it to a real vfio-pci device. They share the
 * interface and the argument checks on the JS side, not the IRQ logic.
 */
import type { EventfdLike } from '@virq/trigger/internal';
import type { VectorTable } from './vector-table.js';

/** `struct vfio_irq_info` as returned (argsz omitted). */
export interface IrqInfo {
  index: number;
  count: number;
  flags: number;
}

/**
 * `struct vfio_irq_set`. `data`: absent for DATA_NONE; for DATA_BOOL a Uint8Array (or array of
 * numbers/booleans), one per vector; for DATA_EVENTFD an array (or Int32Array) with one element per
 * vector: a kernel fd number (-1 tears the vector down), a SharedEventFd (or its handle) or a native
 * EventFd. `argsz` is implied by the data length (a shorter array is the kernel's truncated-argsz
 * -EINVAL); pass it only to reproduce the kernel's argsz checks.
 */
export interface IrqSet {
  flags: number;
  index: number;
  start: number;
  count: number;
  data?: Uint8Array | Int32Array | ReadonlyArray<EventfdLike | boolean>;
  argsz?: number;
}

/** What every IRQ-capable device offers. */
export interface IrqDevice {
  /** VFIO_DEVICE_GET_IRQ_INFO. Throws VfioError (-EINVAL) like the kernel. */
  getIrqInfo(index: number, argsz?: number): IrqInfo;
  /**
   * VFIO_DEVICE_SET_IRQS. Returns 0, or the kernel's positive "vectors available" when MSI/MSI-X
   * enable is short; throws VfioError with the kernel's errno.
   */
  setIrqs(set: IrqSet): number;
  /** The shared per-vector state and counters. */
  readonly vectorTable: VectorTable;
  /**
   * True if the device raises its interrupts from this process (SoftDevice), so a SharedEventFd can
   * be its trigger; false or absent if the kernel signals them (VfioDevice): kernel eventfds only.
   */
  readonly sharedTriggers?: boolean;
}
