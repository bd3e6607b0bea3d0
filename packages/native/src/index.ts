/**
 * @virq/native — Linux eventfd, epoll and VFIO for Node.js, as a node-addon-api addon that loads in the
 * main thread and in any number of worker threads.
 *
 * Importing this module never throws: the addon loads on first use, and {@link isAvailable} tells
 * whether it can. Everything that needs it throws `ERR_VIRQ_NATIVE_MISSING` when it was not built.
 */

export {
  addonPath,
  isAvailable,
  loadNative,
  type NativeBinding,
  type NativeEpoll,
  type NativeFdHandle,
  type NativeVfio,
} from './binding.js';
export {
  DmaBuffer,
  type DmaBufferHandle,
  DmaPool,
  type DmaPoolOptions,
  IovaAllocator,
} from './dma-pool.js';
export { Epoll, type EpollOptions, type EpollReadPath } from './epoll.js';
export { type EpollEvent, EpollEvents, WAKE_TAG } from './epoll-types.js';
export { type ErrnoError, isErrnoError } from './errors.js';
export { EVENTFD_MAX, EventFd, type EventFdOptions } from './eventfd.js';
export {
  type DmaAccess,
  type DmaMapper,
  IoasIommu,
  type IommuInfo,
  type IovaRange,
  type NativeIommu,
  Type1Iommu,
  vfioCdevOf,
} from './iommu.js';
export {
  createMemfd,
  ensureMemoryDecoding,
  type FdMapping,
  getRegionInfoCaps,
  type MapRegionOptions,
  type MemfdOptions,
  mapFd,
  mappableAreas,
  mapRegion,
  memlockLimit,
  type NativeMem,
  pageSize,
  type RegionArea,
  type VfioRegionInfoCaps,
} from './memory.js';
export { MmioRegion, type MmioRegionHandle } from './mmio.js';
export {
  Iommufd,
  iommuGroupOf,
  openVfioCdev,
  openVfioPci,
  type PciIommuGroup,
  VFIO_DEV,
  VfioContainer,
  VfioDevice,
  type VfioDeviceInfo,
  VfioGroup,
  type VfioGroupStatus,
  type VfioIrqInfo,
  type VfioIrqSet,
  type VfioPciHandles,
  type VfioRegionInfo,
  vfioUapi,
} from './vfio.js';
export { IOMMUFD, type UapiStruct, VFIO, VFIO_IOCTL, type VfioUapiTable } from './vfio-uapi.js';
