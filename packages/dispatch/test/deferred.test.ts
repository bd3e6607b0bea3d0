import { SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import test from 'ava';
import { Dispatcher } from '../src/index.js';
import { Leaks, quiesce, R, RECORD_HANDLER, Records, range, waitFor, warmUp } from './helpers.js';

test.before(warmUp);

const index = VFIO_PCI_MSIX_IRQ_INDEX;

test.serial(
  'schedule_work: queued once, coalesced while queued, queued again by a raise during its run',
  async (t) => {
    const leaks = new Leaks();
    const device = new SoftDevice({ msix: { vectors: 2 } });
    const rec = new Records(2);
    const gate = new SharedArrayBuffer(4);
    const d = new Dispatcher({
      device,
      vectors: 2,
      workers: 1,
      module: RECORD_HANDLER,
      mode: 'interrupt',
      data: { buf: rec.buf, seq: rec.seq, vectors: range(2), defer: true, threadGate: gate },
    });
    t.teardown(() => d.stop());
    await d.start();
    device.raise(index, 0);
    // The first run is executing (QUEUED was cleared as it started)...
    await waitFor(() => rec.get(0, R.THREAD_INSIDE) === 1, 30_000, 'the first deferred run');
    // ...so the next raises queue it once more; every request after the first finds it queued.
    let raised = 1;
    for (let i = 0; i < 5; i++) {
      device.raise(index, 0);
      raised++;
      await quiesce(d, raised);
    }
    // Let the first run finish; the second then runs straight through the open gate.
    Atomics.store(new Int32Array(gate), 0, 1);
    Atomics.notify(new Int32Array(gate), 0);
    await waitFor(
      () => rec.get(0, R.THREAD_RUNS) === 2 && d.stats().deferredOutstanding === 0,
      30_000,
      'two runs',
    );
    const c = d.stats().vectors[0];
    t.is(c.handled, 6);
    t.is(c.deferredQueued, 2, 'queued by the first call, and once more during the run');
    t.is(c.deferredCoalesced, 4, 'the other four requests were coalesced');
    t.is(c.deferredRuns, 2);
    t.is(rec.get(0, R.THREAD_OVERLAP), 0);
    t.is(rec.get(1, R.THREAD_RUNS), 0);
    await d.stop();
    await leaks.check(t);
  },
);

test.serial('a module with only `thread`: every delivery queues deferred work', async (t) => {
  const leaks = new Leaks();
  const device = new SoftDevice({ msix: { vectors: 8 } });
  const runs = new SharedArrayBuffer(8 * 4);
  const d = new Dispatcher({
    device,
    vectors: 8,
    module: new URL('./fixtures/thread-only.js', import.meta.url),
    data: { runs },
  });
  t.teardown(() => d.stop());
  await d.start();
  for (let v = 0; v < 8; v++) device.raise(index, v);
  await quiesce(d, 8);
  await waitFor(() => d.stats().totals.deferredRuns === 8, 30_000, 'eight runs');
  t.deepEqual(Array.from(new Int32Array(runs)), new Array(8).fill(1));
  await d.stop();
  await leaks.check(t);
});
