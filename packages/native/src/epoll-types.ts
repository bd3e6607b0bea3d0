/** Event bits of epoll(7), for {@link Epoll.add}'s `events` and the masks it reports. */
export const EpollEvents = {
  IN: 0x001,
  PRI: 0x002,
  OUT: 0x004,
  ERR: 0x008,
  HUP: 0x010,
  RDNORM: 0x040,
  RDBAND: 0x080,
  WRNORM: 0x100,
  WRBAND: 0x200,
  MSG: 0x400,
  RDHUP: 0x2000,
  EXCLUSIVE: 1 << 28,
  WAKEUP: 1 << 29,
  ONESHOT: 1 << 30,
  /** 1 << 31 as an unsigned number. */
  ET: 0x80000000,
} as const;

/**
 * The tag under which an epoll set reports its own wake eventfd (see {@link Epoll.wake}). Caller tags are
 * 0..2^31-1, so a negative tag is always the wake.
 */
export const WAKE_TAG = -1;

/** One ready entry, as {@link Epoll.wait} returns it. */
export interface EpollEvent {
  /** The caller's tag from add()/modify(), or {@link WAKE_TAG}. */
  tag: number;
  /** The ready mask: {@link EpollEvents} bits (unsigned). */
  events: number;
}
