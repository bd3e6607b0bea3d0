import test from 'ava';
import fc from 'fast-check';
import { Doorbell, pendingAsyncWaits } from '../src/index.js';
import { rng, WorkerScope } from './helpers.js';

test('byteLength is an 8-byte header, one bit per id in 32-bit words, and above 32 ids a summary bit per word', (t) => {
  t.is(Doorbell.byteLength(1), 12);
  t.is(Doorbell.byteLength(32), 12);
  t.is(Doorbell.byteLength(33), 20); // 2 ready words + 1 summary word
  t.is(Doorbell.byteLength(256), 44); // 8 + 1
  t.is(Doorbell.byteLength(1025), 8 + 33 * 4 + 2 * 4);
});

test('drain through the summary: ids in distant words, a short out array, rings during the drain', (t) => {
  const cap = 2049;
  const d = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(cap)), 0, cap);
  const ids = [2048, 0, 1023, 1024, 33, 32, 31, 1500];
  for (const id of ids) d.ring(id);
  const sorted = [...ids].sort((a, b) => a - b);
  const got: number[] = [];
  const out = new Int32Array(3);
  for (let n = d.drain(out); n > 0; n = d.drain(out)) got.push(...out.subarray(0, n));
  t.deepEqual(got, sorted);
  t.false(d.pending());
  // a bit set in a word already drained this pass, and one in a word whose summary bit was cleared
  d.ring(5);
  d.ring(6);
  t.is(d.drain(new Int32Array(1)), 1);
  d.ring(7); // word 0 still holds 6: listed again by the drain that left it
  const rest = new Int32Array(8);
  const n = d.drain(rest);
  t.deepEqual([...rest.subarray(0, n)], [6, 7]);
  t.false(d.pending());
});

test('ring marks ids pending; drain returns them ascending, once, and clears them', (t) => {
  const d = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(100)), 0, 100);
  t.false(d.pending());
  for (const id of [99, 3, 64, 31, 32, 0, 3]) d.ring(id);
  t.true(d.pending());
  const out = new Int32Array(10);
  t.is(d.drain(out), 6);
  t.deepEqual([...out.subarray(0, 6)], [0, 3, 31, 32, 64, 99]);
  t.false(d.pending());
  t.is(d.drain(out), 0);
});

test('drain into a short array takes the lowest ids and leaves the rest ready', (t) => {
  const d = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(64)), 0, 64);
  for (const id of [5, 1, 40, 33, 2]) d.ring(id);
  const out = new Int32Array(2);
  t.is(d.drain(out), 2);
  t.deepEqual([...out], [1, 2]);
  t.true(d.pending(), 'the ids that did not fit are still ready');
  t.is(d.drain(out), 2);
  t.deepEqual([...out], [5, 33]);
  t.is(d.drain(out), 1);
  t.is(out[0], 40);
  t.false(d.pending());
});

test('ring/drain/pending behave like a Set of ready ids', (t) => {
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 130 })
        .chain((cap) =>
          fc.tuple(
            fc.constant(cap),
            fc.array(fc.oneof(fc.nat(cap - 1), fc.constantFrom(-1, -8, -64)), { maxLength: 200 }),
          ),
        ),
      ([cap, ops]) => {
        const d = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(cap)), 0, cap);
        const model = new Set<number>();
        for (const op of ops) {
          if (op >= 0) {
            d.ring(op);
            model.add(op);
          } else {
            const out = new Int32Array(-op); // drain into 1, 8 or 64 slots
            const n = d.drain(out);
            const want = [...model].sort((a, b) => a - b).slice(0, -op);
            for (const id of want) model.delete(id);
            if (n !== want.length || want.some((id, i) => out[i] !== id)) return false;
          }
          if (d.pending() !== model.size > 0) return false;
        }
        return true;
      },
    ),
    { numRuns: 300 },
  );
  t.pass('fast-check found no counterexample');
});

test('a handle survives structured cloning and attaches to the same state', (t) => {
  const d = Doorbell.init(new SharedArrayBuffer(64), 8, 40);
  const h = structuredClone(d.handle);
  t.deepEqual({ offset: h.offset, capacity: h.capacity }, { offset: 8, capacity: 40 });
  const again = Doorbell.from(h);
  again.ring(39);
  t.true(d.pending());
  t.is(d.capacity, 40);
});

test.serial('wait and waitAsync return false on timeout and true when something is ready', async (t) => {
  const d = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(8)), 0, 8);
  t.false(d.wait(0));
  t.false(d.wait(20, 0));
  t.false(d.wait(20));
  t.false(await d.waitAsync(0), 'waitAsync(0) with nothing ready and no kick: false, at once');
  t.false(await d.waitAsync(20));
  t.is(pendingAsyncWaits(), 0);
  d.ring(7);
  t.true(d.wait(0, 0));
  t.true(d.wait(1000));
  t.true(await d.waitAsync(1000));
});

