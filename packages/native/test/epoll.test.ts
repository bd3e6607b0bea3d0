import { closeSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Epoll, EpollEvents, EventFd, isErrnoError, loadNative, WAKE_TAG } from '../src/index.js';
import { drainAll, isCloexec, noLeaks } from './helpers.js';

function expectErrno(t: ExecutionContext, fn: () => unknown, code: string, syscall: string) {
  const e = t.throws(fn);
  t.true(isErrnoError(e, code), `expected ${code}, got ${String(e)}`);
  t.is((e as { syscall?: string }).syscall, syscall);
}

test.serial(
  'add, modify and remove: the tag travels with the fd, and epoll_ctl errors are errno errors',
  async (t) => {
    await noLeaks(t, () => {
      const ep = new Epoll();
      t.true(isCloexec(ep.fd));
      t.true(isCloexec(ep.wakeFd));
      const ev = EventFd.create({ nonblock: true });
      ep.add(ev.fd, 5);
      ev.write(1);
      t.deepEqual(ep.wait(8, 0), [{ tag: 5, events: EpollEvents.IN }]);
      t.deepEqual(ep.wait(8, 0), [{ tag: 5, events: EpollEvents.IN }], 'wait() does not read: still ready');
      ep.modify(ev.fd, 9);
      t.deepEqual(ep.wait(8, 0), [{ tag: 9, events: EpollEvents.IN }]);
      expectErrno(t, () => ep.add(ev.fd, 1), 'EEXIST', 'epoll_ctl(EPOLL_CTL_ADD)');
      ep.remove(ev.fd);
      t.deepEqual(ep.wait(8, 0), []);
      expectErrno(t, () => ep.remove(ev.fd), 'ENOENT', 'epoll_ctl(EPOLL_CTL_DEL)');
      expectErrno(t, () => ep.modify(ev.fd, 1), 'ENOENT', 'epoll_ctl(EPOLL_CTL_MOD)');
      expectErrno(t, () => ep.add(ep.wakeFd, 1), 'EEXIST', 'epoll_ctl(EPOLL_CTL_ADD)');
      t.throws(
        () => ep.add(ev.fd, -1),
        { instanceOf: RangeError },
        'negative tags are reserved for the wake',
      );
      const gone = EventFd.create();
      const n = gone.fd;
      gone.close();
      expectErrno(t, () => ep.add(n, 1), 'EBADF', 'epoll_ctl(EPOLL_CTL_ADD)');
      const file = join(tmpdir(), `virq-native-epoll-${process.pid}`);
      const regular = openSync(file, 'w');
      expectErrno(t, () => ep.add(regular, 1), 'EPERM', 'epoll_ctl(EPOLL_CTL_ADD)');
      closeSync(regular);
      unlinkSync(file);
      ev.close();
      ep.close();
      ep.close();
      t.is(ep.fd, -1);
      expectErrno(t, () => ep.add(0, 1), 'EBADF', 'epoll_ctl(EPOLL_CTL_ADD)');
    });
  },
);

test.serial('EPOLLHUP: a pipe whose write end closed reports HUP (with IN while data is left)', async (t) => {
  await noLeaks(t, () => {
    const native = loadNative();
    const [r, w] = native.pipe(true);
    const ep = new Epoll();
    ep.add(r, 1);
    t.deepEqual(ep.wait(4, 0), []);
    native.closeFd(w);
    const [ev] = ep.wait(4, 0);
    t.is(ev.tag, 1);
    t.is(ev.events & EpollEvents.HUP, EpollEvents.HUP, 'HUP is reported even though only IN was asked for');
    const tags = new Int32Array(4);
    const counts = new BigUint64Array(4);
    const events = new Uint32Array(4);
    t.is(ep.drain(tags, counts, 0, events), 1);
    t.is(tags[0], 1);
    t.is(counts[0], 0n, 'a pipe is not an eventfd: drain reads nothing from it');
    t.is(events[0] & EpollEvents.HUP, EpollEvents.HUP);
    native.closeFd(r);
    ep.close();
  });
});

test.serial('EPOLLERR: the write end of a pipe whose read end closed reports ERR', async (t) => {
  await noLeaks(t, () => {
    const native = loadNative();
    const [r, w] = native.pipe(true);
    const ep = new Epoll();
    ep.add(w, 2, EpollEvents.OUT);
    t.deepEqual(ep.wait(4, 0), [{ tag: 2, events: EpollEvents.OUT }]);
    native.closeFd(r);
    const [ev] = ep.wait(4, 0);
    t.is(ev.events & EpollEvents.ERR, EpollEvents.ERR);
    native.closeFd(w);
    ep.close();
  });
});

test.serial(
  'an eventfd never reports HUP: after its last caller fd closes, the set still sees only IN',
  async (t) => {
    await noLeaks(t, () => {
      const ep = new Epoll();
      const ev = EventFd.create({ nonblock: true });
      const n = ev.fd;
      ep.add(n, 3);
      ev.write(2);
      ev.close();
      t.deepEqual(ep.wait(4, 0), [{ tag: 3, events: EpollEvents.IN }], 'no HUP');
      t.deepEqual(drainAll(ep), new Map([[3, 2n]]));
      ep.remove(n);
      ep.close();
    });
  },
);

test.serial(
  'the set reads through its own duplicate: a closed and recycled fd number is never misread',
  async (t) => {
    await noLeaks(t, () => {
      const ep = new Epoll();
      const ev = EventFd.create({ nonblock: true });
      const writer = EventFd.fromFd(ev.fd);
      const n = ev.fd;
      ep.add(n, 4);
      ev.close();
      // The number is free again: the next file opened takes it. A set reading by number would now read
      // (and consume) this unrelated eventfd's counter.
      const recycled = EventFd.create({ nonblock: true, initval: 99 });
      t.is(recycled.fd, n);
      writer.write(6n);
      t.deepEqual(drainAll(ep), new Map([[4, 6n]]));
      t.is(recycled.read(), 99n, 'the unrelated eventfd that reuses the number was not touched');
      ep.remove(n);
      writer.write(1n);
      t.deepEqual(drainAll(ep), new Map(), 'removed by the original number');
      writer.close();
      recycled.close();
      ep.close();
    });
  },
);

