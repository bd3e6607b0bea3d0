import { existsSync, readFileSync } from 'node:fs';
import { EventFdPool, SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import test from 'ava';
import fc from 'fast-check';
import { DispatchError, Dispatcher, resolveAffinity } from '../src/index.js';
import { Leaks, quiesce, R, RECORD_HANDLER, Records, range, waitFor, warmUp } from './helpers.js';

test.before(warmUp);

const index = VFIO_PCI_MSIX_IRQ_INDEX;

test('affinity: spread, block, maps and functions', (t) => {
  t.deepEqual(Array.from(resolveAffinity('spread', [4, 5, 6, 7, 8], 2)), [0, 1, 0, 1, 0]);
  t.deepEqual(Array.from(resolveAffinity('block', [4, 5, 6, 7, 8], 2)), [0, 0, 0, 1, 1]);
  t.deepEqual(
    Array.from(
      resolveAffinity(
        new Map([
          [4, 1],
          [5, 0],
        ]),
        [4, 5],
        2,
      ),
    ),
    [1, 0],
  );
  t.deepEqual(Array.from(resolveAffinity({ 4: 1, 5: 1 }, [4, 5], 2)), [1, 1]);
  t.deepEqual(Array.from(resolveAffinity((v, i, w) => (v + i) % w, [4, 5], 3)), [1, 0]);
  const bad = (fn: () => unknown, msg: RegExp, code: string) => {
    const instanceOf = code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError;
    const e = t.throws(fn, { instanceOf, message: msg });
    t.is((e as { code?: string } | undefined)?.code, code);
  };
  bad(
    () => resolveAffinity(new Map([[4, 0]]), [4, 5], 2),
    /no worker given for vector 5/,
    'ERR_INVALID_ARG_VALUE',
  );
  bad(() => resolveAffinity(() => 2, [4], 2), /mapped to worker 2/, 'ERR_OUT_OF_RANGE');
  bad(() => resolveAffinity(() => 0.5, [4], 2), /mapped to worker 0.5/, 'ERR_OUT_OF_RANGE');
  bad(() => resolveAffinity('spread', [4], 0), /workers must be a positive integer/, 'ERR_OUT_OF_RANGE');
});

test('affinity: spread and block cover every vector with balanced, in-range owners (property)', (t) => {
  const checked = { spread: 0, block: 0 };
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 2047 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 1, max: 16 }),
        fc.constantFrom('spread' as const, 'block' as const),
        (vectors, workers, spec) => {
          const owners = resolveAffinity(spec, vectors, workers);
          // One owner per vector, by position: an empty or short result is wrong.
          if (owners.length !== vectors.length) return false;
          const per = new Array(workers).fill(0);
          for (const w of owners) {
            if (!(Number.isInteger(w) && w >= 0 && w < workers)) return false;
            per[w]++;
          }
          if (per.reduce((a, c) => a + c, 0) !== vectors.length) return false;
          checked[spec]++;
          const size = Math.ceil(vectors.length / workers);
          // spread: round robin by position; balanced within one vector.
          if (spec === 'spread') {
            if (!Array.from(owners).every((w, i) => w === i % workers)) return false;
            return Math.max(...per) - Math.min(...per) <= 1;
          }
          // block: contiguous runs of ceil(n / workers), in worker order, the last possibly shorter.
          if (!Array.from(owners).every((w, i) => w === Math.floor(i / size))) return false;
          const used = per.filter((c) => c > 0);
          return used.slice(0, -1).every((c) => c === size) && used[used.length - 1] <= size;
        },
      ),
    ),
  );
  t.true(checked.spread > 0 && checked.block > 0, 'both layouts were checked');
});

