/**
 * VfioPciDevice: one object per vfio-pci function for a driver — its regions (mapped BARs), config
 * space, DMA pools in its IOMMU context, and its interrupts (the {@link VfioDevice} that Dispatchers
 * take) — and close(), which releases all of it in the order the kernel needs: DMA unmapped from the
 * IOMMU, BAR mappings unmapped (a live vma keeps the device open), then the device, group and container
 * (or iommufd) fds.
 *
 * Reset (VFIO_DEVICE_RESET) with live mappings: the kernel zaps every BAR mapping of the device (vfio-pci
 * holds its memory lock for writing, unmap_mapping_range), resets the function, restores its config
 * space (PCI_COMMAND included), and the next access through a mapping faults the pages back in. A thread
 * that touches a mapping during the reset waits in that fault; nothing is SIGBUS unless memory decoding
 * ends up off. reset() therefore keeps every MmioRegion valid, re-checks memory decoding afterwards, and
 * counts resets in `resetCount` so drivers know the device's registers are back at their defaults.
 * DMA mappings live in the IOMMU context, not the device, and survive a reset.
 */

import { existsSync } from 'node:fs';
import type * as Native from '@virq/native';
import {
  type DmaMapper,
  DmaPool,
  type DmaPoolOptions,
  type Iommufd,
  IovaAllocator,
  type MapRegionOptions,
  MmioRegion,
  type VfioContainer,
  type VfioGroup,
} from '@virq/native';
import { nativeModule } from './native-mem.js';
import { VfioDevice } from './vfio-device.js';

/** Options of {@link VfioPciDevice.open}. */
export interface VfioPciOpenOptions {
  /**
   * 'type1' (default): the group/container path; 'iommufd': the device cdev bound to a new iommufd IOAS
   * (Linux 6.6+ with CONFIG_VFIO_DEVICE_CDEV and /dev/iommu).
   */
  iommu?: 'type1' | 'iommufd';
  /** The highest IOVA the device can emit (its DMA mask); default 2^64 - 1. edu: 2^28 - 1. */
  dmaMask?: bigint;
}

/** What another thread needs to reach this device (structured-cloneable). */
export interface VfioPciHandle {
  bdf: string;
  deviceFd: number;
}

type NativeDeviceFd = Native.VfioDevice;
type Closable = { close(): void };

/** A vfio-pci function: regions, config space, DMA and interrupts in one object. */
export class VfioPciDevice {
  /** The interrupt side (GET_IRQ_INFO / SET_IRQS), for a Dispatcher. */
  readonly irq: VfioDevice;
  /** The IOMMU context DMA pools map into. */
  readonly mapper: DmaMapper;
  /** IOVAs below the DMA mask inside the ranges the IOMMU reports. */
  readonly iovas: IovaAllocator;
  /** VFIO_DEVICE_RESET calls made through reset(). */
  resetCount = 0;
  readonly #device: NativeDeviceFd;
  /** Closed after the device, in order. */
  readonly #owners: Closable[];
  readonly #regions = new Set<MmioRegion>();
  readonly #pools = new Set<DmaPool>();
  #closed = false;

  private constructor(
    readonly bdf: string,
    device: NativeDeviceFd,
    mapper: DmaMapper,
    owners: Closable[],
    dmaMask: bigint,
  ) {
    this.#device = device;
    this.mapper = mapper;
    this.#owners = owners;
    this.irq = VfioDevice.fromFd(device.fd);
    this.iovas = new IovaAllocator(mapper.info().iovaRanges, dmaMask);
  }

