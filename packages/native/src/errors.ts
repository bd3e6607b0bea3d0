/**
 * A failed system call, shaped like Node's own system errors (`fs`, `net`):
 * `code` is the errno name, `errno` its negative number, `syscall` what failed.
 *
 * @example
 * ```ts
 * try { device.setIrqs(req); } catch (e) {
 *   if (isErrnoError(e, 'EINVAL')) ...  // e.errno === -22, e.syscall === 'ioctl(VFIO_DEVICE_SET_IRQS)'
 * }
 * ```
 */
export interface ErrnoError extends Error {
  /** The errno name: 'EINVAL', 'EBADF', 'EAGAIN', 'ENOTTY', ... */
  code: string;
  /** The negative errno, as libuv and Node report it: -22 for EINVAL. */
  errno: number;
  /** What failed: 'eventfd_read', 'epoll_ctl(EPOLL_CTL_ADD)', 'ioctl(VFIO_DEVICE_SET_IRQS)', 'open', ... */
  syscall: string;
  /** The path, for failures that have one (open). */
  path?: string;
}

/** True if `e` is an {@link ErrnoError} (and, when `code` is given, has that code). */
export function isErrnoError(e: unknown, code?: string): e is ErrnoError {
  if (!(e instanceof Error)) return false;
  const x = e as Partial<ErrnoError>;
  if (typeof x.code !== 'string' || typeof x.errno !== 'number' || typeof x.syscall !== 'string')
    return false;
  return code === undefined || x.code === code;
}

/** An Error with a stable `code`, for misuse that is not a failed system call. */
export function codedError<E extends Error>(error: E, code: string): E & { code: string } {
  return Object.assign(error, { code });
}
