/**
 * The vector table seen from worker threads: attach by handle, find a vector's trigger, consume and
 * record, and unmask a held interrupt from another thread — re-signalled exactly once even when
 * several threads race to unmask.
 */
import { Worker } from 'node:worker_threads';
import { EventFd } from '@virq/native';
import test from 'ava';
import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  EventFdPool,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
  VectorTable,
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

function device(maskable = true) {
  return new SoftDevice({ msix: { vectors: 8, maskable } });
}

test.serial('a worker attaches, finds the vector trigger and reads the same counters', async (t) => {
  const d = device();
  const e = SharedEventFd.create();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 2, data: [-1, e] });
  d.raise(MSIX, 1);
  const r = await runWorker({ job: 'describe', handle: d.vectorTable.handle, index: MSIX, vector: 1 });
  t.deepEqual(r.trigger, { kind: 'shared', poolId: e.pool.id, slot: e.slot, gen: e.gen });
  t.like(r.counters as object, { raised: 1, pending: 1 });
  d.close();
  e.close();
});

test.serial('a worker consumes a vector: 1 delivered + (n-1) coalesced, visible to the owner', async (t) => {
  const d = device();
  const e = SharedEventFd.create();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  for (let i = 0; i < 3; i++) d.raise(MSIX, 0);
  const r = await runWorker({ job: 'consume', handle: d.vectorTable.handle, index: MSIX, vector: 0 });
  t.is(r.got, '3');
  t.like(d.vectorTable.counters(MSIX, 0), { raised: 3, delivered: 1, coalesced: 2, pending: 0 });
  d.close();
  e.close();
});

test.serial('unmask from a worker delivers the held interrupt to a SharedEventFd trigger', async (t) => {
  const d = device();
  const e = SharedEventFd.create();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  d.vectorTable.mask(MSIX, 0);
  t.is(d.raise(MSIX, 0), 'held');
  t.is(e.peek(), 0n);
  const r = await runWorker({ job: 'unmask', handle: d.vectorTable.handle, index: MSIX, vector: 0 });
  t.is(r.result, 'signalled');
  t.is(e.tryRead(), 1n);
  d.close();
  e.close();
});

test.serial('unmask from a worker delivers the held interrupt to a kernel eventfd trigger', async (t) => {
  const d = device();
  const k = EventFd.create({ nonblock: true });
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [k] });
  d.vectorTable.mask(MSIX, 0);
  d.raise(MSIX, 0);
  const r = await runWorker({ job: 'unmask', handle: d.vectorTable.handle, index: MSIX, vector: 0 });
  t.is(r.result, 'signalled');
  t.is(k.read(), 1n);
  d.close();
  k.close();
});

test.serial('two workers racing to unmask: each held interrupt is re-signalled exactly once', async (t) => {
  const d = device();
  const e = SharedEventFd.create();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  let held = 0;
  let signalled = 0;
  for (let round = 0; round < 20; round++) {
    d.vectorTable.mask(MSIX, 0);
    if (d.raise(MSIX, 0) === 'held') held++;
    const h = d.vectorTable.handle;
    const results = await Promise.all([
      runWorker({ job: 'unmask-race', handle: h, index: MSIX, vector: 0, rounds: 1 }),
      runWorker({ job: 'unmask-race', handle: h, index: MSIX, vector: 0, rounds: 1 }),
    ]);
    signalled += results.reduce((a, r) => a + (r.signalled as number), 0);
  }
  t.is(held, 20);
  t.is(signalled, 20);
  t.is(e.tryRead(), 20n);
  d.vectorTable.recordConsumed(MSIX, 0, 20);
  t.deepEqual(d.vectorTable.checkInvariant(), []);
  d.close();
  e.close();
});

test.serial('recordConsumed credits signals nobody raised (kernel-side or foreign) as external', (t) => {
  const d = device();
  const e = SharedEventFd.create();
  d.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: 1, data: [e] });
  d.raise(MSIX, 0);
  e.write(2);
  t.is(d.vectorTable.consume(MSIX, 0), 3n);
  t.like(d.vectorTable.counters(MSIX, 0), { raised: 3, external: 2, delivered: 1, coalesced: 2, pending: 0 });
  t.deepEqual(d.vectorTable.checkInvariant(), []);
  d.close();
  e.close();
});

test.serial(
  'attach rejects a buffer that is not a vector table; out-of-range vectors are RangeErrors',
  (t) => {
    t.throws(() => VectorTable.attach({ buffer: new SharedArrayBuffer(256), pools: [] }), {
      instanceOf: TypeError,
    });
    const d = device();
    t.throws(() => d.vectorTable.counters(MSIX, 8), { instanceOf: RangeError });
    d.close();
  },
);

test.serial('no fd, pool slot or worker left by this file', (t) => {
  t.is(EventFdPool.default.live, liveBefore);
  t.deepEqual(openFds(), fdsBefore);
});
