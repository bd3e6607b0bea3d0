/**
 * A pool of eventfd-compatible counters in one SharedArrayBuffer, plus an arena of Doorbells in the
 * same buffer. This module is the "fs/eventfd.c" of virq: the counter, its wait queue, and the
 * kernel-internal operations (eventfd_ctx_fdget / _put / eventfd_signal / eventfd_ctx_do_read) that
 * vfio uses. The user-facing file object is SharedEventFd (shared-eventfd.ts).
 *
 * Why one buffer for counters and doorbells: a thread can only touch a SharedArrayBuffer it was sent.
 * A watch (epoll registration) is stored in the counter's slot as "doorbell at arena offset X, bit T",
 * so any thread that holds the pool — a device raising an interrupt on the main thread, a dispatch
 * worker unmasking a vector — can ring the watcher's doorbell on write without having been told about
 * that doorbell separately.
 *
 * Layout (byte offsets):
 *   header   [0, 64)                 int32: MAGIC, VERSION, CAPACITY, POOL_ID, ALLOC_HINT,
 *                                    ARENA_OFFSET, ARENA_BYTES, ARENA_USED, LIVE
 *   slots    [64, 64 + 128*capacity) one 128-byte slot per counter, see SLOT_* below
 *   arena    [ARENA_OFFSET, +ARENA_BYTES) doorbells: a 64-byte descriptor (int32 capacity) then the
 *                                    Doorbell's own bytes, each 64-byte aligned
 */

import { Doorbell } from 'atomics-sync';
import type { DoorbellHandle, DoorbellLike } from './doorbell.js';
import { argTypeError, argValueError, outOfRange } from './errors.js';

const MAGIC = 0x76697166; // 'virq' 'f'
const VERSION = 1;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_CAPACITY = 2;
const H_POOL_ID = 3;
const H_ALLOC_HINT = 4;
const H_ARENA_OFFSET = 5;
const H_ARENA_BYTES = 6;
const H_ARENA_USED = 7;
const H_LIVE = 8;
const HEADER_BYTES = 64;

/** Bytes per counter slot. */
export const SLOT_BYTES = 128;
const SLOT_WORDS = SLOT_BYTES / 4;
// int32 word offsets inside a slot (the u64 count occupies words 0-1)
const S_FLAGS = 2;
const S_GEN = 3;
const S_REFS = 4;
const S_WSEQ = 5; // bumped by every write/signal/close: the wait-queue "wake" word
const S_RWAIT = 6; // threads blocked on WSEQ (readers, async watchers)
const S_RSEQ = 7; // bumped by every read: wakes writers blocked on a full counter
const S_WWAIT = 8; // threads blocked on RSEQ
/**
 * The watch word: bit w (w < MAX_WATCHES) is set while watch entry w is live; the bits above it are a
 * version, bumped by every change of the set (add, remove, close, slot reuse). One load tells a waker
 * whether anyone watches and whether its own copy of the watch list is still current (see wake()).
 */
const S_WATCHED = 9;
const S_WATCH = 10; // MAX_WATCHES pairs of (doorbell descriptor offset, tag)
const WATCH_BITS = 0xff;
const WATCH_VERSION = 0x100;
/** Doorbell watches one counter can hold (like being in that many epoll sets). */
export const MAX_WATCHES = 8;

/** Slot flag: allocated. */
export const F_ALLOCATED = 1;
/** Slot flag: EFD_SEMAPHORE. */
export const F_SEMAPHORE = 2;
/** Slot flag: the file was closed (its watchers saw POLLHUP); the ctx may live on while referenced. */
export const F_CLOSED = 4;
/** Slot flag: EFD_NONBLOCK. */
export const F_NONBLOCK = 8;

/** ULLONG_MAX: what eventfd_signal saturates at. */
export const ULLONG_MAX = 0xffffffffffffffffn;
/** The largest count write(2) may produce (ULLONG_MAX - 1). */
export const EVENTFD_MAX_WRITE = 0xfffffffffffffffen;

/** Structured-cloneable pool handle. */
export interface EventFdPoolHandle {
  buffer: SharedArrayBuffer;
}

/** Pool creation options. */
export interface EventFdPoolOptions {
  /** Number of counters (default 2048). */
  capacity?: number;
  /** Bytes reserved for doorbells created with {@link EventFdPool.createDoorbell} (default 64 KiB). */
  doorbellBytes?: number;
}

