/**
 * EventFdPool's bookkeeping on its own: the per-thread registry (byId, registeredIds, unregister, the
 * default pool), which (slot, gen) pairs are valid, and the references that keep a closed counter's
 * slot until the last holder lets go (eventfd_ctx_get / eventfd_ctx_put); and the pool's limits and
 * edges: which doorbells are the pool's, a full watch table, the allocation scan, the write ceiling
 * for n > 1, the close's wait-word bumps. The mutation runs of eventfd-pool.ts (docs/mutation.md)
 * found these reached by no test of this package.
 */

import { Doorbell } from 'atomics-sync';
import test from 'ava';
import { EventFdPool, MAX_WATCHES, SHARED_EVENTFD_MAX, SharedEventFd, VfioError } from '../src/index.js';
import { EV_HUP } from '../src/internal.js';
import { openFds } from './helpers.js';

const fdsBefore = openFds();

const range = { instanceOf: RangeError, code: 'ERR_OUT_OF_RANGE' } as const;
const enospc = { instanceOf: VfioError, code: 'ENOSPC' } as const;

/** The ids a doorbell has ready, drained (sorted: the drain's order is the ready set's). */
function rung(bell: Doorbell): number[] {
  const out = new Int32Array(bell.capacity);
  return Array.from(out.subarray(0, bell.drain(out))).sort((a, b) => a - b);
}

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
  t.true(e.closed, 'and closed for everyone all the same');
  t.throws(() => e.write(1), { instanceOf: VfioError, code: 'EBADF' });
  t.throws(() => SharedEventFd.from(e.handle).tryRead(), { instanceOf: VfioError, code: 'EBADF' });
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

test.serial(
  "a doorbell names one of the pool's only at a descriptor createDoorbell wrote: outside the used arena, or with another capacity, it is refused",
  (t) => {
    const per = EventFdPool.doorbellBytes(8);
    const pool = EventFdPool.create({ capacity: 8, doorbellBytes: 3 * per });
    const first = pool.createDoorbell(8);
    const last = pool.createDoorbell(8);
    const arena = first.handle.offset - 64; // the first descriptor is the arena's first byte
    const used = arena + 2 * per; // where the next descriptor will go
    const e = SharedEventFd.create({ pool, nonblock: true });
    // the edges of the used arena are accepted: its first and its last doorbell, also re-attached
    t.is(pool.doorbellRef(first), arena);
    t.is(pool.doorbellRef(last), used - per);
    t.is(pool.doorbellRef(Doorbell.from(last.handle)), used - per);
    // Doorbells attached by hand to the pool's own memory (a Doorbell writes nothing on attach), each
    // with the word its descriptor would be equal to its capacity, so only the range check refuses it.
    // Past the used arena the memory is free, whatever it holds: a word written where the next
    // descriptor will go is not one until createDoorbell claims the space.
    new Int32Array(pool.buffer)[used / 4] = 8;
    const refused: [string, Doorbell][] = [
      ['in the header (the word before it is the pool capacity, 8)', new Doorbell(pool.buffer, 8 + 64, 8)],
      ['just past the used arena', new Doorbell(pool.buffer, used + 64, 8)],
      ["at the arena's first doorbell, with a smaller capacity", new Doorbell(pool.buffer, arena + 64, 4)],
      [
        "at the arena's last doorbell, with a larger capacity",
        new Doorbell(pool.buffer, used - per + 64, 16),
      ],
    ];
    for (const [where, bell] of refused) {
      t.is(pool.doorbellRef(bell), -1, where);
      t.throws(() => e.watch(bell, 0), { ...range, message: /must live in this eventfd pool/ }, where);
      t.false(e.unwatch(bell, 0), where);
    }
    // once createDoorbell has claimed the space, the same memory is a doorbell of the pool
    const next = pool.createDoorbell(8);
    t.is(pool.doorbellRef(next), used);
    t.is(pool.doorbellRef(refused[1][1]), used);
    e.close();
    t.true(pool.unregister());
  },
);