test.serial('wake() ends one wait with WAKE_TAG, and is consumed', async (t) => {
  await noLeaks(t, () => {
    const ep = new Epoll();
    ep.wake();
    ep.wake();
    t.deepEqual(ep.wait(4, 0), [{ tag: WAKE_TAG, events: EpollEvents.IN }]);
    t.deepEqual(ep.wait(4, 0), []);
    ep.wake();
    const tags = new Int32Array(2);
    const counts = new BigUint64Array(2);
    t.is(ep.drain(tags, counts, 0), 1);
    t.is(tags[0], WAKE_TAG);
    t.is(counts[0], 1n);
    t.is(ep.drain(tags, counts, 0), 0);
    ep.close();
  });
});

test.serial(
  "a set created with { wakeFd } is woken through the caller's eventfd, which stays the caller's",
  async (t) => {
    await noLeaks(t, () => {
      const stop = EventFd.create({ nonblock: true });
      const ep = new Epoll({ wakeFd: stop.fd });
      t.not(ep.wakeFd, stop.fd);
      stop.write(1);
      t.deepEqual(ep.wait(4, 0), [{ tag: WAKE_TAG, events: EpollEvents.IN }]);
      ep.close();
      stop.write(1);
      t.is(stop.read(), 1n, "closing the set left the caller's eventfd open");
      stop.close();
      t.throws(() => new Epoll({ wakeFd: 0x7ffffff0 }), { code: 'EBADF' } as never);
    });
  },
);

test.serial('256 eventfds in one set: one batched drain returns every (tag, count) pair', async (t) => {
  await noLeaks(t, () => {
    const ep = new Epoll();
    const fds = Array.from({ length: 256 }, () => EventFd.create({ nonblock: true }));
    fds.forEach((ev, i) => {
      ep.add(ev.fd, 1000 + i);
    });
    fds.forEach((ev, i) => {
      ev.write(BigInt(i + 1));
    });
    fds[17].write(100n);
    const tags = new Int32Array(512);
    const counts = new BigUint64Array(512);
    const n = ep.drain(tags, counts, 0);
    t.is(n, 256, 'every ready eventfd in one call');
    const got = new Map<number, bigint>();
    for (let i = 0; i < n; i++) got.set(tags[i], counts[i]);
    const want = new Map(fds.map((_, i) => [1000 + i, BigInt(i + 1) + (i === 17 ? 100n : 0n)]));
    t.deepEqual(got, want);
    t.is(ep.drain(tags, counts, 0), 0, 'the drain reset every counter');
    t.true(fds.every((ev) => isErrnoError(tryRead(ev), 'EAGAIN')));
    for (const ev of fds) ev.close();
    ep.close();
  });
});

function tryRead(ev: EventFd): unknown {
  try {
    return ev.read();
  } catch (e) {
    return e;
  }
}

test.serial(
  'a drain never returns more pairs than the shortest buffer holds; the rest stay ready',
  async (t) => {
    await noLeaks(t, () => {
      const ep = new Epoll();
      const fds = Array.from({ length: 256 }, () => EventFd.create({ nonblock: true }));
      fds.forEach((ev, i) => {
        ep.add(ev.fd, i);
        ev.write(1);
      });
      const sizes: number[] = [];
      const tags = new Int32Array(100);
      const counts = new BigUint64Array(200);
      const seen = new Set<number>();
      for (;;) {
        const n = ep.drain(tags, counts, 0);
        if (n === 0) break;
        sizes.push(n);
        for (let i = 0; i < n; i++) seen.add(tags[i]);
      }
      t.deepEqual(sizes, [100, 100, 56]);
      t.is(seen.size, 256);
      t.throws(() => ep.drain(new Int32Array(0), counts, 0), { instanceOf: RangeError });
      t.throws(() => ep.drain(new Uint32Array(4) as unknown as Int32Array, counts, 0), {
        instanceOf: TypeError,
      });
      for (const ev of fds) ev.close();
      ep.close();
    });
  },
);

test.serial('drain returns exactly the written counters for any subset of written eventfds', async (t) => {
  await noLeaks(t, () => {
    const ep = new Epoll();
    const fds = Array.from({ length: 64 }, () => EventFd.create({ nonblock: true }));
    fds.forEach((ev, i) => {
      ep.add(ev.fd, i);
    });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 63 }), fc.bigInt({ min: 1n, max: 2n ** 40n })), { maxLength: 100 }),
        (writes) => {
          const want = new Map<number, bigint>();
          for (const [i, v] of writes) {
            fds[i].write(v);
            want.set(i, (want.get(i) ?? 0n) + v);
          }
          const got = drainAll(ep, 16);
          return got.size === want.size && [...want].every(([k, v]) => got.get(k) === v);
        },
      ),
      { numRuns: 100 },
    );
    for (const ev of fds) ev.close();
    ep.close();
    t.pass();
  });
});

test.serial('a blocking-mode eventfd in a drained set is read without blocking', async (t) => {
  await noLeaks(t, () => {
    const ep = new Epoll();
    const ev = EventFd.create({ nonblock: false });
    t.false(ev.nonblocking);
    ep.add(ev.fd, 8);
    ev.write(3n);
    t.deepEqual(drainAll(ep), new Map([[8, 3n]]));
    ev.close();
    ep.close();
  });
});
