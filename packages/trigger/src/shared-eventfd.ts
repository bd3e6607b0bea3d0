/**
 * SharedEventFd: an eventfd(2) that lives in shared memory instead of the kernel, so virq works with no
 * native addon and any worker thread can signal or read it. Counter semantics are the kernel's, byte
 * for byte (fs/eventfd.c):
 * - the count is a u64; `write(n)` adds n; n = 2^64-1 is EINVAL; a write that would take the count
 *   past 2^64-2 blocks, or fails EAGAIN in non-blocking mode;
 * - `read()` returns the whole count and zeroes it, or in semaphore mode returns 1 and decrements;
 *   with a zero count it blocks, or fails EAGAIN in non-blocking mode;
 * - a device (or the vector table) signals with eventfd_signal(): +1, saturating at 2^64-1, never
 *   blocking;
 * - every write wakes the wait queue, even a write of 0 (the kernel's wake_up_locked_poll runs for
 *   any successful write), and close() wakes it with POLLHUP.
 *
 * Blocking `read()` uses Atomics.wait: fine in a worker, but on the main thread it freezes the event
 * loop; use `readAsync()` or `tryRead()` there. `tryRead()` is the non-blocking form that returns
 * null instead of throwing EAGAIN (EAGAIN is an expected outcome, not an error, for a poller).
 */
import type { DoorbellLike } from './doorbell.js';
import { outOfRange, VfioError } from './errors.js';
import {
  EV_HUP,
  EVENTFD_MAX_WRITE,
  EventFdPool,
  type EventFdPoolHandle,
  F_ALLOCATED,
  F_CLOSED,
  F_NONBLOCK,
  F_SEMAPHORE,
  ULLONG_MAX,
} from './eventfd-pool.js';

/** Structured-cloneable description of a SharedEventFd; pass it to a worker and call `from`. */
export interface SharedEventFdHandle {
  pool: EventFdPoolHandle;
  slot: number;
  gen: number;
}

/** Options of {@link SharedEventFd.create}. */
export interface SharedEventFdOptions {
  /** Initial count (default 0), like eventfd(initval). */
  initval?: number | bigint;
  /** EFD_SEMAPHORE: each read returns 1. */
  semaphore?: boolean;
  /** EFD_NONBLOCK: read/write fail with EAGAIN instead of blocking. */
  nonblock?: boolean;
  /** Pool to allocate from (default: this thread's {@link EventFdPool.default}). */
  pool?: EventFdPool;
}

/** An eventfd-compatible counter in shared memory. */
export class SharedEventFd {
  /** The pool the counter lives in. */
  readonly pool: EventFdPool;
  /** Slot in the pool. */
  readonly slot: number;
  /** Generation of the slot when this file was created (stale handles fail with EBADF). */
  readonly gen: number;

  private constructor(pool: EventFdPool, slot: number, gen: number) {
    this.pool = pool;
    this.slot = slot;
    this.gen = gen;
  }

  /** eventfd(initval, flags): a new counter. Throws VfioError ENOMEM-like ENOSPC only if memory is exhausted. */
  static create(options: SharedEventFdOptions = {}): SharedEventFd {
    const init = BigInt(options.initval ?? 0);
    // eventfd(2) takes an unsigned int initval
    if (init < 0n || init > 0xffffffffn) throw outOfRange('SharedEventFd: initval must be a u32');
    const flags = (options.semaphore ? F_SEMAPHORE : 0) | (options.nonblock ? F_NONBLOCK : 0);
    let pool = options.pool ?? EventFdPool.default;
    let got = pool.alloc(flags, init);
    if (!got && !options.pool) {
      pool = EventFdPool.replaceDefault();
      got = pool.alloc(flags, init);
    }
    if (!got) throw new VfioError('ENOSPC', 'eventfd', 'eventfd pool is full');
    return new SharedEventFd(pool, got[0], got[1]);
  }

  /** Re-attaches to a counter from its handle, in any thread (like inheriting an fd). */
  static from(handle: SharedEventFdHandle): SharedEventFd {
    const pool = EventFdPool.from(handle.pool);
    if (!Number.isInteger(handle.slot) || handle.slot < 0 || handle.slot >= pool.capacity) {
      throw outOfRange(`SharedEventFd.from: slot ${handle.slot} out of range`);
    }
    return new SharedEventFd(pool, handle.slot, handle.gen);
  }

