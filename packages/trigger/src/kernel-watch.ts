/**
 * The virqfd wait-queue entry for kernel eventfds on this thread, through @virq/native's Epoll:
 * kernelWatchAdd(ctx, cb). One Epoll per thread with
 *   a libuv watch; its drain reads each ready eventfd (the kernel's eventfd_ctx_do_read) and we call
 * cb(EV_IN). The watch holds the event loop open only while at least one kernel virqfd exists.
 */
import { argValueError, VirqError } from './errors.js';
import { EV_HUP, EV_IN } from './eventfd-pool.js';
import { EPOLLERR, EPOLLHUP, EPOLLIN, type EpollLike, epollCtor } from './kernel-poll.js';
import type { EventfdCtx } from './trigger-desc.js';

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
  if (ctx.desc.kind !== 'kernel') throw argValueError('kernelWatchAdd: not a kernel eventfd');
  const Epoll = epollCtor();
  if (!Epoll)
    throw new VirqError('ERR_VIRQ_NO_NATIVE', 'a virqfd on a kernel eventfd needs @virq/native (Epoll)');
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
