/**
 * NAPI deferral (`pollWaitMicros`, Linux's napi_defer_hard_irqs with gro_flush_timeout): a poll round
 * that found no work waits before the next one, and the vectors it polls stay masked meanwhile. What
 * it must keep: a raise during the wait is held, not signalled, and the next poll takes it; a quiet
 * cycle still ends after exactly `idlePolls` empty polls and unmasks; under a storm every raise is
 * delivered or coalesced, exactly as without it; and stop() does not wait the wait out.
 */
import { VFIO_PCI_MSIX_IRQ_INDEX as MSIX } from '@virq/core';
import test from 'ava';
import type { DispatchMode } from '../src/index.js';
import { quiesce, R, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

/** The table's mask bit of a vector (ST_MASKED: NAPI's mask or the user's). */
const MASKED_BIT = 4;
/** pollWaitMicros' upper bound (options.ts): one second, longer than any step of these tests. */
const LONG_WAIT = 1_000_000;

for (const triggers of ['memory', 'eventfd'] as const) {
  test.serial(
    `${triggers} triggers: a round that found nothing waits with its vector masked; a raise then is held and the next poll takes it`,
    async (t) => {
      // idlePolls 3: the cycle the interrupt starts is an empty poll, a wait of up to a second, another,
      // a wait, a third: two seconds in which the vector is masked with nobody polling it, so the raise
      // below lands in a wait even on a starved test thread. Without the wait the empty polls come back
      // to back and the vector is unmasked again within microseconds: the test would never see it
      // masked after a poll, and the raise below would be signalled.
      const f = await withDispatcher(t, {
        vectors: 1,
        workers: 1,
        mode: 'poll',
        idlePolls: 3,
        pollWaitMicros: LONG_WAIT,
        triggers,
        recordMasked: true,
      });
      const { dev, rec, d } = f;
      const masked = () => (dev.vectorTable.stateBits(MSIX, 0) & MASKED_BIT) !== 0;
      t.is(dev.raise(MSIX, 0), 'signalled', 'unmasked before the first cycle');
      await waitFor(
        () => rec.get(0, R.CALLS) === 1 && d.stats().vectors[0].polls >= 1 && masked(),
        10_000,
        'the first empty poll, with the vector still masked',
      );
      t.is(dev.raise(MSIX, 0), 'held', 'a raise during the wait is held by the mask, not signalled');
      await waitFor(() => rec.get(0, R.CALLS) === 2, 10_000, 'the held raise to be polled');
      t.is(rec.get(0, R.MAX_MASKED_RUN), 1, 'taken by a poll (a call made masked), not an interrupt');
      await waitFor(() => !masked(), 10_000, 'the cycle to end after its empty polls, unmasked');
      t.is(dev.raise(MSIX, 0), 'signalled', 'after the cycle the vector interrupts again');
      await waitFor(() => rec.get(0, R.CALLS) === 3, 10_000, 'the third raise to be delivered');
      await quiesce(d, 3);
      f.account(3, 'the test');
      // stop() kicks the worker out of its wait: it does not sit out the second (not timed here: a
      // stop that waited would still end, so this only checks it ends clean).
      await f.finish();
      t.false(masked(), 'stopped unmasked');
    },
  );
}

test.serial(
  'poll mode: with waits between them, a quiet cycle still ends after exactly `idlePolls` empty polls',
  async (t) => {
    // As poll-cycle.test's idle exit, with a 2 ms wait before each poll after the first: an empty
    // poll the wait skipped or counted twice would show as more or fewer than IDLE polls a burst.
    const IDLE = 3;
    const BURSTS = 4;
    const f = await withDispatcher(t, {
      vectors: 1,
      workers: 1,
      mode: 'poll',
      idlePolls: IDLE,
      pollWaitMicros: 2_000,
      recordMasked: true,
    });
    const { dev, rec, d } = f;
    const masked = () => (dev.vectorTable.stateBits(MSIX, 0) & MASKED_BIT) !== 0;
    for (let i = 0; i < BURSTS; i++) {
      t.is(dev.raise(MSIX, 0), 'signalled', `burst ${i}: unmasked between cycles`);
      await waitFor(
        () => d.stats().vectors[0].polls >= IDLE * (i + 1) && !masked(),
        10_000,
        `burst ${i}: its cycle to end with the unmask`,
      );
      t.is(d.stats().vectors[0].polls, IDLE * (i + 1), `burst ${i}: ${IDLE} empty polls`);
      t.is(rec.get(0, R.CALLS), i + 1, `burst ${i}: one handler call (the interrupt's)`);
    }
    f.account(BURSTS, 'the bursts');
    await waitFor(() => d.stats().workers[0].state === 'sleeping', 10_000, 'the worker to sleep');
    await f.finish();
  },
);

const N = 256;
const RAISERS = 2;
const ROUNDS = 300;

for (const mode of ['poll', 'hybrid'] as DispatchMode[]) {
  test.serial(`${mode}: a storm with pollWaitMicros 200: every raise delivered or coalesced`, async (t) => {
    const f = await withDispatcher(t, {
      vectors: N,
      workers: 2,
      mode,
      budget: 8,
      pollWaitMicros: 200,
      hybrid: { pollAbove: 2_000, interruptBelow: 500, windowMs: 5 },
    });
    const { d, rec, errors, storm } = f;
    const accepted = await storm(ROUNDS, { raisers: RAISERS, seed: 23 });
    t.is(accepted, N * RAISERS * ROUNDS, 'every raise was routed to a trigger');
    await quiesce(d, accepted);
    f.account(RAISERS * ROUNDS, 'the storm');
    const s = d.stats();
    t.is(s.totals.delivered, s.totals.handled, 'one delivery per handler call');
    t.is(rec.sum(R.CALLS), s.totals.handled);
    t.is(rec.sum(R.ORDER_BAD), 0, 'per-vector order kept');
    t.is(rec.sum(R.OVERLAP), 0, 'never two handler calls of one vector at once');
    t.true(rec.sum(R.POLL_CALLS) > 0, 'vectors were polled');
    t.deepEqual(errors, []);
    await f.finish();
  });
}
