import { closeSync, openSync } from 'node:fs';
import test from 'ava';
import fc from 'fast-check';
import { EVENTFD_MAX, EventFd, isErrnoError, loadNative } from '../src/index.js';
import { isCloexec, noLeaks } from './helpers.js';

const errno = (code: string, no: number, syscall: string) => ({
  code,
  errno: no,
  syscall,
});

function expectErrno(
  t: import('ava').ExecutionContext,
  fn: () => unknown,
  code: string,
  no: number,
  syscall: string,
) {
  const e = t.throws(fn);
  t.true(isErrnoError(e, code), `expected ${code}, got ${String(e)}`);
  t.like(e, errno(code, no, syscall));
  t.regex(e?.message ?? '', new RegExp(`^${code}: .*, ${syscall.replace(/[()]/g, '\\$&')}`));
}

test.serial(
  'initval is the first read, then the counter is 0 and a non-blocking read is EAGAIN',
  async (t) => {
    await noLeaks(t, () => {
      const ev = EventFd.create({ initval: 7, nonblock: true });
      t.true(ev.fd >= 0);
      t.true(ev.nonblocking);
      t.is(ev.read(), 7n);
      expectErrno(t, () => ev.read(), 'EAGAIN', -11, 'eventfd_read');
      ev.close();
    });
  },
);

test.serial('writes add up and a read takes the whole count', async (t) => {
  await noLeaks(t, () => {
    const ev = EventFd.create({ nonblock: true });
    ev.write(2);
    ev.write(3n);
    ev.write();
    ev.write(0);
    t.is(ev.read(), 6n);
    ev.close();
  });
});

test.serial('semaphore mode reads 1 at a time', async (t) => {
  await noLeaks(t, () => {
    const ev = EventFd.create({ initval: 3, semaphore: true, nonblock: true });
    t.deepEqual([ev.read(), ev.read(), ev.read()], [1n, 1n, 1n]);
    expectErrno(t, () => ev.read(), 'EAGAIN', -11, 'eventfd_read');
    ev.write(2n);
    t.is(ev.read(), 1n);
    t.is(ev.read(), 1n);
    ev.close();
  });
});

test.serial(
  'writing 0xffffffffffffffff is EINVAL; passing the 0xfffffffffffffffe ceiling is EAGAIN',
  async (t) => {
    await noLeaks(t, () => {
      const ev = EventFd.create({ nonblock: true });
      expectErrno(t, () => ev.write(0xffffffffffffffffn), 'EINVAL', -22, 'eventfd_write');
      ev.write(EVENTFD_MAX);
      expectErrno(t, () => ev.write(1), 'EAGAIN', -11, 'eventfd_write');
      ev.write(0);
      t.is(ev.read(), 0xfffffffffffffffen);
      ev.write(EVENTFD_MAX - 1n);
      ev.write(1n);
      expectErrno(t, () => ev.write(1n), 'EAGAIN', -11, 'eventfd_write');
      t.is(ev.read(), EVENTFD_MAX);
      ev.close();
    });
  },
);

test.serial('values that are no u64 are rejected before the kernel sees them', async (t) => {
  await noLeaks(t, () => {
    const ev = EventFd.create({ nonblock: true });
    t.throws(() => ev.write(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as never);
    t.throws(() => ev.write(1.5), { instanceOf: RangeError });
    t.throws(() => ev.write(2n ** 64n), { instanceOf: RangeError });
    t.throws(() => ev.write(-1n), { instanceOf: RangeError });
    t.throws(() => ev.write('1' as unknown as number), {
      instanceOf: TypeError,
      code: 'ERR_INVALID_ARG_TYPE',
    } as never);
    t.throws(() => EventFd.create({ initval: 2 ** 32 }), { instanceOf: RangeError });
    t.throws(() => EventFd.create({ initval: -1 }), { instanceOf: RangeError });
    t.throws(() => ev.read(), { code: 'EAGAIN' } as never, 'nothing was written by the rejected calls');
    ev.close();
  });
});

test.serial('the counter behaves like the kernel model for any sequence of writes and reads', async (t) => {
  await noLeaks(t, () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), value: fc.bigInt({ min: 0n, max: 2n ** 62n }) }),
      fc.record({ kind: fc.constant('read' as const) }),
    );
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.nat({ max: 5 }),
        fc.array(op, { maxLength: 30 }),
        (semaphore, initval, ops) => {
          const ev = EventFd.create({ initval, semaphore, nonblock: true });
          try {
            let model = BigInt(initval);
            for (const o of ops) {
              if (o.kind === 'write') {
                const fits = model + o.value <= EVENTFD_MAX;
                try {
                  ev.write(o.value);
                  if (!fits) return false;
                  model += o.value;
                } catch (e) {
                  if (fits || !isErrnoError(e, 'EAGAIN')) return false;
                }
              } else {
                const expected = model === 0n ? null : semaphore ? 1n : model;
                try {
                  const got = ev.read();
                  if (got !== expected) return false;
                  model -= got;
                } catch (e) {
                  if (expected !== null || !isErrnoError(e, 'EAGAIN')) return false;
                }
              }
            }
            return true;
          } finally {
            ev.close();
          }
        },
      ),
      { numRuns: 200 },
    );
    t.pass();
  });
});

test.serial('fds are O_CLOEXEC, close() is idempotent, and a closed EventFd reports EBADF', async (t) => {
  await noLeaks(t, () => {
    const ev = EventFd.create();
    t.true(isCloexec(ev.fd));
    ev.close();
    ev.close();
    t.true(ev.closed);
    t.is(ev.fd, -1);
    expectErrno(t, () => ev.read(), 'EBADF', -9, 'eventfd_read');
    expectErrno(t, () => ev.write(1), 'EBADF', -9, 'eventfd_write');
  });
});

test.serial(
  'fromFd checks like eventfd_ctx_fdget: EBADF for a closed fd, EINVAL for a pipe or /dev/null',
  async (t) => {
    await noLeaks(t, () => {
      const gone = EventFd.create();
      const n = gone.fd;
      gone.close();
      expectErrno(t, () => EventFd.fromFd(n), 'EBADF', -9, 'eventfd_ctx_fdget');
      expectErrno(t, () => EventFd.fromFd(-1), 'EBADF', -9, 'eventfd_ctx_fdget');
      const [r, w] = loadNative().pipe();
      expectErrno(t, () => EventFd.fromFd(r), 'EINVAL', -22, 'eventfd_ctx_fdget');
      t.false(EventFd.isEventFd(r));
      closeSync(r);
      closeSync(w);
      const devnull = openSync('/dev/null', 'r');
      expectErrno(t, () => EventFd.fromFd(devnull), 'EINVAL', -22, 'eventfd_ctx_fdget');
      closeSync(devnull);
    });
  },
);

test.serial('fromFd duplicates: both name one counter, and the caller keeps its own fd', async (t) => {
  await noLeaks(t, () => {
    const original = EventFd.create({ nonblock: true });
    t.true(EventFd.isEventFd(original.fd));
    const copy = EventFd.fromFd(original.fd);
    t.not(copy.fd, original.fd);
    t.true(isCloexec(copy.fd));
    t.true(copy.nonblocking, 'O_NONBLOCK is shared: it lives on the open file');
    copy.write(41n);
    original.write(1n);
    t.is(copy.read(), 42n);
    copy.close();
    original.write(5n);
    t.is(original.read(), 5n, "closing the copy left the caller's fd open");
    original.close();
  });
});
