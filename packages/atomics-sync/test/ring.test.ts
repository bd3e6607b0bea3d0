import test from 'ava';
import { MpscRing, pendingAsyncWaits, SpscRing } from '../src/index.js';
import { HEAD, RING_HEADER_BYTES, TAIL } from '../src/ring-base.js';
import { WorkerScope } from './helpers.js';

type Ring = SpscRing | MpscRing;
const KINDS = [
  {
    name: 'SpscRing',
    make: (cap: number, buf?: SharedArrayBuffer) =>
      new SpscRing(buf ?? new SharedArrayBuffer(SpscRing.byteLength(cap)), 0, cap),
  },
  {
    name: 'MpscRing',
    make: (cap: number, buf?: SharedArrayBuffer) =>
      new MpscRing(buf ?? new SharedArrayBuffer(MpscRing.byteLength(cap)), 0, cap),
  },
] as const;

for (const { name, make } of KINDS) {
  test(`${name}: push/pop are FIFO; push fails when full; pop undefined when empty`, (t) => {
    const r: Ring = make(4);
    t.true(r.isEmpty());
    t.is(r.pop(), undefined);
    for (let i = 1; i <= 4; i++) t.true(r.push(i * 10));
    t.false(r.push(50), 'a full ring refuses');
    t.false(r.hasSpace());
    t.is(r.size(), 4);
    t.is(r.pop(), 10);
    t.true(r.push(50));
    t.deepEqual([r.pop(), r.pop(), r.pop(), r.pop(), r.pop()], [20, 30, 40, 50, undefined]);
    t.true(r.isEmpty());
  });

  test(`${name}: pushBatch pushes what fits, popBatch pops what is there, across the wrap`, (t) => {
    const r: Ring = make(8);
    t.is(r.pushBatch(Int32Array.of(1, 2, 3, 4, 5)), 5);
    const out = new Int32Array(3);
    t.is(r.popBatch(out), 3);
    t.deepEqual([...out], [1, 2, 3]);
    t.is(r.pushBatch(Int32Array.of(9, 6, 7, 8, 9, 10, 11, 12, 13), 1, 8), 6, 'only 6 of 7 fit');
    t.is(r.pushBatch(Int32Array.of(99)), 0);
    const all = new Int32Array(16);
    t.is(r.popBatch(all), 8);
    t.deepEqual([...all.subarray(0, 8)], [4, 5, 6, 7, 8, 9, 10, 11]);
    t.is(r.popBatch(all), 0);
    t.is(r.pushBatch(Int32Array.of(1, 2), 2), 0, 'an empty range pushes nothing');
  });

  test(`${name}: values are stored as int32`, (t) => {
    const r: Ring = make(4);
    r.push(-1);
    r.push(2 ** 31);
    r.push(0x7fffffff);
    t.deepEqual([r.pop(), r.pop(), r.pop()], [-1, -(2 ** 31), 0x7fffffff]);
  });

  test.serial(`${name}: waits time out, and an async waiter is woken by a push`, async (t) => {
    const r: Ring = make(2);
    t.false(r.waitReadable(0));
    t.false(r.waitReadable(20, 0));
    t.false(await r.waitReadableAsync(20));
    t.is(r.popWait(10, 0), undefined);
    r.push(1);
    r.push(2);
    t.false(r.waitWritable(20, 0));
    t.false(await r.waitWritableAsync(20));
    t.is(r.popWait(10), 1);
    t.true(r.waitWritable(0));
    r.pop();
    const p = r.waitReadableAsync(20_000);
    setTimeout(() => r.push(7), 5);
    t.true(await p);
    t.is(r.pop(), 7);
    r.push(1);
    r.push(2);
    const q = r.waitWritableAsync(20_000);
    setTimeout(() => r.pop(), 5);
    t.true(await q);
    t.is(pendingAsyncWaits(), 0);
  });

  test(`${name}: bad arguments are rejected with what was expected`, (t) => {
    const Ctor = name === 'SpscRing' ? SpscRing : MpscRing;
    t.throws(() => Ctor.byteLength(12), {
      instanceOf: RangeError,
      code: 'ERR_NOT_POWER_OF_TWO',
      message: `${name}: capacity must be a power of two between ${name === 'MpscRing' ? 2 : 1} and ${2 ** 28}, got 12`,
    });
    if (name === 'MpscRing') t.throws(() => MpscRing.byteLength(1), { code: 'ERR_NOT_POWER_OF_TWO' });
    t.throws(() => new Ctor(new SharedArrayBuffer(4096), 0, 0), { code: 'ERR_NOT_POWER_OF_TWO' });
    t.throws(() => new Ctor(new SharedArrayBuffer(4096), 6, 16), {
      instanceOf: RangeError,
      code: 'ERR_MISALIGNED',
    });
    t.throws(() => new Ctor(new SharedArrayBuffer(200), 0, 64), {
      instanceOf: RangeError,
      code: 'ERR_BUFFER_TOO_SMALL',
      message: new RegExp(`^${name}: buffer too small; needs ${Ctor.byteLength(64)} bytes`),
    });
    t.throws(() => new Ctor(new ArrayBuffer(4096) as never, 0, 16), {
      instanceOf: TypeError,
      code: 'ERR_NOT_SHARED',
    });
    const r: Ring = make(8);
    t.throws(() => r.pushBatch([1, 2] as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG' });
    t.throws(() => r.pushBatch(new Int32Array(4), 3, 2), {
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: `${name}.pushBatch: expected 0 <= start <= end <= 4, got start 3, end 2`,
    });
    t.throws(() => r.pushBatch(new Int32Array(4), 0, 5), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => r.pushBatch(new Int32Array(4), 0.5), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => r.popBatch(new Float64Array(2) as never), {
      instanceOf: TypeError,
      code: 'ERR_INVALID_ARG',
      message: `${name}.popBatch: expected an Int32Array, got Float64Array`,
    });
    t.throws(() => r.waitReadable(-1), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => r.waitWritable(1, -1), { code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => Ctor.from(null as never), {
      code: 'ERR_INVALID_ARG',
      message: `${name}.from: handle must be an object { buffer, offset, ... }, got null`,
    });
  });

  // layout() places a ring by its spec: the kind it reports, its size and a cache-line alignment, and
  // init/attach giving two views of one ring (what one thread pushes the other view pops).
  test(`${name}: spec() describes the ring layout places`, (t) => {
    const Ctor = name === 'SpscRing' ? SpscRing : MpscRing;
    const spec = Ctor.spec(8);
    t.is(spec.kind, name);
    t.is(spec.byteLength, Ctor.byteLength(8));
    t.is(spec.alignment, 64);
    const buf = new SharedArrayBuffer(spec.byteLength + 64);
    const a = spec.init(buf, 64);
    const b = spec.attach(buf, 64);
    t.is(a.capacity, 8);
    t.true(a.push(41));
    t.is(b.pop(), 41);
  });
}

test('rings keep working when their int32 positions wrap around', (t) => {
  for (const start of [0x7ffffff0, -12]) {
    const cap = 8;
    // SPSC: positions only live in the header.
    const sbuf = new SharedArrayBuffer(SpscRing.byteLength(cap));
    const sctl = new Int32Array(sbuf, 0, RING_HEADER_BYTES / 4);
    sctl[TAIL] = start;
    sctl[HEAD] = start;
    // MPSC: every slot's sequence must also read "published last lap", not "published now".
    const mbuf = new SharedArrayBuffer(MpscRing.byteLength(cap));
    const mctl = new Int32Array(mbuf, 0, RING_HEADER_BYTES / 4);
    const slots = new Int32Array(mbuf, RING_HEADER_BYTES, cap * 2);
    mctl[TAIL] = start;
    mctl[HEAD] = start;
    for (let s = 0; s < cap; s++) {
      // Slot s was last published for the position one lap before the next one that maps to it.
      const next = start + ((s - start) & (cap - 1));
      slots[2 * s] = (next - cap + 1 - s) | 0;
    }
    for (const r of [new SpscRing(sbuf, 0, cap), new MpscRing(mbuf, 0, cap)] as Ring[]) {
      const got: number[] = [];
      let v = 0;
      for (let round = 0; round < 10; round++) {
        while (r.push(v)) v++;
        t.is(r.size(), cap);
        const out = new Int32Array(3);
        const n = r.popBatch(out);
        got.push(...out.subarray(0, n));
        for (let x = r.pop(); x !== undefined; x = r.pop()) got.push(x);
        t.is(r.size(), 0);
      }
      t.deepEqual(
        got,
        Array.from({ length: v }, (_, i) => i),
        `${r.constructor.name} from ${start}`,
      );
    }
  }
});

const TOTAL = 1_000_000;

test.serial(
  'MPSC: 4 producer workers move 10^6 items to a consumer worker, none lost or duplicated',
  async (t) => {
    const scope = new WorkerScope(t);
    const cap = 1024;
    const r = MpscRing.init(new SharedArrayBuffer(MpscRing.byteLength(cap)), 0, cap);
    const P = 4;
    const consumer = scope.start<{
      received: number;
      expected: number[];
      errors: string[];
      leftover: number;
    }>('ring-consumer', { ring: r.handle, kind: 'mpsc', producers: P, total: TOTAL, seed: 7, spin: 200 });
    const producers = Array.from({ length: P }, (_, p) =>
      scope.start<{ pushed: number }>('ring-producer', {
        ring: r.handle,
        kind: 'mpsc',
        producer: p,
        count: TOTAL / P,
        seed: 100 + p,
        spin: p % 2 === 0 ? 0 : 200,
      }),
    );
    const pushed = await Promise.all(producers.map((w) => w.result));
    const got = await consumer.result;
    t.deepEqual(got.errors, []);
    t.deepEqual(
      pushed.map((x) => x.pushed),
      producers.map(() => TOTAL / P),
    );
    t.is(got.received, TOTAL);
    t.deepEqual(
      got.expected,
      producers.map(() => TOTAL / P),
      'every sequence number arrived, in order',
    );
    t.is(got.leftover, 0);
    await scope.finish(t);
  },
);

test.serial('SPSC: a worker moves 10^6 items to another worker, none lost or duplicated', async (t) => {
  const scope = new WorkerScope(t);
  const cap = 4096;
  const r = SpscRing.init(new SharedArrayBuffer(SpscRing.byteLength(cap)), 0, cap);
  const consumer = scope.start<{ received: number; expected: number[]; errors: string[] }>('ring-consumer', {
    ring: r.handle,
    kind: 'spsc',
    producers: 1,
    total: TOTAL,
    seed: 11,
    spin: 500,
  });
  const producer = scope.start<{ pushed: number }>('ring-producer', {
    ring: r.handle,
    kind: 'spsc',
    producer: 0,
    count: TOTAL,
    seed: 12,
    spin: 500,
  });
  t.is((await producer.result).pushed, TOTAL);
  const got = await consumer.result;
  t.deepEqual(got.errors, []);
  t.is(got.received, TOTAL);
  t.deepEqual(got.expected, [TOTAL]);
  await scope.finish(t);
});

test.serial(
  'SPSC: a worker moves 10^6 items to a main-thread consumer that awaits waitReadableAsync',
  async (t) => {
    const scope = new WorkerScope(t);
    const cap = 4096;
    const r = SpscRing.init(new SharedArrayBuffer(SpscRing.byteLength(cap)), 0, cap);
    const producer = scope.start<{ pushed: number }>('ring-producer', {
      ring: r.handle,
      kind: 'spsc',
      producer: 0,
      count: TOTAL,
      seed: 13,
      spin: 0,
    });
    const out = new Int32Array(1024);
    let next = 0;
    let bad = 0;
    while (next < TOTAL && bad === 0) {
      if (!(await r.waitReadableAsync(20_000))) break;
      for (let n = r.popBatch(out); n > 0; n = r.popBatch(out)) {
        for (let i = 0; i < n; i++) if (out[i] !== next++) bad++;
      }
    }
    t.is(bad, 0, 'items arrive 0, 1, 2, ... with no gap or repeat');
    t.is(next, TOTAL);
    t.is((await producer.result).pushed, TOTAL);
    t.true(r.isEmpty());
    await scope.finish(t);
  },
);