test.serial(
  'a counter holds MAX_WATCHES watches: one more is ENOSPC; unwatch removes exactly its (doorbell, tag) and makes room; close rings every watcher',
  (t) => {
    t.is(MAX_WATCHES, 8);
    const per = EventFdPool.doorbellBytes(16);
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: 2 * per });
    const a = pool.createDoorbell(16);
    const b = pool.createDoorbell(16);
    const e = SharedEventFd.create({ pool, nonblock: true });
    // the table, in order: a:0 b:0 a:1 b:1 a:2 b:2 a:3 b:3 — each tag on both doorbells, and each
    // doorbell under several tags, so a removal must match both halves of its entry
    for (let tag = 0; tag < 4; tag++) {
      e.watch(a, tag);
      e.watch(b, tag);
    }
    t.throws(() => e.watch(a, 9), { ...enospc, message: /too many watches/ }, 'the table is full');
    e.write(1);
    t.deepEqual(rung(a), [0, 1, 2, 3], 'every watch of the full table rings');
    t.deepEqual(rung(b), [0, 1, 2, 3]);
    t.is(e.tryRead(), 1n);

    t.false(e.unwatch(a, 9), 'a watch never added: nothing to remove');
    t.false(e.unwatch(a, 4));
    t.true(e.unwatch(b, 2), 'an entry in the middle of the table');
    t.false(e.unwatch(b, 2), 'removed once');
    e.write(1);
    t.deepEqual(rung(a), [0, 1, 2, 3], "a's watch under the same tag stays");
    t.deepEqual(rung(b), [0, 1, 3], "b's other tags stay");
    t.is(e.tryRead(), 1n);

    e.watch(a, 9); // the freed entry takes it
    t.throws(() => e.watch(b, 2), enospc, 'and the table is full again');
    t.deepEqual([rung(a), rung(b)], [[], []], 'a watch of a file with nothing to read rings nothing on add');
    e.close();
    t.deepEqual(rung(a), [0, 1, 2, 3, 9], 'close rings every watcher of the full table (POLLHUP)');
    t.deepEqual(rung(b), [0, 1, 3]);
    // the slot's next file starts with the whole table free
    const f = SharedEventFd.create({ pool, nonblock: true });
    t.is(f.slot, e.slot);
    for (let tag = 0; tag < MAX_WATCHES; tag++) f.watch(a, tag + 8);
    t.throws(() => f.watch(b, 0), enospc);
    f.write(1);
    t.deepEqual(rung(a), [8, 9, 10, 11, 12, 13, 14, 15]);
    t.deepEqual(rung(b), [], "none of the old file's watches carried over");
    f.close();
    t.true(pool.unregister());
  },
);

test.serial(
  "a watch that lands after its file's close (a watch() racing close() past its open check) does not outlive the slot",
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: EventFdPool.doorbellBytes(16) });
    const bell = pool.createDoorbell(16);
    const desc = pool.doorbellRef(bell);
    const e = SharedEventFd.create({ pool, nonblock: true });
    // The race, in the order it can happen across two threads: close()'s markClosed runs, then the
    // adds of watch() calls that had passed their open check, then close()'s unref frees the slot.
    t.true(pool.markClosed(e.slot));
    for (let tag = 0; tag < MAX_WATCHES; tag++) t.is(pool.addWatch(e.slot, desc, tag), tag);
    pool.unref(e.slot);
    t.is(pool.live, 0);
    const f = SharedEventFd.create({ pool, nonblock: true });
    t.is(f.slot, e.slot, 'the slot is reused');
    f.write(1);
    t.deepEqual(rung(bell), [], 'the late watches ring nothing for the new file');
    for (let tag = 8; tag < 8 + MAX_WATCHES; tag++) f.watch(bell, tag);
    t.deepEqual(rung(bell), [8, 9, 10, 11, 12, 13, 14, 15], 'and take none of its table');
    f.close();
    t.true(pool.unregister());
  },
);

/**
 * watch() checks the file open, then adds: a close from another thread can land between the two. The
 * interleaving is forced here by running the close inside the pool's addWatch, just before (or just
 * after) the add itself.
 */
function raceWatch(
  pool: EventFdPool,
  when: 'before' | 'after',
  between: () => void,
): { restore: () => void } {
  const add = pool.addWatch.bind(pool);
  pool.addWatch = (slot: number, desc: number, tag: number) => {
    if (when === 'before') between();
    const w = add(slot, desc, tag);
    if (when === 'after') between();
    return w;
  };
  return { restore: () => (pool.addWatch = add) };
}

