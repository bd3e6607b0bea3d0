// The wait paths of RingBase (waitReadable/waitWritable, their async forms, popWait), the producer's HEAD
// cache and pushBatch's range check, pinned down without a single timed assertion: every check is on
// what a wait returns, on the header words it leaves behind, or on what a worker blocked in
// Atomics.wait does once it is woken. Where a wait's answer depends on when another thread acts (an
// item published during the spin, or between the last look and the sleep announcement), a probe on
// the ring's own isEmpty/hasSpace, the only way a wait looks at the ring, acts at that exact poll.
import test from 'ava';
import { CACHE_LINE, MpscRing, pendingAsyncWaits, RING_DEFAULT_SPIN, SpscRing } from '../src/index.js';
import {
  CONS_SLEEP,
  HEAD,
  HEAD_EPOCH,
  PROD_WAITERS,
  RING_HEADER_BYTES,
  TAIL,
  TAIL_EPOCH,
} from '../src/ring-base.js';
import { type Started, WorkerScope } from './helpers.js';

type Ring = SpscRing | MpscRing;
const KINDS = [
  { name: 'SpscRing', kind: 'spsc', Ctor: SpscRing },
  { name: 'MpscRing', kind: 'mpsc', Ctor: MpscRing },
] as const;

/** The ring's two header lines as int32 words, as any thread attached to it sees them. */
const header = (r: Ring): Int32Array =>
  new Int32Array(r.handle.buffer, r.handle.offset, RING_HEADER_BYTES / 4);

/** The cache line (0 or 1) a header word is on. */
const lineOf = (word: number): number => Math.floor((word * 4) / CACHE_LINE);

interface Probe {
  /** Polls of the probed method so far. */
  polls: number;
  /** True if some poll found a sleep announced in the header (CONS_SLEEP set or PROD_WAITERS > 0). */
  announced: boolean;
}

/**
 * Wraps `r[method]` to count its polls and record whether the header showed a sleep announcement at any
 * of them; `after(n)` runs once the n-th poll has its answer, standing in for another thread that
 * publishes an item (or frees a slot) at exactly that point of the wait.
 */
function probe(r: Ring, method: 'isEmpty' | 'hasSpace', after?: (poll: number) => void): Probe {
  const ctl = header(r);
  const seen: Probe = { polls: 0, announced: false };
  const inner = r[method].bind(r);
  r[method] = () => {
    const answer = inner();
    seen.polls++;
    if (Atomics.load(ctl, CONS_SLEEP) !== 0 || Atomics.load(ctl, PROD_WAITERS) !== 0) seen.announced = true;
    after?.(seen.polls);
    return answer;
  };
  return seen;
}

/**
 * Resolves once `ctl[index]` holds `value`, i.e. the worker announced its sleep. Throws if the worker
 * posts its result first: it returned without waiting, which is the failure these tests look for.
 */
