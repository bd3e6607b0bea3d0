/**
 * INTx through the Dispatcher, the VFIO way for a level: the trigger eventfd plus an unmask eventfd
 * (ACTION_UNMASK | DATA_EVENTFD, core's virqfd). The line automasks as it fires; the owning service
 * worker runs the handler and then writes the unmask eventfd; the device side unmasks, or — the level
 * still asserted (PCI 2.3) — re-sends the trigger and the handler runs again. Here the test is the
 * device: it asserts the level and acks it (deasserts) while the handler runs, through the gate in
 * fixtures/intx-handler.ts. Both in-memory and kernel eventfds.
 */
import {
  closeKernelProbe,
  EventFdPool,
  VFIO_PCI_INTX_IRQ_INDEX as INTX,
  SharedEventFd,
  SoftDevice,
  VFIO_PCI_NUM_IRQS,
} from '@virq/core';
import { Epoll } from '@virq/native';
import test from 'ava';
import { type DispatchErrorEvent, Dispatcher } from '../src/index.js';
import { INTX_HANDLER, IX, Leaks, waitFor, warmUp } from './helpers.js';

test.before(warmUp);

type Triggers = 'memory' | 'eventfd';

/** A dispatcher servicing a SoftDevice's INTx with the gated handler. */
async function setup(triggers: Triggers, pci23 = true) {
  const dev = new SoftDevice({ intx: { pci23 } });
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const d = new Dispatcher({
    device: dev,
    index: INTX,
    vectors: [0],
    workers: 1,
    module: INTX_HANDLER,
    triggers,
    data: { ctl: ctl.buffer, table: dev.vectorTable.handle },
  });
  const errors: DispatchErrorEvent[] = [];
  d.on('error', (e) => errors.push(e));
  await d.start();
  const word = (w: number) => Atomics.load(ctl, w);
  /** Waits until the handler's `call`-th call runs (and blocks on the gate). */
  const running = (call: number) => waitFor(() => word(IX.RUNNING) === call, 30_000, `handler call ${call}`);
  const release = (call: number) => {
    Atomics.store(ctl, IX.GO, call);
    Atomics.notify(ctl, IX.GO);
  };
  /**
   * Waits until the line is unmasked with nothing pending or in a handler: after an ack and the
   * unmask, with the level low, nothing can deliver again until the next assert.
   */
  const quiet = () =>
    waitFor(
      () =>
        !dev.intxHw.masked &&
        d.stats().totals.pending === 0 &&
        word(IX.INSIDE) === 0 &&
        d.stats().workers[0].state === 'sleeping',
      30_000,
      'the line unmasked and quiet',
    );
  return { dev, d, ctl, word, running, release, quiet, errors };
}

