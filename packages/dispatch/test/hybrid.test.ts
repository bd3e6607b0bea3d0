import { SoftDevice, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import test from 'ava';
import { Dispatcher } from '../src/index.js';
import { Leaks, quiesce, R, range, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 8;

test.serial(
  'hybrid: a stormed vector switches to poll mode, and back to interrupt when it calms',
  async (t) => {
    const { rec, d, storm, finish } = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode: 'hybrid',
      budget: 16,
      hybrid: { pollAbove: 5_000, interruptBelow: 1_000, windowMs: 5 },
    });
    t.true(
      d.stats().vectors.every((v) => v.mode === 'interrupt'),
      'every vector starts in interrupt mode',
    );
    // Vector 0 gets a raise storm (a tight loop: hundreds of thousands per second) until it has
    // gone to poll mode; vector 1 gets a trickle.
    let accepted = 0;
    const stormed = (async () => {
      while (d.stats().vectors[0].toPoll === 0) {
        const n = await storm(20_000, { raisers: 1, positions: [0], seed: 3 });
        accepted += n;
      }
    })();
    for (let i = 0; i < 10; i++) {
      const n = await storm(1, { raisers: 1, positions: [1], seed: 4 });
      accepted += n;
      await new Promise((r) => setTimeout(r, 20));
    }
    await stormed;
    const hot = d.stats().vectors[0];
    t.true(hot.toPoll >= 1, 'the stormed vector switched to poll mode');
    t.true(rec.get(0, R.POLL_CALLS) > 0, 'and was serviced in poll mode');
    // Quiet now: its measured rate drops to 0, and it switches back without another raise.
    await waitFor(() => d.stats().vectors[0].mode === 'interrupt', 60_000, 'vector 0 back in interrupt mode');
    const calm = d.stats().vectors[0];
    t.true(calm.toInterrupt >= 1, 'and back to interrupt mode');
    t.is(calm.toInterrupt, calm.toPoll, 'every switch to poll was followed by one back');
    const trickle = d.stats().vectors[1];
    t.is(trickle.toPoll, 0, 'a trickle never leaves interrupt mode');
    t.is(rec.get(1, R.POLL_CALLS), 0);
    await quiesce(d, accepted);
    const s = d.stats();
    t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced);
    t.false(s.vectors[0].masked, 'poll mode left no user mask');
    // Idle and all vectors in interrupt mode: the workers sleep with no timeout (no busy loop).
    await waitFor(() => d.stats().workers.every((w) => w.state === 'sleeping'), 60_000, 'workers asleep');
    const sleeps = d.stats().workers.map((w) => w.sleeps);
    await new Promise((r) => setTimeout(r, 200));
    t.deepEqual(
      d.stats().workers.map((w) => w.sleeps),
      sleeps,
      'an idle worker does not wake by itself',
    );
    await finish();
  },
);

test.serial('poll mode: NAPI masks a busy vector, polls it within its budget, then unmasks it', async (t) => {
  const { dev, rec, d, storm, finish } = await withDispatcher(t, {
    vectors: N,
    workers: 1,
    mode: 'poll',
    budget: 4,
  });
  const accepted = await storm(5_000, { seed: 11 });
  await quiesce(d, accepted);
  const s = d.stats();
  t.true(s.totals.coalesced > 0);
  t.true(
    s.vectors.every((v) => v.polls > 0),
    'every vector was polled',
  );
  t.true(s.workers[0].polls > 0);
  t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced);
  // After the storm every poll cycle completed: nothing is left masked.
  await waitFor(
    () => range(N).every((v) => (dev.vectorTable.stateBits(VFIO_PCI_MSIX_IRQ_INDEX, v) & 4) === 0),
    60_000,
    'poll cycles to complete',
  );
  t.is(rec.sum(R.ORDER_BAD), 0);
  t.is(rec.sum(R.OVERLAP), 0);
  await finish();
});

test.serial(
  'hybrid closed loop: handlers re-raise from the service workers; busy vectors go to poll mode',
  async (t) => {
    const leaks = new Leaks();
    const V = 64;
    const K = 3_000;
    const dev = new SoftDevice({ msix: { vectors: V } });
    const calls = new SharedArrayBuffer(V * 4);
    const d = new Dispatcher({
      device: dev,
      vectors: V,
      workers: 2,
      module: new URL('./fixtures/reraise-handler.js', import.meta.url),
      mode: 'hybrid',
      hybrid: { pollAbove: 200, interruptBelow: 50, windowMs: 5 },
      data: { table: dev.vectorTable.handle, index: VFIO_PCI_MSIX_IRQ_INDEX, calls, k: K },
    });
    t.teardown(() => d.stop());
    await d.start();
    for (let v = 0; v < V; v++) dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, v);
    await quiesce(d, V * K);
    const s = d.stats();
    t.deepEqual(
      Array.from(new Int32Array(calls)),
      new Array(V).fill(K),
      'each vector handled exactly K times',
    );
    t.is(s.totals.delivered, V * K);
    t.is(s.totals.coalesced, 0, 'one raise outstanding per vector: nothing to coalesce');
    t.true(
      s.vectors.some((v) => v.toPoll > 0),
      'busy vectors switched to poll mode',
    );
    t.true(s.workers.every((w) => w.polls > 0));
    await d.stop();
    await leaks.check(t);
  },
);
