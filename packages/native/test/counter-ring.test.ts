// The drain's two ways of reading eventfd counters (cpp/counter-ring.h): through one io_uring for every
// ready counter, or one read() each. Both must hand back exactly what was written, consume exactly
// that, and leave no fd or mapping behind.
import { readFileSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Epoll, EpollEvents, EventFd, loadNative } from '../src/index.js';
import { drainAll, exited, fdSnapshot, noLeaks, startWorker } from './helpers.js';

/** What this kernel says about io_uring: '0' = allowed for everyone; absent before 6.6. */
function ioUringDisabled(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The read path a set asked for io_uring should end up on here, or undefined when it cannot be known. */
function expectedRingPath(): 'io_uring' | 'read' | undefined {
  const disabled = ioUringDisabled();
  if (disabled === '0') return 'io_uring';
  if (disabled === '2') return 'read';
  return undefined; // '1' depends on the group; absent: an older kernel, either can be right
}

const ringMappings = () =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('io_uring'));
const ringFds = () => [...fdSnapshot().values()].filter((target) => target.includes('io_uring'));

function checkPath(t: ExecutionContext, ep: Epoll, ioUring: boolean) {
  if (!ioUring) {
    t.is(ep.readPath, 'read', 'ioUring: false reads with read()');
    return;
  }
  const want = expectedRingPath();
  if (want === undefined) t.true(ep.readPath === 'io_uring' || ep.readPath === 'read');
  else t.is(ep.readPath, want, `io_uring_disabled is ${ioUringDisabled()}`);
}

for (const ioUring of [true, false]) {
  const path = ioUring ? 'io_uring' : 'read()';
  test.serial(
    `${path}: one drain of 300 ready eventfds (more than one ring's 256) reads each count exactly once`,
    async (t) => {
      await noLeaks(t, () => {
        const ep = new Epoll({ ioUring });
        t.is(ep.readPath, ioUring ? 'unopened' : 'read', 'no ring before the first drain that needs one');
        const fds: EventFd[] = [];
        for (let i = 0; i < 300; i++) {
          // Half blocking, half not: RWF_NOWAIT must make the mode irrelevant.
          const ev = EventFd.create({ nonblock: i % 2 === 0 });
          ep.add(ev.fd, i);
          ev.write(BigInt(i * 1000 + 7));
          fds.push(ev);
        }
        const tags = new Int32Array(512);
        const counts = new BigUint64Array(512);
        t.is(ep.drain(tags, counts, 0), 300, 'one drain, every ready fd');
        const got = new Map<number, bigint>();
        for (let i = 0; i < 300; i++) got.set(tags[i], counts[i]);
        for (let i = 0; i < 300; i++) t.is(got.get(i), BigInt(i * 1000 + 7), `tag ${i}`);
        checkPath(t, ep, ioUring);
        t.is(ep.drain(tags, counts, 0), 0, 'every counter was consumed');
        for (const ev of fds) ev.close();
        if (ep.readPath === 'io_uring') {
          t.is(ringFds().length, 1, 'the set holds one io_uring fd');
          t.true(ringMappings().length > 0, 'and its rings are mapped');
        }
        ep.close();
        t.deepEqual(ringMappings(), [], 'close unmaps the rings');
        t.deepEqual(ringFds(), [], 'and closes the ring fd');
      });
    },
  );

  test.serial(`${path}: semaphore eventfds, pipes and the wake in one drain`, async (t) => {
    await noLeaks(t, () => {
      const ep = new Epoll({ ioUring });
      const sem = EventFd.create({ semaphore: true, nonblock: true });
      const plain = EventFd.create({ nonblock: true });
      const [r, w] = loadNative().pipe(true);
      ep.add(sem.fd, 1);
      ep.add(plain.fd, 2);
      ep.add(r, 3);
      sem.write(3);
      plain.write(41);
      loadNative().eventfdWrite(w, 0); // not an eventfd write: any 8 bytes make the pipe readable
      ep.wake();
      const tags = new Int32Array(16);
      const counts = new BigUint64Array(16);
      const events = new Uint32Array(16);
      const n = ep.drain(tags, counts, 0, events);
      const seen = new Map<number, [bigint, number]>();
      for (let i = 0; i < n; i++) seen.set(tags[i], [counts[i], events[i]]);
      t.deepEqual(seen.get(1), [1n, EpollEvents.IN], 'a semaphore eventfd gives up 1 per read');
      t.deepEqual(seen.get(2), [41n, EpollEvents.IN]);
      t.deepEqual(seen.get(3), [0n, EpollEvents.IN], 'a pipe is reported, not read');
      t.deepEqual(seen.get(-1), [1n, EpollEvents.IN], 'the wake, with its count');
      t.is(n, 4);
      checkPath(t, ep, ioUring);
      // What is left: the semaphore's 2, one per drain; the pipe until someone reads it.
      ep.remove(r);
      t.deepEqual([...drainAll(ep)], [[1, 2n]]);
      ep.close();
      sem.close();
      plain.close();
      loadNative().closeFd(r);
      loadNative().closeFd(w);
    });
  });
}

