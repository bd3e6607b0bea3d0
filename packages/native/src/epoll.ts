import { loadNative, type NativeEpoll } from './binding.js';
import { type EpollEvent, EpollEvents } from './epoll-types.js';

/** Options of {@link Epoll.create}. */
export interface EpollOptions {
  /**
   * An eventfd whose duplicate becomes this set's wake fd. Whoever holds the original (another thread,
   * another process) can then wake this set's waits by writing to it, with no risk of writing to a
   * recycled fd number after the set is closed. Default: a private, non-blocking eventfd.
   */
  wakeFd?: number;
  /**
   * Read the counters a drain found ready through one io_uring (one `io_uring_enter` for all of them)
   * instead of one `read()` each. Default true; the set falls back to `read()` by itself where io_uring
   * is missing, disabled (`/proc/sys/kernel/io_uring_disabled`) or does not behave as the drain needs
   * (checked once, at the first drain with two or more counters to read). See {@link Epoll.readPath}.
   */
  ioUring?: boolean;
}

/**
 * How an epoll set's drain reads eventfd counters: `'io_uring'` (batched), `'read'` (one `read()` per
 * counter: disabled by `ioUring: false`, or io_uring unusable here), or `'unopened'` (no drain has had
 * two counters to read yet, so the choice is not made).
 */
export type EpollReadPath = 'io_uring' | 'read' | 'unopened';

/**
 * An epoll set whose entries carry a caller-chosen tag (0..2^31-1, e.g. a vector number), with:
 * - {@link Epoll.wait}: a blocking wait returning `{tag, events}` (for worker threads);
 * - {@link Epoll.drain}: one call that waits, reads every ready eventfd and fills caller-supplied
 *   `Int32Array` tags / `BigUint64Array` counts, so a batch of thousands costs one JS↔C++ crossing;
 * - {@link Epoll.watch}: the main-thread form of drain, driven by a libuv poll handle on the epoll fd,
 *   that never blocks the event loop;
 * - a built-in wake eventfd ({@link Epoll.wake}, {@link Epoll.wakeFd}), reported as tag
 *   {@link WAKE_TAG} (-1).
 *
 * Why the wake fd matters: a thread blocked in wait()/drain() is in a system call, and
 * `worker.terminate()` cannot interrupt it (nor can `process.exit()`, which waits for workers). Before
 * terminating a worker that may be blocked, write to its set's wake fd: pass `wakeFd` to the controller
 * and let it keep `EventFd.fromFd(wakeFd)` (taken while the set is open), or create the set with
 * `{ wakeFd }` from an eventfd the controller owns. Each wake ends one wait (the wake counter is consumed
 * when reported).
 *
 * Entries: for an eventfd, the set keeps its own O_CLOEXEC duplicate and registers and reads through it
 * (as the kernel's virqfd holds a reference to the eventfd): closing your fd neither drops the entry nor
 * lets a recycled fd number be read by mistake, and remove(fd) with the number you added still works
 * after you closed it; the file stays open until remove() or close(). Other fds (pipes, sockets) are
 * registered as they are and not owned: remove them before closing them, since epoll keys entries on
 * the open file and an entry whose fd was closed while a duplicate lives on stays in the set. An eventfd
 * never reports EPOLLHUP to user space (the kernel's POLLHUP on release reaches only in-kernel waiters
 * such as KVM irqfd and vfio's virqfd); pipes and sockets report HUP/ERR as epoll does.
 *
 * All methods belong to the thread that created the set (JS objects are per thread); the fds it holds
 * are O_CLOEXEC. Close it when done; a finalizer and a worker's exit close leaked ones late.
 */
export class Epoll {
  #native: NativeEpoll;
  #fd: number;
  #wakeFd: number;
  #closed = false;

  /** Creates an epoll set (epoll_create1(EPOLL_CLOEXEC)) and its wake eventfd. */
  constructor(options: EpollOptions = {}) {
    const { Epoll: NativeEpollClass } = loadNative();
    this.#native = new NativeEpollClass(options.wakeFd, options.ioUring ?? true);
    this.#fd = this.#native.fd;
    this.#wakeFd = this.#native.wakeFd;
  }

  /** Same as `new Epoll(options)`. */
  static create(options: EpollOptions = {}): Epoll {
    return new Epoll(options);
  }