test('waitAsync is woken by a ring; wake() releases a waiter with nothing ready', async (t) => {
  const d = new Doorbell(new SharedArrayBuffer(Doorbell.byteLength(8)), 0, 8);
  const p = d.waitAsync(20_000);
  setTimeout(() => d.ring(2), 5);
  t.true(await p);
  t.is(d.drain(new Int32Array(8)), 1);
  const q = d.waitAsync();
  setTimeout(() => d.wake(), 5);
  t.false(await q);
  d.wake();
  t.false(d.wait(), 'a wake() with no waiter makes the next wait return');
  t.false(d.wait(10, 0), 'and only the next one');
});

test.serial('bad arguments are rejected with what was expected', (t) => {
  const buf = new SharedArrayBuffer(64);
  t.throws(() => new Doorbell(new ArrayBuffer(64) as never, 0, 8), {
    instanceOf: TypeError,
    code: 'ERR_NOT_SHARED',
  });
  t.throws(() => new Doorbell(buf, 1, 8), {
    instanceOf: RangeError,
    code: 'ERR_MISALIGNED',
    message: /multiple of 4/,
  });
  t.throws(() => new Doorbell(buf, 0, 0), {
    instanceOf: RangeError,
    code: 'ERR_OUT_OF_RANGE',
    message: /capacity/,
  });
  t.throws(() => new Doorbell(buf, 0, 2.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  // 1024 ids: 8 header bytes, 32 ready words, 1 summary word
  t.throws(() => new Doorbell(buf, 0, 1024), {
    instanceOf: RangeError,
    code: 'ERR_BUFFER_TOO_SMALL',
    message: 'Doorbell: buffer too small; needs 140 bytes at offset 0 (140 in all), buffer has 64',
  });
  const d = new Doorbell(buf, 0, 10);
  for (const bad of [-1, 10, 1.5, Number.NaN, 2 ** 32]) {
    t.throws(() => d.ring(bad), {
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: `Doorbell.ring: id must be an integer between 0 and 9, got ${bad}`,
    });
  }
  t.throws(() => d.drain([] as never), {
    instanceOf: TypeError,
    code: 'ERR_INVALID_ARG',
    message: /Int32Array/,
  });
  t.throws(() => d.wait(-1), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
  t.throws(() => Doorbell.from(7 as never), { instanceOf: TypeError, code: 'ERR_INVALID_ARG' });
});

const CAPACITY = 96;
const PRODUCERS = 3;
const RINGS = 1500;

function startProducers(scope: WorkerScope, d: Doorbell, ack: SharedArrayBuffer, seed: number) {
  const random = rng(seed);
  return Array.from({ length: PRODUCERS }, (_, p) =>
    scope.start<{ rung: number; lost: number }>('doorbell-producer', {
      bell: d.handle,
      ack,
      // Interleaved ids, so producers share bitset words and race on the same atomic OR.
      ids: Array.from({ length: CAPACITY / PRODUCERS }, (_, k) => k * PRODUCERS + p),
      rings: RINGS,
      seed: Math.floor(random() * 2 ** 31) + 1,
      maxSleepMs: 1,
    }),
  );
}

test.serial('a sleeping sync consumer observes every ring (no lost wake-up)', async (t) => {
  const scope = new WorkerScope(t);
  const d = Doorbell.init(new SharedArrayBuffer(Doorbell.byteLength(CAPACITY)), 0, CAPACITY);
  const ack = new SharedArrayBuffer(4 * CAPACITY);
  const consumer = scope.start<{ seen: number[]; count: number; falseWakes: number; wakes: number }>(
    'doorbell-consumer',
    { bell: d.handle, ack, total: PRODUCERS * RINGS, spin: 0, timeoutMs: 30_000 },
  );
  const producers = startProducers(scope, d, ack, 0x5eed);
  const made = await Promise.all(producers.map((p) => p.result));
  const got = await consumer.result;
  t.deepEqual(
    made,
    producers.map(() => ({ rung: RINGS, lost: 0 })),
  );
  t.is(got.falseWakes, 0, 'the consumer never woke empty-handed');
  t.is(got.count, PRODUCERS * RINGS);
  t.deepEqual(got.seen, [...new Int32Array(ack)], 'every id seen exactly as often as it was rung');
  t.false(d.pending());
  await scope.finish(t);
});

// A consumer that spins before it sleeps must take a ring that lands during the spin as "ready":
// the spin's own return (mutation survivor, issue 15: returning false there read as a wake with
// nothing ready, and no test had a consumer spin while producers rang).
for (const [name, spin] of [
  ['a fixed spin of 2^14 loads', 2 ** 14],
  ['the adaptive spin', undefined],
] as const) {
  test.serial(`a consumer spinning with ${name} observes every ring, each wait true`, async (t) => {
    const scope = new WorkerScope(t);
    const d = Doorbell.init(new SharedArrayBuffer(Doorbell.byteLength(CAPACITY)), 0, CAPACITY);
    const ack = new SharedArrayBuffer(4 * CAPACITY);
    const consumer = scope.start<{ seen: number[]; count: number; falseWakes: number; wakes: number }>(
      'doorbell-consumer',
      { bell: d.handle, ack, total: PRODUCERS * RINGS, spin, timeoutMs: 30_000 },
    );
    const producers = startProducers(scope, d, ack, 0x5915);
    const made = await Promise.all(producers.map((p) => p.result));
    const got = await consumer.result;
    t.deepEqual(
      made,
      producers.map(() => ({ rung: RINGS, lost: 0 })),
    );
    t.is(got.falseWakes, 0, 'no wait returned false with a ring there');
    t.is(got.count, PRODUCERS * RINGS);
    t.deepEqual(got.seen, [...new Int32Array(ack)], 'every id seen exactly as often as it was rung');
    await scope.finish(t);
  });
}

test.serial('a main-thread waitAsync consumer observes every ring', async (t) => {
  const scope = new WorkerScope(t);
  const d = Doorbell.init(new SharedArrayBuffer(Doorbell.byteLength(CAPACITY)), 0, CAPACITY);
  const ack = new SharedArrayBuffer(4 * CAPACITY);
  const acks = new Int32Array(ack);
  const producers = startProducers(scope, d, ack, 0xbe11);
  const out = new Int32Array(CAPACITY);
  let count = 0;
  let falseWakes = 0;
  while (count < PRODUCERS * RINGS) {
    if (!(await d.waitAsync(30_000))) {
      falseWakes++;
      break;
    }
    const n = d.drain(out);
    for (let i = 0; i < n; i++) {
      Atomics.add(acks, out[i], 1);
      Atomics.notify(acks, out[i]);
    }
    count += n;
  }
  const made = await Promise.all(producers.map((p) => p.result));
  t.is(falseWakes, 0);
  t.is(count, PRODUCERS * RINGS);
  t.deepEqual(
    made,
    producers.map(() => ({ rung: RINGS, lost: 0 })),
  );
  t.is(pendingAsyncWaits(), 0);
  await scope.finish(t);
});

// Zeroed memory is the empty doorbell, and a doorbell at rest must be zeroed memory again: a kick
// left set, or a sleep announcement left behind, would make the next consumer return early or cost a
// producer a notify. Mutation survivors (issue 15): wait(0)/waitAsync(0) after wake() returned false
// without taking the kick, and init() left stale words in place; both looked the same from outside.
// Likewise init() of a doorbell without a summary word (it read the missing summary's length).
test.serial(
  'a doorbell at rest is zeroed memory: wakes taken, announcements withdrawn, init clears',
  async (t) => {
    const cap = 100;
    const bytes = Doorbell.byteLength(cap);
    const buf = new SharedArrayBuffer(bytes + 8);
    const words = new Int32Array(buf, 8, bytes / 4);
    words.fill(-1);
    const d = Doorbell.init(buf, 8, cap);
    t.deepEqual([...words], new Array(bytes / 4).fill(0), 'init writes the empty state over old bytes');
    const atRest = (what: string) => t.deepEqual([...words], new Array(bytes / 4).fill(0), what);
    d.wake();
    t.false(d.wait(0));
    atRest('wait(0) takes the kick');
    d.wake();
    t.false(await d.waitAsync(0));
    atRest('waitAsync(0) takes the kick');
    t.false(d.wait(20, 0));
    t.false(await d.waitAsync(20));
    atRest('a timed-out sleep withdraws its announcement');
    for (const id of [0, 33, 99]) d.ring(id);
    t.true(d.wait(0, 0));
    t.is(d.drain(new Int32Array(cap)), 3);
    atRest('a drain takes the ids, their count and their summary bits');
    // Up to 32 ids there is no summary word: init clears the one ready word and the header.
    const small = new Int32Array(buf, 8, Doorbell.byteLength(32) / 4);
    small.fill(-1);
    const d32 = Doorbell.init(buf, 8, 32);
    t.deepEqual([...small], new Array(small.length).fill(0), 'init of a doorbell without a summary');
    d32.ring(31);
    t.is(d32.drain(new Int32Array(32)), 1);
  },
);
