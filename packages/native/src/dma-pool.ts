/**
 * DMA memory: pools of memfd pages mapped into a device's IOMMU at IOVAs the device can reach, split
 * into buffers that any thread can map from a structured-cloneable handle.
 *
 * One pool = one memfd, one mmap in the creating thread, one IOMMU mapping (one VFIO_IOMMU_MAP_DMA or
 * IOMMU_IOAS_MAP), so a driver with thousands of descriptors and packet buffers uses a handful of the
 * type1 module's dma_entry_limit mappings, as DPDK's memseg lists do. IOVAs come from the ranges the IOMMU
 * reports (VFIO_IOMMU_GET_INFO's IOVA-range capability, or IOMMU_IOAS_IOVA_RANGES) intersected with the
 * device's DMA mask: QEMU's intel-iommu translates 39-bit addresses and edu masks its DMA addresses to
 * 28 bits, so IOVA = vaddr (47-bit user addresses) does not work there.
 */
import { loadNative } from './binding.js';
import type { DmaAccess, DmaMapper, IovaRange } from './iommu.js';
import { createMemfd, type FdMapping, mapFd, pageSize } from './memory.js';

function coded<E extends Error>(e: E, code: string): E & { code: string } {
  return Object.assign(e, { code });
}

const alignUp = (v: bigint, a: bigint) => (v + a - 1n) & ~(a - 1n);

/**
 * First-fit allocator of `[start, end)` ranges over a set of inclusive ranges (IOVAs, or offsets inside
 * a pool). Free ranges are kept sorted and merged on free.
 */
export class IovaAllocator {
  #free: { start: bigint; end: bigint }[];

  /**
   * @param ranges inclusive ranges that may be handed out
   * @param limit the highest address the device can emit (its DMA mask), inclusive
   * @param floor the lowest address handed out (default 1 MiB: IOVA 0 looks like a null pointer)
   */
  constructor(ranges: readonly IovaRange[], limit: bigint = (1n << 64n) - 1n, floor = 1n << 20n) {
    this.#free = ranges
      .map((r) => ({ start: r.start < floor ? floor : r.start, end: (r.end < limit ? r.end : limit) + 1n }))
      .filter((r) => r.start < r.end)
      .sort((a, b) => (a.start < b.start ? -1 : 1));
  }

  /** Bytes still free. */
  get available(): bigint {
    return this.#free.reduce((n, r) => n + (r.end - r.start), 0n);
  }

  /** The free ranges (inclusive ends), for reports. */
  freeRanges(): IovaRange[] {
    return this.#free.map((r) => ({ start: r.start, end: r.end - 1n }));
  }

  /** Allocates `size` bytes aligned to `align` (a power of two); throws ENOSPC when nothing fits. */
  alloc(size: bigint, align: bigint): bigint {
    if (size <= 0n || align <= 0n || (align & (align - 1n)) !== 0n) {
      throw coded(new RangeError(`IovaAllocator: size ${size} / align ${align} invalid`), 'ERR_OUT_OF_RANGE');
    }
    for (let i = 0; i < this.#free.length; i++) {
      const r = this.#free[i];
      const at = alignUp(r.start, align);
      if (at + size > r.end) continue;
      const pieces = [];
      if (at > r.start) pieces.push({ start: r.start, end: at });
      if (at + size < r.end) pieces.push({ start: at + size, end: r.end });
      this.#free.splice(i, 1, ...pieces);
      return at;
    }
    throw coded(
      new Error(
        `ENOSPC: no free IOVA range of ${size} bytes (aligned to ${align}) below the DMA mask; free: ${this.freeRanges()
          .map((r) => `0x${r.start.toString(16)}-0x${r.end.toString(16)}`)
          .join(', ')}`,
      ),
      'ENOSPC',
    );
  }

  /** Returns `[start, start + size)` (from alloc) to the free set. */
  free(start: bigint, size: bigint): void {
    const end = start + size;
    const i = this.#free.findIndex((r) => r.start >= end);
    const at = i < 0 ? this.#free.length : i;
    const prev = this.#free[at - 1];
    if ((prev && prev.end > start) || (this.#free[at] && this.#free[at].start < end)) {
      throw coded(
        new Error(`IovaAllocator: [${start}, ${end}) is (partly) free already`),
        'ERR_INVALID_STATE',
      );
    }
    this.#free.splice(at, 0, { start, end });
    // merge with the neighbours
    if (at + 1 < this.#free.length && this.#free[at + 1].start === end) {
      this.#free[at].end = this.#free[at + 1].end;
      this.#free.splice(at + 1, 1);
    }
    if (at > 0 && this.#free[at - 1].end === start) {
      this.#free[at - 1].end = this.#free[at].end;
      this.#free.splice(at, 1);
    }
  }
}

/** A DMA buffer's handle: map it in any thread with {@link DmaBuffer.attach}. Structured-cloneable. */
export interface DmaBufferHandle {
  /** The pool's memfd number. */
  fd: number;
  /** Offset of the buffer in the memfd. */
  offset: number;
  size: number;
  /** The address the device uses. */
  iova: bigint;
}

/** A piece of a pool: the bytes in this thread, and the IOVA the device uses for them. */
export class DmaBuffer {
  /** The buffer's bytes (length 0 once its pool or attachment is gone). */
  readonly bytes: Uint8Array;
  readonly #own: FdMapping | null;

  /** @internal */
  constructor(
    /** The address the device uses for `bytes[0]`. */
    readonly iova: bigint,
    readonly handle: DmaBufferHandle,
    bytes: Uint8Array,
    own: FdMapping | null,
  ) {
    this.bytes = bytes;
    this.#own = own;
  }