  /** The epoll fd; -1 once closed. */
  get fd(): number {
    return this.#closed ? -1 : this.#fd;
  }

  /** The wake eventfd's number; -1 once closed. Writing any non-zero value to it wakes a wait. */
  get wakeFd(): number {
    return this.#closed ? -1 : this.#wakeFd;
  }

  /** True once {@link Epoll.close} ran. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while a {@link Epoll.watch} is active. */
  get watching(): boolean {
    return this.#native.watching;
  }

  /** How drains read eventfd counters ({@link EpollReadPath}); the io_uring's fd is the set's own. */
  get readPath(): EpollReadPath {
    return this.#native.readPath;
  }

  /**
   * Adds `fd` under `tag`. Eventfds are recognised here (once), duplicated (see the class notes) and
   * read by drain()/watch().
   *
   * @param events {@link EpollEvents} bits; default IN (level-triggered).
   * @throws ErrnoError from epoll_ctl: EEXIST (already in the set), EBADF, EPERM (a regular file),
   *   EINVAL, ENOSPC (max_user_watches), ELOOP; syscall 'epoll_ctl(EPOLL_CTL_ADD)'.
   */
  add(fd: number, tag: number, events: number = EpollEvents.IN): void {
    this.#native.add(fd, tag, events);
  }

  /** Changes the tag and events of an fd in the set (ENOENT if absent). */
  modify(fd: number, tag: number, events: number = EpollEvents.IN): void {
    this.#native.modify(fd, tag, events);
  }

  /** Removes `fd` (the number given to add()) from the set (ENOENT if absent). */
  remove(fd: number): void {
    this.#native.remove(fd);
  }

  /**
   * Waits for up to `maxEvents` ready entries, blocking this thread up to `timeoutMs` (-1: forever,
   * 0: just poll). Reads no counters, except that a reported wake is consumed. Returns [] on timeout.
   * Meant for worker threads; on the main thread use `timeoutMs = 0` or {@link Epoll.watch}.
   */
  wait(maxEvents = 64, timeoutMs = -1): EpollEvent[] {
    return this.#native.wait(maxEvents, timeoutMs);
  }

  /**
   * The batched drain: waits up to `timeoutMs` (-1: forever, 0: poll), then for every ready entry writes
   * one pair — its tag into `tags[i]` and, for an eventfd, the counter it read (and so reset) into
   * `counts[i]` — and its ready mask into `events[i]` if given. Returns how many pairs were written
   * (at most the shortest buffer's length). Non-eventfd entries report count 0n (look at `events`);
   * an eventfd emptied by another reader between the wait and the read is left out, so 0 can also mean
   * "woken for nothing". The wake fd appears as tag {@link WAKE_TAG} with its count.
   *
   * Counters are read with RWF_NOWAIT, so a blocking-mode eventfd can never hang the drain. With two or
   * more to read they are read together through the set's io_uring ({@link EpollOptions.ioUring}).
   */
  drain(tags: Int32Array, counts: BigUint64Array, timeoutMs = -1, events?: Uint32Array): number {
    return this.#native.drain(tags, counts, timeoutMs, events);
  }

  /**
   * Main-thread drain: whenever the set becomes ready, libuv runs one drain (timeout 0) into these
   * buffers and calls `callback(n)` with the number of pairs — one call per batch, not per event. Read
   * the buffers inside the callback: the next batch overwrites them. While watching, the process stays
   * alive (like any active handle) and this set is not garbage-collected. Calling watch() again replaces
   * buffers and callback. An exception from the callback is an uncaught exception, as for any Node
   * callback.
   */
  watch(tags: Int32Array, counts: BigUint64Array, callback: (n: number) => void, events?: Uint32Array): void {
    this.#native.watch(tags, counts, callback, events);
  }

  /** Stops {@link Epoll.watch}; the process may exit again. Idempotent; may be called from the callback. */
  unwatch(): void {
    this.#native.unwatch();
  }

  /**
   * Wakes a wait()/drain() of this set: it returns with a {@link WAKE_TAG} entry. Useful from the owning
   * thread itself (e.g. in a watch); from other threads write to {@link Epoll.wakeFd} instead.
   */
  wake(): void {
    this.#native.wake();
  }

  /**
   * Stops any watch and closes the epoll fd, the wake fd, the set's eventfd duplicates and its io_uring
   * (fd and mappings). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
  }
}
