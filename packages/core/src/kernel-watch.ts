/**
 * Readiness of kernel eventfds on this thread, through @virq/native's Epoll:
 * - kernelWatchAdd(ctx, cb): the virqfd wait-queue entry for a kernel eventfd. One Epoll per thread with
 *   a libuv watch; its drain reads each ready eventfd (the kernel's eventfd_ctx_do_read) and we call
 *   cb(EV_IN). The watch holds the event loop open only while at least one kernel virqfd exists.
 * - kernelPollReadable(fd): poll(POLLIN, 0) via a probe Epoll, so a read never blocks on an eventfd
 *   that is not O_NONBLOCK.
 */
import { EV_HUP, EV_IN } from './eventfd-pool.js';
import { setKernelPoll } from './kernel-fd.js';
import { loadNativeSync } from './native.js';
import type { EventfdCtx } from './trigger.js';

interface EpollLike {
  add(fd: number, tag: number, events?: number): void;
  remove(fd: number): void;
  wait(max: number, timeoutMs: number): Array<{ tag: number; events: number }>;
  watch(tags: Int32Array, counts: BigUint64Array, cb: (n: number) => void, events?: Uint32Array): void;
  unwatch(): void;
  close(): void;
}

type EpollCtor = new () => EpollLike;

const EPOLLIN = 0x001;
const EPOLLERR = 0x008;
const EPOLLHUP = 0x010;

function epollCtor(): EpollCtor | null {
  const native = loadNativeSync();
  if (!native) return null;
  const mod = native.module;
  for (const holder of [mod, mod.binding, mod.raw, mod.addon]) {
    const c = (holder as Record<string, unknown> | undefined)?.Epoll;
    if (typeof c === 'function') return c as EpollCtor;
  }
  return null;
}

let watcher: {
  ep: EpollLike;
  tags: Int32Array;
  counts: BigUint64Array;
  events: Uint32Array;
  entries: Map<number, { fd: number; cb: (ev: number) => void }>;
  nextTag: number;
} | null = null;

/** Registers a kernel eventfd's wakeup callback; returns the unregister function. */
export function kernelWatchAdd(ctx: EventfdCtx, cb: (events: number) => void): () => void {
  if (ctx.desc.kind !== 'kernel') throw new TypeError('kernelWatchAdd: not a kernel eventfd');
  const Epoll = epollCtor();
  if (!Epoll) throw new Error('a virqfd on a kernel eventfd needs @virq/native (Epoll)');
  if (!watcher) {
    const w = {
      ep: new Epoll(),
      tags: new Int32Array(64),
      counts: new BigUint64Array(64),
      events: new Uint32Array(64),
      entries: new Map<number, { fd: number; cb: (ev: number) => void }>(),
      nextTag: 1,
    };
    watcher = w;
  }
  const w = watcher;
  const tag = w.nextTag++;
  const fd = ctx.desc.fd;
  w.ep.add(fd, tag, EPOLLIN);
  w.entries.set(tag, { fd, cb });
  if (w.entries.size === 1) {
    w.ep.watch(
      w.tags,
      w.counts,
      (n) => {
        for (let i = 0; i < n; i++) {
          const e = w.entries.get(w.tags[i]);
          if (!e) continue;
          const mask = w.events[i];
          let ev = 0;
          if (mask & (EPOLLIN | EPOLLERR)) ev |= EV_IN;
          if (mask & EPOLLHUP) ev |= EV_HUP;
          if (ev) e.cb(ev);
        }
      },
      w.events,
    );
  }
  return () => {
    if (!w.entries.delete(tag)) return;
    try {
      w.ep.remove(fd);
    } catch {
      // already gone from the set (the fd was closed): epoll dropped it itself
    }
    if (w.entries.size === 0) {
      w.ep.unwatch();
      w.ep.close();
      if (watcher === w) watcher = null;
    }
  };
}

/**
 * @internal True if this thread's virqfd watch holds `fd` (native Epoll registers an eventfd through a
 * duplicate of its own: one more open fd for the same file, which file-release.ts must discount).
 */
export function kernelWatchHolds(fd: number): boolean {
  if (!watcher) return false;
  for (const e of watcher.entries.values()) if (e.fd === fd) return true;
  return false;
}

let probe: EpollLike | null = null;

/** poll(fd, POLLIN, 0): true if a read of this kernel eventfd would not block. */
export function kernelPollReadable(fd: number): boolean {
  const Epoll = epollCtor();
  if (!Epoll) return false;
  probe ??= new Epoll();
  probe.add(fd, 1, EPOLLIN);
  try {
    return probe.wait(4, 0).some((e) => e.tag === 1);
  } finally {
    probe.remove(fd);
  }
}

/** Closes this thread's probe set (tests call it before counting fds). */
export function closeKernelProbe(): void {
  probe?.close();
  probe = null;
}

setKernelPoll(kernelPollReadable);
