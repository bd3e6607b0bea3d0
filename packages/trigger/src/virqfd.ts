/**
 * virqfd (drivers/vfio/virqfd.c): an eventfd that, when signalled, runs a handler and optionally
 * schedules deferred work (the "thread"). vfio uses it for INTx unmask-by-eventfd: the handler unmasks,
 * and returns > 0 when the line is still asserted so that the thread re-sends the trigger.
 *
 * Mapping of the kernel's pieces:
 * - wait-queue callback (virqfd_wakeup, runs in the signaller's context) → for a SharedEventFd written
 *   on this thread, a same-thread listener that runs synchronously inside write(); for writes from other
 *   threads, an Atomics.waitAsync on the counter's wake word, so the handler runs on this thread soon
 *   after; for a kernel eventfd, the native Epoll's libuv watch (which reads the count, like do_read).
 * - schedule_work(&inject) → a queued microtask; scheduling an already-queued inject does nothing, so
 *   deferred work coalesces exactly like the kernel's.
 * - the single-threaded cleanup workqueue → shutdown runs synchronously on this thread; disable() and
 *   flushThread() run a queued inject to completion first (flush_work), so when disable() returns no
 *   handler or thread of that virqfd runs any more.
 * - EPOLLHUP on close → SharedEventFd.close() wakes the wait queue with HUP; the virqfd clears its slot
 *   (if the slot still points at it: same test as the kernel's `*(virqfd->pvirqfd) == virqfd`) and
 *   shuts down. A kernel eventfd's release cannot wake anything in user space: it is inferred lazily
 *   (file-release.ts) by `virqfdPollHup()`, which every SET_IRQS path that looks at a slot runs first.
 */
import { type KernelErr, kerr } from './errors.js';
import { EV_HUP, EV_IN } from './eventfd-pool.js';
import { kernelWatchAdd } from './kernel-watch.js';
import { eventfdCtxFdget } from './trigger.js';
import type { EventfdCtx, EventfdLike } from './trigger-desc.js';

/** `struct virqfd **pvirqfd`: the slot a virqfd is installed in. */
export interface VirqfdSlot {
  current: Virqfd | null;
}

/** Creates an empty slot. */
export function virqfdSlot(): VirqfdSlot {
  return { current: null };
}

/** Handler: runs on every wakeup; non-zero return (or no handler) schedules the thread. */
export type VirqfdHandler = () => number;
/** Deferred work. */
export type VirqfdThread = () => void;

/** One installed virqfd. */
export class Virqfd {
  private injectQueued = false;
  private dead = false;
  private unlisten: () => void = () => {};
  private lastSeq = 0;
  /** Wakeups seen (for tests and statistics). */
  wakeups = 0;

  /** @internal */
  constructor(
    readonly ctx: EventfdCtx,
    private readonly handler: VirqfdHandler | null,
    private readonly thread: VirqfdThread | null,
    private readonly slot: VirqfdSlot,
  ) {}

  /** @internal registers the wait-queue entry and handles a count already pending */
  start(): void {
    const ctx = this.ctx;
    const word = ctx.waitWord();
    if (word) {
      const [i32, idx] = word;
      this.lastSeq = Atomics.load(i32, idx);
      const off = ctx.listen((ev) => {
        this.lastSeq = Atomics.load(i32, idx);
        this.wakeup(ev);
      });
      // cross-thread writes: each one bumps the wake word; this thread notices asynchronously
      Atomics.add(i32, idx + 1, 1); // RWAIT: writers notify while we wait
      let waiting = true;
      const loop = (): void => {
        if (this.dead) return;
        const seen = this.lastSeq;
        const r = Atomics.waitAsync(i32, idx, seen);
        const after = (): void => {
          if (this.dead) return;
          const now = Atomics.load(i32, idx);
          if (now !== this.lastSeq) {
            this.lastSeq = now;
            this.wakeup(ctx.hungUp() ? EV_HUP | (ctx.readable() ? EV_IN : 0) : EV_IN);
          }
          loop();
        };
        if (r.async) r.value.then(after);
        else queueMicrotask(after);
      };
      loop();
      this.unlisten = () => {
        off();
        if (waiting) {
          waiting = false;
          Atomics.sub(i32, idx + 1, 1);
          Atomics.notify(i32, idx); // release our pending waitAsync
        }
      };
    } else {
      this.unlisten = kernelWatchAdd(ctx, (ev) => this.wakeup(ev));
    }
    // "Check if there was an event already pending on the eventfd before we registered and trigger it
    // as if we didn't miss it." The kernel does not consume the count here, and neither do we.
    if (ctx.readable()) {
      if ((!this.handler || this.handler()) && this.thread) this.schedule();
    }
  }