/** Events delivered to same-thread wait-queue listeners, like the poll key of a kernel wakeup. */
export const EV_IN = 1;
/** The file was closed (POLLHUP). */
export const EV_HUP = 2;

/** A same-thread wait-queue callback (the virqfd_wakeup analogue). */
export type WaitQueueFn = (events: number) => void;

const registry = new Map<number, EventFdPool>();

/**
 * A pool of eventfd counters and doorbells in one SharedArrayBuffer. Create one with
 * {@link EventFdPool.create}, share its {@link EventFdPool.handle}, and attach in another thread with
 * {@link EventFdPool.from}. Each thread keeps one pool object per buffer (by pool id).
 */
export class EventFdPool {
  /** The shared memory. */
  readonly buffer: SharedArrayBuffer;
  /** Random non-zero id stored in the header; identifies the pool across threads. */
  readonly id: number;
  /** Number of counters. */
  readonly capacity: number;
  /** @internal */ readonly i32: Int32Array;
  /** @internal */ readonly u64: BigUint64Array;
  private readonly doorbells = new Map<number, DoorbellLike>();
  /**
   * This thread's copy of each slot's watch list (doorbell, tag), and the watch word it was read
   * under: while the word is unchanged the list is current, so a wake reads one word instead of the
   * entries. Allocated on the first wake of a watched slot in this thread.
   */
  private watchSeen: Int32Array | null = null;
  private watchBells: (DoorbellLike[] | undefined)[] = [];
  private watchTags: number[][] = [];
  /** @internal same-thread wait-queue listeners per slot */
  readonly listeners = new Map<number, Set<WaitQueueFn>>();
  private static defaultPool: EventFdPool | undefined;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.u64 = new BigUint64Array(buffer);
    if (Atomics.load(this.i32, H_MAGIC) !== MAGIC || Atomics.load(this.i32, H_VERSION) !== VERSION) {
      throw argValueError('EventFdPool: buffer does not hold a virq eventfd pool');
    }
    this.id = Atomics.load(this.i32, H_POOL_ID);
    this.capacity = Atomics.load(this.i32, H_CAPACITY);
  }

  /** Creates a pool in a new SharedArrayBuffer and registers it in this thread. */
  static create(options: EventFdPoolOptions = {}): EventFdPool {
    const capacity = options.capacity ?? 2048;
    const arenaBytes = options.doorbellBytes ?? 64 * 1024;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 20) {
      throw outOfRange(`EventFdPool: capacity must be an integer in [1, 2^20], got ${capacity}`);
    }
    if (!Number.isInteger(arenaBytes) || arenaBytes < 0 || arenaBytes % 64 !== 0) {
      throw outOfRange(`EventFdPool: doorbellBytes must be a non-negative multiple of 64`);
    }
    const arenaOffset = HEADER_BYTES + capacity * SLOT_BYTES;
    const buffer = new SharedArrayBuffer(arenaOffset + arenaBytes);
    const i32 = new Int32Array(buffer);
    let id = 0;
    while (id === 0 || registry.has(id)) id = (Math.random() * 0x7fffffff) | 0;
    i32[H_VERSION] = VERSION;
    i32[H_CAPACITY] = capacity;
    i32[H_POOL_ID] = id;
    i32[H_ARENA_OFFSET] = arenaOffset;
    i32[H_ARENA_BYTES] = arenaBytes;
    Atomics.store(i32, H_MAGIC, MAGIC);
    const pool = new EventFdPool(buffer);
    registry.set(pool.id, pool);
    return pool;
  }

  /** Attaches to a pool from its handle (any thread); returns this thread's object for that pool. */
  static from(handle: EventFdPoolHandle): EventFdPool {
    if (!(handle?.buffer instanceof SharedArrayBuffer)) {
      throw argTypeError('EventFdPool.from: handle.buffer must be a SharedArrayBuffer');
    }
    const id = new Int32Array(handle.buffer, 0, HEADER_BYTES / 4)[H_POOL_ID];
    const known = registry.get(id);
    if (known) return known;
    const pool = new EventFdPool(handle.buffer);
    registry.set(pool.id, pool);
    return pool;
  }

  /** This thread's pool with the given id, if attached. */
  static byId(id: number): EventFdPool | undefined {
    return registry.get(id);
  }

  /**
   * The pool SharedEventFd.create() allocates from when no pool is given (created on first use, one
   * per thread; when it fills up, a new default pool replaces it).
   */
  static get default(): EventFdPool {
    EventFdPool.defaultPool ??= EventFdPool.create();
    return EventFdPool.defaultPool;
  }

  /**
   * Removes this pool from this thread's registry: {@link byId} no longer finds it, {@link from}
   * attaches a fresh object, and a table that signals one of its triggers in this thread throws
   * (`registerPool` again to undo). Objects already holding the pool (its SharedEventFds, doorbells)
   * keep working: the memory is not freed while they reference it. Other threads' registries are
   * their own (a worker's goes away with the worker). Returns false if this object was not the
   * registered one (already unregistered). Unregistering the default pool makes the next
   * {@link default} create a new one.
   */
  unregister(): boolean {
    if (registry.get(this.id) !== this) return false;
    registry.delete(this.id);
    if (EventFdPool.defaultPool === this) EventFdPool.defaultPool = undefined;
    return true;
  }

  /** The ids of the pools registered in this thread (for leak checks). */
  static registeredIds(): number[] {
    return [...registry.keys()];
  }

  /** @internal replaces a full default pool */
  static replaceDefault(): EventFdPool {
    EventFdPool.defaultPool = EventFdPool.create();
    return EventFdPool.defaultPool;
  }

  /** Structured-cloneable handle for {@link EventFdPool.from}. */
  get handle(): EventFdPoolHandle {
    return { buffer: this.buffer };
  }

  /** Counters currently allocated (open files plus closed ones still referenced by a trigger). */
  get live(): number {
    return Atomics.load(this.i32, H_LIVE);
  }

  /**
   * Arena bytes one {@link createDoorbell} of `capacity` takes: the Doorbell's own bytes rounded up to
   * 64, plus its 64-byte descriptor. Size {@link EventFdPoolOptions.doorbellBytes} with it.
   */
  static doorbellBytes(capacity: number): number {
    return roundUp(Doorbell.byteLength(capacity), 64) + 64;
  }

  /**
   * Allocates a Doorbell inside this pool's buffer. Only such doorbells can be watched by this pool's
   * counters: every thread that holds the pool can then ring them. The result is an atomics-sync
   * `Doorbell`: its consumer waits and drains on it; `Doorbell.from(bell.handle)` attaches elsewhere.
   */
  createDoorbell(capacity: number): Doorbell {
    const bytes = EventFdPool.doorbellBytes(capacity);
    const arenaOffset = this.i32[H_ARENA_OFFSET];
    const arenaBytes = this.i32[H_ARENA_BYTES];
    for (;;) {
      const used = Atomics.load(this.i32, H_ARENA_USED);
      if (used + bytes > arenaBytes) {
        throw outOfRange(`EventFdPool: doorbell arena full (${arenaBytes} bytes); raise doorbellBytes`);
      }
      if (Atomics.compareExchange(this.i32, H_ARENA_USED, used, used + bytes) !== used) continue;
      const desc = arenaOffset + used;
      this.i32[desc / 4] = capacity;
      const bell = new Doorbell(this.buffer, desc + 64, capacity);
      this.doorbells.set(desc, bell);
      return bell;
    }
  }

  /** @internal descriptor offset of a doorbell living in this pool, or -1 */
  doorbellRef(bell: DoorbellLike): number {
    const h: DoorbellHandle = bell.handle;
    if (h.buffer !== this.buffer) return -1;
    const desc = h.offset - 64;
    const arenaOffset = this.i32[H_ARENA_OFFSET];
    if (desc < arenaOffset || desc >= arenaOffset + Atomics.load(this.i32, H_ARENA_USED)) return -1;
    if (this.i32[desc / 4] !== h.capacity) return -1;
    return desc;
  }

  private doorbellAt(desc: number): DoorbellLike {
    let bell = this.doorbells.get(desc);
    if (!bell) {
      bell = Doorbell.from({ buffer: this.buffer, offset: desc + 64, capacity: this.i32[desc / 4] });
      this.doorbells.set(desc, bell);
    }
    return bell;
  }

  // ---- slot primitives (internal) -------------------------------------------------------------

  /** @internal int32 index of a slot's first word */
  base(slot: number): number {
    return (HEADER_BYTES + slot * SLOT_BYTES) >> 2;
  }

  /** @internal BigUint64 index of a slot's count */
  countIndex(slot: number): number {
    return (HEADER_BYTES + slot * SLOT_BYTES) >> 3;
  }

  /** @internal allocates a slot; returns [slot, generation] or null when full */
  alloc(flags: number, initval: bigint): [number, number] | null {
    const cap = this.capacity;
    const start = Atomics.load(this.i32, H_ALLOC_HINT) % cap;
    for (let k = 0; k < cap; k++) {
      const slot = (start + k) % cap;
      const b = this.base(slot);
      if (Atomics.compareExchange(this.i32, b + S_FLAGS, 0, F_ALLOCATED | flags) !== 0) continue;
      Atomics.store(this.u64, this.countIndex(slot), initval);
      Atomics.store(this.i32, b + S_REFS, 1);
      for (let w = 0; w < MAX_WATCHES; w++) Atomics.store(this.i32, b + S_WATCH + 2 * w, 0);
      // no watch, and a new version: a thread's copy of the previous file's watch list never matches
      this.updateWatched(b, 0, WATCH_BITS);
      Atomics.store(this.i32, H_ALLOC_HINT, slot + 1);
      Atomics.add(this.i32, H_LIVE, 1);
      return [slot, Atomics.load(this.i32, b + S_GEN)];
    }
    return null;
  }

  /** @internal generation of a slot */
  gen(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + S_GEN);
  }

  /** @internal flags of a slot */
  flags(slot: number): number {
    return Atomics.load(this.i32, this.base(slot) + S_FLAGS);
  }

  /**
   * True if (slot, gen) names a live counter (open or still referenced). Not a user API, but not
   * stripped from the declarations either: @virq/core's trigger slots call it.
   */
  valid(slot: number, gen: number): boolean {
    return (
      slot >= 0 && slot < this.capacity && this.gen(slot) === gen && (this.flags(slot) & F_ALLOCATED) !== 0
    );
  }

  /** @internal takes a ctx reference (eventfd_ctx_get) */
  ref(slot: number): void {
    Atomics.add(this.i32, this.base(slot) + S_REFS, 1);
  }

  /**
   * @internal drops a reference (eventfd_ctx_put). The last one frees the slot: the generation moves
   * on first, so a stale handle fails its generation check before the slot can be reused.
   */
  unref(slot: number): void {
    const b = this.base(slot);
    if (Atomics.sub(this.i32, b + S_REFS, 1) !== 1) return;
    Atomics.add(this.i32, b + S_GEN, 1);
    this.listeners.delete(slot);
    Atomics.sub(this.i32, H_LIVE, 1);
    Atomics.store(this.i32, b + S_FLAGS, 0);
  }

  /** @internal current count */
  count(slot: number): bigint {
    return Atomics.load(this.u64, this.countIndex(slot));
  }

  /**
   * eventfd_signal() (not a user API, kept in the published types for @virq/core's trigger slots):
   * count++ saturating at ULLONG_MAX (never blocks), then wake — unless
   * the count was already non-zero and nobody can need the wake (see below).
   */
  signal(slot: number): void {
    const ci = this.countIndex(slot);
    // Fast path: one atomic add. Only a counter already at ULLONG_MAX wraps, and is put straight back
    // (a reader racing that exact moment could see 0; no workload gets within 2^64 of it).
    const old = Atomics.add(this.u64, ci, 1n);
    if (old === ULLONG_MAX) Atomics.sub(this.u64, ci, 1n);
    // A signal onto a non-zero count needs no wake when every waiter reads the whole count after it
    // is woken: the signal that made the count non-zero wakes (or is about to wake) every watcher,
    // and the read that follows that wake takes this signal too (a doorbell watcher drains its bit,
    // then reads). That holds unless the counter is a semaphore (a read takes 1 and leaves the rest),
    // a thread sleeps on the wait word (RWAIT: a blocking reader, a cross-thread virqfd), or this
    // thread has wait-queue listeners (a virqfd: one call per wake, as the kernel's). The storm of an
    // open loop is mostly such signals: this saves the wait-word bump and every doorbell ring.
    if (
      old !== 0n &&
      this.listeners.size === 0 &&
      Atomics.load(this.i32, this.base(slot) + S_RWAIT) === 0 &&
      (this.flags(slot) & F_SEMAPHORE) === 0
    ) {
      return;
    }
    this.wake(slot, EV_IN);
  }

  /**
   * @internal write(2) semantics without blocking: adds n if the count stays <= ULLONG_MAX - 1.
   * Returns false if it would overflow (the caller blocks or reports EAGAIN).
   */
  tryAdd(slot: number, n: bigint): boolean {
    const ci = this.countIndex(slot);
    // Fast path: add, and undo if the result passed the ceiling (same caveat as signal()).
    const old = Atomics.add(this.u64, ci, n);
    if (n === 1n ? old < EVENTFD_MAX_WRITE : old <= EVENTFD_MAX_WRITE - n) return true;
    Atomics.sub(this.u64, ci, n);
    return false;
  }

  /**
   * @internal eventfd_ctx_do_read(): takes 1 (semaphore) or everything; returns 0n if the count was 0.
   * `flags` may be passed by a caller that has just loaded them. A writer blocked on a full counter is
   * woken (RSEQ bumped) only if one is registered in WWAIT: such a writer re-tries its add after it
   * registers (SharedEventFd.write), so of "we read WWAIT as 0" and "it re-tries after our take" one
   * always holds (sequentially consistent Atomics), and it never sleeps on room we made.
   */
  take(slot: number, flags: number = this.flags(slot)): bigint {
    const ci = this.countIndex(slot);
    const sem = (flags & F_SEMAPHORE) !== 0;
    for (;;) {
      const c = Atomics.load(this.u64, ci);
      if (c === 0n) return 0n;
      const n = sem ? 1n : c;
      if (Atomics.compareExchange(this.u64, ci, c, c - n) === c) {
        const b = this.base(slot);
        if (Atomics.load(this.i32, b + S_WWAIT) > 0) {
          Atomics.add(this.i32, b + S_RSEQ, 1);
          Atomics.notify(this.i32, b + S_RSEQ);
        }
        return n;
      }
    }
  }

  /**
   * @internal wake_up_locked_poll(): bumps the wait word, wakes sleepers, rings every watching doorbell
   * and runs this thread's wait-queue listeners. Like the kernel, a write of 0 wakes too.
   */
  wake(slot: number, events: number): void {
    const b = this.base(slot);
    Atomics.add(this.i32, b + S_WSEQ, 1);
    if (Atomics.load(this.i32, b + S_RWAIT) > 0) Atomics.notify(this.i32, b + S_WSEQ);
    const watched = Atomics.load(this.i32, b + S_WATCHED);
    if ((watched & WATCH_BITS) !== 0) {
      let bells = this.watchBells[slot];
      if (bells === undefined || this.watchSeen![slot] !== watched)
        bells = this.readWatches(slot, b, watched);
      const tags = this.watchTags[slot];
      for (let i = 0; i < bells.length; i++) bells[i].ring(tags[i]);
    }
    if (this.listeners.size === 0) return;
    const fns = this.listeners.get(slot);
    if (fns) for (const fn of [...fns]) fn(events);
  }

  /**
   * Copies the watch entries named by `watched` into this thread's list for `slot`. An entry read
   * here may already be newer than `watched` (a remove or add racing with us): the list is then kept
   * under a word the slot no longer has, so the next wake reads the entries again. A watch added
   * after our load of the word is not rung by this wake; watch() rings it itself if the count is
   * non-zero once it is in place (epoll_ctl's readiness check on ADD).
   */
  private readWatches(slot: number, b: number, watched: number): DoorbellLike[] {
    if (this.watchSeen === null) {
      this.watchSeen = new Int32Array(this.capacity);
      this.watchBells = new Array(this.capacity);
      this.watchTags = new Array(this.capacity);
    }
    const bells: DoorbellLike[] = [];
    const tags: number[] = [];
    for (let w = 0; w < MAX_WATCHES; w++) {
      if ((watched & (1 << w)) === 0) continue;
      const desc = Atomics.load(this.i32, b + S_WATCH + 2 * w);
      if (desc <= 0) continue;
      bells.push(this.doorbellAt(desc));
      tags.push(Atomics.load(this.i32, b + S_WATCH + 2 * w + 1));
    }
    this.watchBells[slot] = bells;
    this.watchTags[slot] = tags;
    this.watchSeen[slot] = watched;
    return bells;
  }

  /** Sets and clears watch bits and bumps the version; returns the previous word. */
  private updateWatched(b: number, set: number, clear: number): number {
    for (;;) {
      const w = Atomics.load(this.i32, b + S_WATCHED);
      const next = (((w & ~clear) | set) + WATCH_VERSION) | 0;
      if (Atomics.compareExchange(this.i32, b + S_WATCHED, w, next) === w) return w;
    }
  }

  /** @internal marks the file closed (POLLHUP to everyone watching); false if already closed */
  markClosed(slot: number): boolean {
    const b = this.base(slot);
    for (;;) {
      const f = Atomics.load(this.i32, b + S_FLAGS);
      if (f & F_CLOSED) return false;
      if (Atomics.compareExchange(this.i32, b + S_FLAGS, f, f | F_CLOSED) === f) break;
    }
    this.wake(slot, EV_HUP);
    // epoll drops a closed file from every set it was in: so do the watches
    this.updateWatched(b, 0, WATCH_BITS);
    for (let w = 0; w < MAX_WATCHES; w++) Atomics.store(this.i32, b + S_WATCH + 2 * w, 0);
    Atomics.add(this.i32, b + S_RSEQ, 1);
    Atomics.notify(this.i32, b + S_RSEQ);
    return true;
  }

  /** @internal adds a doorbell watch; returns its entry, or -1 when all MAX_WATCHES entries are taken */
  addWatch(slot: number, desc: number, tag: number): number {
    const b = this.base(slot);
    for (let w = 0; w < MAX_WATCHES; w++) {
      const at = b + S_WATCH + 2 * w;
      // claim with -1 so a concurrent waker never reads a half-written (desc, tag) pair
      if (Atomics.compareExchange(this.i32, at, 0, -1) !== 0) continue;
      Atomics.store(this.i32, at + 1, tag);
      Atomics.store(this.i32, at, desc);
      // published after the entry: a waker that sees the bit reads a whole entry
      this.updateWatched(b, 1 << w, 0);
      return w;
    }
    return -1;
  }

  /**
   * @internal takes back the watch addWatch just put in entry `w`, when the file turned out closed
   * (or its slot reused) by then. If markClosed or a reallocation cleared the bit first, it frees the
   * entry itself (markClosed after its clear; alloc before it — then the entry may still hold our
   * pair, unpublished, and is freed here: no add can claim an entry that is not 0). Not covered: the
   * entry freed by a close, the slot reallocated and the entry re-claimed for the same doorbell, all
   * before this runs — the newer watch would go too (docs/decisions.md, eventfd-pool.ts survivors).
   */
  undoWatch(slot: number, w: number, desc: number): void {
    const b = this.base(slot);
    const at = b + S_WATCH + 2 * w;
    if ((this.updateWatched(b, 0, 1 << w) & (1 << w)) !== 0) Atomics.store(this.i32, at, 0);
    else Atomics.compareExchange(this.i32, at, desc, 0);
  }

  /** @internal removes a doorbell watch; returns false if it was not there */
  removeWatch(slot: number, desc: number, tag: number): boolean {
    const b = this.base(slot);
    for (let w = 0; w < MAX_WATCHES; w++) {
      const at = b + S_WATCH + 2 * w;
      if (Atomics.load(this.i32, at) === desc && Atomics.load(this.i32, at + 1) === tag) {
        // Unpublish first, then free the entry: freed before its bit is cleared, the entry could be
        // claimed by an add whose bit our clear would then take away. Of two removers of the same
        // watch, the one whose update found the bit set frees it.
        if ((this.updateWatched(b, 0, 1 << w) & (1 << w)) === 0) continue;
        Atomics.store(this.i32, at, 0);
        return true;
      }
    }
    return false;
  }

  /** @internal the wait word and its sleeper counter, for blocking readers and async watchers */
  wseqIndex(slot: number): number {
    return this.base(slot) + S_WSEQ;
  }

  /** @internal */
  rwaitIndex(slot: number): number {
    return this.base(slot) + S_RWAIT;
  }

  /** @internal */
  rseqIndex(slot: number): number {
    return this.base(slot) + S_RSEQ;
  }

  /** @internal */
  wwaitIndex(slot: number): number {
    return this.base(slot) + S_WWAIT;
  }

  /** @internal adds a same-thread wait-queue listener */
  listen(slot: number, fn: WaitQueueFn): () => void {
    let set = this.listeners.get(slot);
    if (!set) {
      set = new Set();
      this.listeners.set(slot, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }
}

/** @internal */
export const SLOT_WORDS_INTERNAL = SLOT_WORDS;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
