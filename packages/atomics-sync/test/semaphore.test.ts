import test from 'ava';
import { pendingAsyncWaits, Semaphore } from '../src/index.js';
import { WorkerScope } from './helpers.js';

test('init writes the initial count; tryAcquire takes until zero; release gives back', (t) => {
  const s = Semaphore.init(new SharedArrayBuffer(16), 8, 2);
  t.is(s.value, 2);
  t.true(s.tryAcquire());
  t.true(s.tryAcquire());
  t.false(s.tryAcquire());
  s.release(2);
  t.is(s.value, 2);
  t.is(Semaphore.from(s.handle).value, 2, 'a re-attached semaphore sees the same count');
});

test('zeroed memory is a semaphore with count 0', (t) => {
  const s = new Semaphore(new SharedArrayBuffer(8), 0);
  t.is(s.value, 0);
  t.false(s.tryAcquire());
});

test.serial('acquire(timeout) and acquireAsync(timeout) return false when no unit comes', async (t) => {
  const s = Semaphore.init(new SharedArrayBuffer(8), 0, 0);
  t.false(s.acquire(25));
  t.false(s.acquire(0));
  t.false(await s.acquireAsync(25));
  t.is(pendingAsyncWaits(), 0);
  s.release();
  t.true(await s.acquireAsync(25));
  t.is(s.value, 0);
});

test('acquireAsync is woken by a later release', async (t) => {
  const s = Semaphore.init(new SharedArrayBuffer(8), 0, 0);
  const p = s.acquireAsync(20_000);
  setTimeout(() => s.release(), 10);
  t.true(await p);
  t.is(s.value, 0);
});

test('bad arguments are rejected with what was expected', (t) => {
  const buf = new SharedArrayBuffer(16);
  t.throws(() => Semaphore.init(buf, 0, -1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => Semaphore.init(buf, 0, 1.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => Semaphore.spec(-2), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => new Semaphore(buf, 12), { instanceOf: RangeError, code: 'ERR_BUFFER_TOO_SMALL' });
  t.throws(() => new Semaphore(buf, 6), { instanceOf: RangeError, code: 'ERR_MISALIGNED' });
  const s = new Semaphore(buf, 0);
  t.throws(() => s.release(0), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /release: n/ });
  t.throws(() => s.acquire(-5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  s.release(0x7fffffff);
  t.throws(() => s.release(1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE', message: /exceed/ });
  t.is(s.value, 0x7fffffff, 'an overflowing release leaves the count unchanged');
});

test.serial('a semaphore of K never has more than K holders at once', async (t) => {
  const scope = new WorkerScope(t);
  const K = 3;
  const N = 6;
  const M = 3_000;
  const s = Semaphore.init(new SharedArrayBuffer(8), 0, K);
  const stats = new Int32Array(new SharedArrayBuffer(12)); // [holders, maxHolders, acquisitions]
  const ws = Array.from({ length: N }, () =>
    scope.start<{ done: number }>('semaphore-worker', { sem: s.handle, stats: stats.buffer, iterations: M }),
  );
  await Promise.all(ws.map((w) => w.result));
  const max = Atomics.load(stats, 1);
  t.true(max >= 1 && max <= K, `max concurrent holders ${max} must be within 1..${K}`);
  t.is(Atomics.load(stats, 0), 0);
  t.is(Atomics.load(stats, 2), N * M);
  t.is(s.value, K, 'every unit came back');
  await scope.finish(t);
});