  /** virqfd_wakeup */
  private wakeup(events: number): void {
    if (this.dead) return;
    this.wakeups++;
    if (events & EV_IN) {
      this.ctx.take(); // eventfd_ctx_do_read: the count is consumed, its value unused
      if ((!this.handler || this.handler()) && this.thread) this.schedule();
    }
    if (events & EV_HUP) {
      // The eventfd is closing: if the slot still points to us, nobody queued our release yet.
      if (this.slot.current === this) {
        this.slot.current = null;
        this.shutdown();
      }
    }
  }

  /**
   * @internal The kernel's POLLHUP teardown, caught up with late: if the eventfd was released since
   * (see EventfdCtx.hungUp), handle a count still unread — the kernel's wait queue saw every write
   * before the release, as it happened — then hang up as virqfd_wakeup(EPOLLHUP) does. True if it did.
   */
  pollHup(): boolean {
    if (this.dead || !this.ctx.hungUp()) return false;
    if (this.ctx.readable()) this.wakeup(EV_IN);
    this.wakeup(EV_HUP);
    return true;
  }

  /**
   * schedule_work(&inject): a no-op while already queued. The work runs as a macrotask, as a kworker
   * runs later in process context: a thread that re-triggers its own virqfd (an unacknowledged level
   * whose unmask eventfd is its trigger) is then an interrupt storm that costs CPU, not a microtask
   * chain that never lets the event loop turn again (virqfd-storm.test.ts).
   */
  private schedule(): void {
    if (this.injectQueued) return;
    this.injectQueued = true;
    setImmediate(() => this.inject());
  }

  private inject(): void {
    if (!this.injectQueued) return; // flushed already
    this.injectQueued = false;
    if (this.thread) this.thread();
  }

  /** flush_work(&inject): runs queued deferred work now */
  flushInject(): void {
    if (this.injectQueued) this.inject();
  }

  /** virqfd_shutdown: unregister, flush deferred work, drop the eventfd reference */
  shutdown(): void {
    if (this.dead) return;
    this.unlisten();
    this.flushInject();
    this.dead = true;
    this.ctx.put();
  }

  /** True after shutdown. */
  get closed(): boolean {
    return this.dead;
  }
}

/**
 * vfio_virqfd_enable(): checks the fd (EBADF, then EINVAL for a non-eventfd), then the slot (EBUSY),
 * installs the virqfd and handles a count already pending. Returns 0 or the error.
 */
export function virqfdEnable(
  handler: VirqfdHandler | null,
  thread: VirqfdThread | null,
  slot: VirqfdSlot,
  fd: EventfdLike,
): 0 | KernelErr {
  virqfdPollHup(slot);
  const ctx = eventfdCtxFdget(fd);
  if ('code' in ctx) return ctx;
  if (slot.current) {
    ctx.put();
    return kerr('EBUSY', 'a virqfd is already installed');
  }
  const v = new Virqfd(ctx, handler, thread, slot);
  slot.current = v;
  try {
    v.start();
  } catch (err) {
    slot.current = null;
    v.shutdown();
    throw err;
  }
  return 0;
}

/**
 * vfio_virqfd_disable(): clears the slot and shuts the virqfd down; when this returns, none of its
 * handler or thread runs any more (a queued thread ran to completion first).
 */
export function virqfdDisable(slot: VirqfdSlot): void {
  virqfdPollHup(slot);
  const v = slot.current;
  slot.current = null;
  v?.shutdown();
}

/**
 * The slot's virqfd once the kernel's asynchronous POLLHUP teardown has been caught up with: null if its
 * eventfd was released (closed by its owner) since it was installed — the kernel's virqfd_wakeup() has
 * cleared the slot by then. Run it wherever the slot's state becomes observable.
 */
export function virqfdPollHup(slot: VirqfdSlot): Virqfd | null {
  slot.current?.pollHup();
  return slot.current;
}

/** vfio_virqfd_flush_thread(): runs the slot's queued deferred work now, if any. */
export function virqfdFlushThread(slot: VirqfdSlot): void {
  slot.current?.flushInject();
}