test('bad options are rejected with a coded TypeError / RangeError before anything starts', (t) => {
  const device = new SoftDevice({ msix: { vectors: 8 } });
  const base = { device, vectors: 8, module: RECORD_HANDLER };
  const cases: [object, RegExp, string][] = [
    [{ vectors: [1, 1] }, /listed twice/, 'ERR_INVALID_ARG_VALUE'],
    [{ vectors: [] }, /no vectors/, 'ERR_INVALID_ARG_VALUE'],
    [{ vectors: [-1] }, /bad vector/, 'ERR_OUT_OF_RANGE'],
    [{ workers: 0 }, /workers must be in/, 'ERR_OUT_OF_RANGE'],
    [{ budget: 0 }, /budget must be a positive integer/, 'ERR_OUT_OF_RANGE'],
    [{ mode: 'fast' }, /unknown mode/, 'ERR_INVALID_ARG_VALUE'],
    [{ affinity: () => 5 }, /mapped to worker 5/, 'ERR_OUT_OF_RANGE'],
    [{ hybrid: { pollAbove: 10, interruptBelow: 20 } }, /interruptBelow/, 'ERR_INVALID_ARG_VALUE'],
    [{ device: {} }, /IrqDevice/, 'ERR_INVALID_ARG_TYPE'],
    [{ hybrid: { windowMs: 0 } }, /hybrid.windowMs must be/, 'ERR_OUT_OF_RANGE'],
    [{ hybrid: { windowMs: -5 } }, /hybrid.windowMs must be/, 'ERR_OUT_OF_RANGE'],
    [{ hybrid: { windowMs: Number.NaN } }, /hybrid.windowMs must be/, 'ERR_OUT_OF_RANGE'],
    [{ hybrid: { pollAbove: -1 } }, /hybrid.pollAbove must be/, 'ERR_OUT_OF_RANGE'],
    [{ spinMicros: -1 }, /spinMicros must be/, 'ERR_OUT_OF_RANGE'],
    [{ spinMicros: Number.POSITIVE_INFINITY }, /spinMicros must be/, 'ERR_OUT_OF_RANGE'],
    [{ coalesceMicros: -1 }, /coalesceMicros must be/, 'ERR_OUT_OF_RANGE'],
    [{ coalesceMicros: 1_000_001 }, /coalesceMicros must be/, 'ERR_OUT_OF_RANGE'],
    [{ pollWaitMicros: -1 }, /pollWaitMicros must be/, 'ERR_OUT_OF_RANGE'],
    [{ pollWaitMicros: 1_000_001 }, /pollWaitMicros must be/, 'ERR_OUT_OF_RANGE'],
    [{ pollWaitMicros: '200' }, /pollWaitMicros must be/, 'ERR_INVALID_ARG_TYPE'],
    [{ idlePolls: 0 }, /idlePolls must be an integer/, 'ERR_OUT_OF_RANGE'],
    [{ idlePolls: 1.5 }, /idlePolls must be an integer/, 'ERR_OUT_OF_RANGE'],
    [{ deferredThreads: 0 }, /deferredThreads must be an integer/, 'ERR_OUT_OF_RANGE'],
    [{ deferredThreads: 2.5 }, /deferredThreads must be an integer/, 'ERR_OUT_OF_RANGE'],
    [{ statsIntervalMs: 5 }, /statsIntervalMs must be/, 'ERR_OUT_OF_RANGE'],
    [{ statsIntervalMs: '100' }, /statsIntervalMs must be/, 'ERR_INVALID_ARG_TYPE'],
    [{ timeoutMs: 0 }, /timeoutMs must be/, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [extra, message, code] of cases) {
    const e = t.throws(() => new Dispatcher({ ...base, ...extra } as never), {
      instanceOf: code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError,
      message,
    });
    t.is((e as { code?: string } | undefined)?.code, code);
  }
});

test.serial('start/stop lifecycle: states, idempotent stop, no worker, fd or timer left', async (t) => {
  const leaks = new Leaks();
  const device = new SoftDevice({ msix: { vectors: 32 } });
  const rec = new Records(8);
  const statsFile = `/dev/shm/virq-dispatch-test-${process.pid}.json`;
  // A sparse list: only these vectors get triggers; the others in the range stay unbound.
  const vectors = [3, 7, 8, 20, 21, 22, 30, 31];
  const d = new Dispatcher({
    device,
    vectors,
    workers: 3,
    module: RECORD_HANDLER,
    data: { buf: rec.buf, seq: rec.seq, vectors },
    statsFile,
    statsIntervalMs: 20,
  });
  t.throws(() => d.mask(3), { instanceOf: DispatchError, message: /needs a running dispatcher/ });
  const poolsBefore = EventFdPool.registeredIds();
  await d.start();
  const desc = device.vectorTable.trigger(index, 3);
  const poolId = desc?.kind === 'shared' ? desc.poolId : -1;
  t.true(EventFdPool.registeredIds().includes(poolId), 'the triggers pool is registered while running');
  t.true(device.vectorTable.handle.pools.some((h) => EventFdPool.byId(poolId)?.buffer === h.buffer));
  await t.throwsAsync(() => d.start(), { instanceOf: DispatchError, message: /cannot start when running/ });
  for (const v of vectors) t.truthy(device.vectorTable.trigger(index, v), `vector ${v} has a trigger`);
  for (const v of [0, 4, 19, 29])
    t.is(device.vectorTable.trigger(index, v), null, `vector ${v} was left alone`);
  for (const v of vectors) device.raise(index, v);
  await quiesce(d, vectors.length);
  t.is(rec.sum(R.CALLS), vectors.length);
  t.true(existsSync(statsFile));
  await waitFor(
    () => JSON.parse(readFileSync(statsFile, 'utf8')).totals.handled === vectors.length,
    10_000,
    'stats file',
  );
  const doc = JSON.parse(readFileSync(statsFile, 'utf8'));
  t.is(doc.pid, process.pid);
  t.deepEqual(
    doc.vectors.map((v: { vector: number }) => v.vector),
    vectors,
  );
  t.is(doc.workers.length, 3);
  const s = d.stats();
  t.true(s.running);
  t.is(s.workers.length, 3);
  t.deepEqual(
    s.workers.map((w) => w.owned),
    [3, 3, 2],
  );
  const stopped = d.stop();
  t.is(d.stop(), stopped, 'stop() is idempotent');
  await stopped;
  t.false(d.stats().running);
  t.false(existsSync(statsFile), 'the stats file is removed');
  for (const v of vectors) t.is(device.vectorTable.trigger(index, v), null, `vector ${v} unbound`);
  t.is(device.vectorTable.irqType, 5, 'MSI-X disabled again (the dispatcher enabled it)');
  t.deepEqual(EventFdPool.registeredIds(), poolsBefore, 'no eventfd pool left registered in this thread');
  t.is(device.vectorTable.handle.pools.length, 0, "the device's table no longer lists the pool");
  // Raises after stop go nowhere and do not disturb the accounting.
  t.is(device.raise(index, 3), 'unrouted');
  await leaks.check(t);
  t.deepEqual(
    process.getActiveResourcesInfo().filter((r) => r === 'Timeout'),
    [],
    'no timer left',
  );
});

test.serial('stop() before start() resolves at once', async (t) => {
  const d = new Dispatcher({
    device: new SoftDevice({ msix: { vectors: 2 } }),
    vectors: 2,
    module: RECORD_HANDLER,
  });
  await d.stop();
  await t.throwsAsync(() => d.start(), { instanceOf: DispatchError, message: /cannot start when stopped/ });
});

test.serial('a module without handler or thread fails start() and leaves nothing behind', async (t) => {
  const leaks = new Leaks();
  const device = new SoftDevice({ msix: { vectors: 4 } });
  const d = new Dispatcher({
    device,
    vectors: 4,
    module: new URL('./fixtures/empty-module.js', import.meta.url),
  });
  d.on('error', () => {});
  const err = await t.throwsAsync(() => d.start(), { instanceOf: DispatchError });
  t.is(err?.code, 'ERR_VIRQ_WORKER');
  t.regex(String((err?.cause as Error)?.message), /exports neither 'handler' nor 'thread'/);
  t.is(device.vectorTable.irqType, 5, 'the triggers were unbound again');
  await leaks.check(t);
});

test.serial('vectors beyond the index are refused at start', async (t) => {
  const leaks = new Leaks();
  const d = new Dispatcher({
    device: new SoftDevice({ msix: { vectors: 4 } }),
    vectors: [2, 9],
    module: RECORD_HANDLER,
  });
  const err = await t.throwsAsync(() => d.start(), { instanceOf: RangeError, message: /vector 9 beyond/ });
  t.is((err as { code?: string } | undefined)?.code, 'ERR_OUT_OF_RANGE');
  t.is((err as { vector?: number } | undefined)?.vector, 9);
  await leaks.check(t);
});

test.serial('stop() waits for deferred work in flight and runs what was queued', async (t) => {
  const leaks = new Leaks();
  const device = new SoftDevice({ msix: { vectors: 4 } });
  const rec = new Records(4);
  const d = new Dispatcher({
    device,
    vectors: 4,
    module: RECORD_HANDLER,
    data: { buf: rec.buf, seq: rec.seq, vectors: range(4), defer: true, threadMs: 100 },
  });
  await d.start();
  for (let v = 0; v < 4; v++) device.raise(index, v);
  await quiesce(d, 4);
  await d.stop();
  t.is(rec.sum(R.THREAD_RUNS), 4, 'every queued deferred run finished before stop() resolved');
  t.is(rec.sum(R.THREAD_INSIDE), 0);
  await leaks.check(t);
});
