/**
 * virq — Linux VFIO PCI interrupt semantics in user space, serviced by worker threads.
 *
 * The public API in one import: the VFIO IRQ model (@virq/core), a real vfio-pci function's
 * interrupts and memory (@virq/pci), the dispatcher (@virq/dispatch), the synchronization primitives (`atomics`, from atomics-sync) and the native layer (`native`, from
 * @virq/native: importing it never loads the addon; `native.isAvailable()` tells whether it built).
 * The kernel-facing raw handles of @virq/native stay under `native` so that `VfioDevice` here is
 * @virq/pci's IrqDevice over a real device, not the raw ioctl handle.
 */

// Both packages name a per-vector counter type VectorCounters: core's is the vector table's raw
// counters, dispatch's adds the dispatcher's own. The dispatcher's is the one users meet in
// HandlerContext.counters() and stats(), so it keeps the plain name.
export type { VectorCounters as CoreVectorCounters } from '@virq/core';
export * from '@virq/core';
export type { VectorCounters } from '@virq/dispatch';
export * from '@virq/dispatch';
export * as native from '@virq/native';
export * from '@virq/pci';
export * as atomics from 'atomics-sync';
export {
  defaultStatsFile,
  ensureStatsDir,
  findStatsFiles,
  parseSnapshot,
  type ReadOptions,
  readSnapshot,
  StatsFileError,
  type StatsSnapshot,
  statsDir,
} from './stats-source.js';
