/**
 * Test harness: a "kit" makes trigger eventfds of one kind (in-memory SharedEventFd or native kernel
 * EventFd) with uniform read/write/close, so one scenario module runs against both. The harness also
 * tracks what a scenario opened and proves afterwards that nothing leaked (pool slots, kernel fds).
 */
import { readdirSync } from 'node:fs';
import { EventFd, isAvailable } from '@virq/native';
import {
  closeKernelProbe,
  EventFdPool,
  type KernelProfileName,
  SharedEventFd,
  SoftDevice,
  type SoftDeviceOptions,
  VfioError,
} from '../../src/index.js';

/** Either kind of eventfd a scenario passes to setIrqs. */
export type Efd = SharedEventFd | EventFd;

/** A factory and accessors for one kind of eventfd. */
export interface Kit {
  readonly name: 'shared' | 'native';
  create(opts?: { initval?: number; semaphore?: boolean }): Efd;
  /** Non-blocking read: the count, or 0n if there is none. */
  read(e: Efd): bigint;
  write(e: Efd, n?: number): void;
  close(e: Efd): void;
  /** The count without consuming it (shared) or via read+write back (native). */
  peek(e: Efd): bigint;
}

export const sharedKit: Kit = {
  name: 'shared',
  create: (opts) =>
    SharedEventFd.create({ initval: opts?.initval, semaphore: opts?.semaphore, nonblock: true }),
  read: (e) => (e as SharedEventFd).tryRead() ?? 0n,
  write: (e, n = 1) => (e as SharedEventFd).write(n),
  close: (e) => (e as SharedEventFd).close(),
  peek: (e) => (e as SharedEventFd).peek(),
};

export function nativeKit(): Kit {
  if (!isAvailable()) {
    throw new Error(
      '@virq/native is not built: the native conformance run cannot run (build packages/native)',
    );
  }
  const read = (e: Efd): bigint => {
    try {
      return (e as EventFd).read();
    } catch (err) {
      if ((err as { code?: string }).code === 'EAGAIN') return 0n;
      throw err;
    }
  };
  return {
    name: 'native',
    create: (opts) =>
      EventFd.create({ initval: opts?.initval ?? 0, semaphore: opts?.semaphore ?? false, nonblock: true }),
    read,
    write: (e, n = 1) => (e as EventFd).write(n),
    close: (e) => (e as EventFd).close(),
    peek: (e) => {
      if ((e as EventFd).closed) return 0n;
      const v = read(e);
      if (v > 0n) (e as EventFd).write(v);
      return v;
    },
  };
}

/** The set of open fd numbers of this process. */
export function openFds(): Set<string> {
  return new Set(readdirSync('/proc/self/fd'));
}

/** Waits (event loop turns, then short sleeps) until `cond` holds; throws after `timeoutMs`. */
export async function until(cond: () => boolean, what = 'condition', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; !cond(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => (i < 20 ? setImmediate(r) : setTimeout(r, 5)));
  }
}

/** Lets queued microtasks, immediates and libuv poll callbacks run a few times. */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * What one scenario gets: the kit, the kernel profile it runs under, a device factory, and cleanup
 * tracking.
 */
export class Harness {
  private readonly efds: Efd[] = [];
  private readonly devices: SoftDevice[] = [];
  private readonly fdsBefore = openFds();
  private readonly liveBefore = EventFdPool.default.live;

  constructor(
    readonly kit: Kit,
    /** Every device the scenario makes answers as this kernel unless its options say otherwise. */
    readonly kernel: KernelProfileName = 'mainline',
  ) {}

  /** The answer the scenario expects under the harness's kernel: one value per profile, all listed. */
  expect<T>(perKernel: Readonly<Record<KernelProfileName, T>>): T {
    return perKernel[this.kernel];
  }

  /** A new trigger eventfd of the kit's kind, closed after the scenario if still open. */
  efd(opts?: { initval?: number; semaphore?: boolean }): Efd {
    const e = this.kit.create(opts);
    this.efds.push(e);
    return e;
  }

  /** A new SoftDevice answering as the harness's kernel, closed after the scenario. */
  device(opts?: SoftDeviceOptions): SoftDevice {
    const d = new SoftDevice({ kernel: this.kernel, ...opts });
    this.devices.push(d);
    return d;
  }

  read(e: Efd): bigint {
    return this.kit.read(e);
  }

  write(e: Efd, n = 1): void {
    this.kit.write(e, n);
  }

  close(e: Efd): void {
    this.kit.close(e);
  }

  /**
   * A second reference to the same eventfd file, as its owner may hold one: another fd on it (native:
   * `EventFd.fromFd`, a dup) or another handle on it (shared: one file whatever the handle, so closing
   * any of them is the file's close). Closed after the scenario if still open.
   */
  share(e: Efd): Efd {
    const other =
      this.kit.name === 'native'
        ? EventFd.fromFd((e as EventFd).fd)
        : SharedEventFd.from((e as SharedEventFd).handle);
    this.efds.push(other);
    return other;
  }

  /**
   * Closes everything the scenario opened and returns a description of any leak (null if none): every
   * pool slot back, every kernel fd (including virq's private duplicates) closed.
   */
  async finish(): Promise<string | null> {
    for (const d of this.devices) d.close();
    for (const e of this.efds) if (!e.closed) this.kit.close(e);
    await settle(2);
    closeKernelProbe();
    const live = EventFdPool.default.live;
    const now = openFds();
    const extra = [...now].filter((fd) => !this.fdsBefore.has(fd));
    if (live !== this.liveBefore) return `eventfd pool slots: ${this.liveBefore} before, ${live} after`;
    if (extra.length) return `fds left open: ${extra.join(',')}`;
    return null;
  }
}

/** Runs `fn` and returns the VfioError it throws (fails if it throws nothing or something else). */
export function vfioErr(fn: () => unknown): VfioError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VfioError) return err;
    throw err;
  }
  throw new Error('expected a VfioError, got success');
}
