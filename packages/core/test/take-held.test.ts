/**
 * VectorTable.takeHeld (the NAPI poll of a masked vector) and the eventfd pool registry's unregister
 * (what a pool's owner does when it is done with it): real SoftDevices, real worker threads.
 */
import { Worker } from 'node:worker_threads';
import test from 'ava';
import fc from 'fast-check';
import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  EventFdPool,
  VFIO_PCI_INTX_IRQ_INDEX as INTX,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SharedEventFd,
  SoftDevice,
  ST_MASKED,
  ST_PENDING,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
} from '../src/index.js';
import { openFds } from './helpers/kit.js';

const fdsBefore = openFds();
const liveBefore = EventFdPool.default.live;

function runWorker(data: unknown): Promise<Record<string, unknown>> {
  const worker = new Worker(new URL('./fixtures/table-worker.js', import.meta.url), { workerData: data });
  return new Promise((resolve, reject) => {
    let msg: Record<string, unknown>;
    worker.once('message', (m) => {
      msg = m;
    });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve(msg) : reject(new Error(`worker exit ${code}`))));
  });
}

function bound(vectors = 1) {
  const d = new SoftDevice({ msix: { vectors: 4, maskable: true } });
  const efds = Array.from({ length: vectors }, () => SharedEventFd.create({ nonblock: true }));
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: vectors, data: efds });
  const done = () => {
    d.close();
    for (const e of efds) e.close();
  };
  return { d, t: d.vectorTable, efds, done };
}

test.serial('takeHeld takes the held interrupt, keeps the vector masked and signals nothing', (t) => {
  const { d, t: table, efds, done } = bound();
  table.mask(MSIX, 0);
  t.is(d.raise(MSIX, 0), 'held');
  t.is(d.raise(MSIX, 0), 'coalesced');
  t.true(table.takeHeld(MSIX, 0));
  const s = table.stateBits(MSIX, 0);
  t.is(s & ST_MASKED, ST_MASKED, 'still masked');
  t.is(s & ST_PENDING, 0, 'the PBA bit is clear');
  t.is(efds[0].peek(), 0n, 'the trigger was not signalled');
  t.like(table.counters(MSIX, 0), { raised: 2, coalesced: 1, pending: 1 }, 'taken, not yet consumed');
  t.false(table.takeHeld(MSIX, 0), 'nothing held any more');
  table.recordConsumed(MSIX, 0, 1);
  t.like(table.counters(MSIX, 0), { raised: 2, delivered: 1, coalesced: 1, pending: 0 });
  // a read that returned nothing is no consumption (a survivor of the mutation run, docs/mutation.md)
  const before = table.counters(MSIX, 0);
  table.recordConsumed(MSIX, 0, 0);
  table.recordConsumed(MSIX, 0, -1n);
  t.deepEqual(table.counters(MSIX, 0), before, 'recordConsumed of 0 or less changes no counter');
  t.is(table.unmask(MSIX, 0), 'unmasked', 'unmask finds nothing held');
  t.is(efds[0].peek(), 0n);
  t.deepEqual(table.checkInvariant(), []);
  done();
});

test.serial(
  'a read of 1 that nothing counted is external, as a read of 3 is (both recordConsumed paths)',
  (t) => {
    // recordConsumed(…, 1) has its own path (consumedOne, no bigint); a signal no raise counted (a
    // foreign write, the kernel's own) must come out the same on both: raised and external by what was
    // read, delivered by one, coalesced by the rest, pending untouched.
    const { t: table, done } = bound(2);
    table.recordConsumed(MSIX, 0, 1);
    table.recordConsumed(MSIX, 1, 3);
    t.like(table.counters(MSIX, 0), { raised: 1, external: 1, delivered: 1, coalesced: 0, pending: 0 });
    t.like(table.counters(MSIX, 1), { raised: 3, external: 3, delivered: 1, coalesced: 2, pending: 0 });
    t.deepEqual(table.checkInvariant(), []);
    done();
  },
);

