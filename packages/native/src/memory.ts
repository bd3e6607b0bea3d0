/**
 * Device memory: VFIO_DEVICE_GET_REGION_INFO with its capability chain, MAP_SHARED mappings of a
 * device region or a memfd as an ArrayBuffer, and memfd-backed memory for DMA.
 *
 * A mapping's ArrayBuffer is detached by `unmap()` before the munmap, so a later access through it sees
 * a zero-length buffer (typed-array methods and DataView throw TypeError) instead of a SIGSEGV. Mappings
 * are per thread: the ArrayBuffer cannot be transferred or shared, so each worker maps the same fd itself
 * (same pages, another virtual address). A thread's mappings are unmapped when it exits.
 */
import { readFileSync } from 'node:fs';
import { loadNative, type NativeBinding } from './binding.js';
import { codedError, type ErrnoError, isErrnoError } from './errors.js';
import type { VfioRegionInfo } from './vfio.js';
import { VFIO } from './vfio-uapi.js';

/** An mmap of an fd (the addon's mapping object, cpp/mem.cc): the bytes, their address, and unmap(). */
export interface FdMapping {
  /** The mapped bytes; undefined once unmapped (the old ArrayBuffer is detached: byteLength 0). */
  readonly buffer: ArrayBuffer | undefined;
  /** The mapping's virtual address in this process (what VFIO_IOMMU_MAP_DMA takes as vaddr). */
  readonly address: bigint;
  readonly length: number;
  readonly mapped: boolean;
  unmap(): void;
}

/** The addon's memory functions (`NativeBinding.mem`, cpp/mem.cc). */
export interface NativeMem {
  Mapping: new (fd: number, offset: bigint | number, length: number, prot?: number) => FdMapping;
  memfdCreate(name: string, size: number, hugetlb: boolean): number;
  fdSize(fd: number): number;
  pageSize(): number;
  deviceGetRegionInfoCaps(fd: number, index: number): VfioRegionInfoCaps;
  PROT_READ: number;
  PROT_WRITE: number;
}

/** One area of a region that may be mmap'd (VFIO_REGION_INFO_CAP_SPARSE_MMAP), offsets within the region. */
export interface RegionArea {
  offset: bigint;
  size: bigint;
}

/** VFIO_DEVICE_GET_REGION_INFO with the capability chain decoded. */
export interface VfioRegionInfoCaps extends VfioRegionInfo {
  /** Every capability in the chain, decoded or not. */
  caps: { id: number; version: number }[];
  /** VFIO_REGION_INFO_CAP_SPARSE_MMAP: only these areas may be mapped (e.g. all but the MSI-X table). */
  sparse?: RegionArea[];
  /** VFIO_REGION_INFO_CAP_TYPE (device-specific regions past the fixed PCI indexes). */
  type?: { type: number; subtype: number };
  /** VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table of this BAR may be mapped too. */
  msixMappable: boolean;
}

function mem(native: NativeBinding = loadNative()): NativeMem {
  return native.mem;
}

/** The system page size. */
export function pageSize(): number {
  return mem().pageSize();
}

/** Same code/errno/syscall as `e`, with a message that says what happened and what to do. */
export function explainErrno(e: unknown, message: string): unknown {
  if (!isErrnoError(e)) return e;
  const err = new Error(`${e.code}: ${message}`, { cause: e }) as ErrnoError;
  err.code = e.code;
  err.errno = e.errno;
  err.syscall = e.syscall;
  if (e.path !== undefined) err.path = e.path;
  return err;
}