test.serial('both read paths agree with a model of the counters under random writes and drains', (t) => {
  const before = fdSnapshot();
  const ring = new Epoll({ ioUring: true });
  const plain = new Epoll({ ioUring: false });
  const N = 24;
  // Two fds per slot, one per set: the sets must not read each other's counters.
  const evs = Array.from({ length: N }, () => [EventFd.create({ nonblock: true }), EventFd.create()]);
  evs.forEach(([a, b], i) => {
    ring.add(a.fd, i);
    plain.add(b.fd, i);
  });
  const model = new Array<bigint>(N).fill(0n);
  const step = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), i: fc.nat(N - 1), v: fc.bigInt(1n, 1n << 40n) }),
    fc.record({ kind: fc.constant('drain' as const), cap: fc.integer({ min: 1, max: N + 2 }) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      for (const s of steps) {
        if (s.kind === 'write') {
          evs[s.i][0].write(s.v);
          evs[s.i][1].write(s.v);
          model[s.i] += s.v;
          continue;
        }
        // A drain with a small buffer takes only some of the ready fds; both sets must agree with the
        // model on the ones they took, and keep the rest.
        const got = [ring, plain].map((ep) => {
          const tags = new Int32Array(s.cap);
          const counts = new BigUint64Array(s.cap);
          const n = ep.drain(tags, counts, 0);
          const m = new Map<number, bigint>();
          for (let i = 0; i < n; i++) m.set(tags[i], counts[i]);
          return m;
        });
        for (const m of got) {
          for (const [i, c] of m) if (c !== model[i]) return false;
          if (m.size !== Math.min(s.cap, model.filter((c) => c > 0n).length)) return false;
        }
        // Consume what either set took from both, so the model stays one counter per slot.
        for (const i of new Set([...got[0].keys(), ...got[1].keys()])) {
          for (const [k, m] of got.entries()) if (!m.has(i)) evs[i][k].read();
          model[i] = 0n;
        }
      }
      return true;
    }),
    { numRuns: 60 },
  );
  const left = [drainAll(ring), drainAll(plain)];
  for (let i = 0; i < N; i++) {
    t.is(left[0].get(i) ?? 0n, model[i], `ring set, slot ${i}`);
    t.is(left[1].get(i) ?? 0n, model[i], `read() set, slot ${i}`);
  }
  checkPath(t, ring, true);
  t.is(plain.readPath, 'read');
  ring.close();
  plain.close();
  for (const [a, b] of evs) {
    a.close();
    b.close();
  }
  t.deepEqual(ringMappings(), []);
  t.deepEqual(
    [...fdSnapshot()].filter(([fd, target]) => before.get(fd) !== target),
    [],
    'no fd left behind',
  );
});

test.serial(
  'a worker that drained through its ring and exited without close() leaves no fd or mapping',
  async (t) => {
    const before = fdSnapshot();
    const worker = startWorker('ring-drain-worker', { fds: 8 });
    t.is(await exited(worker), 0);
    t.deepEqual(ringMappings(), [], "the worker's ring is unmapped");
    t.deepEqual(
      [...fdSnapshot()].filter(([fd, target]) => before.get(fd) !== target),
      [],
      "the worker's ring fd, epoll fd and eventfds are closed",
    );
  },
);
