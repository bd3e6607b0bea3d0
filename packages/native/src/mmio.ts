/**
 * MmioRegion: a device region (a BAR) mapped into this thread, with 32-bit register access.
 *
 * Ordering. vfio-pci maps BARs uncached (pgprot_noncached: UC- under PAT). On x86 an uncached access is
 * never reordered with another uncached access, a store is never reordered with an earlier store to any
 * memory type but write-combining (so a descriptor written to DMA memory is visible to the device before
 * the doorbell store that follows it; Linux's wmb() before writel() is only a compiler barrier there), and
 * an uncached read completes before later instructions run (it is not speculated, and reads it follows
 * are done). What x86 does not do is the JS compiler's part: ECMAScript promises nothing about plain
 * accesses to a non-shared buffer beyond single-thread semantics, so a JIT may merge or drop a repeated
 * read. read32() therefore uses Atomics.load, which V8 compiles to one plain 32-bit `mov` on x86 and never
 * eliminates or merges; write32() is a plain typed-array store (one 32-bit `mov`; V8 neither merges nor
 * drops stores to typed-array elements), not Atomics.store, whose seq_cst `xchg` would be a locked access
 * — a bus lock — on uncached memory. On other architectures use this with care: arm64 Device-nGnRE
 * mappings keep device accesses ordered, but ordering against normal (DMA) memory would need barriers
 * JS cannot express.
 *
 * After unmap() the ArrayBuffer is detached: `u32` has length 0, read32/write32 throw TypeError, and no
 * access can reach the unmapped pages.
 */
import { type FdMapping, type MapRegionOptions, mapRegion } from './memory.js';

/** Everything another thread needs to map the same region itself (structured-cloneable). */
export interface MmioRegionHandle {
  /** The vfio device fd number (fds are process-wide; the mapping is per thread). */
  deviceFd: number;
  /** VFIO region index (BAR n = n). */
  index: number;
  /** Offset within the region. */
  offset: number;
  /** Bytes mapped. */
  length: number;
}

/** A mapped device region with 32-bit register helpers. */
export class MmioRegion {
  /** The registers as 32-bit words (index = byte offset / 4); length 0 once unmapped. */
  readonly u32: Uint32Array;
  /** The same bytes (length 0 once unmapped). */
  readonly bytes: Uint8Array;
  readonly #mapping: FdMapping;
  readonly #handle: MmioRegionHandle;

  private constructor(mapping: FdMapping, handle: MmioRegionHandle) {
    const buffer = mapping.buffer as ArrayBuffer;
    this.#mapping = mapping;
    this.#handle = handle;
    this.u32 = new Uint32Array(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  /**
   * Maps `[offset, offset + length)` of region `index` of a vfio device fd (memory decoding is checked
   * and turned on; a region without MMAP, a range past the region or outside its sparse areas is EINVAL).
   */
  static map(deviceFd: number, index: number, options: MapRegionOptions = {}): MmioRegion {
    const mapping = mapRegion(deviceFd, index, options);
    return new MmioRegion(mapping, {
      deviceFd,
      index,
      offset: Number(options.offset ?? 0),
      length: mapping.length,
    });
  }

  /** Maps the region a {@link MmioRegionHandle} describes, in this thread (a worker, a handler). */
  static attach(handle: MmioRegionHandle): MmioRegion {
    return MmioRegion.map(handle.deviceFd, handle.index, { offset: handle.offset, length: handle.length });
  }

  /** The handle to pass to a worker (postMessage, workerData, a Dispatcher's `data`). */
  get handle(): MmioRegionHandle {
    return { ...this.#handle };
  }

  /** Bytes mapped (0 once unmapped). */
  get length(): number {
    return this.bytes.length;
  }

  /** True until unmap(). */
  get mapped(): boolean {
    return this.#mapping.mapped;
  }

  /** Reads the 32-bit register at byte `offset` (one uncached load; see the ordering note above). */
  read32(offset: number): number {
    this.#check(offset);
    return Atomics.load(this.u32, offset >>> 2);
  }

  /** Writes the 32-bit register at byte `offset` (one uncached store). */
  write32(offset: number, value: number): void {
    this.#check(offset);
    this.u32[offset >>> 2] = value;
  }

  /** Detaches the buffer, then munmap. Idempotent. */
  unmap(): void {
    this.#mapping.unmap();
  }

  #check(offset: number): void {
    if (this.u32.length === 0) {
      throw Object.assign(new TypeError('MmioRegion: the region is unmapped (its buffer is detached)'), {
        code: 'ERR_VIRQ_UNMAPPED',
      });
    }
    if (!(offset >= 0 && offset < this.bytes.length && (offset & 3) === 0)) {
      throw Object.assign(
        new RangeError(
          `MmioRegion: offset ${offset} is not a 4-byte-aligned offset below ${this.bytes.length}`,
        ),
        { code: 'ERR_OUT_OF_RANGE' },
      );
    }
  }
}