  /** The ArrayBuffer `bytes` views (the whole mapping it lives in). */
  get buffer(): ArrayBuffer {
    return this.bytes.buffer as ArrayBuffer;
  }

  /** Bytes of the buffer. */
  get size(): number {
    return this.handle.size;
  }

  /**
   * Maps the buffer a handle names in this thread (a worker): the same pages, another virtual address.
   * Release it with {@link DmaBuffer.detach}; the thread's exit releases it too.
   */
  static attach(handle: DmaBufferHandle): DmaBuffer {
    const page = pageSize();
    const start = Math.floor(handle.offset / page) * page;
    const end = Math.ceil((handle.offset + handle.size) / page) * page;
    const m = mapFd(handle.fd, start, end - start);
    const bytes = new Uint8Array(m.buffer as ArrayBuffer, handle.offset - start, handle.size);
    return new DmaBuffer(handle.iova, { ...handle }, bytes, m);
  }

  /** Unmaps an attached buffer (detaches its ArrayBuffer first). No-op for a pool's own buffers. */
  detach(): void {
    this.#own?.unmap();
  }
}

/** Options of {@link DmaPool.create}. */
export interface DmaPoolOptions {
  /** 2 MiB huge pages (size rounded up to 2 MiB; needs free pages in the hugetlb pool). */
  hugetlb?: boolean;
  /** What the device may do with the memory (default read and write). */
  access?: DmaAccess;
}

/**
 * One memfd mapped here and into the IOMMU at one IOVA range; alloc() hands out pieces.
 * close() unmaps it from the IOMMU, munmaps it and closes the memfd (buffers become length 0).
 */
export class DmaPool {
  readonly #mapper: DmaMapper;
  readonly #iovas: IovaAllocator;
  readonly #offsets: IovaAllocator;
  #mapping: FdMapping | null;
  #fd: number;

  private constructor(
    /** The pool's first IOVA. */
    readonly iova: bigint,
    /** Bytes in the pool. */
    readonly size: number,
    mapper: DmaMapper,
    iovas: IovaAllocator,
    mapping: FdMapping,
    fd: number,
  ) {
    this.#mapper = mapper;
    this.#iovas = iovas;
    this.#mapping = mapping;
    this.#fd = fd;
    this.#offsets = new IovaAllocator([{ start: 0n, end: BigInt(size) - 1n }], undefined, 0n);
  }

  /**
   * Creates a pool of at least `size` bytes (rounded up to the IOMMU's page size, or 2 MiB for
   * hugetlb), maps it into `mapper` at an IOVA from `iovas`. On failure everything is undone; the
   * error keeps the kernel's errno (ENOMEM: RLIMIT_MEMLOCK, ENOSPC: the type1 mapping limit).
   */
  static create(
    mapper: DmaMapper,
    iovas: IovaAllocator,
    size: number,
    options: DmaPoolOptions = {},
  ): DmaPool {
    const page = BigInt(options.hugetlb ? 2 << 20 : pageSize());
    const bytes = alignUp(BigInt(size), page);
    const fd = createMemfd(Number(bytes), { hugetlb: options.hugetlb === true });
    let mapping: FdMapping | null = null;
    let iova: bigint | null = null;
    try {
      mapping = mapFd(fd, 0, Number(bytes));
      iova = iovas.alloc(bytes, page);
      mapper.map(mapping.address, iova, bytes, options.access);
      return new DmaPool(iova, Number(bytes), mapper, iovas, mapping, fd);
    } catch (e) {
      if (iova !== null) iovas.free(iova, bytes);
      mapping?.unmap();
      loadNative().closeFd(fd);
      throw e;
    }
  }

  /** The pool's memfd number (-1 once closed). */
  get fd(): number {
    return this.#fd;
  }

  /** True until close(). */
  get open(): boolean {
    return this.#mapping !== null;
  }

  /** The whole pool's bytes in this thread. */
  get bytes(): Uint8Array {
    return new Uint8Array(this.#live().buffer as ArrayBuffer);
  }

  /** Hands out `size` bytes aligned to `align` (default 64, a cache line). ENOSPC when full. */
  alloc(size: number, align = 64): DmaBuffer {
    const m = this.#live();
    const offset = Number(this.#offsets.alloc(BigInt(size), BigInt(align)));
    const handle: DmaBufferHandle = { fd: this.#fd, offset, size, iova: this.iova + BigInt(offset) };
    return new DmaBuffer(handle.iova, handle, new Uint8Array(m.buffer as ArrayBuffer, offset, size), null);
  }

  /** Returns a buffer of this pool to it. */
  free(buffer: DmaBuffer): void {
    this.#live();
    this.#offsets.free(BigInt(buffer.handle.offset), BigInt(buffer.handle.size));
  }

  /** IOMMU unmap, munmap (detaching every view), close the memfd, give the IOVAs back. Idempotent. */
  close(): void {
    const m = this.#mapping;
    if (m === null) return;
    this.#mapping = null;
    try {
      this.#mapper.unmap(this.iova, BigInt(this.size));
      this.#iovas.free(this.iova, BigInt(this.size));
    } finally {
      m.unmap();
      loadNative().closeFd(this.#fd);
      this.#fd = -1;
    }
  }

  #live(): FdMapping {
    if (this.#mapping === null) {
      throw coded(new Error('DmaPool: closed'), 'ERR_INVALID_STATE');
    }
    return this.#mapping;
  }
}
