/**
 * {@link DeviceMemory} over a vfio-pci function: BAR windows mmap'd through the device fd, DMA memory
 * from memfd pools mapped into the function's IOMMU context (VFIO_IOMMU_MAP_DMA at IOVAs from the
 * IOMMU's ranges). The types are structural — @virq/pci's `VfioPciDevice`, `MmioRegion` and
 * `DmaBuffer` fit them — so this package needs no more of @virq/pci than those shapes.
 */
import type { PciConfig } from './device.js';
import type { DeviceMemory, DmaHandle, DmaRegion, Mmio, MmioHandle } from './memory.js';
import { ViewMmio } from './memory.js';
import type { NicAttach } from './napi.js';

/** A mapped BAR window (@virq/pci's MmioRegion). */
export interface MappedRegionLike {
  readonly bytes: Uint8Array;
  unmap(): void;
}

/** A DMA pool (@virq/pci's DmaPool). */
export interface DmaPoolLike {
  readonly iova: bigint;
  readonly size: number;
  readonly fd: number;
  readonly bytes: Uint8Array;
}

/** A vfio-pci function as this driver uses it (@virq/pci's VfioPciDevice). */
export interface PciFunctionLike {
  readonly fd: number;
  mapRegion(index: number, options: { offset?: number | bigint; length?: number }): MappedRegionLike;
  dmaPool(size: number): DmaPoolLike;
  closePool(pool: DmaPoolLike): void;
  configRead(offset: number, length: number): Uint8Array;
  configWrite(offset: number, data: Uint8Array): number;
}

/** Device memory and config space of a vfio-pci function. */
export function vfioMemory(dev: PciFunctionLike): DeviceMemory & { config: PciConfig } {
  const regions: MappedRegionLike[] = [];
  const pools: DmaPoolLike[] = [];
  return {
    config: {
      read: (o, n) => dev.configRead(o, n),
      write: (o, d) => {
        dev.configWrite(o, d);
      },
    },
    mmio(bar: number, offset: number, length: number): { mmio: Mmio; handle: MmioHandle } {
      const r = dev.mapRegion(bar, { offset, length });
      regions.push(r);
      return {
        mmio: new ViewMmio(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
        handle: { kind: 'vfio-region', bar, offset, length, deviceFd: dev.fd },
      };
    },
    dmaAlloc(size: number): DmaRegion {
      const pool = dev.dmaPool(size);
      pools.push(pool);
      pool.bytes.fill(0);
      return {
        iova: pool.iova,
        bytes: pool.bytes,
        handle: { kind: 'vfio-dma', fd: pool.fd, offset: 0, size: pool.size, iova: pool.iova.toString() },
      };
    },
    close(): void {
      for (const p of pools.splice(0)) dev.closePool(p);
      for (const r of regions.splice(0)) r.unmap();
    },
  };
}

/** Maps a worker's view of the memory a {@link vfioMemory} described, with @virq/pci's attach functions. */
export function vfioAttach(core: {
  attachDma(handle: { fd: number; offset: number; size: number; iova: bigint }): { bytes: Uint8Array };
  attachRegion(handle: { deviceFd: number; index: number; offset: number; length: number }): {
    bytes: Uint8Array;
  };
}): NicAttach {
  return {
    dma(h: DmaHandle): Uint8Array {
      return core.attachDma({
        fd: h.fd as number,
        offset: h.offset as number,
        size: h.size,
        iova: BigInt(h.iova),
      }).bytes;
    },
    mmio(h: MmioHandle): Mmio {
      const b = core.attachRegion({
        deviceFd: h.deviceFd as number,
        index: h.bar,
        offset: h.offset,
        length: h.length,
      }).bytes;
      return new ViewMmio(b.buffer, b.byteOffset, b.byteLength);
    },
  };
}