test.serial('takeHeld on an unmasked vector takes nothing; INTx is refused', (t) => {
  const { d, t: table, efds, done } = bound();
  t.is(d.raise(MSIX, 0), 'signalled');
  t.false(table.takeHeld(MSIX, 0));
  t.is(efds[0].tryRead(), 1n);
  table.recordConsumed(MSIX, 0, 1);
  const intx = new SoftDevice();
  t.throws(() => intx.vectorTable.takeHeld(INTX, 0), { instanceOf: RangeError });
  t.throws(() => table.takeHeld(MSIX, 4), { instanceOf: RangeError });
  t.deepEqual(table.checkInvariant(), []);
  intx.close();
  done();
});

test.serial('property: raise / mask / unmask / takeHeld / consume keep every raise accounted', (t) => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('raise' as const), v: fc.nat(1) }),
    fc.record({ k: fc.constant('mask' as const), v: fc.nat(1) }),
    fc.record({ k: fc.constant('unmask' as const), v: fc.nat(1) }),
    fc.record({ k: fc.constant('take' as const), v: fc.nat(1) }),
    fc.record({ k: fc.constant('consume' as const), v: fc.nat(1) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const { d, t: table, done } = bound(2);
      // The model: per vector, masked, held (PBA bit), signalled-and-unread count, handled raises.
      const m = [0, 1].map(() => ({ masked: false, held: false, unread: 0, raised: 0, handled: 0 }));
      try {
        for (const o of ops) {
          const v = m[o.v];
          if (o.k === 'raise') {
            const r = d.raise(MSIX, o.v);
            v.raised++;
            if (!v.masked) {
              if (r !== 'signalled') return false;
              v.unread++;
            } else if (r !== (v.held ? 'coalesced' : 'held')) return false;
            else if (r === 'coalesced') v.handled++;
            else v.held = true;
          } else if (o.k === 'mask') {
            if (table.mask(MSIX, o.v) === v.masked) return false;
            v.masked = true;
          } else if (o.k === 'unmask') {
            const r = table.unmask(MSIX, o.v);
            const want = !v.masked ? 'noop' : v.held ? 'signalled' : 'unmasked';
            if (r !== want) return false;
            if (v.held) v.unread++;
            v.masked = false;
            v.held = false;
          } else if (o.k === 'take') {
            if (table.takeHeld(MSIX, o.v) !== v.held) return false;
            if (v.held) {
              table.recordConsumed(MSIX, o.v, 1);
              v.handled++;
            }
            v.held = false;
            if (((table.stateBits(MSIX, o.v) & ST_MASKED) !== 0) !== v.masked) return false;
          } else {
            const n = Number(table.consume(MSIX, o.v));
            if (n !== v.unread) return false;
            v.handled += n;
            v.unread = 0;
          }
          const c = table.counters(MSIX, o.v);
          if (c.raised !== v.raised) return false;
          if (c.pending !== v.unread + (v.held ? 1 : 0)) return false;
          if (c.delivered + c.coalesced !== v.handled) return false;
        }
        return table.checkInvariant().length === 0;
      } finally {
        done();
      }
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test.serial(
  'two workers polling a masked vector while it is raised: every raise taken or coalesced once',
  async (t) => {
    const { d, t: table, efds, done } = bound();
    table.mask(MSIX, 0);
    const stop = new SharedArrayBuffer(4);
    const job = { job: 'take-race', handle: table.handle, index: MSIX, vector: 0, stop };
    const workers = [runWorker(job), runWorker(job)];
    let raised = 0;
    for (let i = 0; i < 20_000; i++) {
      d.raise(MSIX, 0);
      raised++;
      if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
    }
    Atomics.store(new Int32Array(stop), 0, 1);
    const results = await Promise.all(workers);
    const taken = results.reduce((a, r) => a + (r.taken as number), 0);
    const c = table.counters(MSIX, 0);
    t.is(c.raised, raised);
    t.is(c.delivered, taken, 'one delivery per interrupt taken');
    t.is(c.delivered + c.coalesced, raised, 'the rest coalesced into a held one');
    t.is(c.pending, 0);
    t.is(efds[0].peek(), 0n, 'nothing reached the trigger while masked');
    t.true((table.stateBits(MSIX, 0) & ST_MASKED) !== 0);
    t.deepEqual(table.checkInvariant(), []);
    done();
  },
);

test.serial(
  'a pool unregisters from this thread: byId/registeredIds forget it, from() attaches anew',
  (t) => {
    const pool = EventFdPool.create({ capacity: 4, doorbellBytes: 0 });
    t.is(EventFdPool.byId(pool.id), pool);
    t.true(EventFdPool.registeredIds().includes(pool.id));
    const e = SharedEventFd.create({ pool });
    t.true(pool.unregister());
    t.is(EventFdPool.byId(pool.id), undefined);
    t.false(EventFdPool.registeredIds().includes(pool.id));
    t.false(pool.unregister(), 'already unregistered');
    e.write(2);
    t.is(e.read(), 2n, 'objects holding the pool keep working');
    const again = EventFdPool.from(pool.handle);
    t.not(again, pool);
    t.is(again.id, pool.id);
    t.is(again.live, 1, 'the same shared memory');
    e.close();
    t.is(again.live, 0);
    t.true(again.unregister());
    t.false(EventFdPool.registeredIds().includes(pool.id));
  },
);

test.serial('unregistering the default pool: the next default is a new pool', (t) => {
  const before = EventFdPool.default;
  t.is(before.live, liveBefore, 'nothing of this file left in the default pool');
  t.true(before.unregister());
  const next = EventFdPool.default;
  t.not(next, before);
  t.is(next.live, 0);
  t.is(EventFdPool.byId(before.id), undefined);
});

test.serial('a vector table forgets a pool only when no trigger lives in it', (t) => {
  const pool = EventFdPool.create({ capacity: 4, doorbellBytes: 0 });
  const d = new SoftDevice({ msix: { vectors: 2 } });
  const e = SharedEventFd.create({ pool, nonblock: true });
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: [-1, e] });
  const table = d.vectorTable;
  t.true(table.handle.pools.some((h) => h.buffer === pool.buffer));
  t.false(table.unregisterPool(pool), 'vector 1 is bound to it');
  t.true(table.handle.pools.some((h) => h.buffer === pool.buffer));
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 1, count: 1, data: [-1] });
  t.true(table.unregisterPool(pool.handle));
  t.false(table.handle.pools.some((h) => h.buffer === pool.buffer));
  t.true(table.unregisterPool(pool), 'unknown: nothing to do');
  e.close();
  t.is(pool.live, 0);
  t.true(pool.unregister());
  d.close();
});