  /** Structured-cloneable handle. */
  get handle(): SharedEventFdHandle {
    return { pool: this.pool.handle, slot: this.slot, gen: this.gen };
  }

  /** True once closed (by any thread); watchers were woken with POLLHUP. */
  get closed(): boolean {
    return !this.pool.valid(this.slot, this.gen) || (this.pool.flags(this.slot) & F_CLOSED) !== 0;
  }

  /** EFD_SEMAPHORE mode. */
  get semaphore(): boolean {
    return (this.pool.flags(this.slot) & F_SEMAPHORE) !== 0;
  }

  /** The current count without consuming it (like reading /proc/self/fdinfo's eventfd-count). */
  peek(): bigint {
    this.check('eventfd_read');
    return this.pool.count(this.slot);
  }

  /**
   * write(2): adds `n`. EINVAL for n = 2^64-1 (or outside u64); blocks while the count would pass
   * 2^64-2, or throws EAGAIN in non-blocking mode (or when `timeoutMs` passes).
   */
  write(n: number | bigint = 1, timeoutMs = Number.POSITIVE_INFINITY): void {
    this.check('eventfd_write');
    const v = typeof n === 'bigint' ? n : BigInt(n);
    if (v < 0n || v >= ULLONG_MAX) throw new VfioError('EINVAL', 'eventfd_write');
    const pool = this.pool;
    let deadline = -1;
    // the common case: room for v at once; otherwise take the read sequence before retrying, so a
    // reader that makes room between our try and our sleep is never missed
    for (let first = true; ; first = false) {
      if (first && pool.tryAdd(this.slot, v)) break;
      const seq = Atomics.load(pool.i32, pool.rseqIndex(this.slot));
      if (pool.tryAdd(this.slot, v)) break;
      if (this.nonblock) throw new VfioError('EAGAIN', 'eventfd_write');
      if (deadline < 0) deadline = performance.now() + timeoutMs;
      const left = deadline - performance.now();
      if (left <= 0) throw new VfioError('EAGAIN', 'eventfd_write', 'timed out');
      Atomics.add(pool.i32, pool.wwaitIndex(this.slot), 1);
      // Registered: re-try once before sleeping. A reader bumps RSEQ only when it sees WWAIT > 0, so
      // room made by a read that ran before our registration is found here (see EventFdPool.take).
      const added = pool.tryAdd(this.slot, v);
      if (!added) Atomics.wait(pool.i32, pool.rseqIndex(this.slot), seq, left);
      Atomics.sub(pool.i32, pool.wwaitIndex(this.slot), 1);
      if (added) break;
      this.check('eventfd_write');
    }
    pool.wake(this.slot, 1);
  }

  /**
   * Non-blocking read: the count (or 1 in semaphore mode), zeroing/decrementing it; null if it is 0
   * (where read(2) on an EFD_NONBLOCK eventfd fails with EAGAIN).
   */
  tryRead(): bigint | null {
    const n = this.pool.take(this.slot, this.check('eventfd_read'));
    return n === 0n ? null : n;
  }

