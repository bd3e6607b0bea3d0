/**
 * Triggers: what `eventfd_ctx_fdget(fd)` returns in the kernel — a counted reference to an eventfd that
 * the IRQ code signals. virq has two kinds: a SharedEventFd slot (shared memory) and a kernel eventfd
 * (an fd number). Both are described in shared memory by a {@link TriggerDesc}, so any thread that
 * attached the vector table can signal a vector's trigger.
 */
import { type KernelErr, kerr, VirqError } from './errors.js';
import { EventFdPool, F_CLOSED, type WaitQueueFn } from './eventfd-pool.js';
import { kernelFileReleased } from './file-release.js';
import {
  type KernelFdRef,
  kernelFdGet,
  kernelFdPut,
  kernelFdReadable,
  kernelFdSignal,
  kernelFdTryRead,
} from './kernel-fd.js';
import { SharedEventFd, type SharedEventFdHandle } from './shared-eventfd.js';
import type { EventfdCtx, EventfdLike, TriggerDesc } from './trigger-desc.js';

class SharedCtx implements EventfdCtx {
  readonly desc: TriggerDesc;
  private released = false;
  constructor(
    readonly pool: EventFdPool,
    private readonly slot: number,
    gen: number,
  ) {
    this.desc = { kind: 'shared', poolId: pool.id, slot, gen };
    pool.ref(slot);
  }
  signal(): void {
    this.pool.signal(this.slot);
  }
  put(): void {
    if (this.released) return;
    this.released = true;
    this.pool.unref(this.slot);
  }
  take(): bigint {
    return this.pool.take(this.slot);
  }
  readable(): boolean {
    return this.pool.count(this.slot) !== 0n;
  }
  hungUp(): boolean {
    return (this.pool.flags(this.slot) & F_CLOSED) !== 0;
  }
  listen(fn: WaitQueueFn): () => void {
    return this.pool.listen(this.slot, fn);
  }
  waitWord(): [Int32Array, number] {
    return [this.pool.i32, this.pool.wseqIndex(this.slot)];
  }
}

class KernelCtx implements EventfdCtx {
  readonly desc: TriggerDesc;
  readonly pool = null;
  private released = false;
  private hup = false;
  constructor(private readonly ref: KernelFdRef) {
    this.desc = { kind: 'kernel', fd: ref.fd };
  }
  signal(): void {
    kernelFdSignal(this.ref.fd);
  }
  put(): void {
    if (this.released) return;
    this.released = true;
    kernelFdPut(this.ref);
  }
  take(): bigint {
    return kernelFdTryRead(this.ref.fd) ?? 0n;
  }
  readable(): boolean {
    return kernelFdReadable(this.ref.fd);
  }
  hungUp(): boolean {
    // A kernel eventfd's POLLHUP reaches only in-kernel waiters, and virq's duplicate keeps the file
    // open: the release is inferred from the fds left in this process. Once released, always released.
    if (!this.hup && !this.released) this.hup = kernelFileReleased(this.ref);
    return this.hup;
  }
  listen(_fn: WaitQueueFn): () => void {
    return () => {};
  }
  waitWord(): null {
    return null;
  }
  get fd(): number {
    return this.ref.fd;
  }
}

/** True if `x` is a SharedEventFd handle object. */
function isSharedHandle(x: unknown): x is SharedEventFdHandle {
  return (
    typeof x === 'object' &&
    x !== null &&
    'pool' in x &&
    'slot' in x &&
    'gen' in x &&
    typeof (x as SharedEventFdHandle).slot === 'number'
  );
}

/**
 * eventfd_ctx_fdget(): validates one DATA_EVENTFD element and takes a reference.
 * -EBADF: not an open fd (or a closed SharedEventFd); -EINVAL: open but not an eventfd.
 * Negative numbers are the caller's business (they mean "tear down") and never reach here.
 */
export function eventfdCtxFdget(item: EventfdLike): EventfdCtx | KernelErr {
  if (typeof item === 'number') {
    const ref = kernelFdGet(item);
    return 'code' in ref ? ref : new KernelCtx(ref);
  }
  if (item instanceof SharedEventFd || isSharedHandle(item)) {
    let efd: SharedEventFd;
    try {
      efd = item instanceof SharedEventFd ? item : SharedEventFd.from(item);
    } catch {
      return kerr('EBADF', 'not a SharedEventFd handle');
    }
    if (efd.closed) return kerr('EBADF', 'SharedEventFd is closed');
    return new SharedCtx(efd.pool, efd.slot, efd.gen);
  }
  if (typeof item === 'object' && item !== null && typeof (item as { fd?: unknown }).fd === 'number') {
    const ref = kernelFdGet((item as { fd: number }).fd);
    return 'code' in ref ? ref : new KernelCtx(ref);
  }
  return kerr('EBADF', 'not an eventfd');
}

/** The fd-like integer an element stands for: its number, -1 semantics apply only to plain numbers. */
export function eventfdNumber(item: EventfdLike): number {
  if (typeof item === 'number') return item;
  return 0;
}

/** True if the element means "no eventfd" (fd < 0). */
export function isTeardown(item: EventfdLike): boolean {
  return typeof item === 'number' && item < 0;
}

/** ERR_VIRQ_SHARED_MEMORY: a trigger lives in a pool this thread never registered. */
export function notAttached(poolId: number): VirqError {
  return new VirqError(
    'ERR_VIRQ_SHARED_MEMORY',
    `eventfd pool ${poolId} is not attached in this thread (registerPool)`,
  );
}

/** Signals a trigger described in shared memory, from any thread. Returns false if it is gone. */
export function signalDesc(desc: TriggerDesc): boolean {
  if (desc.kind === 'kernel') {
    kernelFdSignal(desc.fd);
    return true;
  }
  const pool = EventFdPool.byId(desc.poolId);
  if (!pool) throw notAttached(desc.poolId);
  if (!pool.valid(desc.slot, desc.gen)) return false;
  pool.signal(desc.slot);
  return true;
}

/** Reads (consumes) a trigger described in shared memory, from any thread: the count or 0n. */
export function takeDesc(desc: TriggerDesc): bigint {
  if (desc.kind === 'kernel') return kernelFdTryRead(desc.fd) ?? 0n;
  const pool = EventFdPool.byId(desc.poolId);
  if (!pool) throw notAttached(desc.poolId);
  if (!pool.valid(desc.slot, desc.gen)) return 0n;
  return pool.take(desc.slot);
}