test.serial(
  "a close between watch()'s open check and its add: EBADF, and no watch left on the closed file",
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: EventFdPool.doorbellBytes(16) });
    const bell = pool.createDoorbell(16);
    const e = SharedEventFd.create({ pool, nonblock: true });
    pool.ref(e.slot); // a trigger's reference: the closed counter lives on, so the slot is not reused
    e.write(1);
    const race = raceWatch(pool, 'before', () => e.close());
    // Added after the close's POLLHUP went out, the watch would never hear of the close.
    t.throws(() => e.watch(bell, 3), { instanceOf: VfioError, code: 'EBADF' });
    race.restore();
    t.deepEqual(rung(bell), [], 'nothing rang: the close found no watch, and the late one was taken back');
    pool.wake(e.slot, EV_HUP); // rings every doorbell the slot's watch table still names
    t.deepEqual(rung(bell), [], 'no watch is left on the slot');
    pool.unref(e.slot);
    t.true(pool.unregister());
  },
);

test.serial(
  "a close and a reuse of the slot between watch()'s open check and its add: EBADF, and the new file is not watched",
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: EventFdPool.doorbellBytes(16) });
    const bell = pool.createDoorbell(16);
    const e = SharedEventFd.create({ pool, nonblock: true });
    let f: SharedEventFd | undefined;
    const race = raceWatch(pool, 'before', () => {
      e.close();
      f = SharedEventFd.create({ pool, nonblock: true });
    });
    t.throws(() => e.watch(bell, 5), { instanceOf: VfioError, code: 'EBADF' });
    race.restore();
    t.is(f!.slot, e.slot, 'the slot was reused');
    rung(bell); // a ring drawn while the watch stood is spurious (the bit is a hint)
    f!.write(1);
    t.deepEqual(rung(bell), [], "the other file's writes do not ring the failed watch's doorbell");
    for (let tag = 8; tag < 8 + MAX_WATCHES; tag++) f!.watch(bell, tag);
    t.deepEqual(rung(bell), [8, 9, 10, 11, 12, 13, 14, 15], 'and the new file has its whole watch table');
    f!.close();
    t.true(pool.unregister());
  },
);

test.serial(
  "a close just after watch()'s add: the close rings the watch (POLLHUP), the add fails as one after the close",
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: EventFdPool.doorbellBytes(16) });
    const bell = pool.createDoorbell(16);
    const e = SharedEventFd.create({ pool, nonblock: true });
    pool.ref(e.slot);
    const race = raceWatch(pool, 'after', () => e.close());
    t.throws(() => e.watch(bell, 2), { instanceOf: VfioError, code: 'EBADF' });
    race.restore();
    t.deepEqual(rung(bell), [2], 'the close found the published watch and rang it');
    pool.wake(e.slot, EV_HUP);
    t.deepEqual(rung(bell), [], 'and no watch is left on the slot');
    pool.unref(e.slot);
    t.true(pool.unregister());
  },
);

test.serial(
  'of two closes of one counter (two threads past their open check), the second is refused and no second POLLHUP goes out',
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: 0 });
    const e = SharedEventFd.create({ pool, nonblock: true });
    const events: number[] = [];
    pool.listen(e.slot, (ev) => events.push(ev));
    t.true(pool.markClosed(e.slot), 'the first closes it');
    t.false(pool.markClosed(e.slot), 'the second is told it was closed already (its close() throws EBADF)');
    t.deepEqual(events, [EV_HUP], 'one POLLHUP');
    t.true(e.closed);
    pool.unref(e.slot); // the first close()'s drop of the file's reference
    t.is(pool.live, 0);
    t.true(pool.unregister());
  },
);

test.serial(
  'allocation goes round the pool from where the last one ended: a freed slot is reused when the scan comes round to it',
  (t) => {
    const pool = EventFdPool.create({ capacity: 4, doorbellBytes: 0 });
    const create = (): SharedEventFd => SharedEventFd.create({ pool, nonblock: true });
    const fds = [create(), create(), create(), create()];
    t.deepEqual(
      fds.map((f) => f.slot),
      [0, 1, 2, 3],
    );
    t.throws(create, { ...enospc, message: /pool is full/ }, 'all four taken');
    fds[1].close();
    fds[3].close();
    const b = create(); // the scan starts at slot 0 (after 3, round), which is taken
    t.is(b.slot, 1, 'the first free slot after the last allocation, past a taken one');
    fds[0].close();
    const c = create(); // slots 0 and 3 are free; the last allocation was 1
    t.is(c.slot, 3, 'after the last allocation, not the lowest free slot');
    const d = create();
    t.is(d.slot, 0, 'then round the end to the slot before it');
    t.throws(create, enospc, 'full again');
    for (const f of [fds[2], b, c, d]) f.close();
    t.is(pool.live, 0);
    t.true(pool.unregister());
  },
);