async function untilAnnounced(ctl: Int32Array, index: number, value: number, w: Started<unknown>) {
  let done = false;
  let got: unknown;
  w.result.then(
    (v) => {
      done = true;
      got = v;
    },
    () => {
      done = true;
    },
  );
  while (Atomics.load(ctl, index) !== value) {
    if (done) throw new Error(`the worker returned ${JSON.stringify(got)} without going to sleep`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// The consumer reads PROD_WAITERS after every pop. On line 0, which producers write on every push
// (TAIL), that read would pull the producers' line to the consumer's core each time (false sharing).
test("the header keeps each side's words on its own cache line", (t) => {
  t.is(RING_HEADER_BYTES, 2 * CACHE_LINE);
  t.deepEqual(
    [lineOf(TAIL), lineOf(CONS_SLEEP), lineOf(HEAD_EPOCH)],
    [0, 0, 0],
    'words producers read per push on line 0',
  );
  t.deepEqual(
    [lineOf(HEAD), lineOf(PROD_WAITERS), lineOf(TAIL_EPOCH)],
    [1, 1, 1],
    'words the consumer reads per pop on line 1',
  );
  t.is(new Set([TAIL, CONS_SLEEP, HEAD_EPOCH, HEAD, PROD_WAITERS, TAIL_EPOCH]).size, 6);
});

for (const { name, kind, Ctor } of KINDS) {
  const make = (cap = 2): Ring => new Ctor(new SharedArrayBuffer(Ctor.byteLength(cap)), 0, cap);

  // timeoutMs 0 is a poll: it answers from the ring as it is, and must not announce a sleep, which
  // would make every producer publish pay a compare-and-swap and a futex wake for nothing.
  test.serial(
    `${name}: a wait with timeoutMs 0 answers from the ring as it is and never announces a sleep`,
    async (t) => {
      const r = make(2);
      const ctl = header(r);
      const reads = probe(r, 'isEmpty');
      t.false(r.waitReadable(0, 0));
      t.false(await r.waitReadableAsync(0));
      t.deepEqual(reads, { polls: 2, announced: false }, 'one look each, no announcement');
      r.push(1);
      t.true(r.waitReadable(0, 0), 'an item already there is ready, whatever the spin');
      t.true(await r.waitReadableAsync(0));
      r.push(2);
      const writes = probe(r, 'hasSpace');
      t.false(r.waitWritable(0, 0));
      t.false(await r.waitWritableAsync(0));
      t.deepEqual(writes, { polls: 2, announced: false });
      r.pop();
      t.true(r.waitWritable(0, 0), 'a free slot is room, whatever the spin');
      t.true(await r.waitWritableAsync(0));
      t.true(await r.waitWritableAsync(20_000), 'and is room at once with any timeout');
      t.deepEqual([ctl[CONS_SLEEP], ctl[PROD_WAITERS], pendingAsyncWaits()], [0, 0, 0]);
    },
  );

  test(`${name}: the default spin polls RING_DEFAULT_SPIN times, half that after a miss; a given count that many`, (t) => {
    const r = make(2);
    const reads = probe(r, 'isEmpty');
    const polls: number[] = [];
    for (const spin of [undefined, undefined, 7]) {
      const before = reads.polls;
      t.false(r.waitReadable(0, spin));
      polls.push(reads.polls - before - 1); // minus the look before the spin
    }
    t.deepEqual(polls, [RING_DEFAULT_SPIN, RING_DEFAULT_SPIN / 2, 7]);
    r.push(1);
    r.push(2);
    const writes = probe(r, 'hasSpace');
    polls.length = 0;
    for (const spin of [undefined, undefined, 7]) {
      const before = writes.polls;
      t.false(r.waitWritable(0, spin));
      polls.push(writes.polls - before - 1);
    }
    t.deepEqual(polls, [RING_DEFAULT_SPIN, RING_DEFAULT_SPIN / 2, 7], "the producer's budget is its own");
  });

  test(`${name}: what arrives during the spin ends the wait at once, even with timeoutMs 0`, (t) => {
    const r = make(2);
    const reads = probe(r, 'isEmpty', (n) => {
      if (n === 2) r.push(5); // right after the spin's first poll
    });
    t.true(r.waitReadable(0, 10));
    t.deepEqual(reads, { polls: 3, announced: false }, 'caught by the next poll, no sleep announced');
    t.is(r.pop(), 5);
    r.push(1);
    r.push(2);
    const writes = probe(r, 'hasSpace', (n) => {
      if (n === 2) r.pop();
    });
    t.true(r.waitWritable(0, 10));
    t.deepEqual(writes, { polls: 3, announced: false });
    t.true(r.push(3));
  });

  // The consumer's last look finds nothing; a producer publishes before the consumer announces its
  // sleep, so it sees no announcement and wakes no one. The re-check after the announcement must
  // catch the item, or the consumer sleeps with an item in the ring.
  test.serial(
    `${name}: an item published just before the sleep announcement is caught by the re-check`,
    async (t) => {
      const r = make(2);
      const ctl = header(r);
      probe(r, 'isEmpty', (n) => {
        if (n === 1) r.push(9);
      });
      const p = r.waitReadableAsync();
      const announced = Atomics.load(ctl, CONS_SLEEP);
      const sleeping = pendingAsyncWaits();
      // Release the sleep a broken re-check would leave pending before asserting (a failed assertion
      // throws), so it cannot hold this process or leak into the tests after it.
      Atomics.notify(ctl, CONS_SLEEP);
      t.is(announced, 0, 'the announcement was taken back');
      t.is(sleeping, 0, 'and no sleep was started');
      t.true(await p);
      t.is(r.pop(), 9);
    },
  );

  // The deadline has passed by the time of the announcement (Number.MIN_VALUE: deadline = now), so the
  // loop does not sleep; an item published after the announced re-check must still be reported.
  test(`${name}: a wait whose deadline ran out still reports an item published after its announcement`, (t) => {
    const r = make(2);
    const ctl = header(r);
    probe(r, 'isEmpty', (n) => {
      if (n === 2) r.push(4); // the re-check after the announcement
    });
    t.true(r.waitReadable(Number.MIN_VALUE, 0));
    t.is(Atomics.load(ctl, CONS_SLEEP), 0);
    t.is(r.pop(), 4);
  });

  // A left-over announcement makes every later publish pay a compare-and-swap and a futex wake.
  test.serial(`${name}: a wait that times out takes its sleep announcement back`, async (t) => {
    const r = make(2);
    const ctl = header(r);
    t.false(r.waitReadable(1, 0));
    t.is(Atomics.load(ctl, CONS_SLEEP), 0);
    t.false(await r.waitReadableAsync(1));
    t.is(Atomics.load(ctl, CONS_SLEEP), 0);
    r.push(1);
    r.push(2);
    t.false(r.waitWritable(1, 0));
    t.is(Atomics.load(ctl, PROD_WAITERS), 0);
    t.false(await r.waitWritableAsync(1));
    t.is(Atomics.load(ctl, PROD_WAITERS), 0);
    t.is(pendingAsyncWaits(), 0);
  });

  // The lost-wakeup guard (see RingBase.wakeConsumer): a producer that sees the announcement must
  // clear it itself, so a consumer between its re-check and its Atomics.wait finds the word changed
  // and returns at once. A notify alone would reach no one, and that consumer would sleep on the item.
  test(`${name}: a publish onto a ring whose consumer announced sleep takes the announcement back itself`, (t) => {
    const r = make(4);
    const ctl = header(r);
    const publishes: [string, () => unknown][] = [
      ['push', () => r.push(1)],
      ['pushBatch', () => r.pushBatch(Int32Array.of(2, 3))],
    ];
    for (const [what, publish] of publishes) {
      Atomics.store(ctl, CONS_SLEEP, 1); // what the consumer's sleep loop does before its re-check
      publish();
      t.is(Atomics.load(ctl, CONS_SLEEP), 0, what);
      t.is(Atomics.wait(ctl, CONS_SLEEP, 1, 0), 'not-equal', `${what}: the consumer's sleep returns at once`);
    }
    t.is(r.size(), 3);
  });

  test.serial(`${name}: bad wait arguments are rejected naming the ring and the method`, async (t) => {
    const r = make(2);
    const timeout = (method: string) => ({
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: new RegExp(`^${name}\\.${method}: timeout must be a number of milliseconds >= 0`),
    });
    const spin = (method: string) => ({
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: new RegExp(`^${name}\\.${method}: spin iterations must be an integer between 0 and`),
    });
    t.throws(() => r.popWait(-1), timeout('popWait'));
    t.throws(() => r.popWait(0, -1), spin('popWait'));
    t.throws(() => r.waitReadable(Number.NaN), timeout('waitReadable'));
    t.throws(() => r.waitReadable(0, 1.5), spin('waitReadable'));
    t.throws(() => r.waitWritable(-1), timeout('waitWritable'));
    t.throws(() => r.waitWritable(0, -1), spin('waitWritable'));
    await t.throwsAsync(r.waitReadableAsync(-1), timeout('waitReadableAsync'));
    await t.throwsAsync(r.waitWritableAsync(-1), timeout('waitWritableAsync'));
  });

  test(`${name}: pushBatch rejects a start or end that is not an integer in range, pushing nothing`, (t) => {
    const r = make(8);
    const src = Int32Array.of(1, 2, 3, 4);
    t.throws(() => r.pushBatch(src, 0.5), {
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: `${name}.pushBatch: start and end must be integers, got 0.5 and undefined`,
    });
    t.throws(() => r.pushBatch(src, 0, 2.5), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => r.pushBatch(src, '1' as never), { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' });
    t.throws(() => r.pushBatch(src, -1), {
      instanceOf: RangeError,
      code: 'ERR_OUT_OF_RANGE',
      message: `${name}.pushBatch: expected 0 <= start <= end <= 4, got start -1, end 4`,
    });
    t.is(r.size(), 0);
  });

  // The producer caches HEAD per instance. Hand the producer role to another instance (another thread's
  // attachment), let it move the positions on by 2^31 (written into the header here, as the wrap tests
  // do), and hand it back: the old cache is now "ahead" in wrapping arithmetic and must be refreshed,
  // not read as room to spare, which would overwrite items the consumer has not taken.
  test(`${name}: a HEAD cache left stale by another holder of the producer role is refreshed, not trusted`, (t) => {
    const cap = 4;
    const a = make(cap); // caches HEAD = 0
    const ctl = header(a);
    ctl[TAIL] = -(2 ** 31);
    ctl[HEAD] = -(2 ** 31);
    const b = Ctor.from(a.handle);
    for (let i = 0; i < cap; i++) t.true(b.push(i));
    t.false(a.push(99), 'the ring is full');
    t.false(a.pushBatch(Int32Array.of(99)) > 0);
    t.is(a.size(), cap);
    t.deepEqual([b.pop(), b.pop(), b.pop(), b.pop(), b.pop()], [0, 1, 2, 3, undefined]);
    t.true(a.push(5), 'and room is seen again once the consumer took items');
    t.is(b.pop(), 5);
  });

  test.serial(
    `${name}: a consumer asleep in popWait() in a worker is woken by one push and returns it`,
    async (t) => {
      const scope = new WorkerScope(t);
      const r = make(4);
      const ctl = header(r);
      const w = scope.start<{ value: number | undefined }>('ring-waiter', {
        ring: r.handle,
        kind,
        op: 'popWait',
      });
      await untilAnnounced(ctl, CONS_SLEEP, 1, w);
      t.true(r.push(42));
      t.deepEqual(await w.result, { value: 42 });
      t.is(Atomics.load(ctl, CONS_SLEEP), 0);
      t.true(r.isEmpty());
      await scope.finish(t);
    },
  );

  test.serial(`${name}: a producer asleep on a full ring in a worker is woken by one pop`, async (t) => {
    const scope = new WorkerScope(t);
    const r = make(2);
    const ctl = header(r);
    r.push(1);
    r.push(2);
    const w = scope.start<{ ready: boolean; pushed: boolean }>('ring-waiter', {
      ring: r.handle,
      kind,
      op: 'waitWritable',
      value: 3,
    });
    await untilAnnounced(ctl, PROD_WAITERS, 1, w);
    t.is(r.pop(), 1);
    t.deepEqual(await w.result, { ready: true, pushed: true });
    t.is(Atomics.load(ctl, PROD_WAITERS), 0, 'the sleeper took its count back');
    t.deepEqual([r.pop(), r.pop(), r.pop()], [2, 3, undefined]);
    await scope.finish(t);
  });
}

// MPSC: a producer that claimed position 0 but has not published it yet holds up the consumer; one that
// publishes position 1 meanwhile wakes the consumer, which finds the head slot still empty. That wake
// is not the end of an untimed wait: the consumer must go back to sleep until position 0 comes.
test.serial(
  'MpscRing: a wake-up for a later slot, the head one still unpublished, does not end an untimed wait',
  async (t) => {
    const scope = new WorkerScope(t);
    const cap = 4;
    const r = new MpscRing(new SharedArrayBuffer(MpscRing.byteLength(cap)), 0, cap);
    const ctl = header(r);
    const slots = new Int32Array(r.handle.buffer, RING_HEADER_BYTES, cap * 2);
    t.is(Atomics.compareExchange(ctl, TAIL, 0, 1), 0, 'the slow producer claims position 0');
    const w = scope.start<{ ready: boolean; popped: number[] }>('ring-waiter', {
      ring: r.handle,
      kind: 'mpsc',
      op: 'waitReadable',
    });
    await untilAnnounced(ctl, CONS_SLEEP, 1, w);
    t.true(r.push(7), 'position 1, published: wakes the consumer');
    // push() cleared the word (wakeConsumer's CAS): the next 1 is the woken consumer's new announcement.
    await untilAnnounced(ctl, CONS_SLEEP, 1, w);
    // The slow producer publishes position 0 (slot 0: seq = 0 + 1 - 0) and wakes, as push() does.
    slots[1] = 5;
    Atomics.store(slots, 0, 1);
    if (Atomics.compareExchange(ctl, CONS_SLEEP, 1, 0) === 1) Atomics.notify(ctl, CONS_SLEEP, 1);
    t.deepEqual(await w.result, { ready: true, popped: [5, 7] });
    t.is(Atomics.load(ctl, CONS_SLEEP), 0);
    await scope.finish(t);
  },
);

// A position cache 2^32 - k positions old. room() used to trust the HEAD cache whenever `pos - cache`
// (int32, wrapping) read as 0..cap-want: a cache 2^32 - k old read as k used, room on a full ring, and
// the push overwrote an unread item (SPSC: [99, 1, 2, 3, 99] popped, item 0 lost; MPSC: the consumer
// waited for ever on the overwritten slot). How a cache gets that old: an MPSC producer that pushes
// rarely while the others move 2^32 items (~7 min at 10M items/s), or a role handed away and back. Now
// the consumer bumps HEAD_EPOCH at every 2^30 positions and a cache is trusted only under the epoch it
// was taken in. The 2^32 - 2 positions are written into the header as the consumer's stores leave it:
// HEAD and TAIL at -2, HEAD_EPOCH (and for SPSC's producer TAIL_EPOCH) bumped 4 times — that the real
// stores bump them so is pinned by ring.property.test's epoch model.
for (const { name, kind, Ctor } of KINDS) {
  test(`${name}: a HEAD cache 2^32 - 2 positions old is refreshed, and a full ring stays full`, (t) => {
    const cap = 4;
    const a = new Ctor(new SharedArrayBuffer(Ctor.byteLength(cap)), 0, cap); // caches HEAD = 0, epoch 0
    const ctl = header(a);
    ctl[TAIL] = -2; // 2^32 - 2 positions went through other instances
    ctl[HEAD] = -2;
    ctl[HEAD_EPOCH] = 4;
    if (kind === 'spsc') ctl[TAIL_EPOCH] = 4;
    const b = Ctor.from(a.handle);
    for (let i = 0; i < cap; i++) t.true(b.push(i));
    t.false(a.push(99), 'the ring is full');
    t.is(a.pushBatch(Int32Array.of(99, 98)), 0, 'and a batch finds no room either');
    t.is(a.size(), cap);
    t.deepEqual(
      [b.pop(), b.pop(), b.pop(), b.pop(), b.pop()],
      [0, 1, 2, 3, undefined],
      'nothing overwritten',
    );
    t.true(a.push(5), 'room is seen again once the consumer took items');
    t.is(b.pop(), 5);
  });
}

// The same for spsc-ring.ts's consumer: items() trusted a TAIL cache 2^32 - k old and popped a stale
// slot from an empty ring (size() then read -1).
test('SpscRing: a TAIL cache 2^32 - 2 positions old is refreshed, and an empty ring pops nothing', (t) => {
  const r = new SpscRing(new SharedArrayBuffer(SpscRing.byteLength(4)), 0, 4); // caches TAIL = 0, epoch 0
  const ctl = header(r);
  ctl[TAIL] = -2; // empty, 2^32 - 2 positions on
  ctl[HEAD] = -2;
  ctl[HEAD_EPOCH] = 4;
  ctl[TAIL_EPOCH] = 4;
  t.is(r.pop(), undefined);
  t.is(r.popBatch(new Int32Array(4)), 0);
  t.is(r.size(), 0);
  const p = SpscRing.from(r.handle);
  t.true(p.push(7));
  t.is(r.pop(), 7, 'and an item pushed now is the one popped');
});
