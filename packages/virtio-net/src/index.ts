/**
 * @virq/virtio-net — a user-space virtio-net (virtio 1.x, split ring) driver over VFIO, serviced by
 * virq's Dispatcher: one MSI-X vector per RX queue, NAPI on the device's own interrupt suppression.
 */
export { CommonCfg, type QueueSetup } from './common-cfg.js';
export { CtrlQueue } from './ctrl.js';
export { negotiate, type PciConfig, REQUIRED_FEATURES, VirtioNet, type VirtioNetOptions } from './device.js';
export { VirtioNetError, type VirtioNetErrorCode } from './errors.js';
export { type NicLayout, PAIR_STAT_WORDS, PAIR_STATS, type PairLayout, planLayout } from './layout.js';
export {
  type DeviceMemory,
  type DmaHandle,
  type DmaRegion,
  type Mmio,
  type MmioHandle,
  ViewMmio,
  type WorkerMemory,
} from './memory.js';
export { type NicApp, type NicAttach, virtioNetHandlers } from './napi.js';
export { type ConfigReader, readVirtioCaps, type VirtioPciCaps, type VirtioStructure } from './pci-caps.js';
export { BUFFER_SIZE, BufferPool } from './pool.js';
export { MIN_FRAME, RxQueue } from './rx.js';
export * from './spec.js';
export { TxQueue } from './tx.js';
export {
  type DmaPoolLike,
  type MappedRegionLike,
  type PciFunctionLike,
  vfioAttach,
  vfioMemory,
} from './vfio-memory.js';
export { type QueueDescriptor, type RingLayout, ringLayout, Virtqueue } from './virtqueue.js';
