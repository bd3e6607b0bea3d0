/**
 * EventFdPool's bookkeeping on its own: the per-thread registry (byId, registeredIds, unregister, the
 * default pool), which (slot, gen) pairs are valid, and the references that keep a closed counter's
 * slot until the last holder lets go (eventfd_ctx_get / eventfd_ctx_put). The mutation run of
 * eventfd-pool.ts (docs/mutation.md) found these reached by no test of this package.
 */
import test from 'ava';
import { EventFdPool, SHARED_EVENTFD_MAX, SharedEventFd } from '../src/index.js';
import { openFds } from './helpers.js';

const fdsBefore = openFds();

test.serial('the registry: byId finds a pool until it is unregistered, once; registeredIds follows', (t) => {
  const pool = EventFdPool.create({ capacity: 2, doorbellBytes: 0 });
  t.is(EventFdPool.byId(pool.id), pool);
  t.true(EventFdPool.registeredIds().includes(pool.id));
  t.true(pool.unregister(), 'the registered object');
  t.is(EventFdPool.byId(pool.id), undefined);
  t.false(EventFdPool.registeredIds().includes(pool.id));
  t.false(pool.unregister(), 'already unregistered');
  // an object that is not the registered one (a second attach of the same memory) is refused
  const again = EventFdPool.from(pool.handle);
  t.is(EventFdPool.byId(pool.id), again, 'from() registers a fresh object');
  t.false(pool.unregister(), 'the old object is not the one registered');
  t.is(EventFdPool.byId(pool.id), again, 'and unregistering it left the registered one alone');
  t.true(again.unregister());
});

test.serial(
  'unregistering the default pool makes the next default a new pool; another pool leaves it',
  (t) => {
    const other = EventFdPool.create({ capacity: 2, doorbellBytes: 0 });
    const def = EventFdPool.default;
    t.true(other.unregister());
    t.is(EventFdPool.default, def, 'unregistering another pool keeps the default');
    t.true(def.unregister());
    const next = EventFdPool.default;
    t.not(next, def, 'a new default pool');
    t.not(next.id, def.id);
    t.is(EventFdPool.byId(next.id), next);
  },
);

test.serial('valid(slot, gen): only a live slot at its own generation, inside the pool', (t) => {
  const pool = EventFdPool.create({ capacity: 4, doorbellBytes: 0 });
  const e = SharedEventFd.create({ pool, nonblock: true });
  t.true(pool.valid(e.slot, e.gen));
  t.false(pool.valid(e.slot, e.gen + 1), 'another generation');
  t.false(pool.valid(-1, e.gen), 'below the pool');
  t.false(pool.valid(pool.capacity, pool.gen(0)), 'past its last slot');
  const free = [0, 1, 2, 3].find((s) => s !== e.slot)!;
  t.false(pool.valid(free, pool.gen(free)), 'a slot never allocated, at its current generation');
  e.close();
  t.false(pool.valid(e.slot, e.gen), 'closed and unreferenced: freed');
  t.is(pool.live, 0);
  t.true(pool.unregister());
});

test.serial('a reference keeps a closed counter valid and allocated; the last unref frees it', (t) => {
  const pool = EventFdPool.create({ capacity: 2, doorbellBytes: 0 });
  const e = SharedEventFd.create({ pool, nonblock: true });
  pool.ref(e.slot); // a trigger bound to it (eventfd_ctx_get)
  pool.ref(e.slot); // and a second one
  e.close();
  t.true(pool.valid(e.slot, e.gen), 'closed, but still referenced twice');
  t.is(pool.live, 1);
  pool.unref(e.slot);
  t.true(pool.valid(e.slot, e.gen), 'one reference left');
  t.is(pool.live, 1);
  pool.unref(e.slot);
  t.false(pool.valid(e.slot, e.gen), 'the last reference freed it');
  t.is(pool.gen(e.slot), e.gen + 1, 'its generation moved on, so the old handle is stale');
  t.is(pool.live, 0);
  const reuse = SharedEventFd.create({ pool, nonblock: true });
  t.true(pool.valid(reuse.slot, reuse.gen));
  t.false(pool.valid(e.slot, e.gen), 'the old (slot, gen) does not name the new counter');
  reuse.close();
  t.true(pool.unregister());
});

