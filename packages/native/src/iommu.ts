/**
 * The IOMMU side of DMA, for both interfaces the kernel offers:
 * - {@link Type1Iommu}: a VFIO container fd with VFIO_TYPE1(v2)_IOMMU set (VFIO_IOMMU_GET_INFO,
 *   VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA);
 * - {@link IoasIommu}: an iommufd IO address space (IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_MAP with a fixed
 *   IOVA, IOMMU_IOAS_UNMAP), Linux 6.2+ (device cdevs bind to it from 6.6).
 * Both pin the pages they map and account them against RLIMIT_MEMLOCK unless the caller has
 * CAP_IPC_LOCK. Failures keep the kernel's errno (`code`, `errno`, `syscall`) and say what to do.
 */
import { readdirSync } from 'node:fs';
import { loadNative } from './binding.js';
import { type ErrnoError, isErrnoError } from './errors.js';
import { explainErrno, memlockLimit } from './memory.js';

/** An inclusive IOVA range the IOMMU can translate. */
export interface IovaRange {
  start: bigint;
  /** Inclusive. */
  end: bigint;
}

/** What the IOMMU behind a device can map. */
export interface IommuInfo {
  /** Supported IOMMU page sizes as a bit mask (bit n = 2^n bytes); 0 if not reported. */
  pageSizes: bigint;
  /** The IOVA ranges the IOMMU translates (holes such as the x86 MSI window 0xfee00000 are left out). */
  iovaRanges: IovaRange[];
  /** type1: mappings still available under vfio_iommu_type1's dma_entry_limit; null if not reported. */
  dmaAvail: number | null;
  /** The capability ids the kernel reported (type1). */
  caps: number[];
}

/** Device access to mapped memory. */
export interface DmaAccess {
  /** The device may read (default true). */
  read?: boolean;
  /** The device may write (default true). */
  write?: boolean;
}

/** One IOMMU context a DMA pool maps into: a type1 container or an iommufd IOAS. */
export interface DmaMapper {
  readonly kind: 'type1' | 'iommufd';
  info(): IommuInfo;
  /** Maps `size` bytes of this process's memory at `vaddr` to `iova` (pins them). */
  map(vaddr: bigint, iova: bigint, size: bigint, access?: DmaAccess): void;
  /** Unmaps `[iova, iova + size)`; returns bytes unmapped. */
  unmap(iova: bigint, size: bigint): bigint;
}

/** The addon's IOMMU functions (`NativeBinding.iommu`, cpp/iommu.cc). */
export interface NativeIommu {
  getInfo(fd: number): {
    flags: number;
    iovaPgsizes: bigint;
    caps: number[];
    iovaRanges: IovaRange[] | null;
    dmaAvail: number | null;
  };
  mapDma(fd: number, vaddr: bigint, iova: bigint, size: bigint, flags: number): void;
  unmapDma(fd: number, iova: bigint, size: bigint): bigint;
  ioasIovaRanges(fd: number, ioasId: number): { ranges: IovaRange[]; alignment: bigint };
  ioasMap(fd: number, ioasId: number, vaddr: bigint, length: bigint, iova: bigint, flags: number): bigint;
  ioasUnmap(fd: number, ioasId: number, iova: bigint, length: bigint): bigint;
  destroy(fd: number, id: number): void;
  DMA_MAP_FLAG_READ: number;
  DMA_MAP_FLAG_WRITE: number;
  IOAS_MAP_FIXED_IOVA: number;
  IOAS_MAP_WRITEABLE: number;
  IOAS_MAP_READABLE: number;
}

