import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { Event, pendingAsyncWaits } from '../src/index.js';
import { WorkerScope } from './helpers.js';

test('manual-reset: stays set until reset', (t) => {
  const e = Event.init(new SharedArrayBuffer(8), 0);
  t.false(e.isSet());
  t.false(e.wait(0));
  e.set();
  t.true(e.wait(0));
  t.true(e.wait(10));
  t.true(e.isSet());
  e.reset();
  t.false(e.isSet());
  t.false(e.wait(20));
});

test.serial('auto-reset: one wait consumes one set; sets coalesce', async (t) => {
  const e = Event.init(new SharedArrayBuffer(8), 0, { autoReset: true, initiallySet: true });
  t.true(e.isSet());
  t.true(e.wait(0));
  t.false(e.isSet());
  e.set();
  e.set();
  t.true(await e.waitAsync(10));
  t.false(await e.waitAsync(20));
  t.is(pendingAsyncWaits(), 0);
});

test('handles carry the mode across attachments', (t) => {
  const e = Event.init(new SharedArrayBuffer(8), 0, { autoReset: true });
  const h = structuredClone(e.handle);
  t.true(h.autoReset);
  const again = Event.from(h);
  e.set();
  t.true(again.wait(0));
  t.false(e.isSet());
});

test('bad arguments are rejected with what was expected', (t) => {
  t.throws(() => new Event(new SharedArrayBuffer(4), 0), {
    instanceOf: RangeError,
    code: 'ERR_BUFFER_TOO_SMALL',
  });
  t.throws(() => new Event(new SharedArrayBuffer(8), 0, 1 as never), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG',
    message: /autoReset must be a boolean/,
  });
  t.throws(() => new Event(new SharedArrayBuffer(8), 0).wait(0, -1), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => Event.from(undefined as never), { code: 'ERR_INVALID_ARG' });
});

test('a pending Event.waitAsync keeps the process alive until it times out', (t) => {
  const child = fileURLToPath(new URL('./fixtures/keepalive-child.js', import.meta.url));
  const r = spawnSync(process.execPath, [child, 'event'], { encoding: 'utf8', timeout: 20_000 });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), 'event:false');
});

async function waitForValue(st: Int32Array, index: number, atLeast: number): Promise<void> {
  for (;;) {
    const v = Atomics.load(st, index);
    if (v >= atLeast) return;
    const r = Atomics.waitAsync(st, index, v, 20_000);
    if ((r.async ? await r.value : r.value) === 'timed-out') throw new Error(`stuck at ${v} < ${atLeast}`);
  }
}

test.serial('manual-reset set() releases every sleeping waiter', async (t) => {
  const scope = new WorkerScope(t);
  const e = Event.init(new SharedArrayBuffer(8), 0);
  const st = new Int32Array(new SharedArrayBuffer(12)); // [passes, stop, ready]
  const N = 3;
  const ws = Array.from({ length: N }, () =>
    scope.start<{ passes: number; setAfter: boolean }>('event-worker', {
      event: e.handle,
      stats: st.buffer,
      once: true,
    }),
  );
  await waitForValue(st, 2, N);
  e.set();
  const results = await Promise.all(ws.map((w) => w.result));
  t.deepEqual(
    results,
    ws.map(() => ({ passes: 1, setAfter: true })),
  );
  await scope.finish(t);
});

test.serial('auto-reset set() lets exactly one waiter through per set', async (t) => {
  const scope = new WorkerScope(t);
  const e = Event.init(new SharedArrayBuffer(8), 0, { autoReset: true });
  const st = new Int32Array(new SharedArrayBuffer(12));
  const N = 3;
  const K = 300;
  const ws = Array.from({ length: N }, () =>
    scope.start<{ passes: number }>('event-worker', { event: e.handle, stats: st.buffer, once: false }),
  );
  await waitForValue(st, 2, N);
  for (let k = 1; k <= K; k++) {
    e.set();
    await waitForValue(st, 0, k);
  }
  Atomics.store(st, 1, 1);
  const results = await Promise.all(ws.map((w) => w.result));
  t.is(
    results.reduce((a, r) => a + r.passes, 0),
    K,
  );
  t.is(Atomics.load(st, 0), K);
  t.false(e.isSet());
  await scope.finish(t);
});