for (const triggers of ['memory', 'eventfd'] as Triggers[]) {
  for (const pci23 of [true, false]) {
    test.serial(
      `${triggers} triggers, ${pci23 ? 'PCI 2.3' : 'no PCI 2.3 (disable_irq)'}: automask → handler → unmask; level still high → the handler runs again; acked → quiet`,
      async (t) => {
        const leaks = new Leaks();
        const poolsBefore = EventFdPool.registeredIds();
        const { dev, d, word, running, release, quiet, errors } = await setup(triggers, pci23);
        t.teardown(() => d.stop());
        t.true(dev.intxVirqfd('unmask'), 'the unmask eventfd is bound (a virqfd)');
        t.false(dev.intxHw.masked);
        const rounds = 5;
        let call = 0;
        for (let r = 0; r < rounds; r++) {
          // The handler acks the device: one call, then the unmask finds the level low.
          t.is(dev.assertIntx(), 'signalled');
          await running(++call);
          t.true(dev.intxHw.masked, 'automasked while the handler runs');
          dev.deassertIntx();
          release(call);
          await quiet();
          t.is(word(IX.CALLS), call, 'acked before the unmask: no further delivery');
          // The handler does not ack: the unmask meets the level still high and it fires again.
          t.is(dev.assertIntx(), 'signalled');
          await running(++call);
          release(call);
          await running(++call);
          t.true(dev.intxHw.masked, 're-fired: masked again while its handler runs');
          t.true(dev.intxAsserted);
          dev.deassertIntx();
          release(call);
          await quiet();
          t.is(word(IX.CALLS), call, 'acked on the second call: no further delivery');
        }
        const c = d.stats().vectors[0];
        // Per round: two asserts, plus the re-send of the unmask that met the level high — a new
        // interrupt, as in the kernel. Each was delivered on its own: nothing coalesced or lost.
        t.is(call, 3 * rounds);
        t.is(word(IX.SUM), call, 'each call carried one interrupt');
        t.is(word(IX.MASKED_SEEN), call, 'every call ran with the line masked');
        t.is(word(IX.OVERLAP), 0);
        t.like(c, { raised: call, delivered: call, coalesced: 0, pending: 0, dropped: 0, handled: call });
        t.deepEqual(dev.vectorTable.checkInvariant(), []);
        t.deepEqual(errors, []);
        await d.stop();
        t.false(dev.intxVirqfd('unmask'), 'the unmask virqfd is gone');
        t.is(dev.irqType, VFIO_PCI_NUM_IRQS, 'INTx disabled again');
        t.deepEqual(EventFdPool.registeredIds(), poolsBefore, 'no eventfd pool left registered');
        // core's poll(2) probe for kernel eventfds is opened on first use and kept for the thread.
        closeKernelProbe();
        await leaks.check(t);
      },
    );
  }

  test.serial(
    `${triggers} triggers: a user mask holds the delivery and the unmask; unmask delivers it`,
    async (t) => {
      const leaks = new Leaks();
      const { dev, d, ctl, word, running, release, quiet, errors } = await setup(triggers);
      t.teardown(() => d.stop());
      // Masked while idle: the line fires (automask), the owner reads the trigger and holds the call.
      d.mask(0);
      const batches = d.stats().workers[0].batches;
      t.is(dev.assertIntx(), 'signalled');
      const desc = dev.vectorTable.trigger(INTX, 0);
      // Has the owner read the trigger? (A kernel eventfd is polled, not read, through an epoll set.)
      const probe = desc?.kind === 'kernel' ? new Epoll() : undefined;
      if (desc?.kind === 'kernel') probe?.add(desc.fd, 1);
      const taken = (): boolean => {
        if (desc?.kind === 'shared') {
          const pool = EventFdPool.byId(desc.poolId)!;
          return SharedEventFd.from({ pool: pool.handle, slot: desc.slot, gen: desc.gen }).peek() === 0n;
        }
        return probe!.wait(4, 0).length === 0;
      };
      await waitFor(
        () => {
          const w = d.stats().workers[0];
          return (
            taken() && w.batches > batches && w.state === 'sleeping' && d.stats().vectors[0].pending === 1
          );
        },
        30_000,
        'the owner to take the interrupt and sleep again',
      );
      probe?.close();
      t.is(word(IX.CALLS), 0, 'no handler call while masked');
      t.true(dev.intxHw.masked, 'the line stays masked: nobody unmasked it');
      dev.deassertIntx(); // the device withdrew its level meanwhile; the interrupt was signalled already
      d.unmask(0);
      await running(1);
      release(1);
      await quiet();
      t.is(word(IX.CALLS), 1);
      // The handler masks its vector itself: the line stays masked after it returns, until unmask().
      Atomics.store(ctl, IX.MASK_ON_CALL, 2);
      t.is(dev.assertIntx(), 'signalled');
      await running(2);
      dev.deassertIntx();
      release(2);
      await waitFor(
        () => word(IX.INSIDE) === 0 && d.stats().totals.pending === 0,
        30_000,
        'call 2 to return',
      );
      await waitFor(() => d.stats().workers[0].state === 'sleeping', 30_000, 'the owner to sleep');
      t.true(d.stats().vectors[0].masked);
      t.true(dev.intxHw.masked, 'no unmask after a call that masked its vector');
      d.unmask(0);
      await quiet();
      t.is(word(IX.CALLS), 2);
      t.like(d.stats().vectors[0], { raised: 2, delivered: 2, coalesced: 0, pending: 0, dropped: 0 });
      t.deepEqual(errors, []);
      await d.stop();
      closeKernelProbe();
      await leaks.check(t);
    },
  );
}

test.serial(
  'a worker dying inside the INTx handler: the replacement delivers it again, then unmasks',
  async (t) => {
    const leaks = new Leaks();
    const { dev, d, ctl, word, running, release, quiet, errors } = await setup('memory');
    t.teardown(() => d.stop());
    const restarted = new Promise((r) => d.once('restart', r));
    Atomics.store(ctl, IX.EXIT_ON_CALL, 1);
    t.is(dev.assertIntx(), 'signalled');
    await restarted;
    // The dead worker's call was taken back by the fixture: call 1 is the redelivery.
    await running(1);
    t.true(dev.intxHw.masked, 'still automasked: nobody unmasked while the worker was replaced');
    dev.deassertIntx();
    release(1);
    await quiet();
    t.is(word(IX.CALLS), 1);
    t.like(d.stats().vectors[0], { raised: 1, delivered: 1, pending: 0, redelivered: 1 });
    t.is(errors.length, 1);
    t.is(errors[0].error.code, 'ERR_VIRQ_WORKER');
    t.is(errors[0].vector, 0);
    // The line works on: assert, ack, quiet.
    t.is(dev.assertIntx(), 'signalled');
    await running(2);
    dev.deassertIntx();
    release(2);
    await quiet();
    t.is(word(IX.CALLS), 2);
    await d.stop();
    await leaks.check(t);
  },
);

test('INTx is serviced in interrupt mode only; its vector is 0', async (t) => {
  for (const mode of ['poll', 'hybrid'] as const) {
    const e = t.throws(
      () =>
        new Dispatcher({ device: new SoftDevice(), index: INTX, vectors: [0], module: INTX_HANDLER, mode }),
      { instanceOf: TypeError },
    );
    t.is((e as { code?: string } | undefined)?.code, 'ERR_INVALID_ARG_VALUE');
  }
  const d = new Dispatcher({ device: new SoftDevice(), index: INTX, vectors: [1], module: INTX_HANDLER });
  const e = await t.throwsAsync(d.start(), { instanceOf: RangeError });
  t.is((e as { code?: string } | undefined)?.code, 'ERR_OUT_OF_RANGE');
  t.is(
    new Dispatcher({ device: new SoftDevice(), index: INTX, vectors: 1, module: INTX_HANDLER }).mode,
    'interrupt',
  );
});
