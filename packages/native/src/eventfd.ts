import { loadNative, type NativeBinding, type NativeFdHandle } from './binding.js';

/** The largest value an eventfd counter can hold: 2^64 - 2 (0xfffffffffffffffe). */
export const EVENTFD_MAX = 0xfffffffffffffffen;

/** Options of {@link EventFd.create}; every default is the kernel's. */
export interface EventFdOptions {
  /** Initial counter value, 0..2^32-1 (eventfd2's `unsigned int`). Default 0. */
  initval?: number;
  /** EFD_SEMAPHORE: each read() returns 1 and decrements by 1. Default false. */
  semaphore?: boolean;
  /**
   * EFD_NONBLOCK: read() of an empty counter and a write() that would pass {@link EVENTFD_MAX} throw
   * EAGAIN instead of blocking. Default false; on the main thread you almost always want true (a blocking
   * read there stops the event loop).
   */
  nonblock?: boolean;
}

/**
 * A Linux eventfd: a 64-bit counter in the kernel that other threads, processes, KVM or vfio-pci can
 * signal. Counter semantics are the kernel's, unchanged:
 * - `write(n)` adds n; n = 2^64-1 is EINVAL; a sum above {@link EVENTFD_MAX} blocks, or throws EAGAIN
 *   when non-blocking.
 * - `read()` returns the whole count and resets it to 0 (semaphore mode: returns 1, decrements by 1);
 *   an empty counter blocks, or throws EAGAIN when non-blocking.
 *
 * The fd is created O_CLOEXEC. Call {@link EventFd.close} when done: a finalizer closes an fd whose
 * EventFd was garbage-collected, and a worker's exit closes those its thread still owns, but both come
 * late, and an fd number you kept after that may already name another file.
 */
export class EventFd {
  #native: NativeBinding;
  #fd: number;
  #owner: NativeFdHandle;

  private constructor(native: NativeBinding, fd: number) {
    this.#native = native;
    this.#fd = fd;
    this.#owner = new native.FdHandle(fd);
  }

  /**
   * Creates an eventfd.
   *
   * @throws TypeError/RangeError for a bad option; ErrnoError (EMFILE, ENFILE, ENOMEM) from eventfd(2).
   */
  static create(options: EventFdOptions = {}): EventFd {
    const native = loadNative();
    const fd = native.eventfdCreate(
      options.initval ?? 0,
      options.semaphore === true,
      options.nonblock === true,
    );
    return new EventFd(native, fd);
  }

  /**
   * Opens an existing eventfd by fd number, as the kernel's `eventfd_ctx_fdget()` does: ErrnoError EBADF
   * if `fd` is not open, EINVAL if it is another kind of file.
   *
   * Ownership: the new EventFd holds its own duplicate (O_CLOEXEC) of `fd`; the caller keeps theirs and
   * must close it themselves. Both name one counter, and share its O_NONBLOCK and semaphore mode.
   */
  static fromFd(fd: number): EventFd {
    const native = loadNative();
    return new EventFd(native, native.eventfdDup(fd));
  }

  /** True if `fd` is an open eventfd (of this process). */
  static isEventFd(fd: number): boolean {
    return loadNative().isEventfd(fd);
  }

  /** The fd number; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** True once {@link EventFd.close} ran. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Whether reads and writes fail with EAGAIN instead of blocking (O_NONBLOCK on the open file). */
  get nonblocking(): boolean {
    return this.#native.isNonblocking(this.#fd);
  }

  /**
   * Reads the counter (see the class notes). After close(): ErrnoError EBADF.
   *
   * @throws ErrnoError EAGAIN (empty, non-blocking), EBADF (closed); syscall 'eventfd_read'.
   */
  read(): bigint {
    return this.#native.eventfdRead(this.#fd);
  }

  /**
   * Adds `value` (default 1) to the counter, waking every reader and epoll set waiting on it.
   *
   * @param value a bigint 0..2^64-1, or a non-negative safe integer.
   * @throws ErrnoError EINVAL (value 2^64-1), EAGAIN (would pass the ceiling, non-blocking), EBADF
   *   (closed); syscall 'eventfd_write'. RangeError/TypeError for a value that is no u64.
   */
  write(value: bigint | number = 1n): void {
    this.#native.eventfdWrite(this.#fd, value);
  }

  /** Closes the fd. Idempotent. Anything blocked on it elsewhere keeps its own reference. */
  close(): void {
    if (this.#fd < 0) return;
    this.#fd = -1;
    this.#owner.close();
  }
}
