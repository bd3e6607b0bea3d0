/**
 * poll(2) on kernel eventfds through @virq/native's Epoll: kernelPollReadable(fd) is poll(POLLIN, 0)
 * via a per-thread probe set, so a read never blocks on an eventfd that is not O_NONBLOCK. Without
 * the addon there is no poll and the answer is false (kernel-fd.ts then never reads a blocking fd).
 */
import { loadNativeSync } from './native.js';

export interface EpollLike {
  add(fd: number, tag: number, events?: number): void;
  remove(fd: number): void;
  wait(max: number, timeoutMs: number): Array<{ tag: number; events: number }>;
  watch(tags: Int32Array, counts: BigUint64Array, cb: (n: number) => void, events?: Uint32Array): void;
  unwatch(): void;
  close(): void;
}

export type EpollCtor = new () => EpollLike;

export const EPOLLIN = 0x001;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;

export function epollCtor(): EpollCtor | null {
  return loadNativeSync()?.module.Epoll ?? null;
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