/** An ErrnoError raised by virq itself before the call that would fail the same way. */
export function errnoError(code: string, errno: number, syscall: string, message: string): ErrnoError {
  const err = new Error(`${code}: ${message}`) as ErrnoError;
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

/**
 * VFIO_DEVICE_GET_REGION_INFO with the capabilities. A region index the device does not have is the
 * kernel's EINVAL (message says which indexes exist).
 */
export function getRegionInfoCaps(deviceFd: number, index: number): VfioRegionInfoCaps {
  try {
    return mem().deviceGetRegionInfoCaps(deviceFd, index);
  } catch (e) {
    if (isErrnoError(e, 'EINVAL')) {
      throw explainErrno(
        e,
        `device fd ${deviceFd} has no region ${index} (vfio-pci: BAR0-5 = 0-5, ROM 6, config 7, VGA 8 ` +
          'only on VGA devices, then device-specific regions up to VFIO_DEVICE_GET_INFO.num_regions)',
      );
    }
    throw e;
  }
}

/** The parts of a region that may be mmap'd: the sparse areas, or the whole region; none without MMAP. */
export function mappableAreas(info: VfioRegionInfoCaps): RegionArea[] {
  if ((info.flags & VFIO.REGION_INFO_FLAG_MMAP) === 0 || info.size === 0n) return [];
  return info.sparse ?? [{ offset: 0n, size: info.size }];
}

/** PCI_COMMAND (config offset 4) and its Memory Space Enable bit (PCI Local Bus 3.0, 6.2.2). */
const PCI_COMMAND = 4;
const PCI_COMMAND_MEMORY = 0x2;

/**
 * Makes sure the device decodes memory accesses (PCI_COMMAND.MEMORY): an access to a BAR mapping with it
 * off is a SIGBUS from vfio-pci's fault handler, which kills the process. Turns it on when `enable`,
 * else throws ERR_VIRQ_MEMORY_DISABLED. Returns true if it had to turn it on.
 */
export function ensureMemoryDecoding(deviceFd: number, enable = true): boolean {
  const native = loadNative();
  const config = getRegionInfoCaps(deviceFd, VFIO.PCI_CONFIG_REGION_INDEX).offset + BigInt(PCI_COMMAND);
  const buf = new Uint8Array(2);
  native.vfio.pread(deviceFd, buf, config);
  const cmd = buf[0] | (buf[1] << 8);
  if ((cmd & PCI_COMMAND_MEMORY) !== 0) return false;
  if (!enable) {
    throw codedError(
      new Error(
        `device fd ${deviceFd}: memory decoding is off (PCI_COMMAND 0x${cmd.toString(16)}): an access to a BAR ` +
          'mapping would be SIGBUS. Set PCI_COMMAND_MEMORY (config offset 4, bit 1) first, or map with enableMemory',
      ),
      'ERR_VIRQ_MEMORY_DISABLED',
    );
  }
  const next = cmd | PCI_COMMAND_MEMORY;
  native.vfio.pwrite(deviceFd, new Uint8Array([next & 0xff, next >> 8]), config);
  native.vfio.pread(deviceFd, buf, config);
  if (((buf[0] | (buf[1] << 8)) & PCI_COMMAND_MEMORY) === 0) {
    throw codedError(
      new Error(`device fd ${deviceFd}: PCI_COMMAND_MEMORY did not stick (wrote 0x${next.toString(16)})`),
      'ERR_VIRQ_MEMORY_DISABLED',
    );
  }
  return true;
}

/** Options of {@link mapRegion}. */
export interface MapRegionOptions {
  /** Offset within the region (page-aligned); default 0. */
  offset?: number | bigint;
  /** Bytes to map; default from `offset` to the end of the mappable area that holds it. */
  length?: number;
  /** Turn memory decoding on if it is off (default true); false: throw ERR_VIRQ_MEMORY_DISABLED. */
  enableMemory?: boolean;
}

/**
 * mmap(MAP_SHARED) of part of a device region. Refused with EINVAL (the kernel's answer, or virq's
 * before the call for what the kernel would let through and the device cannot take) for a region
 * without VFIO_REGION_INFO_FLAG_MMAP, a range past the region's end, and a range a sparse-mmap
 * capability leaves out (typically the MSI-X table). Checks memory decoding first for BARs.
 */
export function mapRegion(deviceFd: number, index: number, options: MapRegionOptions = {}): FdMapping {
  const m = mem();
  const info = getRegionInfoCaps(deviceFd, index);
  const offset = BigInt(options.offset ?? 0);
  const where = `region ${index} of device fd ${deviceFd} (${info.size} bytes, flags 0x${info.flags.toString(16)})`;
  if ((info.flags & VFIO.REGION_INFO_FLAG_MMAP) === 0) {
    throw errnoError(
      'EINVAL',
      22,
      'mmap',
      `${where} cannot be mapped: it has no VFIO_REGION_INFO_FLAG_MMAP (use pread/pwrite on the device fd)`,
    );
  }
  const areas = mappableAreas(info);
  const area = areas.find((a) => offset >= a.offset && offset < a.offset + a.size);
  const length = BigInt(options.length ?? (area ? Number(area.offset + area.size - offset) : 0));
  const end = offset + length;
  if (offset < 0n || length <= 0n || end > info.size) {
    throw errnoError(
      'EINVAL',
      22,
      'mmap',
      `${where}: offset ${offset} + length ${length} is past the end of the region`,
    );
  }
  if (area === undefined || end > area.offset + area.size) {
    throw errnoError(
      'EINVAL',
      22,
      'mmap',
      `${where}: [${offset}, ${end}) is not inside one mappable area (sparse mmap: ${areas
        .map((a) => `[${a.offset}, ${a.offset + a.size})`)
        .join(' ')}); the rest (e.g. the MSI-X table) is reachable only through pread/pwrite`,
    );
  }
  if (index <= VFIO.PCI_BAR5_REGION_INDEX) ensureMemoryDecoding(deviceFd, options.enableMemory ?? true);
  const prot =
    ((info.flags & VFIO.REGION_INFO_FLAG_READ) !== 0 ? m.PROT_READ : 0) |
    ((info.flags & VFIO.REGION_INFO_FLAG_WRITE) !== 0 ? m.PROT_WRITE : 0);
  try {
    return new m.Mapping(deviceFd, info.offset + offset, Number(length), prot);
  } catch (e) {
    if (isErrnoError(e, 'EBADF')) throw explainErrno(e, `device fd ${deviceFd} is closed`);
    if (isErrnoError(e, 'EINVAL'))
      throw explainErrno(e, `${where}: the kernel refused the mmap (offset not page-aligned?)`);
    throw e;
  }
}

/** Options of {@link createMemfd}. */
export interface MemfdOptions {
  /** 2 MiB huge pages (size a multiple of 2 MiB; the hugetlb pool must have free pages). */
  hugetlb?: boolean;
  /** The name /proc/self/maps shows ("memfd:<name>"); default "virq-dma". */
  name?: string;
}

/**
 * A sealed memfd of `size` bytes (MFD_CLOEXEC; F_SEAL_SHRINK | F_SEAL_GROW so no holder can cut it
 * under another's mapping). The caller owns the fd number (close it with the addon's closeFd).
 */
export function createMemfd(size: number, options: MemfdOptions = {}): number {
  const hugetlb = options.hugetlb === true;
  if (!Number.isSafeInteger(size) || size <= 0 || size % (hugetlb ? 2 << 20 : pageSize()) !== 0) {
    throw codedError(
      new RangeError(
        `memfd size ${size} must be a positive multiple of ${hugetlb ? '2 MiB (hugetlb)' : 'the page size'}`,
      ),
      'ERR_OUT_OF_RANGE',
    );
  }
  try {
    return mem().memfdCreate(options.name ?? 'virq-dma', size, hugetlb);
  } catch (e) {
    if (hugetlb && (isErrnoError(e, 'ENOMEM') || isErrnoError(e, 'EINVAL') || isErrnoError(e, 'ENOSPC'))) {
      throw explainErrno(
        e,
        `no 2 MiB huge pages for ${size} bytes: reserve them with ` +
          '`echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`, or use ordinary pages',
      );
    }
    throw e;
  }
}

/**
 * mmap(MAP_SHARED) of `length` bytes at `offset` of a memfd (or any mappable fd). For a regular file the
 * range must lie inside it (EINVAL otherwise: a page past the end would be SIGBUS).
 */
export function mapFd(fd: number, offset: number | bigint, length: number, readOnly = false): FdMapping {
  const m = mem();
  try {
    return new m.Mapping(fd, offset, length, readOnly ? m.PROT_READ : m.PROT_READ | m.PROT_WRITE);
  } catch (e) {
    if (isErrnoError(e, 'EINVAL')) {
      throw explainErrno(
        e,
        `cannot map fd ${fd} at ${offset} for ${length} bytes: past its end, zero-length or not page-aligned`,
      );
    }
    if (isErrnoError(e, 'EBADF')) throw explainErrno(e, `fd ${fd} is not open (closed already?)`);
    if (isErrnoError(e, 'ENOMEM')) {
      throw explainErrno(
        e,
        `cannot map ${length} bytes of fd ${fd}: out of memory, or (a hugetlb memfd) no free 2 MiB pages — ` +
          'reserve them with `echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`',
      );
    }
    throw e;
  }
}

/** This process's RLIMIT_MEMLOCK (soft, hard) in bytes, from /proc/self/limits; null = unlimited. */
export function memlockLimit(): { soft: number | null; hard: number | null } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max locked memory'));
  const [soft, hard] = (line ?? '').split(/\s{2,}/).slice(1, 3);
  const num = (s: string | undefined) => (s === undefined || s === 'unlimited' ? null : Number(s));
  return { soft: num(soft), hard: num(hard) };
}
