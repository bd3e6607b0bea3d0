/**
 * The narrow view of device memory this driver needs: register windows of a BAR (MMIO) and
 * DMA-capable memory at a known IOVA, in the thread that initialises the device and again in each
 * service worker (an ArrayBuffer over mmap'd memory cannot be shared between threads: each thread maps
 * the same memory itself, from a structured-cloneable handle).
 */

/** A window of device registers. Offsets are bytes from the window's start; values little-endian. */
export interface Mmio {
  read8(offset: number): number;
  read16(offset: number): number;
  read32(offset: number): number;
  write8(offset: number, value: number): void;
  write16(offset: number, value: number): void;
  write32(offset: number, value: number): void;
}

/**
 * Memory the device reaches by DMA. `bytes` is this thread's mapping of it; `iova` is where the
 * device sees byte 0; `handle` maps the same memory in another thread ({@link DeviceMemory.attach}).
 */
export interface DmaRegion {
  readonly iova: bigint;
  readonly bytes: Uint8Array;
  readonly handle: DmaHandle;
}

/** A structured-cloneable description of a DMA region, to map it in another thread. */
export interface DmaHandle {
  readonly kind: string;
  readonly iova: string;
  readonly size: number;
  readonly [key: string]: unknown;
}

/** A structured-cloneable description of a BAR window, to map it in another thread. */
export interface MmioHandle {
  readonly kind: string;
  readonly bar: number;
  readonly offset: number;
  readonly length: number;
  readonly [key: string]: unknown;
}

/** What the driver asks of device memory. */
export interface DeviceMemory {
  /** A window of BAR `bar` (its offset and length from a virtio capability). */
  mmio(bar: number, offset: number, length: number): { mmio: Mmio; handle: MmioHandle };
  /** `size` bytes of zeroed DMA memory, mapped for the device (page-aligned IOVA). */
  dmaAlloc(size: number): DmaRegion;
  /** Unmaps (IOMMU and process) everything this object allocated. Idempotent. */
  close(): void;
}

/** The same memory from a service worker: maps what the main thread described. */
export interface WorkerMemory {
  attachDma(handle: DmaHandle): DmaRegion;
  attachMmio(handle: MmioHandle): Mmio;
}

/**
 * An {@link Mmio} over an ArrayBuffer: a BAR mmap'd into this thread (or plain memory in tests).
 * Every access is one access of its width: typed-array stores (V8 emits one `mov` of that width; a
 * DataView may split them into bytes, which virtio-pci's common cfg would see as other fields), and
 * `Atomics.load` for reads so the JIT never merges or drops a repeated register read.
 */
export class ViewMmio implements Mmio {
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  constructor(buffer: ArrayBufferLike, offset = 0, length = buffer.byteLength - offset) {
    this.u8 = new Uint8Array(buffer, offset, length);
    this.u16 = new Uint16Array(buffer, offset, length >>> 1);
    this.u32 = new Uint32Array(buffer, offset, length >>> 2);
  }
  read8(o: number): number {
    return Atomics.load(this.u8, o);
  }
  read16(o: number): number {
    return Atomics.load(this.u16, o >>> 1);
  }
  read32(o: number): number {
    return Atomics.load(this.u32, o >>> 2);
  }
  write8(o: number, x: number): void {
    this.u8[o] = x;
  }
  write16(o: number, x: number): void {
    this.u16[o >>> 1] = x;
  }
  write32(o: number, x: number): void {
    this.u32[o >>> 2] = x;
  }
}
