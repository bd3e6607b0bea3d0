/**
 * Kernel-style errors. The kernel returns a negative errno from the ioctl; virq throws a VfioError
 * carrying the same number (negative, as the kernel returns it) and its name as a stable `code`.
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
  | 'eventfd_read'
  | 'eventfd_write'
  | 'eventfd_ctx_fdget';

/**
 * An error the kernel would return as `-errno`. `errno` is negative (as the ioctl returns it), `code`
 * is its name ('EINVAL'), `syscall` names the operation.
 */
export class VfioError extends Error {
  /** Errno name, e.g. 'EINVAL'. */
  readonly code: ErrnoCode;
  /** Negative errno, e.g. -22. */
  readonly errno: number;
  /** The operation that failed. */
  readonly syscall: VfioSyscall;

  constructor(code: ErrnoCode, syscall: VfioSyscall, detail?: string) {
    super(`${syscall}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'VfioError';
    this.code = code;
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
