import test from 'ava';
import fc from 'fast-check';
import {
  AtomicBitset,
  CACHE_LINE,
  Doorbell,
  Event,
  layout,
  MpscRing,
  Mutex,
  type PrimitiveSpec,
  Semaphore,
  SpscRing,
} from '../src/index.js';
import { specs } from './fixtures/layout-specs.js';
import { WorkerScope } from './helpers.js';

test('parts are placed in order, aligned as asked, without overlap', (t) => {
  const l = layout(specs);
  const o = l.offsets;
  t.is(o.lock, 0);
  t.is(o.sem, 4);
  t.is(o.ring, CACHE_LINE, 'a ring starts on its own cache line');
  t.is(o.bell, CACHE_LINE + SpscRing.byteLength(16));
  t.is(o.queue % CACHE_LINE, 0);
  t.true(o.queue >= o.bell + Doorbell.byteLength(256));
  t.is(o.done, o.queue + MpscRing.byteLength(8));
  t.is(o.bits, o.done + Event.byteLength);
  t.is(l.alignment, CACHE_LINE);
  t.is(l.byteLength % CACHE_LINE, 0);
  t.true(l.byteLength >= o.bits + AtomicBitset.byteLength(70));
});

test('create() initialises every part; the returned instances are typed per key', (t) => {
  const { buffer, parts } = layout(specs).create();
  t.is(buffer.byteLength, layout(specs).byteLength);
  const m: Mutex = parts.lock;
  const s: Semaphore = parts.sem;
  t.false(m.locked);
  t.is(s.value, 3, 'Semaphore.spec(3) wrote its initial count');
  t.true(parts.ring.push(1));
  parts.bell.ring(255);
  t.true(parts.bell.pending());
  t.is(parts.ring.pop(), 1);
});

test('a layout can sit at a base offset inside a larger buffer', (t) => {
  const l = layout({ a: Mutex.spec(), b: SpscRing.spec(4) });
  const buf = new SharedArrayBuffer(256 + l.byteLength);
  const parts = l.init(buf, 256);
  t.deepEqual(parts.a.handle.offset, 256);
  t.deepEqual(parts.b.handle.offset, 256 + l.offsets.b);
  t.deepEqual(l.handles(buf, 256).b, { buffer: buf, offset: 256 + l.offsets.b, capacity: 4 });
});

test('bad layouts and bad buffers are rejected with what was expected', (t) => {
  t.throws(() => layout({}), { instanceOf: TypeError, code: 'ERR_INVALID_ARG', message: /at least one/ });
  t.throws(() => layout({ x: { byteLength: 4 } as unknown as PrimitiveSpec<unknown> }), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG',
    message: /"x" is not a primitive spec/,
  });
  const l = layout({ r: SpscRing.spec(8) });
  t.throws(() => l.attach(new SharedArrayBuffer(l.byteLength), 32), {
    instanceOf: RangeError,
    code: 'ERR_MISALIGNED',
    message: 'layout: offset 32 is misaligned; expected a multiple of 64',
  });
  t.throws(() => l.init(new SharedArrayBuffer(l.byteLength - 4)), {
    instanceOf: RangeError,
    code: 'ERR_BUFFER_TOO_SMALL',
  });
  t.throws(() => l.attach(new ArrayBuffer(l.byteLength) as never), {
    instanceOf: TypeError,
    code: 'ERR_NOT_SHARED',
  });
});

const anySpec: fc.Arbitrary<PrimitiveSpec<unknown>> = fc.oneof(
  fc.constant(Mutex.spec()),
  fc.nat(5).map((n) => Semaphore.spec(n)),
  fc.boolean().map((autoReset) => Event.spec({ autoReset })),
  fc.integer({ min: 1, max: 300 }).map((n) => Doorbell.spec(n)),
  fc.integer({ min: 1, max: 300 }).map((n) => AtomicBitset.spec(n)),
  fc.nat(6).map((k) => SpscRing.spec(2 ** k)),
  fc.integer({ min: 1, max: 6 }).map((k) => MpscRing.spec(2 ** k)),
);

test('any mix of specs gets aligned, disjoint regions that all attach', (t) => {
  fc.assert(
    fc.property(fc.array(anySpec, { minLength: 1, maxLength: 12 }), (list) => {
      const specsObj = Object.fromEntries(list.map((s, i) => [`p${i}`, s]));
      const l = layout(specsObj);
      const regions = list
        .map((s, i) => ({
          start: l.offsets[`p${i}`],
          end: l.offsets[`p${i}`] + s.byteLength,
          align: s.alignment,
        }))
        .sort((a, b) => a.start - b.start);
      for (let i = 0; i < regions.length; i++) {
        if (regions[i].start % regions[i].align !== 0) return false;
        if (i > 0 && regions[i].start < regions[i - 1].end) return false;
      }
      if (regions[regions.length - 1].end > l.byteLength) return false;
      const { buffer } = l.create();
      const a = l.attach(buffer);
      return Object.keys(a).length === list.length;
    }),
    { numRuns: 200 },
  );
  t.pass('fast-check found no counterexample');
});

test.serial('a worker attaches by rebuilding the layout and from posted handles', async (t) => {
  const scope = new WorkerScope(t);
  const l = layout(specs);
  const { buffer, parts } = l.create();
  parts.lock.lock();
  const w = scope.start<{ sawLocked: boolean; tookUnit: boolean; semAfter: number }>('layout-worker', {
    buffer,
    handles: l.handles(buffer),
  });
  t.true(await parts.done.waitAsync(20_000));
  t.deepEqual(await w.result, { sawLocked: true, tookUnit: true, semAfter: 2 });
  t.is(parts.sem.value, 2);
  const out = new Int32Array(16);
  t.is(parts.ring.popBatch(out), 10);
  t.deepEqual([...out.subarray(0, 10)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.is(parts.bell.drain(out), 1);
  t.is(out[0], 200);
  t.true(parts.bits.test(5));
  t.true(parts.queue.isEmpty(), 'untouched parts are untouched');
  parts.lock.unlock();
  await scope.finish(t);
});
