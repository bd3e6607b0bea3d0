/**
 * Kernel eventfds given to setIrqs as fd numbers (or as native EventFd objects). With @virq/native the
 * fd is checked the way eventfd_ctx_fdget() checks it (EBADF: not open; EINVAL: not an eventfd) and a
 * private duplicate is kept — the analogue of the kernel's eventfd_ctx reference, so the caller may close
 * its own fd — and closed when the trigger is released. Without the addon, Node cannot dup(2): the
 * check is done through /proc/self/fd and the caller's fd number is used as is (see README, "Without
 * the native addon").
 */
import * as fs from 'node:fs';
import { type KernelErr, kerr, VfioError } from './errors.js';
import { kernelPollReadable } from './kernel-poll.js';
import { loadNativeSync, type NativeBinding } from './native.js';

/** A kernel eventfd reference held by virq. */
export interface KernelFdRef {
  /** The fd virq signals and reads (its own duplicate when the addon is present). */
  readonly fd: number;
  /** True if virq owns `fd` (a duplicate) and closes it on release. */
  readonly owned: boolean;
  /** The caller's fd number the reference was taken from (absent for references made elsewhere). */
  readonly origin?: number;
}

/**
 * virq's own duplicates of kernel eventfds in this thread: they hold files open the way the kernel's
 * eventfd_ctx references do not, so file-release.ts must not count them as the caller's.
 */
const ownedFds = new Set<number>();

/** @internal virq's own duplicates in this thread (see file-release.ts). */
export function ownedKernelFds(): ReadonlySet<number> {
  return ownedFds;
}

const EVENTFD_LINK = 'anon_inode:[eventfd]';

/** eventfd_ctx_fdget(fd) for a kernel fd: a reference, or -EBADF / -EINVAL. */
export function kernelFdGet(fd: number): KernelFdRef | KernelErr {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) return kerr('EBADF', `fd ${fd}`);
  const native = loadNativeSync();
  if (native) {
    try {
      const dup = native.addon.eventfdDup(fd);
      ownedFds.add(dup);
      return { fd: dup, owned: true, origin: fd };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EBADF' || code === 'EINVAL') return kerr(code, `fd ${fd}`);
      throw err;
    }
  }
  try {
    fs.fstatSync(fd);
  } catch {
    return kerr('EBADF', `fd ${fd}`);
  }
  let link: string;
  try {
    link = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return kerr('EBADF', `fd ${fd}`);
  }
  if (link !== EVENTFD_LINK) return kerr('EINVAL', `fd ${fd} is ${link}, not an eventfd`);
  return { fd, owned: false, origin: fd };
}

/** eventfd_ctx_put(): closes virq's duplicate. */
export function kernelFdPut(ref: KernelFdRef): void {
  if (!ref.owned) return;
  ownedFds.delete(ref.fd);
  const native = loadNativeSync();
  if (native) native.addon.closeFd(ref.fd);
  else fs.closeSync(ref.fd);
}

const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

/**
 * eventfd_signal() on a kernel eventfd: write(fd, 1). Callable from any thread (fds are per process).
 * A full counter (count at 2^64-2) would make write(2) block or fail EAGAIN; eventfd_signal saturates
 * instead, so EAGAIN is ignored here.
 */
export function kernelFdSignal(fd: number, native: NativeBinding | null = loadNativeSync()): void {
  try {
    if (native) native.addon.eventfdWrite(fd, 1n);
    else fs.writeSync(fd, ONE);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EAGAIN') throw err;
  }
}

/**
 * Whether a batch of signals may take `fd` through {@link kernelFdSignalMany}'s one-syscall path: the
 * native addon is loaded and the eventfd is O_NONBLOCK (io_uring runs an eventfd write inline only for
 * a non-blocking file; a blocking one would be tried there and then written again). One fcntl; callers
 * cache the answer with the rest of a trigger's descriptor.
 */
export function kernelFdBatchable(fd: number, native: NativeBinding | null = loadNativeSync()): boolean {
  if (!native) return false;
  try {
    return native.addon.isNonblocking(fd);
  } catch {
    return false; // closed under us: the per-fd path reports it when signalled
  }
}

/**
 * eventfd_signal() on each of `fds[0..n)`: with the native addon, one call that signals the lot (one
 * io_uring_enter where this thread's ring works, packages/native/cpp/counter-ring.h); without it, one
 * {@link kernelFdSignal} each. A full counter saturates as in kernelFdSignal. Every fd is signalled
 * before a failure (say EBADF) is thrown.
 */
export function kernelFdSignalMany(
  fds: Int32Array,
  n: number,
  native: NativeBinding | null = loadNativeSync(),
): void {
  if (n === 0) return;
  if (native) {
    native.addon.eventfdSignalMany(fds, n);
    return;
  }
  let first: unknown;
  for (let i = 0; i < n; i++) {
    try {
      kernelFdSignal(fds[i], null);
    } catch (err) {
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

/**
 * Reads a kernel eventfd without blocking: the count, or null if it is zero. Needs the fd to be
 * O_NONBLOCK (virq's duplicates share the caller's file status flags) or the native addon's poll.
 */
export function kernelFdTryRead(fd: number): bigint | null {
  const native = loadNativeSync();
  if (!native) throw new VfioError('ENOSYS', 'eventfd_read', 'reading a kernel eventfd needs @virq/native');
  // An O_NONBLOCK eventfd is read directly (EAGAIN = empty); a blocking one is polled first so a read
  // never blocks this thread.
  if (!native.addon.isNonblocking(fd) && !kernelFdReadable(fd)) return null;
  try {
    return native.addon.eventfdRead(fd);
  } catch (err) {
    if ((err as { code?: string }).code === 'EAGAIN') return null;
    throw err;
  }
}

/** poll(fd, POLLIN, 0) on a kernel eventfd: true if a read would not block. */
export function kernelFdReadable(fd: number): boolean {
  return kernelPollReadable(fd);
}

const EVENTFD_ID = /^eventfd-id:\s*(\d+)\s*$/m;

/**
 * Which eventfd an fd number names, from `/proc/self/fdinfo/<fd>`'s `eventfd-id` line (the ctx's id:
 * unique among live eventfds). `null`: the fd is not open, or is no eventfd; `undefined`: an eventfd
 * whose kernel does not print its id (identity unknown).
 */
export function eventfdId(fd: number): string | null | undefined {
  let info: string;
  try {
    info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  } catch {
    return null;
  }
  const m = EVENTFD_ID.exec(info);
  if (m) return m[1];
  return info.includes('eventfd-count:') ? undefined : null;
}
