import test from 'ava';
import fc from 'fast-check';
import { AtomicBitset, popcount } from '../src/index.js';

function make(size: number): AtomicBitset {
  return new AtomicBitset(new SharedArrayBuffer(AtomicBitset.byteLength(size)), 0, size);
}

test('set/clear/test/testAndClear report the previous state', (t) => {
  const b = make(70);
  t.false(b.set(69));
  t.true(b.set(69));
  t.true(b.test(69));
  t.false(b.test(68));
  t.true(b.testAndClear(69));
  t.false(b.testAndClear(69));
  t.false(b.clear(0));
  b.set(0);
  t.true(b.clear(0));
  t.false(b.any());
  t.is(b.size, 70);
});

test('drain to a callback reports ascending; a throwing callback puts the unreported bits back', (t) => {
  const b = make(64);
  for (const i of [40, 2, 63, 7, 33]) b.set(i);
  const seen: number[] = [];
  t.is(
    b.drain((i) => seen.push(i)),
    5,
  );
  t.deepEqual(seen, [2, 7, 33, 40, 63]);
  for (const i of [1, 2, 3, 50]) b.set(i);
  t.throws(
    () =>
      b.drain((i) => {
        if (i === 2) throw new Error('stop');
      }),
    { message: 'stop' },
  );
  const rest: number[] = [];
  b.drain((i) => rest.push(i));
  t.deepEqual(rest, [3, 50], 'ids after the throwing one stay set; the ones passed to the callback are gone');
});

test('popcount counts bits of any 32-bit word', (t) => {
  t.is(popcount(0), 0);
  t.is(popcount(-1), 32);
  t.is(popcount(0x80000001), 2);
  t.is(popcount(0x12345678), 13);
});

test('bad sizes, indices and targets are rejected with what was expected', (t) => {
  t.throws(() => AtomicBitset.byteLength(0), {
    instanceOf: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: /size/,
  });
  t.throws(() => make(-3), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => new AtomicBitset(new SharedArrayBuffer(4), 0, 33), { code: 'ERR_BUFFER_TOO_SMALL' });
  t.throws(() => new AtomicBitset(new SharedArrayBuffer(8), 2, 1), { code: 'ERR_MISALIGNED' });
  const b = make(10);
  for (const bad of [-1, 10, 0.5, Number.NaN]) {
    t.throws(() => b.set(bad), {
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: `AtomicBitset.set: index must be an integer between 0 and 9, got ${bad}`,
    });
  }
  t.throws(() => b.test(10), { code: 'ERR_OUT_OF_RANGE', message: /AtomicBitset\.test/ });
  t.throws(() => b.clear(11), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => b.testAndClear(-2), { code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => b.drain(new Uint32Array(4) as never), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG',
    message: 'AtomicBitset.drain: expected an Int32Array, got Uint32Array',
  });
});

type Op =
  | { op: 'set' | 'clear' | 'test' | 'testAndClear'; i: number }
  | { op: 'drainArray'; room: number }
  | { op: 'drainCb' }
  | { op: 'count' };

test('behaves like a Set under random operation sequences', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }).chain((size) =>
        fc.tuple(
          fc.constant(size),
          fc.array(
            fc.oneof(
              {
                weight: 6,
                arbitrary: fc.record({ op: fc.constantFrom('set' as const), i: fc.nat(size - 1) }),
              },
              {
                weight: 4,
                arbitrary: fc.record({
                  op: fc.constantFrom('clear' as const, 'test' as const, 'testAndClear' as const),
                  i: fc.nat(size - 1),
                }),
              },
              {
                weight: 1,
                arbitrary: fc.record({ op: fc.constant('drainArray' as const), room: fc.nat(40) }),
              },
              { weight: 1, arbitrary: fc.record({ op: fc.constant('drainCb' as const) }) },
              { weight: 1, arbitrary: fc.record({ op: fc.constant('count' as const) }) },
            ) as fc.Arbitrary<Op>,
            { maxLength: 300 },
          ),
        ),
      ),
      ([size, ops]) => {
        const b = make(size);
        const model = new Set<number>();
        for (const o of ops) {
          switch (o.op) {
            case 'set': {
              const had = model.has(o.i);
              model.add(o.i);
              if (b.set(o.i) !== had) return false;
              break;
            }
            case 'clear':
            case 'testAndClear': {
              const had = model.delete(o.i);
              if (b[o.op](o.i) !== had) return false;
              break;
            }
            case 'test':
              if (b.test(o.i) !== model.has(o.i)) return false;
              break;
            case 'drainArray': {
              const out = new Int32Array(o.room);
              const n = b.drain(out);
              const want = [...model].sort((x, y) => x - y).slice(0, o.room);
              for (const i of want) model.delete(i);
              if (n !== want.length || want.some((v, k) => out[k] !== v)) return false;
              break;
            }
            case 'drainCb': {
              const got: number[] = [];
              b.drain((i) => got.push(i));
              const want = [...model].sort((x, y) => x - y);
              model.clear();
              if (got.join() !== want.join()) return false;
              break;
            }
            case 'count':
              if (b.count() !== model.size || b.any() !== model.size > 0) return false;
              break;
          }
        }
        return b.count() === model.size;
      },
    ),
    { numRuns: 300 },
  );
  t.pass('fast-check found no counterexample');
});