  /** Opens a PCI function bound to vfio-pci ('0000:00:03.0') with its own IOMMU context. */
  static open(bdf: string, options: VfioPciOpenOptions = {}): VfioPciDevice {
    const n = nativeModule();
    const mask = options.dmaMask ?? (1n << 64n) - 1n;
    if (options.iommu === 'iommufd') {
      if (!existsSync('/dev/iommu')) {
        throw Object.assign(
          new Error(
            'ENOENT: /dev/iommu does not exist: this kernel has no iommufd (CONFIG_IOMMUFD, Linux 6.2+; ' +
              '`modprobe iommufd`); use the type1 container (the default)',
          ),
          { code: 'ENOENT', errno: -2, syscall: 'open', path: '/dev/iommu' },
        );
      }
      const cdev = n.vfioCdevOf(bdf);
      const iommufd: Iommufd = n.Iommufd.open();
      try {
        const ioas = iommufd.allocIoas();
        const device = n.openVfioCdev(cdev, { iommufd, ioasId: ioas });
        return VfioPciDevice.#build(bdf, device, new n.IoasIommu(iommufd.fd, ioas), [iommufd], mask);
      } catch (e) {
        iommufd.close();
        throw e;
      }
    }
    const h = n.openVfioPci(bdf);
    return VfioPciDevice.#build(
      bdf,
      h.device,
      new n.Type1Iommu(h.container.fd),
      [h.group as VfioGroup, h.container as VfioContainer],
      mask,
    );
  }

  static #build(bdf: string, device: NativeDeviceFd, mapper: DmaMapper, owners: Closable[], mask: bigint) {
    try {
      return new VfioPciDevice(bdf, device, mapper, owners, mask);
    } catch (e) {
      device.close();
      for (const o of owners) o.close();
      throw e;
    }
  }

  /** The device fd number. */
  get fd(): number {
    return this.#device.fd;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The handle for another thread: map regions there with {@link MmioRegion.attach}. */
  get handle(): VfioPciHandle {
    return { bdf: this.bdf, deviceFd: this.fd };
  }

  /** VFIO_DEVICE_GET_INFO. */
  info(): ReturnType<NativeDeviceFd['getInfo']> {
    return this.#live().getInfo();
  }

  /** VFIO_DEVICE_GET_REGION_INFO with the capability chain decoded. */
  regionInfo(index: number): Native.VfioRegionInfoCaps {
    return nativeModule().getRegionInfoCaps(this.#live().fd, index);
  }

  /** Maps (part of) a region; unmapped by close() if not before. */
  mapRegion(index: number, options: MapRegionOptions = {}): MmioRegion {
    const r = MmioRegion.map(this.#live().fd, index, options);
    this.#regions.add(r);
    return r;
  }

  /** Reads config space (pread on the config region). */
  configRead(offset: number, length: number): Buffer {
    return this.#live().configRead(offset, length);
  }

  /** Writes config space. */
  configWrite(offset: number, data: Uint8Array): number {
    return this.#live().configWrite(offset, data);
  }

  /** Sets PCI_COMMAND's Memory Space and Bus Master bits (DMA and MSI need Bus Master). */
  enableBusMaster(): void {
    const cmd = this.configRead(4, 2).readUInt16LE(0) | 0x6;
    this.configWrite(4, new Uint8Array([cmd & 0xff, cmd >> 8]));
  }

  /** A new DMA pool of at least `size` bytes in this device's IOMMU context; closed by close(). */
  dmaPool(size: number, options: DmaPoolOptions = {}): DmaPool {
    this.#live();
    const pool = DmaPool.create(this.mapper, this.iovas, size, options);
    this.#pools.add(pool);
    return pool;
  }

  /** Closes one pool early (IOMMU unmap, munmap, memfd closed). */
  closePool(pool: DmaPool): void {
    pool.close();
    this.#pools.delete(pool);
  }

  /** VFIO_DEVICE_RESET; mappings stay valid (see the module comment), memory decoding is re-checked. */
  reset(): void {
    const d = this.#live();
    d.reset();
    this.resetCount++;
    if (this.#regions.size > 0) nativeModule().ensureMemoryDecoding(d.fd, true);
  }

  /** Releases everything: DMA pools, region mappings, the device fd, then group and container. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const errors: unknown[] = [];
    const attempt = (f: () => void) => {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const p of this.#pools) attempt(() => p.close());
    this.#pools.clear();
    for (const r of this.#regions) attempt(() => r.unmap());
    this.#regions.clear();
    attempt(() => this.#device.close());
    for (const o of this.#owners) attempt(() => o.close());
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'VfioPciDevice.close: several releases failed');
  }

  #live(): NativeDeviceFd {
    if (this.#closed) {
      throw Object.assign(new Error(`VfioPciDevice ${this.bdf}: closed`), {
        code: 'EBADF',
        errno: -9,
        syscall: 'VfioPciDevice',
      });
    }
    return this.#device;
  }
}