test.serial('a write of n > 1 may take the count exactly to 2^64 - 2, and no further', (t) => {
  const pool = EventFdPool.create({ capacity: 1, doorbellBytes: 0 });
  const e = SharedEventFd.create({ pool, nonblock: true });
  const eagain = { instanceOf: VfioError, code: 'EAGAIN' } as const;
  e.write(SHARED_EVENTFD_MAX - 2n);
  e.write(2n);
  t.is(e.peek(), SHARED_EVENTFD_MAX, 'exactly at the ceiling');
  t.is(e.tryRead(), SHARED_EVENTFD_MAX);
  e.write(SHARED_EVENTFD_MAX - 1n);
  t.throws(() => e.write(2n), eagain, 'one past it');
  t.is(e.peek(), SHARED_EVENTFD_MAX - 1n, 'the refused write left the count alone');
  t.is(e.tryRead(), SHARED_EVENTFD_MAX - 1n);
  e.write(1n);
  t.throws(() => e.write(SHARED_EVENTFD_MAX), eagain, 'the largest write onto 1');
  t.is(e.tryRead(), 1n);
  e.write(SHARED_EVENTFD_MAX);
  t.is(e.tryRead(), SHARED_EVENTFD_MAX, 'onto 0 it fits');
  e.close();
  t.true(pool.unregister());
});

test.serial(
  'every write, signal and close moves the wait words on: a waiter that looked at its word just before does not sleep through it',
  (t) => {
    const pool = EventFdPool.create({ capacity: 1, doorbellBytes: 0 });
    const e = SharedEventFd.create({ pool, nonblock: true });
    const wseq = pool.wseqIndex(e.slot); // readers' (read(), readAsync()) word
    const rseq = pool.rseqIndex(e.slot); // blocked writers' word
    // read() and write() load their word, re-check the count, then sleep on the word as loaded: an
    // event between the load and the sleep must change it, or the sleep (with no timeout) never ends.
    // Atomics.wait with timeout 0 is that sleep, without sleeping: 'not-equal' ends at once.
    const after = (index: number, event: () => void): string => {
      const seen = Atomics.load(pool.i32, index);
      event();
      return Atomics.wait(pool.i32, index, seen, 0);
    };
    t.is(
      after(wseq, () => e.write(1)),
      'not-equal',
      'a write, for a reader',
    );
    t.is(e.tryRead(), 1n);
    t.is(
      after(wseq, () => pool.signal(e.slot)),
      'not-equal',
      'a signal (0 -> 1), for a reader',
    );
    t.is(e.tryRead(), 1n);
    t.is(
      after(wseq, () => {}),
      'timed-out',
      'and nothing else does',
    );
    t.is(
      after(rseq, () => {}),
      'timed-out',
    );
    pool.ref(e.slot); // keep the counter while we look at it after the close
    t.is(
      after(rseq, () => e.close()),
      'not-equal',
      'a close, for a writer blocked on a full counter (it then fails EBADF)',
    );
    pool.unref(e.slot);
    t.true(pool.unregister());
  },
);

test.serial('when the default pool is full, the next default create lands in a new default pool', (t) => {
  const full = EventFdPool.default;
  const fds: SharedEventFd[] = [];
  while (full.live < full.capacity) fds.push(SharedEventFd.create({ nonblock: true }));
  const next = SharedEventFd.create({ nonblock: true });
  t.not(next.pool, full);
  t.is(EventFdPool.default, next.pool, 'the new pool is the default from now on');
  t.is(EventFdPool.byId(next.pool.id), next.pool);
  fds[0].write(1);
  t.is(fds[0].tryRead(), 1n, "the full pool's counters keep working");
  for (const f of [...fds, next]) f.close();
  t.is(full.live, 0);
  t.true(full.unregister());
});

test.serial('no fd leaked by this file', (t) => {
  t.deepEqual(openFds(), fdsBefore);
});