test.serial(
  "wait-queue listeners: every signal calls each of the slot's listeners, also onto a non-zero count",
  (t) => {
    const pool = EventFdPool.create({ capacity: 2, doorbellBytes: 0 });
    const e = SharedEventFd.create({ pool, nonblock: true });
    const other = SharedEventFd.create({ pool, nonblock: true });
    const a: number[] = [];
    const b: number[] = [];
    const offA = pool.listen(e.slot, (ev) => a.push(ev));
    const offB = pool.listen(e.slot, (ev) => b.push(ev)); // a second listener on the same slot
    pool.signal(e.slot);
    pool.signal(e.slot); // onto a count of 1: a virqfd still gets one call per signal, as the kernel's
    t.is(a.length, 2);
    t.is(b.length, 2);
    t.true(
      a.every((ev) => ev !== 0),
      'called with the events (EPOLLIN)',
    );
    pool.signal(other.slot);
    t.is(a.length, 2, "another slot's signal calls none of them");
    offA();
    pool.signal(e.slot);
    t.deepEqual([a.length, b.length], [2, 3], 'the removed listener is not called again');
    offB();
    t.is(e.tryRead(), 3n);
    e.close();
    other.close();
    t.true(pool.unregister());
  },
);

test.serial(
  "signals saturate at 2^64 - 1, as the kernel's eventfd_signal does (one past what write() allows)",
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: 0 });
    const e = SharedEventFd.create({ pool, nonblock: true });
    e.write(SHARED_EVENTFD_MAX); // 2^64 - 2: the most write(2) lets a counter hold
    pool.signal(e.slot);
    // eventfd_signal_mask (fs/eventfd.c): `if (ctx->count < ULLONG_MAX) ctx->count++;`
    t.is(e.peek(), SHARED_EVENTFD_MAX + 1n, 'a signal may take it to ULLONG_MAX');
    pool.signal(e.slot);
    t.is(e.peek(), SHARED_EVENTFD_MAX + 1n, 'and no further: it does not wrap to 0');
    t.is(e.tryRead(), SHARED_EVENTFD_MAX + 1n);
    e.close();
    t.true(pool.unregister());
  },
);

test.serial(
  'bad sizes and foreign buffers are coded errors, and the edges of each range are accepted',
  (t) => {
    const range = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as const;
    for (const capacity of [0, -1, 1.5, 2 ** 20 + 1, Number.NaN]) {
      t.throws(() => EventFdPool.create({ capacity, doorbellBytes: 0 }), range, `capacity ${capacity}`);
    }
    for (const doorbellBytes of [-64, 65, 1.5]) {
      t.throws(
        () => EventFdPool.create({ capacity: 1, doorbellBytes }),
        range,
        `doorbellBytes ${doorbellBytes}`,
      );
    }
    const edges = [
      EventFdPool.create({ capacity: 1, doorbellBytes: 0 }),
      EventFdPool.create({ capacity: 2 ** 20, doorbellBytes: 64 }),
    ];
    t.deepEqual(
      edges.map((p) => p.capacity),
      [1, 2 ** 20],
    );
    for (const p of edges) t.true(p.unregister());
    // a handle that is not a pool's
    const type = { instanceOf: TypeError, code: 'ERR_INVALID_ARG_TYPE' } as const;
    t.throws(() => EventFdPool.from({ buffer: new ArrayBuffer(4096) as unknown as SharedArrayBuffer }), type);
    t.throws(() => EventFdPool.from(undefined as unknown as { buffer: SharedArrayBuffer }), type);
    t.throws(() => EventFdPool.from({ buffer: new SharedArrayBuffer(4096) }), {
      instanceOf: TypeError,
      code: 'ERR_INVALID_ARG_VALUE',
      message: /does not hold a virq eventfd pool/,
    });
    // the doorbell arena: exactly full is fine, one more byte's worth is not
    const per = EventFdPool.doorbellBytes(8);
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: 2 * per });
    const bells = [pool.createDoorbell(8), pool.createDoorbell(8)];
    t.throws(() => pool.createDoorbell(8), { ...range, message: /doorbell arena full/ });
    t.deepEqual(
      bells.map((b) => pool.doorbellRef(b) >= 0),
      [true, true],
    );
    // a doorbell of another pool, or one made outside any pool, is not this pool's
    const other = EventFdPool.create({ capacity: 1, doorbellBytes: per });
    t.is(pool.doorbellRef(other.createDoorbell(8)), -1);
    t.true(pool.unregister());
    t.true(other.unregister());
  },
);

test.serial('no fd leaked by this file', (t) => {
  t.deepEqual(openFds(), fdsBefore);
});
