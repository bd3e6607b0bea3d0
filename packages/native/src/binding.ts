import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { EpollEvent } from './epoll-types.js';
import { codedError } from './errors.js';
import type { NativeIommu } from './iommu.js';
import type { NativeMem } from './memory.js';
import type { VfioUapiTable } from './vfio-uapi.js';

/**
 * Where the compiled addon is expected: `build/Release/virq_native.node` in this package, or the
 * path in the `VIRQ_NATIVE_ADDON` environment variable (read once, at first load).
 */
export const addonPath: string =
  process.env.VIRQ_NATIVE_ADDON ??
  fileURLToPath(new URL('../../build/Release/virq_native.node', import.meta.url));

/** The addon's FdHandle: owns one fd, closes it on close(), GC, or environment teardown. */
export interface NativeFdHandle {
  readonly fd: number;
  close(): void;
}

/** The addon's epoll set (see {@link Epoll} for the documented API). */
export interface NativeEpoll {
  readonly fd: number;
  readonly wakeFd: number;
  readonly watching: boolean;
  readonly readPath: 'io_uring' | 'read' | 'unopened';
  add(fd: number, tag: number, events: number): void;
  modify(fd: number, tag: number, events: number): void;
  remove(fd: number): void;
  wait(maxEvents: number, timeoutMs: number): EpollEvent[];
  drain(tags: Int32Array, counts: BigUint64Array, timeoutMs: number, events?: Uint32Array): number;
  wake(): void;
  watch(tags: Int32Array, counts: BigUint64Array, callback: (n: number) => void, events?: Uint32Array): void;
  unwatch(): void;
  close(): void;
}

/** The addon's VFIO ioctls, on fd numbers. */
export interface NativeVfio {
  open(path: string, flags?: number): number;
  getApiVersion(fd: number): number;
  checkExtension(fd: number, extension: number): number;
  setIommu(fd: number, type: number): void;
  groupGetStatus(fd: number): { argsz: number; flags: number };
  groupSetContainer(fd: number, containerFd: number): void;
  groupUnsetContainer(fd: number): void;
  groupGetDeviceFd(fd: number, name: string): number;
  deviceGetInfo(fd: number): {
    argsz: number;
    flags: number;
    numRegions: number;
    numIrqs: number;
    capOffset: number;
  };
  deviceGetRegionInfo(
    fd: number,
    index: number,
  ): { argsz: number; flags: number; index: number; capOffset: number; size: bigint; offset: bigint };
  deviceGetIrqInfo(
    fd: number,
    index: number,
    argsz?: number,
  ): { argsz: number; flags: number; index: number; count: number };
  deviceSetIrqs(
    fd: number,
    flags: number,
    index: number,
    start: number,
    count: number,
    data?: Int32Array | Uint8Array | null,
    argsz?: number,
  ): number;
  deviceReset(fd: number): void;
  deviceBindIommufd(fd: number, iommufd: number): number;
  deviceAttachIommufdPt(fd: number, ptId: number): number;
  ioasAlloc(fd: number): number;
  pread(fd: number, buffer: Uint8Array, offset: bigint | number): number;
  pwrite(fd: number, buffer: Uint8Array, offset: bigint | number): number;
  uapi(): VfioUapiTable;
}

/** The raw addon. Prefer the classes ({@link EventFd}, {@link Epoll}, the VFIO handles). */
export interface NativeBinding {
  FdHandle: new (fd: number) => NativeFdHandle;
  Epoll: new (wakeFd?: number, ioUring?: boolean) => NativeEpoll;
  WAKE_TAG: number;
  eventfdCreate(initval: number, semaphore: boolean, nonblock: boolean): number;
  eventfdRead(fd: number): bigint;
  eventfdWrite(fd: number, value: bigint | number): void;
  /**
   * eventfd_signal() on each of `fds[0..n)` (default all): one io_uring_enter for the batch when this
   * thread's ring is usable (O_NONBLOCK eventfds; a blocking one falls back to write()), else one
   * write() each. A counter at its maximum stays there. Throws the first failure's errno after every
   * fd was attempted.
   */
  eventfdSignalMany(fds: Int32Array, n?: number): void;
  /** How this thread's batches are signalled: through its io_uring, by write(), or not decided yet. */
  eventfdSignalPath(): 'io_uring' | 'write' | 'unopened';
  /** false: close this thread's signal ring and write() from now on; true: allow it again. */
  eventfdSignalRing(enabled: boolean): void;
  eventfdDup(fd: number): number;
  isEventfd(fd: number): boolean;
  isNonblocking(fd: number): boolean;
  closeFd(fd: number): void;
  /** pipe2(O_CLOEXEC [| O_NONBLOCK]): [readFd, writeFd]; the caller owns both (close with closeFd). */
  pipe(nonblock?: boolean): [number, number];
  vfio: NativeVfio;
  /** Mappings, memfd, region info with capabilities (cpp/mem.cc). */
  mem: NativeMem;
  /** type1 and iommufd DMA mapping (cpp/iommu.cc). */
  iommu: NativeIommu;
}

let binding: NativeBinding | undefined;
let failure: Error | undefined;

/**
 * Loads the addon (once per thread) and returns it.
 *
 * @throws Error with code `ERR_VIRQ_NATIVE_MISSING` if the addon was never built (the message says how
 *   to build it), or `ERR_VIRQ_NATIVE_LOAD` if it exists but cannot be loaded (built for another Node);
 *   the loader's own error is the `cause`.
 */
export function loadNative(): NativeBinding {
  if (binding !== undefined) return binding;
  if (failure !== undefined) throw failure;
  try {
    binding = createRequire(import.meta.url)(addonPath) as NativeBinding;
    return binding;
  } catch (cause) {
    const missing = !existsSync(addonPath);
    const how =
      'Build it with `pnpm --filter @virq/native run build:addon` (it also builds during `pnpm install`; ' +
      "it needs g++, make, python3 and Node's headers in <node prefix>/include/node).";
    failure = missing
      ? codedError(
          new Error(`@virq/native: the native addon is not built: ${addonPath} does not exist. ${how}`, {
            cause,
          }),
          'ERR_VIRQ_NATIVE_MISSING',
        )
      : codedError(
          new Error(
            `@virq/native: the native addon at ${addonPath} cannot be loaded (${(cause as Error).message}). ` +
              `Rebuild it for this Node (${process.version}). ${how}`,
            { cause },
          ),
          'ERR_VIRQ_NATIVE_LOAD',
        );
    throw failure;
  }
}

/**
 * True if the addon loads in this thread. `@virq/core` uses kernel eventfds and VFIO when it does, and
 * shared-memory triggers when it does not.
 */
export function isAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}
