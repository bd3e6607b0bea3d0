import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Mutex, pendingAsyncWaits } from '../src/index.js';
import { WorkerScope } from './helpers.js';

test('lock, tryLock and unlock move through free and locked', (t) => {
  const m = Mutex.init(new SharedArrayBuffer(8), 4);
  t.false(m.locked);
  t.true(m.tryLock());
  t.true(m.locked);
  t.false(m.tryLock());
  m.unlock();
  t.true(m.lock());
  m.unlock();
  t.false(m.locked);
});

test('unlocking a free mutex throws ERR_NOT_LOCKED', (t) => {
  const m = new Mutex(new SharedArrayBuffer(4), 0);
  t.throws(() => m.unlock(), { code: 'ERR_NOT_LOCKED', message: /not locked/ });
});

test('lock(timeout) returns false when the mutex stays held', (t) => {
  const m = new Mutex(new SharedArrayBuffer(4), 0);
  m.lock();
  t.false(m.lock(30));
  t.false(m.lock(0));
  t.true(m.locked);
  m.unlock();
  // The timed-out waiter left the word CONTENDED; the mutex must still be usable.
  t.true(m.tryLock());
  m.unlock();
  t.false(m.locked);
});

test.serial(
  'lockAsync(timeout) resolves false when the mutex stays held, and holds no ref after',
  async (t) => {
    const m = new Mutex(new SharedArrayBuffer(4), 0);
    m.lock();
    t.false(await m.lockAsync(30));
    t.is(pendingAsyncWaits(), 0);
    m.unlock();
    t.true(await m.lockAsync(30));
    m.unlock();
  },
);

test('withLock runs the function under the lock and releases it even when it throws', (t) => {
  const m = new Mutex(new SharedArrayBuffer(4), 0);
  t.is(
    m.withLock(() => (m.locked ? 'in' : 'out')),
    'in',
  );
  t.throws(
    () =>
      m.withLock(() => {
        throw new Error('boom');
      }),
    { message: 'boom' },
  );
  t.false(m.locked);
  m.lock();
  t.throws(() => m.withLock(() => 1, 10), { code: 'ERR_TIMEOUT' });
  m.unlock();
});

test.serial('bad arguments are rejected with what was expected', (t) => {
  t.throws(() => new Mutex(new ArrayBuffer(4) as unknown as SharedArrayBuffer, 0), {
    instanceOf: TypeError,
    code: 'ERR_NOT_SHARED',
    message: 'Mutex: buffer must be a SharedArrayBuffer, got ArrayBuffer',
  });
  t.throws(() => new Mutex(new SharedArrayBuffer(8), 2), {
    instanceOf: RangeError,
    code: 'ERR_MISALIGNED',
    message: 'Mutex: offset 2 is misaligned; expected a multiple of 4',
  });
  t.throws(() => new Mutex(new SharedArrayBuffer(8), -4), { instanceOf: RangeError, code: 'ERR_BAD_OFFSET' });
  t.throws(() => new Mutex(new SharedArrayBuffer(8), 8), {
    instanceOf: RangeError,
    code: 'ERR_BUFFER_TOO_SMALL',
    message: 'Mutex: buffer too small; needs 4 bytes at offset 8 (12 in all), buffer has 8',
  });
  const m = new Mutex(new SharedArrayBuffer(4), 0);
  m.lock();
  t.throws(() => m.lock(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /timeout/ });
  t.throws(() => m.lock(Number.NaN), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => m.lock(10, 1.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /spin/ });
  t.throws(() => Mutex.from(null as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG' });
});

test.serial('N workers x M locked non-atomic increments end at exactly N*M', async (t) => {
  const scope = new WorkerScope(t);
  const buf = new SharedArrayBuffer(64);
  const m = Mutex.init(buf, 0);
  const counter = new SharedArrayBuffer(4);
  const N = 4;
  const M = 20_000;
  const workers = Array.from({ length: N }, (_, i) =>
    scope.start<{ done: number }>('mutex-worker', {
      mutex: m.handle,
      counter,
      iterations: M,
      spin: i % 2 === 0 ? 0 : 200,
    }),
  );
  // The main thread takes part too, through lockAsync, with the same non-atomic read-modify-write.
  const c = new Int32Array(counter);
  const mainCycles = 500;
  for (let i = 0; i < mainCycles; i++) {
    t.true(await m.lockAsync(10_000));
    const v = c[0];
    await Promise.resolve();
    c[0] = v + 1;
    m.unlock();
  }
  const results = await Promise.all(workers.map((w) => w.result));
  t.deepEqual(
    results.map((r) => r.done),
    workers.map(() => M),
  );
  t.is(Atomics.load(c, 0), N * M + mainCycles);
  t.false(m.locked);
  await scope.finish(t);
});

test.serial('lockAsync resolves true when another thread unlocks', async (t) => {
  const scope = new WorkerScope(t);
  const m = Mutex.init(new SharedArrayBuffer(4), 0);
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const w = scope.start<{ unlocked: boolean }>('hold-mutex', { mutex: m.handle, ctl: ctl.buffer });
  while (Atomics.load(ctl, 0) === 0) await Atomics.waitAsync(ctl, 0, 0, 1000).value;
  t.false(m.tryLock());
  const got = m.lockAsync(20_000);
  t.is(pendingAsyncWaits(), 1, 'a pending lockAsync holds the process');
  Atomics.store(ctl, 1, 1);
  Atomics.notify(ctl, 1);
  t.true(await got);
  t.is(pendingAsyncWaits(), 0);
  m.unlock();
  t.deepEqual(await w.result, { unlocked: true });
  await scope.finish(t);
});

test('a pending lockAsync keeps the process alive until it settles', (t) => {
  const child = fileURLToPath(new URL('./fixtures/keepalive-child.js', import.meta.url));
  const r = spawnSync(process.execPath, [child, 'mutex'], { encoding: 'utf8', timeout: 20_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'mutex:false');
});
