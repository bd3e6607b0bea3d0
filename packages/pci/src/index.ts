/**
 * @virq/pci: a real vfio-pci function from user space. Its interrupts go through the kernel's own
 * ioctls ({@link VfioDevice}, an IrqDevice a Dispatcher takes); its memory — BARs, config space, DMA
 * pools in its IOMMU context — and its interrupts come together in {@link VfioPciDevice}. Everything
 * here needs the native addon: without it there is no device. The software model of the same
 * interrupts (SoftDevice, the shared vector table) is @virq/core's.
 * @packageDocumentation
 */

// Device memory lives in @virq/native (importing it never loads the addon); re-exported here so a
// driver finds regions, DMA and the device object in one place.
export {
  DmaBuffer,
  type DmaBufferHandle,
  DmaPool,
  type DmaPoolOptions,
  IovaAllocator,
  MmioRegion,
  type MmioRegionHandle,
} from '@virq/native';
export { VfioPciDevice, type VfioPciHandle, type VfioPciOpenOptions } from './pci-device.js';
export { VfioDevice, type VfioDeviceBackend } from './vfio-device.js';
