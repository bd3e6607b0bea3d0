import { ST_MASKED, VFIO_PCI_MSIX_IRQ_INDEX } from '@virq/core';
import test from 'ava';
import fc from 'fast-check';
import { DispatchError, type DispatchMode } from '../src/index.js';
import { quiesce, R, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

const N = 16;

for (const mode of ['interrupt', 'poll'] as DispatchMode[]) {
  test.serial(`${mode}: no delivery while masked, held raises delivered on unmask (property)`, async (t) => {
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode,
      budget: 4,
    });
    const { dev, rec, d, errors, storm, finish } = f;
    let total = 0;
    /** What the storms raised on each vector (every storm raises every vector, 2 raisers × rounds). */
    let perVector = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: N - 1 }), { maxLength: N }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        async (masked, rounds, seed) => {
          for (const v of masked) d.mask(v);
          const callsAtMask = masked.map((v) => rec.get(v, R.CALLS));
          const accepted = await storm(rounds, { seed });
          perVector += 2 * rounds;
          // A raise on a masked vector is held or coalesced, never refused.
          if (accepted !== N * 2 * rounds) return false;
          total += accepted;
          // Everything not masked gets through...
          await waitFor(
            () => d.stats().vectors.every((c, v) => masked.includes(v) || c.pending === 0),
            60_000,
            'unmasked vectors to drain',
          );
          // ...while the masked ones saw no handler call since mask() returned, and hold their raises.
          const s = d.stats();
          for (let i = 0; i < masked.length; i++) {
            const v = masked[i];
            if (rec.get(v, R.CALLS) !== callsAtMask[i]) return false;
            if (s.vectors[v].pending === 0 || !s.vectors[v].masked) return false;
            if ((dev.vectorTable.stateBits(VFIO_PCI_MSIX_IRQ_INDEX, v) & ST_MASKED) === 0) return false;
          }
          for (const v of masked) d.unmask(v);
          await quiesce(d, total);
          return true;
        },
      ),
      { numRuns: 12 },
    );
    const s = d.stats();
    t.is(s.totals.raised, total);
    f.account(perVector, 'the storms');
    t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced);
    t.is(rec.sum(R.CALLS), s.totals.handled);
    t.is(rec.sum(R.MASKED_CALLS), 0, 'no handler saw its vector masked on entry');
    t.is(rec.sum(R.OVERLAP), 0);
    t.is(rec.sum(R.ORDER_BAD), 0);
    t.true(s.vectors.every((v) => !v.masked));
    t.deepEqual(errors, []);
    await finish();
  });

  test.serial(`${mode}: a handler masks its own vector, its deferred work unmasks it`, async (t) => {
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode,
      deferredThreads: 2,
      data: { selfMask: true },
    });
    const { rec, d, storm, finish } = f;
    const accepted = await storm(100, { raisers: 3, seed: 5 });
    t.is(accepted, N * 3 * 100, 'raises on a self-masked vector are held, never refused');
    // Every handler call ends masked until its deferred run unmasks: wait for all runs, then all raises.
    await quiesce(d, accepted);
    await waitFor(
      () => d.stats().deferredOutstanding === 0 && d.stats().vectors.every((v) => !v.masked),
      60_000,
      'deferred runs',
    );
    await quiesce(d, accepted);
    const s = d.stats();
    f.account(3 * 100, 'the storm');
    t.is(rec.sum(R.MASKED_CALLS), 0, 'never called while masked');
    t.is(s.totals.raised, s.totals.delivered + s.totals.coalesced);
    t.is(rec.sum(R.CALLS), s.totals.handled);
    t.is(
      s.totals.deferredRuns,
      s.totals.handled,
      'one deferred run per call: each call masked until its run',
    );
    t.is(rec.sum(R.THREAD_OVERLAP), 0);
    await finish();
  });
}