test.serial('unregisterPool looks only at the pool it is given', (t) => {
  const pools = [0, 1, 2].map(() => EventFdPool.create({ capacity: 2, doorbellBytes: 0 }));
  const d = new SoftDevice({ msix: { vectors: 2 } });
  const efds = pools.slice(0, 2).map((pool) => SharedEventFd.create({ pool, nonblock: true }));
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: efds });
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 1, count: 1, data: [-1] });
  const table = d.vectorTable;
  const listed = () => pools.map((p) => table.handle.pools.some((h) => h.buffer === p.buffer));
  t.deepEqual(listed(), [true, true, false], 'both pools a trigger was bound into, in bind order');
  t.false(table.unregisterPool(pools[0]), 'vector 0 is bound to it (the other known pool is free)');
  t.deepEqual(listed(), [true, true, false]);
  t.true(table.unregisterPool(pools[2]), 'never known: nothing to do, though vector 0 is bound');
  t.deepEqual(listed(), [true, true, false]);
  t.true(table.unregisterPool(pools[1]));
  t.deepEqual(listed(), [true, false, false]);
  d.close();
  for (const e of efds) e.close();
  for (const p of pools) {
    t.is(p.live, 0);
    t.true(p.unregister());
  }
});

test.serial('no fd, pool slot or worker left by this file', (t) => {
  t.is(EventFdPool.default.live, liveBefore);
  t.deepEqual(openFds(), fdsBefore);
});
