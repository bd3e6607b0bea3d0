/**
 * How a NAPI poll cycle of a plain handler (no driver hooks: the vector table is polled) ends, one
 * exit at a time: `idlePolls` empty polls, a user mask in the middle of the cycle, and a rebalance
 * that moves another, idle vector off the polling worker. Each test makes the exit it pins the only
 * one that can end the cycle in time, so a servicer that skips it is seen (the worker never goes to
 * sleep, the table stays masked, or a raise is never delivered).
 */
import { VFIO_PCI_MSIX_IRQ_INDEX as MSIX } from '@virq/core';
import test from 'ava';
import { R, waitFor, warmUp, withDispatcher } from './helpers.js';

test.before(warmUp);

/** The table's mask bit of a vector (ST_MASKED: NAPI's mask or the user's). */
const MASKED_BIT = 4;
/** idlePolls' upper bound (options.ts): a cycle only an explicit exit can end in a test's time. */
const FOREVER = 1_000_000;

test.serial(
  'poll mode: a cycle with nothing held ends after exactly `idlePolls` empty polls, then unmasks',
  async (t) => {
    // Deterministic: one raise per burst, taken by the interrupt's own handler call; the cycle it
    // starts finds nothing held, so it is `idlePolls` empty polls and the unmask. The next burst
    // waits for the unmask, so no two cycles overlap. An empty poll that did not count towards the
    // exit would poll on (a million polls, not three) with the vector masked.
    const IDLE = 3;
    const BURSTS = 5;
    const f = await withDispatcher(t, {
      vectors: 1,
      workers: 1,
      mode: 'poll',
      budget: 64,
      idlePolls: IDLE,
      recordMasked: true,
    });
    const { dev, rec, d } = f;
    const masked = () => (dev.vectorTable.stateBits(MSIX, 0) & MASKED_BIT) !== 0;
    for (let i = 0; i < BURSTS; i++) {
      t.is(dev.raise(MSIX, 0), 'signalled', `burst ${i}: the vector is unmasked between cycles`);
      // polls first: between the handler call and NAPI's mask the vector is unmasked too
      await waitFor(
        () => d.stats().vectors[0].polls >= IDLE * (i + 1) && !masked(),
        10_000,
        `burst ${i}: its poll cycle to end with the unmask`,
      );
      t.is(d.stats().vectors[0].polls, IDLE * (i + 1), `burst ${i}: ${IDLE} empty polls, no more, no fewer`);
      t.is(rec.get(0, R.CALLS), i + 1, `burst ${i}: one handler call (the interrupt's)`);
      t.is(rec.get(0, R.MAX_MASKED_RUN), 0, 'no call made masked: no poll found anything held');
    }
    f.account(BURSTS, 'the bursts');
    await waitFor(() => d.stats().workers[0].state === 'sleeping', 10_000, 'the worker to sleep');
    await f.finish();
  },
);

test.serial(
  'poll mode: a user mask in the middle of a cycle ends it; unmask hands the vector back',
  async (t) => {
    // idlePolls is a million, so only the mask can end the cycle before the worker has polled that
    // often. A cycle that ignored the user mask would poll on (the worker never sleeping) and keep the
    // vector on its list, so the unmask, which leaves a polled vector to its poller, would not unmask it.
    const f = await withDispatcher(t, {
      vectors: 1,
      workers: 1,
      mode: 'poll',
      budget: 64,
      idlePolls: FOREVER,
    });
    const { dev, rec, d } = f;
    const masked = () => (dev.vectorTable.stateBits(MSIX, 0) & MASKED_BIT) !== 0;
    const polls = () => d.stats().vectors[0].polls;
    let raised = 0;
    let before = 0;
    // On a starved test thread the cycle can reach its million polls before the mask lands: then it
    // ended by itself, so start another (bounded).
    for (let attempt = 0; attempt < 5; attempt++) {
      before = polls();
      t.is(dev.raise(MSIX, 0), 'signalled', 'the vector is unmasked between cycles');
      raised++;
      await waitFor(() => polls() > before && masked(), 10_000, 'a poll cycle to start');
      d.mask(0);
      if (polls() - before < FOREVER) break;
      d.unmask(0);
    }
    t.true(polls() - before < FOREVER, 'the mask landed inside a cycle');
    await waitFor(() => d.stats().workers[0].state === 'sleeping', 10_000, 'the worker to sleep');
    const atSleep = polls();
    t.true(
      atSleep - before < FOREVER,
      `the mask ended the cycle (polls ${atSleep - before}, not ${FOREVER})`,
    );
    t.true(masked(), 'the vector stays masked: the user masked it');
    t.true(d.stats().vectors[0].masked);
    // held while masked, not delivered
    t.is(dev.raise(MSIX, 0), 'held');
    raised++;
    t.is(rec.get(0, R.CALLS), raised - 1, 'no handler call while masked');
    t.is(polls(), atSleep, 'nothing polls a vector that left its cycle');
    d.unmask(0);
    await waitFor(() => rec.get(0, R.CALLS) === raised, 10_000, 'the held raise to be delivered on unmask');
    f.account(raised, 'the test');
    await f.finish();
  },
);

test.serial(
  'poll mode: moving an idle vector off a worker leaves the vector that worker polls on its poll list',
  async (t) => {
    // Vector 0 is in a poll cycle on worker 0 (idlePolls a million: it stays there); vector 1, also on
    // worker 0, is idle (not polling). The rebalance releases vector 1 from worker 0 — a vector that is
    // not on the poll list. Completing it as if it were would take vector 0's entry instead: vector 0
    // would stay masked with nothing polling it, and its next raise would be held forever.
    const f = await withDispatcher(t, {
      vectors: 2,
      workers: 2,
      mode: 'poll',
      budget: 64,
      idlePolls: FOREVER,
      affinity: { 0: 0, 1: 0 },
      recordMasked: true,
    });
    const { dev, rec, d } = f;
    const masked = (v: number) => (dev.vectorTable.stateBits(MSIX, v) & MASKED_BIT) !== 0;
    t.is(dev.raise(MSIX, 0), 'signalled');
    await waitFor(
      () => d.stats().vectors[0].polls > 0 && masked(0),
      10_000,
      "vector 0's poll cycle to start",
    );
    await d.rebalance({ 0: 0, 1: 1 });
    t.is(d.ownerOf(1), 1, 'vector 1 moved');
    t.is(d.ownerOf(0), 0, 'vector 0 stayed');
    // A raise on vector 0 now is held (NAPI masks it) and taken by its next poll.
    t.is(dev.raise(MSIX, 0), 'held', 'vector 0 is still masked by its cycle');
    await waitFor(() => rec.get(0, R.CALLS) === 2, 10_000, "vector 0's held raise to be polled");
    t.is(rec.get(0, R.MAX_MASKED_RUN), 1, 'by a poll of its cycle (a call made masked)');
    t.is(dev.raise(MSIX, 1), 'signalled', 'vector 1 is unmasked: it never polled');
    await waitFor(() => rec.get(1, R.CALLS) === 1, 10_000, 'vector 1 delivered by its new owner');
    f.account([2, 1], 'the test');
    await f.finish();
    t.false(masked(0), 'stop completed the cycle: vector 0 unmasked');
    t.false(masked(1));
  },
);
