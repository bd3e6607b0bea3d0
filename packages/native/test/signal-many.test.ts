// eventfdSignalMany: eventfd_signal() on a batch of eventfds with one io_uring_enter (cpp/counter-ring.h,
// the signal ring of this thread) or one write() each. Whatever the path: every fd gets exactly one
// count per time it is named, a counter at its maximum stays there, a bad fd is reported after the rest
// were signalled, and the ring goes away with its thread.
import { readFileSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { EventFd, loadNative } from '../src/index.js';
import { exited, fdSnapshot, startWorker } from './helpers.js';

const addon = loadNative();
/** 2^64 - 2: the most an eventfd counter holds (eventfd_write refuses to go past it). */
const FULL = 0xfffffffffffffffen;

function ioUringDisabled(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
  } catch {
    return undefined;
  }
}
const ringMappings = () =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('io_uring'));
const newFds = (before: Map<number, string>) =>
  [...fdSnapshot()].filter(([fd, target]) => before.get(fd) !== target);
/** The count, emptied; 0 when there is none (the fds are O_NONBLOCK). */
function take(e: EventFd): bigint {
  try {
    return e.read();
  } catch (err) {
    if ((err as { code?: string }).code === 'EAGAIN') return 0n;
    throw err;
  }
}

for (const ring of [true, false]) {
  const path = ring ? 'io_uring' : 'write()';
  test.serial(`${path}: each fd gets one count per time the batch names it, O_NONBLOCK or blocking`, (t) => {
    addon.eventfdSignalRing(ring);
    const nb = Array.from({ length: 300 }, () => EventFd.create({ nonblock: true }));
    const blocking = Array.from({ length: 3 }, () => EventFd.create());
    try {
      // 300 + 3 fds and fd 0..9 named twice: more than one ring's 256 entries, repeats in one batch
      const all = [...nb, ...blocking];
      const batch = Int32Array.from([...all.map((e) => e.fd), ...nb.slice(0, 10).map((e) => e.fd)]);
      addon.eventfdSignalMany(batch);
      if (!ring) t.is(addon.eventfdSignalPath(), 'write');
      else if (ioUringDisabled() === '0') t.is(addon.eventfdSignalPath(), 'io_uring');
      for (const [i, e] of nb.entries()) t.is(take(e), i < 10 ? 2n : 1n, `nonblocking fd #${i}`);
      // a blocking eventfd's ring write comes back EAGAIN and is written again with write()
      for (const e of blocking) t.is(e.read(), 1n, 'blocking fd');
      // n: only the first n are signalled
      addon.eventfdSignalMany(batch, 2);
      t.deepEqual([take(nb[0]), take(nb[1]), take(nb[2])], [1n, 1n, 0n]);
    } finally {
      for (const e of [...nb, ...blocking]) e.close();
      addon.eventfdSignalRing(true);
    }
  });

  test.serial(
    `${path}: a full counter stays full; a bad fd is thrown after the others are signalled`,
    (t) => {
      addon.eventfdSignalRing(ring);
      const e = Array.from({ length: 4 }, () => EventFd.create({ nonblock: true }));
      try {
        e[1].write(FULL);
        addon.eventfdSignalMany(Int32Array.from(e.map((x) => x.fd)));
        t.deepEqual(e.map(take), [1n, FULL, 1n, 1n], 'the full one saturates, as eventfd_signal does');
        const closed = EventFd.create({ nonblock: true });
        const bad = closed.fd;
        closed.close();
        const err = t.throws(() => addon.eventfdSignalMany(Int32Array.from([e[0].fd, bad, e[2].fd])));
        t.is((err as { code?: string }).code, 'EBADF');
        t.regex(err!.message, new RegExp(`fd ${bad}`));
        t.deepEqual([take(e[0]), take(e[2])], [1n, 1n], 'both sides of the bad fd were signalled');
        t.throws(() => addon.eventfdSignalMany(Int32Array.from([e[0].fd]), 2), { instanceOf: RangeError });
        t.throws(() => addon.eventfdSignalMany([e[0].fd] as unknown as Int32Array), {
          instanceOf: TypeError,
        });
      } finally {
        for (const x of e) x.close();
        addon.eventfdSignalRing(true);
      }
    },
  );
}

test.serial('property: any batch over any fds signals each as often as it is named, on either path', (t) => {
  const e = Array.from({ length: 12 }, () => EventFd.create({ nonblock: true }));
  try {
    fc.assert(
      fc.property(fc.array(fc.nat(11), { maxLength: 600 }), fc.boolean(), (picks, ring) => {
        addon.eventfdSignalRing(ring);
        addon.eventfdSignalMany(Int32Array.from(picks.map((i) => e[i].fd)));
        const want = e.map((_, i) => BigInt(picks.filter((p) => p === i).length));
        return e.map(take).every((v, i) => v === want[i]);
      }),
      { numRuns: 150 },
    );
    t.pass();
  } finally {
    for (const x of e) x.close();
    addon.eventfdSignalRing(true);
  }
});

test.serial('eventfdSignalRing(false) closes this thread’s ring: no io_uring fd or mapping stays', (t) => {
  const before = fdSnapshot();
  const e = [EventFd.create({ nonblock: true }), EventFd.create({ nonblock: true })];
  addon.eventfdSignalMany(Int32Array.from(e.map((x) => x.fd)));
  for (const x of e) x.close();
  addon.eventfdSignalRing(false);
  t.is(addon.eventfdSignalPath(), 'write');
  t.deepEqual(ringMappings(), []);
  t.deepEqual(newFds(before), []);
  addon.eventfdSignalRing(true);
  t.is(addon.eventfdSignalPath(), 'unopened', 'opened again at the next batch');
});

test.serial('a worker that signalled through its ring and exited leaves no fd or mapping', async (t) => {
  const before = fdSnapshot();
  const worker = startWorker('signal-many-worker', { fds: 8 });
  t.is(await exited(worker), 0);
  t.deepEqual(ringMappings(), [], "the worker's ring is unmapped");
  t.deepEqual(newFds(before), [], "the worker's ring fd and eventfds are closed");
});