function iommu(): NativeIommu {
  return loadNative().iommu;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The IOVA ranges `mapper` translates, for a message. */
const ranges = (mapper: DmaMapper): string =>
  mapper
    .info()
    .iovaRanges.map((x) => `${hex(x.start)}-${hex(x.end)}`)
    .join(', ');

/**
 * The kernel's answer to a failed map of `size` bytes by `mapper`, said in terms of what to change
 * (its IOVA ranges are read only for an EINVAL, to name them).
 */
function explainMapError(e: unknown, what: string, size: bigint, mapper: DmaMapper): unknown {
  if (!isErrnoError(e)) return e;
  const err = e as ErrnoError;
  switch (err.code) {
    case 'ENOMEM': {
      const { soft, hard } = memlockLimit();
      return explainErrno(
        e,
        `${what}: pinning ${size} more bytes passes RLIMIT_MEMLOCK (soft ${soft ?? 'unlimited'}, hard ` +
          `${hard ?? 'unlimited'} bytes, counting every page this process has pinned already). Raise it ` +
          '(`ulimit -l`, `prlimit --memlock=BYTES --pid PID`, systemd LimitMEMLOCK=) or run with ' +
          'CAP_IPC_LOCK, or map less',
      );
    }
    case 'ENOSPC':
      return explainErrno(
        e,
        `${what}: the mapping limit is reached: vfio_iommu_type1 allows dma_entry_limit mappings per ` +
          'container (/sys/module/vfio_iommu_type1/parameters/dma_entry_limit, default 65535). Map fewer, ' +
          'larger areas (a DmaPool maps once for all its buffers) or raise the module parameter',
      );
    case 'EINVAL':
      return explainErrno(
        e,
        `${what}: the IOVA range is not inside the ranges the IOMMU translates (${ranges(mapper)}), not aligned to ` +
          'its smallest page size, or the access flags are empty',
      );
    case 'EEXIST':
      return explainErrno(e, `${what}: overlaps an IOVA range that is mapped already`);
    case 'EFAULT':
      return explainErrno(e, `${what}: the virtual address range is not mapped in this process`);
    default:
      return e;
  }
}

/** A VFIO type1 container (`VfioContainer.fd` after VFIO_SET_IOMMU) as a {@link DmaMapper}. */
export class Type1Iommu implements DmaMapper {
  readonly kind = 'type1';
  constructor(readonly containerFd: number) {}

  /** VFIO_IOMMU_GET_INFO with its IOVA-range and DMA-available capabilities. */
  info(): IommuInfo {
    const r = iommu().getInfo(this.containerFd);
    return {
      pageSizes: r.iovaPgsizes,
      // Before 5.4 no range capability: the kernel claimed the whole space valid.
      iovaRanges: r.iovaRanges ?? [{ start: 0n, end: (1n << 64n) - 1n }],
      dmaAvail: r.dmaAvail,
      caps: r.caps,
    };
  }

  /** VFIO_IOMMU_MAP_DMA. */
  map(vaddr: bigint, iova: bigint, size: bigint, access: DmaAccess = {}): void {
    const n = iommu();
    const flags =
      (access.read !== false ? n.DMA_MAP_FLAG_READ : 0) | (access.write !== false ? n.DMA_MAP_FLAG_WRITE : 0);
    try {
      n.mapDma(this.containerFd, vaddr, iova, size, flags);
    } catch (e) {
      throw explainMapError(e, `VFIO_IOMMU_MAP_DMA of ${size} bytes at IOVA ${hex(iova)}`, size, this);
    }
  }

  /** VFIO_IOMMU_UNMAP_DMA. */
  unmap(iova: bigint, size: bigint): bigint {
    return iommu().unmapDma(this.containerFd, iova, size);
  }
}

/** An iommufd IO address space as a {@link DmaMapper}; every map uses IOMMU_IOAS_MAP_FIXED_IOVA. */
export class IoasIommu implements DmaMapper {
  readonly kind = 'iommufd';
  constructor(
    readonly iommufd: number,
    readonly ioasId: number,
  ) {}

  /** IOMMU_IOAS_IOVA_RANGES; pageSizes is the reported IOVA alignment. */
  info(): IommuInfo {
    const r = iommu().ioasIovaRanges(this.iommufd, this.ioasId);
    return { pageSizes: r.alignment, iovaRanges: r.ranges, dmaAvail: null, caps: [] };
  }

  /** IOMMU_IOAS_MAP at exactly `iova`. */
  map(vaddr: bigint, iova: bigint, size: bigint, access: DmaAccess = {}): void {
    const n = iommu();
    const flags =
      n.IOAS_MAP_FIXED_IOVA |
      (access.read !== false ? n.IOAS_MAP_READABLE : 0) |
      (access.write !== false ? n.IOAS_MAP_WRITEABLE : 0);
    try {
      n.ioasMap(this.iommufd, this.ioasId, vaddr, size, iova, flags);
    } catch (e) {
      throw explainMapError(e, `IOMMU_IOAS_MAP of ${size} bytes at IOVA ${hex(iova)}`, size, this);
    }
  }

  /** IOMMU_IOAS_UNMAP. */
  unmap(iova: bigint, size: bigint): bigint {
    return iommu().ioasUnmap(this.iommufd, this.ioasId, iova, size);
  }

  /** IOMMU_DESTROY of the IOAS (after every device detached and everything is unmapped). */
  destroy(): void {
    iommu().destroy(this.iommufd, this.ioasId);
  }
}

/**
 * The vfio device cdev of a PCI function (`/dev/vfio/devices/vfioN`, from
 * /sys/bus/pci/devices/<bdf>/vfio-dev/): Linux 6.6+ with CONFIG_VFIO_DEVICE_CDEV. ENOENT says so.
 */
export function vfioCdevOf(bdf: string, sysfs = '/sys'): string {
  const dir = `${sysfs}/bus/pci/devices/${bdf}/vfio-dev`;
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.startsWith('vfio'));
  } catch (e) {
    if (!isErrnoError(e, 'ENOENT')) throw e;
    throw explainErrno(
      e,
      `${dir} does not exist: ${bdf} is not bound to vfio-pci, or this kernel has no vfio device cdevs ` +
        '(Linux 6.6+, CONFIG_VFIO_DEVICE_CDEV); use the type1 container instead',
    );
  }
  if (names.length === 0) throw new Error(`${dir} lists no vfio device`);
  return `/dev/vfio/devices/${names[0]}`;
}
