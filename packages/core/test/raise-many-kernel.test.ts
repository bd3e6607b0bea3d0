/**
 * VectorTable.raiseMany over kernel eventfds: a batch counts each raise at once and writes its
 * O_NONBLOCK eventfds together when the batch ends (one io_uring_enter where the thread's signal ring
 * works, @virq/native's eventfdSignalMany), still inside the batch's in-flight section; blocking ones
 * are written one by one. Either way each raise is exactly one count on its eventfd, and a batch never
 * signals an eventfd the owner has already released (synchronize_irq waits for the deferred writes).
 */
import { Worker } from 'node:worker_threads';
import { EventFd, loadNative } from '@virq/native';
import test from 'ava';
import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  VFIO_PCI_MSIX_IRQ_INDEX as MSIX,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
} from '../src/index.js';
import { openFds } from './helpers/kit.js';

const fdsBefore = openFds();

/** The count, emptied; 0 when there is none (O_NONBLOCK) — a blocking fd is only read when known set. */
function take(e: EventFd): bigint {
  try {
    return e.read();
  } catch (err) {
    if ((err as { code?: string }).code === 'EAGAIN') return 0n;
    throw err;
  }
}

test.serial(
  'each raise of a batch is one count on its kernel eventfd, O_NONBLOCK (batched) or blocking',
  (t) => {
    const N = 8;
    const device = new SoftDevice({ msix: { vectors: N, maskable: true } });
    // vectors 0..5 O_NONBLOCK (written together), 6..7 blocking (written at once, one by one)
    const efds = Array.from({ length: N }, (_, v) => EventFd.create({ nonblock: v < 6 }));
    device.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: N, data: efds.map((e) => e.fd) });
    const table = device.vectorTable;
    try {
      // 600 raises of vector 0 in one batch: more than a batch gathers (256) before it writes
      const batch = [...Array.from({ length: N }, (_, v) => v), ...new Array(600).fill(0), 3, 3];
      t.is(table.raiseMany(MSIX, batch), batch.length);
      const want = efds.map((_, v) => BigInt(batch.filter((x) => x === v).length));
      const consume = (v: number, n: bigint) => {
        table.recordConsumed(MSIX, v, n);
        return n;
      };
      for (const [v, e] of efds.entries()) t.is(consume(v, e.read()), want[v], `vector ${v}`);
      // a masked vector holds its raise instead of signalling, in a batch as alone
      table.mask(MSIX, 1);
      t.is(table.raiseMany(MSIX, [1, 2, 1]), 3);
      t.is(take(efds[1]), 0n, 'masked: nothing written');
      t.is(consume(2, take(efds[2])), 1n);
      table.unmask(MSIX, 1);
      t.is(consume(1, take(efds[1])), 1n, 'the held interrupt is signalled by the unmask');
      for (let v = 0; v < N; v++) {
        const c = table.counters(MSIX, v);
        t.is(c.pending, 0, `vector ${v}: nothing pending`);
        t.is(c.external, 0, `vector ${v}: no count nobody raised`);
      }
      t.deepEqual(table.checkInvariant(), []);
    } finally {
      device.close();
      for (const e of efds) e.close();
    }
  },
);

test.serial(
  'batches from a worker over kernel eventfds while the owner rebinds them all: nothing lost, nothing stray',
  async (t) => {
    const N = 6;
    const device = new SoftDevice({ msix: { vectors: N } });
    let efds = Array.from({ length: N }, () => EventFd.create({ nonblock: true }));
    device.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: N, data: efds.map((e) => e.fd) });
    const table = device.vectorTable;
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./fixtures/table-worker.js', import.meta.url), {
      workerData: { job: 'raise-many', handle: table.handle, index: MSIX, stop: stop.buffer },
    });
    const result = new Promise<{ accepted: number; batches: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let read = 0n;
    while (table.counters(MSIX, N - 1).raised === 0) await new Promise((r) => setTimeout(r, 1));
    for (let round = 0; round < 200; round++) {
      // New eventfds, then the old ones read and closed: the kernel hands their fd numbers to the next
      // round's, so a batch's write that outlived the rebind would land on another vector's fresh
      // eventfd, a count nobody raised there (counted external when it is recorded as consumed).
      const next = Array.from({ length: N }, () => EventFd.create({ nonblock: true }));
      device.setIrqs({ flags: EFD | TRIG, index: MSIX, start: 0, count: N, data: next.map((e) => e.fd) });
      for (let v = 0; v < N; v++) {
        const n = take(efds[v]);
        if (n > 0n) table.recordConsumed(MSIX, v, n);
        read += n;
        efds[v].close();
      }
      efds = next;
      for (let v = 0; v < N; v++) {
        const n = take(efds[v]);
        if (n > 0n) table.recordConsumed(MSIX, v, n);
        read += n;
      }
      await new Promise((r) => setImmediate(r));
    }
    Atomics.store(stop, 0, 1);
    const { accepted, batches } = await result;
    await new Promise((r) => worker.once('exit', r));
    for (let v = 0; v < N; v++) {
      const n = take(efds[v]);
      if (n > 0n) table.recordConsumed(MSIX, v, n);
      read += n;
    }
    t.true(batches > 0);
    let raised = 0;
    for (let v = 0; v < N; v++) {
      const c = table.counters(MSIX, v);
      t.is(c.external, 0, `vector ${v}: no signal landed on an eventfd it was not raised to`);
      t.is(c.pending, 0);
      raised += c.raised;
    }
    t.is(raised, accepted, 'every accepted raise is counted');
    t.is(Number(read), accepted, 'and was read from the eventfd it was raised to');
    t.deepEqual(table.checkInvariant(), []);
    device.close();
    for (const e of efds) e.close();
  },
);

test.serial('no fd left by this file once the thread’s signal ring is closed', (t) => {
  // The signal ring is this thread's for as long as the thread lives (closed with its environment); a
  // test compares fds with it closed.
  loadNative().eventfdSignalRing(false);
  t.deepEqual(openFds(), fdsBefore);
});