  /**
   * read(2): blocks until the count is non-zero (Atomics.wait: use in workers), then returns it as
   * tryRead does. Throws EAGAIN in non-blocking mode or when `timeoutMs` passes with nothing to read.
   */
  read(timeoutMs = Number.POSITIVE_INFINITY): bigint {
    const pool = this.pool;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.check('eventfd_read');
      const seq = Atomics.load(pool.i32, pool.wseqIndex(this.slot));
      const n = pool.take(this.slot);
      if (n !== 0n) return n;
      if (this.nonblock) throw new VfioError('EAGAIN', 'eventfd_read');
      const left = deadline - performance.now();
      if (left <= 0) throw new VfioError('EAGAIN', 'eventfd_read', 'timed out');
      Atomics.add(pool.i32, pool.rwaitIndex(this.slot), 1);
      Atomics.wait(pool.i32, pool.wseqIndex(this.slot), seq, left);
      Atomics.sub(pool.i32, pool.rwaitIndex(this.slot), 1);
    }
  }

  /**
   * Waits without blocking the thread (Atomics.waitAsync) until the count is non-zero, then reads it.
   * Resolves null on timeout. Rejects EBADF if the file is closed meanwhile.
   */
  async readAsync(timeoutMs = Number.POSITIVE_INFINITY): Promise<bigint | null> {
    const pool = this.pool;
    const deadline = performance.now() + timeoutMs;
    // a pending waitAsync does not keep Node alive: hold a timer while we wait
    const keepAlive = setInterval(() => {}, 0x7fffffff);
    try {
      for (;;) {
        this.check('eventfd_read');
        const seq = Atomics.load(pool.i32, pool.wseqIndex(this.slot));
        const n = pool.take(this.slot);
        if (n !== 0n) return n;
        const left = deadline - performance.now();
        if (left <= 0) return null;
        Atomics.add(pool.i32, pool.rwaitIndex(this.slot), 1);
        try {
          const r = Atomics.waitAsync(pool.i32, pool.wseqIndex(this.slot), seq, left);
          if (r.async) await r.value;
        } finally {
          Atomics.sub(pool.i32, pool.rwaitIndex(this.slot), 1);
        }
      }
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * Registers `doorbell` bit `tag` to ring on every write, signal and close — the in-memory analogue of
   * EPOLL_CTL_ADD. The doorbell must live in this counter's pool ({@link EventFdPool.createDoorbell}),
   * so that every thread holding the pool can ring it. A closed file drops its watches (as epoll does).
   * If the count is already non-zero the doorbell is rung at once (the level is visible on add).
   */
  watch(doorbell: DoorbellLike, tag: number): void {
    this.check('epoll_ctl');
    if (!Number.isInteger(tag) || tag < 0 || tag >= doorbell.handle.capacity) {
      throw outOfRange(`SharedEventFd.watch: tag ${tag} outside the doorbell's capacity`);
    }
    const desc = this.pool.doorbellRef(doorbell);
    if (desc < 0) {
      throw outOfRange(
        'SharedEventFd.watch: the doorbell must live in this eventfd pool (use pool.createDoorbell())',
      );
    }
    const entry = this.pool.addWatch(this.slot, desc, tag);
    if (entry < 0) throw new VfioError('ENOSPC', 'epoll_ctl', 'too many watches on one eventfd');
    // The open check above and the add are two steps (the kernel's epoll_ctl holds a file reference
    // across both). A close in between has already cleared the watches and rung the old set with
    // POLLHUP, so a watch added after it would never hear of the close; and if the slot was freed and
    // reused meanwhile, the watch sits on another file. Checked again after the add is published: a
    // close that comes later finds the watch and rings it. Either way the add is taken back and fails
    // as an add after the close would (a ring it drew meanwhile is spurious, which watchers allow).
    try {
      this.check('epoll_ctl');
    } catch (e) {
      this.pool.undoWatch(this.slot, entry, desc);
      throw e;
    }
    if (this.pool.count(this.slot) !== 0n) doorbell.ring(tag);
  }

  /** Removes a watch added with {@link watch} (EPOLL_CTL_DEL); returns false if there was none. */
  unwatch(doorbell: DoorbellLike, tag: number): boolean {
    const desc = this.pool.doorbellRef(doorbell);
    if (desc < 0 || !this.pool.valid(this.slot, this.gen)) return false;
    return this.pool.removeWatch(this.slot, desc, tag);
  }

  /**
   * close(2): closes the file for every thread. Watchers are woken with POLLHUP (a virqfd on it tears
   * itself down); blocked readers fail with EBADF. The counter itself lives on while a trigger still
   * references it (vfio's eventfd_ctx reference), exactly like a kernel eventfd_ctx.
   */
  close(): void {
    this.check('close');
    if (!this.pool.markClosed(this.slot)) throw new VfioError('EBADF', 'close');
    this.pool.unref(this.slot);
  }

  /** @internal same-thread wait-queue registration, for virqfd */
  get nonblock(): boolean {
    return (this.pool.flags(this.slot) & F_NONBLOCK) !== 0;
  }

  /** EBADF unless the file is open and current; returns the flags it loaded (for take()). */
  private check(syscall: 'eventfd_read' | 'eventfd_write' | 'epoll_ctl' | 'close'): number {
    // one flags load and one generation load: the common case (open, current) costs two atomics
    const f = this.pool.flags(this.slot);
    if ((f & (F_ALLOCATED | F_CLOSED)) !== F_ALLOCATED || this.pool.gen(this.slot) !== this.gen) {
      throw new VfioError('EBADF', syscall);
    }
    return f;
  }
}

/** The largest count a write may produce (2^64 - 2). */
export const SHARED_EVENTFD_MAX = EVENTFD_MAX_WRITE;
/** The POLLHUP event bit as seen by wait-queue listeners. */
export const SHARED_EVENTFD_HUP = EV_HUP;
