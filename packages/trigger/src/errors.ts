/**
 * virq's one error style (docs/decisions.md):
 * - {@link VirqError}, code `ERR_VIRQ_*`: a failure that is no syscall's (a dispatcher in the wrong
 *   state, a handler that threw, a worker that died, a bounded wait that ran out);
 * - {@link VfioError} (a VirqError), code the errno name: a real syscall or ioctl failure, or what
 *   the kernel's ioctl would return (SoftDevice), with the kernel's negative `errno`, the `syscall`,
 *   and the native error as `cause` when there is one;
 * - argument errors: a TypeError (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`) or RangeError
 *   (`ERR_OUT_OF_RANGE`), as Node's own.
 */

/** The errno values the IRQ paths can return (x86-64 / generic Linux numbering). */
export const ERRNO = {
  EPERM: 1,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EBUSY: 16,
  ENODEV: 19,
  EINVAL: 22,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
} as const;

/** One of the errno names in {@link ERRNO}. */
export type ErrnoCode = keyof typeof ERRNO;

/** The ioctl (or pseudo-syscall) an error came from. */
export type VfioSyscall =
  | 'VFIO_DEVICE_SET_IRQS'
  | 'VFIO_DEVICE_GET_IRQ_INFO'
  | 'eventfd'
  | 'eventfd_read'
  | 'eventfd_write'
  | 'eventfd_ctx_fdget'
  | 'epoll_ctl'
  | 'close';

/** The `ERR_VIRQ_*` codes of {@link VirqError}: failures that are no syscall's. */
export type VirqErrorCode =
  /** The object is not in a state that allows the call (not started, already stopped, stopping). */
  | 'ERR_VIRQ_STATE'
  /** A top-half `handler` threw. */
  | 'ERR_VIRQ_HANDLER'
  /** A deferred `thread` run threw, or its pool worker died under it. */
  | 'ERR_VIRQ_THREAD'
  /** A service worker crashed (uncaught error or nonzero exit). */
  | 'ERR_VIRQ_WORKER'
  /** A handler module could not be loaded or does not export what it must. */
  | 'ERR_VIRQ_MODULE'
  /** A bounded wait did not complete in time. */
  | 'ERR_VIRQ_TIMEOUT'
  /** Writing the stats file failed (the syscall's error is the `cause`). */
  | 'ERR_VIRQ_STATS_FILE'
  /** The operation needs the native addon, which did not load (see `nativeLoadError()`). */
  | 'ERR_VIRQ_NO_NATIVE'
  /** A shared-memory object (vector table, eventfd pool) is not what a handle claims, or not attached here. */
  | 'ERR_VIRQ_SHARED_MEMORY'
  /** The device granted fewer vectors than the call needs. */
  | 'ERR_VIRQ_VECTORS';

/** The base of every error virq throws except argument errors (TypeError / RangeError, below). */
export class VirqError extends Error {
  /** Stable code: `ERR_VIRQ_*`, or an errno name for a {@link VfioError}. */
  readonly code: VirqErrorCode | ErrnoCode;

  constructor(code: VirqErrorCode | ErrnoCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VirqError';
    this.code = code;
  }
}

/** Codes of argument errors, as Node's own. */
export type ArgErrorCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE';

/** A TypeError with a stable `code`: an argument of the wrong type, or a value that is not allowed. */
export class VirqTypeError extends TypeError {
  readonly code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE';
  constructor(code: 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE', message: string) {
    super(message);
    this.code = code;
  }
}

/** A RangeError with the stable `code` ERR_OUT_OF_RANGE: a number outside what the call accepts. */
export class VirqRangeError extends RangeError {
  readonly code = 'ERR_OUT_OF_RANGE' as const;
}

/** A bad argument as text for a message; never throws (an object whose toString throws or is not callable). */
export function describe(value: unknown): string {
  try {
    return typeof value === 'bigint' ? `${value}n` : String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** TypeError ERR_INVALID_ARG_TYPE. */
export function argTypeError(message: string): VirqTypeError {
  return new VirqTypeError('ERR_INVALID_ARG_TYPE', message);
}

/** TypeError ERR_INVALID_ARG_VALUE. */
export function argValueError(message: string): VirqTypeError {
  return new VirqTypeError('ERR_INVALID_ARG_VALUE', message);
}

/** RangeError ERR_OUT_OF_RANGE. */
export function outOfRange(message: string): VirqRangeError {
  return new VirqRangeError(message);
}

/**
 * An error the kernel would return as `-errno`. `errno` is negative (as the ioctl returns it), `code`
 * is its name ('EINVAL'), `syscall` names the operation.
 */
export class VfioError extends VirqError {
  /** Errno name, e.g. 'EINVAL'. */
  declare readonly code: ErrnoCode;
  /** Negative errno, e.g. -22. */
  readonly errno: number;
  /** The operation that failed. */
  readonly syscall: VfioSyscall;

  /** `cause`: the native error the kernel's errno came with, when there is one. */
  constructor(code: ErrnoCode, syscall: VfioSyscall, detail?: string, options?: { cause?: unknown }) {
    super(code, `${syscall}: ${code}${detail ? ` (${detail})` : ''}`, options);
    this.name = 'VfioError';
    this.errno = -ERRNO[code];
    this.syscall = syscall;
  }
}

/** Maps a negative errno back to its name; undefined for numbers virq never produces. */
export function errnoName(errno: number): ErrnoCode | undefined {
  const n = Math.abs(errno);
  for (const [name, value] of Object.entries(ERRNO)) if (value === n) return name as ErrnoCode;
  return undefined;
}

/**
 * Internal: a kernel function's `return -EXXX`. The per-index handlers return either 0, a positive
 * number (MSI enable shortfall) or one of these; set-irqs.ts turns it into a thrown VfioError.
 */
export class KernelErr {
  constructor(
    readonly code: ErrnoCode,
    readonly detail?: string,
  ) {}
}

/** Builds a {@link KernelErr} (reads like `return -EINVAL` at the call site). */
export function kerr(code: ErrnoCode, detail?: string): KernelErr {
  return new KernelErr(code, detail);
}