test.serial(
  'mask() of a vector whose handler is stuck times out with ETIMEDOUT; maskAsync() waits without blocking',
  async (t) => {
    const gate = new SharedArrayBuffer(8);
    const g = new Int32Array(gate);
    const { dev, d, errors, finish } = await withDispatcher(t, {
      vectors: 2,
      workers: 2,
      mode: 'interrupt',
      module: new URL('./fixtures/gate-handler.js', import.meta.url),
      data: { gate, stuckVector: 0 },
    });
    // Teardowns run last-registered first: if the test fails, open the gate before the stop.
    t.teardown(() => {
      Atomics.store(g, 0, 1);
      Atomics.notify(g, 0);
    });
    const masked = () => d.stats().vectors[0].masked;
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
    await waitFor(() => Atomics.load(g, 1) === 1, 30_000, 'the handler of vector 0 to block');
    // Blocking mask: bounded, and an unmasked vector is unmasked again after the timeout.
    const e1 = t.throws(() => d.mask(0, { timeoutMs: 50 }), { instanceOf: DispatchError });
    t.is(e1?.code, 'ERR_VIRQ_TIMEOUT');
    t.is(e1?.vector, 0);
    t.false(masked(), 'a timed-out mask leaves the vector unmasked, as it was');
    const e2 = await t.throwsAsync(() => d.maskAsync(0, { timeoutMs: 50 }), { instanceOf: DispatchError });
    t.is(e2?.code, 'ERR_VIRQ_TIMEOUT');
    t.false(masked());
    // A long maskAsync masks at once and waits; a mask timing out meanwhile keeps it masked.
    let settled = false;
    const p = d.maskAsync(0, { timeoutMs: 60_000 }).then(() => {
      settled = true;
    });
    t.true(masked());
    t.is(
      t.throws(() => d.mask(0, { timeoutMs: 20 }), { instanceOf: DispatchError })?.code,
      'ERR_VIRQ_TIMEOUT',
    );
    t.true(masked(), 'it was masked before the call, so it stays masked');
    t.false(settled, 'maskAsync waits for the stuck handler');
    t.is(
      (t.throws(() => d.mask(0, { timeoutMs: -1 }), { instanceOf: RangeError }) as { code?: string })?.code,
      'ERR_OUT_OF_RANGE',
      'a bad timeout is ERR_OUT_OF_RANGE',
    );
    Atomics.store(g, 0, 1);
    Atomics.notify(g, 0);
    await p;
    t.is(Atomics.load(g, 1), 0, 'resolved only once the handler returned');
    t.true(masked());
    // Held while masked, delivered on unmask.
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
    await waitFor(() => d.stats().vectors[0].pending === 1, 30_000, 'the raise to be held');
    t.is(d.stats().vectors[0].handled, 1);
    d.unmask(0);
    await quiesce(d, 2);
    t.is(d.stats().vectors[0].handled, 2);
    d.mask(0);
    t.true(masked(), 'with no handler running, mask() returns at once');
    t.deepEqual(errors, []);
    await finish();
  },
);

test.serial(
  'ctx.mask() from deferred work while the handler is stuck fails with ETIMEDOUT instead of hanging',
  async (t) => {
    const gate = new SharedArrayBuffer(8);
    const g = new Int32Array(gate);
    const { dev, d, errors, finish } = await withDispatcher(t, {
      vectors: 2,
      workers: 1,
      mode: 'interrupt',
      module: new URL('./fixtures/gate-handler.js', import.meta.url),
      data: { gate, stuckVector: 0, deferFirst: true },
    });
    t.teardown(() => {
      Atomics.store(g, 0, 1);
      Atomics.notify(g, 0);
    });
    // Call 1 queues the deferred run, which waits for call 2 to be stuck, then masks vector 0.
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
    await waitFor(() => d.stats().vectors[0].handled === 1, 30_000, 'the first call');
    dev.raise(VFIO_PCI_MSIX_IRQ_INDEX, 0);
    await waitFor(() => errors.length > 0, 30_000, 'the deferred run to fail');
    t.is(errors.length, 1);
    t.is(errors[0].error.code, 'ERR_VIRQ_THREAD');
    t.is(errors[0].vector, 0);
    t.regex(errors[0].error.message, /did not return in time/);
    t.false(d.stats().vectors[0].masked, 'the timed-out mask was undone');
    t.is(Atomics.load(g, 1), 1, 'the handler is still stuck: the mask did not wait for it');
    Atomics.store(g, 0, 1);
    Atomics.notify(g, 0);
    await quiesce(d, 2);
    t.is(d.stats().vectors[0].deferredErrors, 1);
    await finish();
  },
);
